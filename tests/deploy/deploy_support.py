"""Plain helpers for the packaging tests (fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (KUBERNETES_DIR / "overlays").iterdir() if (p / "kustomization.yaml").is_file())


def kustomize(kubectl: str, path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize PATH` as a list of resources; fails on any warning."""
    p = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"kubectl kustomize {path} failed (rc={p.returncode}):\n{p.stderr}"
    assert not p.stderr.strip(), f"kubectl kustomize {path} warned:\n{p.stderr}"
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def find(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Resources of `kind` (and, if given, whose name is `name` or starts with `name-`)."""
    out = []
    for r in resources:
        if r.get("kind") != kind:
            continue
        n = r.get("metadata", {}).get("name", "")
        if name is None or n == name or n.startswith(name + "-"):
            out.append(r)
    return out


def one(resources: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(resources, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
