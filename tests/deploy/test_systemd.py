"""deploy/systemd/stagedoor.service: `systemd-analyze verify` finds nothing to say about it,
`systemd-analyze security` rates its exposure low, and the hardening the README promises is
there."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploy_support import REPO_ROOT

UNIT = REPO_ROOT / "deploy" / "systemd" / "stagedoor.service"
INSTALLED_BINARY = "/usr/local/bin/stagedoor"
# systemd-analyze security's exposure, 0.0 (locked down) to 10.0; the unit scores 1.1.
MAX_EXPOSURE = 1.5


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd; scripts/deploy-check.sh does)")
    return exe


def unit_for(binary: Path, dest: Path, text: str | None = None) -> Path:
    """The unit with ExecStart pointing at `binary`: verify checks that the program exists."""
    text = UNIT.read_text() if text is None else text
    assert INSTALLED_BINARY in text
    path = dest / "stagedoor.service"
    path.write_text(text.replace(INSTALLED_BINARY, str(binary)))
    return path


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def verify(systemd_analyze: str, unit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([systemd_analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60)


def test_unit_verifies_cleanly(systemd_analyze, stagedoor_bin, tmp_path) -> None:
    p = verify(systemd_analyze, unit_for(stagedoor_bin, tmp_path))
    assert p.returncode == 0 and not p.stderr.strip() and not p.stdout.strip(), \
        f"systemd-analyze verify (rc={p.returncode}):\n{p.stdout}{p.stderr}"


def test_verify_reports_a_misspelled_directive(systemd_analyze, stagedoor_bin, tmp_path) -> None:
    """verify exits 0 on unknown keys and only warns: the test above checks its output too."""
    bad = UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes")
    p = verify(systemd_analyze, unit_for(stagedoor_bin, tmp_path, bad))
    assert "ProtectHomes" in p.stderr, p.stderr


def test_unit_exposure_is_low(systemd_analyze, stagedoor_bin, tmp_path) -> None:
    unit = unit_for(stagedoor_bin, tmp_path)
    p = subprocess.run([systemd_analyze, "security", "--offline=true", "--no-pager", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", p.stdout)
    assert m, f"no exposure level in:\n{p.stdout[-3000:]}\n{p.stderr}"
    exposure = float(m.group(1))
    print(f"systemd-analyze security: exposure {exposure} (0 = locked down, 10 = exposed)")
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{p.stdout}"


def test_unit_is_hardened_as_documented() -> None:
    d = directives(UNIT.read_text())
    expect = {
        "DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
        "LockPersonality": "yes", "RestrictSUIDSGID": "yes", "ProtectKernelTunables": "yes",
    }
    for key, value in expect.items():
        assert d.get(key) == [value], f"{key}={d.get(key)}, expected {value!r}"
    assert set(d["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert d["SystemCallFilter"][0] == "@system-service"
    # Configuration errors (exit 64) are not retried in a loop.
    assert d["RestartPreventExitStatus"] == ["64"]


def test_unit_serves_http_on_loopback_with_the_config_file() -> None:
    (exec_start,) = directives(UNIT.read_text())["ExecStart"]
    argv = exec_start.split()
    assert argv[0] == INSTALLED_BINARY and argv[1] == "serve", argv
    flags = dict(zip(argv[2::2], argv[3::2]))
    assert flags == {"--config": "/etc/stagedoor/config.yaml", "--transport": "http",
                     "--listen": "127.0.0.1:7008"}, flags
