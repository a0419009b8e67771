#!/usr/bin/env bash
# Run the official MCP conformance suite (@modelcontextprotocol/conformance, on Node 22)
# against a real stagedoor serving Streamable HTTP on 127.0.0.1, for each spec revision's
# requirement set, with the project's expected-failures baselines.
#
#   scripts/conformance.sh [--rev 2025-11-25] [--rev 2026-07-28] [--draft] [--keep]
#
#   --rev REV   run only this requirement set (repeatable; default: both)
#   --draft     also print failing checks as draft baseline entries
#   --keep      keep the output directory (always kept on failure)
#
# Environment: STAGEDOOR_BIN (default target/debug/stagedoor), TESTBED_ENV (reuse a running
# testbed; otherwise one is started and stopped again), CONFORMANCE_OUT (output dir),
# CONFORMANCE_TIMEOUT_MS (per scenario, default 30000).
#
# Exit status: non-zero on any unexpected failure, on a stale baseline entry (a baselined
# check that now passes, or an entry for a scenario that no longer runs), or on a baseline
# entry without a reason. dns-rebinding-protection may never be baselined.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REVS=()
DRAFT=()
KEEP=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rev) REVS+=("$2"); shift 2 ;;
    --draft) DRAFT=(--draft); shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) sd_die "unknown argument $1" ;;
  esac
done
[[ ${#REVS[@]} -gt 0 ]] || REVS=(2025-11-25 2026-07-28)

OUT="${CONFORMANCE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/stagedoor-conformance.XXXXXX")}"
mkdir -p "$OUT"
SD_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$SD_PID" ]]; then
    sd_stop_pid "$SD_PID" 5 || rc=1
  fi
  sd_testbed_release || rc=1
  if [[ $rc -eq 0 && $KEEP -eq 0 && -z "${CONFORMANCE_OUT:-}" ]]; then
    rm -rf "$OUT"
  else
    sd_log "results kept in $OUT"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sd_tools_env
sd_testbed_ensure
sd_stagedoor_start "$OUT/stagedoor.stderr.log"
sd_log "stagedoor pid $SD_PID at $SD_URL"

status=0
for rev in "${REVS[@]}"; do
  baseline="$SD_REPO_ROOT/tests/conformance/expected-failures-$rev.yml"
  [[ -f "$baseline" ]] || sd_die "missing baseline $baseline"
  # shellcheck disable=SC2086
  $CONFORMANCE list --server --requirements "$rev" >"$OUT/$rev.list" 2>&1 || sd_die "conformance list failed"
  sd_log "conformance --requirements $rev"
  t0=$SECONDS
  set +e
  # shellcheck disable=SC2086  # $CONFORMANCE is "<node22> <script>"
  $CONFORMANCE server --url "$SD_URL" --requirements "$rev" --expected-failures "$baseline" \
    --timeout "${CONFORMANCE_TIMEOUT_MS:-30000}" -o "$OUT/$rev" >"$OUT/$rev.log" 2>&1
  rc=$?
  set -e
  # The CLI's verdict (unexpected failures, stale entries); per-scenario detail follows.
  sed -n '/^Total:/,$p' "$OUT/$rev.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -v '^\s*$' \
    | grep -Ev '^  ~ |^Expected failures' >&2 || true
  echo "== conformance $rev: exit $rc in $((SECONDS - t0)) s =="
  "${E2E_PYTHON:-python3}" "$SD_REPO_ROOT/scripts/conformance_summary.py" --out "$OUT/$rev" \
    --baseline "$baseline" --list "$OUT/$rev.list" "${DRAFT[@]}" || rc=1
  [[ $rc -eq 0 ]] || status=1
done

if ! sd_pid_alive "$SD_PID"; then
  sd_log "stagedoor died during the run"; status=1
fi
if grep -q 'panicked at' "$OUT/stagedoor.stderr.log"; then
  sd_log "stagedoor panicked during the run:"; grep -A3 'panicked at' "$OUT/stagedoor.stderr.log" >&2
  status=1
fi
exit $status
