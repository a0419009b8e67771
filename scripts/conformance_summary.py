#!/usr/bin/env python3
"""Summarise one `conformance server -o DIR` run and police its expected-failures file.

    conformance_summary.py --out DIR --baseline FILE [--log RUN_LOG] [--draft]

Prints one line per scenario (passed/failed checks, failing check ids and messages, and
whether each failure is baselined). Exits 1 when the baseline file breaks the project's
rules, which the conformance CLI itself does not check:
  - every entry carries its reason as a trailing `# ...` comment;
  - `dns-rebinding-protection` is never baselined;
  - every entry names a scenario that actually ran (an entry for a scenario that no longer
    runs is stale).
--draft prints the failing checks as baseline entries (per check), for a human to annotate.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

FORBIDDEN = {"dns-rebinding-protection"}
DIR_RE = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def read_baseline(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """[(entry, reason)], [problems]. Minimal YAML: a `server:` list of plain strings."""
    entries: list[tuple[str, str]] = []
    problems: list[str] = []
    section = None
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            continue
        m = re.match(r"^(\w+):\s*(\[\])?\s*(#.*)?$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^\s+-\s+(?P<entry>[^#\s]+)\s*(?:#\s*(?P<reason>.*))?$", line)
        if not m:
            problems.append(f"{path.name}:{n}: cannot parse {line!r}")
            continue
        if section != "server":
            problems.append(f"{path.name}:{n}: entry outside `server:`")
            continue
        reason = (m.group("reason") or "").strip()  # trailing comment; group headers do not count
        entry = m.group("entry")
        if not reason:
            problems.append(f"{path.name}:{n}: entry {entry!r} has no trailing `# reason` comment")
        if entry.split(":", 1)[0] in FORBIDDEN:
            problems.append(f"{path.name}:{n}: {entry!r} must never be baselined")
        if ": " in raw.split("#", 1)[0].split("- ", 1)[-1]:
            problems.append(f"{path.name}:{n}: {entry!r} looks like a YAML mapping (space after ':')")
        entries.append((entry, reason))
    return entries, problems


def read_results(out: Path) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {}
    for d in sorted(out.glob("server-*")):
        m = DIR_RE.match(d.name)
        f = d / "checks.json"
        if not m or not f.is_file():
            continue
        try:
            checks = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            checks = [{"id": "<checks.json unreadable>", "status": "FAILURE", "errorMessage": str(e)}]
        results.setdefault(m.group("scenario"), []).extend(checks)
    return results


def unscored_from_list(listing: Path | None) -> dict[str, str]:
    """Scenarios `conformance list --requirements REV` puts under "Run and reported, but never
    scored" (extension / pending / added-after-release): reported here, never baselined."""
    if listing is None or not listing.is_file():
        return {}
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.read_text(errors="replace"))
    out: dict[str, str] = {}
    if "never scored" not in text:
        return out
    category = "?"
    for line in text.split("never scored", 1)[1].splitlines()[1:]:
        m = re.match(r"^\s{2}(\S[^(]*?)\s*\(\d+\):\s*$", line)
        if m:
            category = m.group(1)
            continue
        m = re.match(r"^\s+-\s+(\S+)(?:\s+\[(\w+)\])?", line)
        if m:
            if m.group(2) in (None, "server"):
                out[m.group(1)] = category
        elif line.strip() and not line.startswith(" "):
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--baseline", type=Path, required=True)
    ap.add_argument("--list", type=Path, help="output of `conformance list --server --requirements REV`")
    ap.add_argument("--draft", action="store_true")
    a = ap.parse_args()

    entries, problems = read_baseline(a.baseline)
    baselined = {e for e, _ in entries}
    results = read_results(a.out)
    unscored = unscored_from_list(a.list)
    if not results:
        print(f"no results under {a.out}", file=sys.stderr)
        return 1

    total_pass = total_fail = 0
    draft: list[str] = []
    for scenario in results:
        checks = results[scenario]
        # The CLI counts WARNING (a SHOULD not met) as a failure for the baseline, like FAILURE.
        failed = [c for c in checks if c.get("status") in ("FAILURE", "WARNING")]
        passed = [c for c in checks if c.get("status") == "SUCCESS"]
        total_pass += len(passed)
        total_fail += len(failed)
        tag = f" [not scored: {unscored[scenario]}]" if scenario in unscored else ""
        mark = "PASS" if not failed else "FAIL"
        other = len(checks) - len(failed) - len(passed)
        extra = f", {other} info/skipped" if other else ""
        print(f"{mark} {scenario}: {len(passed)} passed, {len(failed)} failed{extra}{tag}")
        seen: set[str] = set()
        for c in failed:
            cid = c.get("id", "?")
            if cid in seen:
                continue
            seen.add(cid)
            key = f"{scenario}:{cid}"
            base = " (baselined)" if key in baselined or scenario in baselined else ""
            msg = (c.get("errorMessage") or (c.get("details") or {}).get("message") or c.get("description") or "")
            msg = msg.replace("\n", " ")[:160]
            print(f"     - {cid} [{c.get('status')}]{base}: {msg}")
            if scenario not in unscored:
                draft.append(f"  - {key}  # TODO reason: {msg[:100]}")
    print(f"conformance checks: {total_pass} passing, {total_fail} failing (each failing one baselined or unscored, else the run fails), {len(results)} scenarios")

    for entry, _ in entries:
        if entry.split(":", 1)[0] in unscored:
            problems.append(f"{a.baseline.name}: entry {entry!r} is for an unscored scenario; do not baseline it")
        if entry.split(":", 1)[0] not in results:
            problems.append(f"{a.baseline.name}: entry {entry!r} names a scenario that did not run (stale)")
    if a.draft:
        print("\n# draft baseline entries (per check):\nserver:")
        print("\n".join(draft))
    for p in problems:
        print(f"BASELINE PROBLEM: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
