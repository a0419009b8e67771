"""Helpers shared by the benchmarks in bench/: the testbed's env file and a free loopback port."""

from __future__ import annotations

import socket
from pathlib import Path


def env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a shell env file (testbed/.run/testbed.env), quotes removed."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip().removeprefix("export ")
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.strip("'\"")
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
