#!/usr/bin/env bash
# End-to-end run: install the pinned test tools (cached), start or reuse the Backstage
# testbed, run the pytest suite in tests/e2e with a per-test timeout, run the conformance
# suite, and stop whatever this script started.
#
#   scripts/e2e.sh [--no-conformance] [--no-pytest] [pytest args...]
#   scripts/e2e.sh --compat [pytest args...]
#
# --compat: the compatibility subset (pytest -m compat; no conformance run) against the
# previous Backstage release line (TESTBED_LINE=previous, testbed/previous/package.json).
#
# Environment: STAGEDOOR_BIN (default target/debug/stagedoor), TESTBED_ENV, TESTBED_LINE,
# E2E_TEST_TIMEOUT (seconds per test, default 120).
set -euo pipefail
for arg in "$@"; do
  if [[ "$arg" == --compat ]]; then export TESTBED_LINE=previous; fi
done
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

RUN_PYTEST=1
RUN_CONFORMANCE=1
PYTEST_ARGS=()
for arg in "$@"; do
  case "$arg" in
    --compat) RUN_CONFORMANCE=0; PYTEST_ARGS+=(-m compat) ;;
    --no-conformance) RUN_CONFORMANCE=0 ;;
    --no-pytest) RUN_PYTEST=0 ;;
    *) PYTEST_ARGS+=("$arg") ;;
  esac
done

cleanup() {
  local rc=$?
  sd_testbed_release || rc=1
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$SECONDS
sd_tools_env
# test_replicas.py puts replicas behind HAProxy from Debian.
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || sd_apt_install haproxy
bin="${STAGEDOOR_BIN:-$SD_REPO_ROOT/target/debug/stagedoor}"
[[ -x "$bin" ]] || sd_die "stagedoor binary not found at $bin (cargo build, or set STAGEDOOR_BIN)"
export STAGEDOOR_BIN="$bin"
sd_testbed_ensure # exports TESTBED_ENV, so pytest and conformance.sh reuse this testbed

status=0
if [[ $RUN_PYTEST -eq 1 ]]; then
  sd_log "pytest tests/e2e (Backstage $SD_TESTBED_LINE line)"
  t=$SECONDS
  set +e
  (cd "$SD_REPO_ROOT" && TESTBED_LINE="$SD_TESTBED_LINE" PYTHONDONTWRITEBYTECODE=1 "$E2E_PYTHON" -m pytest tests/e2e \
    --timeout="${E2E_TEST_TIMEOUT:-120}" "${PYTEST_ARGS[@]}")
  rc=$?
  set -e
  echo "== pytest: exit $rc in $((SECONDS - t)) s =="
  [[ $rc -eq 0 ]] || status=1
fi

if [[ $RUN_CONFORMANCE -eq 1 ]]; then
  t=$SECONDS
  set +e
  "$SD_REPO_ROOT/scripts/conformance.sh"
  rc=$?
  set -e
  echo "== conformance.sh: exit $rc in $((SECONDS - t)) s =="
  [[ $rc -eq 0 ]] || status=1
fi

echo "== e2e: $([[ $status -eq 0 ]] && echo PASS || echo FAIL) in $((SECONDS - T0)) s =="
exit $status
