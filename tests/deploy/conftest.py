"""Fixtures for the packaging tests (tests/deploy).

- `kubectl`     a kubectl whose built-in kustomize is v5 or newer ($KUBECTL, else on PATH)
- `rendered`    every overlay of deploy/kubernetes/overlays rendered with `kubectl kustomize`
- `stagedoor_bin`  the binary the configs are checked with ($STAGEDOOR_BIN)
- `image`       `podman image inspect` of the image scripts/deploy-check.sh built
                ($STAGEDOOR_IMAGE; the image tests are skipped without it)

scripts/deploy-check.sh installs the tools and builds what these tests inspect.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy_support import KUBERNETES_DIR, OVERLAYS, kustomize


@pytest.fixture(scope="session")
def kubectl() -> str:
    exe = shutil.which(os.environ.get("KUBECTL", "kubectl"))
    if exe is None:
        pytest.fail("kubectl not found (scripts/deploy-check.sh installs it; or set KUBECTL)", pytrace=False)
    out = subprocess.run([exe, "version", "--client"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"Kustomize Version: v(\d+)", out)
    if not m or int(m.group(1)) < 5:
        pytest.fail(f"{exe} has no kustomize v5 or newer built in:\n{out}", pytrace=False)
    return exe


@pytest.fixture(scope="session")
def rendered(kubectl: str) -> dict[str, list[dict[str, Any]]]:
    assert OVERLAYS, f"no overlays under {KUBERNETES_DIR / 'overlays'}"
    return {name: kustomize(kubectl, KUBERNETES_DIR / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def stagedoor_bin() -> Path:
    raw = os.environ.get("STAGEDOOR_BIN", "")
    if not raw:
        pytest.fail("STAGEDOOR_BIN is not set (scripts/deploy-check.sh sets it)", pytrace=False)
    path = Path(raw)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"STAGEDOOR_BIN={raw} is not an executable file", pytrace=False)
    return path


@pytest.fixture(scope="session")
def image() -> dict[str, Any]:
    name = os.environ.get("STAGEDOOR_IMAGE", "")
    if not name:
        pytest.skip("STAGEDOOR_IMAGE is not set: the image was not built (scripts/deploy-check.sh builds it)")
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("STAGEDOOR_IMAGE is set but podman is not installed", pytrace=False)
    p = subprocess.run([podman, "image", "inspect", name], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"podman image inspect {name}: {p.stderr}"
    return json.loads(p.stdout)[0]
