"""The container image's configuration, as `podman image inspect` reports it: user, command,
ports, labels, no HEALTHCHECK, size. (The image's file system is run in
tests/e2e/test_image.py, against the Backstage testbed.)"""

from __future__ import annotations

import re
import subprocess
from typing import Any

from deploy_support import REPO_ROOT

# A regression guard, not a target: the static binary is ~28 MiB, the rest ~0.2 MiB.
MAX_IMAGE_MIB = 40
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


def test_image_is_small(image: dict[str, Any]) -> None:
    mib = image["Size"] / 1048576
    print(f"image size: {mib:.1f} MiB ({image['Size']} bytes)")
    assert mib <= MAX_IMAGE_MIB, f"image is {mib:.1f} MiB"
