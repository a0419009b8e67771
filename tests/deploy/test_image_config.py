"""The container image's configuration, as `podman image inspect` reports it: user, command,
ports, labels, no HEALTHCHECK, size. (The image's file system is run in
tests/e2e/test_image.py, against the Backstage testbed.)"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from deploy_support import REPO_ROOT

MAX_NON_BINARY_BYTES = 1024 * 1024
OCI = "org.opencontainers.image."


def cargo_version() -> str:
    text = (REPO_ROOT / "Cargo.toml").read_text()
    m = re.search(r'^\[workspace\.package\][^\[]*?^version = "([^"]+)"', text, re.M | re.S)
    assert m, "no workspace.package version"
    return m.group(1)


def test_runs_as_a_non_root_user(image: dict[str, Any]) -> None:
    user = image["Config"].get("User", "")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"User {user!r}: numeric and not root (runAsNonRoot needs a number)"


def test_default_command_serves_http_with_the_config_file(image: dict[str, Any]) -> None:
    cfg = image["Config"]
    assert cfg.get("Entrypoint") == ["/usr/local/bin/stagedoor"], cfg.get("Entrypoint")
    assert cfg.get("Cmd") == ["serve", "--config", "/etc/stagedoor/config.yaml", "--transport", "http",
                              "--listen", "0.0.0.0:7008"], cfg.get("Cmd")
    assert "7008/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts")
    assert cfg.get("StopSignal") == "SIGTERM", cfg.get("StopSignal")


def test_no_healthcheck(image: dict[str, Any]) -> None:
    """Orchestrators probe /healthz and /readyz; a HEALTHCHECK would need a shell or curl."""
    assert not image["Config"].get("Healthcheck"), image["Config"].get("Healthcheck")
    assert not image.get("HealthCheck"), image.get("HealthCheck")


def test_oci_labels(image: dict[str, Any]) -> None:
    labels = image["Config"].get("Labels") or {}
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert labels.get(OCI + key), f"label {OCI + key} missing: {labels}"
    assert labels[OCI + "version"] == cargo_version()
    assert labels[OCI + "licenses"] == "Apache-2.0"
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert labels[OCI + "revision"] == head.stdout.strip()


def test_image_is_the_binary_and_little_else(image: dict[str, Any]) -> None:
    """Every layer but the binary's adds up to under 1 MiB (the CA bundle is 0.2 MiB); the
    README reports the release image's size (27.8 MiB, the binary 27.5 MiB of it)."""
    p = subprocess.run(["podman", "history", "--format", "json", image["Id"]], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    layers = json.loads(p.stdout)
    created_by = lambda h: h.get("CreatedBy", h.get("createdBy", ""))  # noqa: E731 - podman's key case varies
    binary = [h for h in layers if "COPY" in created_by(h) and created_by(h).rstrip().endswith(" in /usr/local/bin/stagedoor")]
    assert len(binary) == 1, [created_by(h) for h in layers]
    size = lambda h: int(h.get("Size", h.get("size", 0)))  # noqa: E731
    rest = sum(size(h) for h in layers) - size(binary[0])
    print(f"image size: {image['Size'] / 1048576:.1f} MiB; binary layer {size(binary[0]) / 1048576:.1f} MiB; "
          f"the rest {rest / 1024:.0f} KiB")
    assert 0 < rest <= MAX_NON_BINARY_BYTES, f"{rest} bytes besides the binary"
