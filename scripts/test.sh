#!/usr/bin/env bash
# The project's test command (the README's second set-up command; .ci/run calls it).
#
#   1. cargo fmt --check, clippy -D warnings, unit + in-process tests (cargo test)
#   2. the static (crt-static) debug binary, then the packaging check
#      (scripts/deploy-check.sh): the container image built from it with podman and its file
#      system exported, the Kubernetes overlays rendered and validated, the systemd unit
#   3. the end-to-end suite on that binary (scripts/e2e.sh): a real Backstage
#      testbed from npm (the latest release line), driven through stagedoor by real MCP
#      clients (Python SDK, MCP Inspector CLI) and the official conformance suite;
#      tests/e2e/test_image.py runs the image's binary from the exported file system
#      against the testbed
#   4. the compatibility subset (scripts/e2e.sh --compat, pytest -m compat) against the
#      previous Backstage release line (testbed/previous/); that testbed starts in the
#      background during step 2, so its install and boot overlap the packaging check.
#
# Installs what it needs (cached under ~/.cache/stagedoor) and stops what it starts.
# Pass --fast to skip the end-to-end suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FAST=0
[[ "${1:-}" == "--fast" ]] && FAST=1

step() { echo; echo "==== $* ===="; }
T0=$SECONDS

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log_dir="$(mktemp -d)"
prev_run_dir="$PWD/testbed/.run/previous"
prev_pid=""
cleanup() {
  # The previous-line testbed started below, if any (stop.sh ends it by its recorded PID).
  if [[ -n "$prev_pid" ]]; then
    kill "$prev_pid" 2>/dev/null || true
    wait "$prev_pid" 2>/dev/null || true
    TESTBED_RUN_DIR="$prev_run_dir" bash testbed/stop.sh >/dev/null 2>&1 || true
  fi
  rm -rf "$log_dir"
}
trap cleanup EXIT

step "cargo test (unit and in-process)"
cargo test --workspace --locked 2>&1 | tee "$log_dir/cargo-test.log"
cargo_passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log_dir/cargo-test.log" | awk '{s+=$1} END {print s+0}')

if [[ $FAST -eq 1 ]]; then
  echo "== test.sh --fast: done in $((SECONDS - T0)) s =="
  echo "tests: ${cargo_passed} passed, 0 failed"
  exit 0
fi

step "cargo build (static binary for the packaging check and the end-to-end suite)"
# The binary the image ships is statically linked; the end-to-end suite runs that kind too.
STAGEDOOR_BIN="$(bash scripts/build-static.sh --profile dev)"
export STAGEDOOR_BIN

# The previous-line testbed installs and boots while the packaging check runs.
TESTBED_LINE=previous TESTBED_RUN_DIR="$prev_run_dir" bash testbed/start.sh \
  >"$log_dir/previous-testbed.env" 2>"$log_dir/previous-testbed.log" &
prev_pid=$!

step "deploy: container image, Kubernetes manifests, systemd unit"
bash scripts/deploy-check.sh --binary "$STAGEDOOR_BIN" --rootfs "$log_dir/image-rootfs" 2>&1 | tee "$log_dir/deploy.log"
deploy_passed=$(sed -n 's/^=* \([0-9]*\) passed.*/\1/p' "$log_dir/deploy.log" | tail -n 1)
export STAGEDOOR_IMAGE_ROOTFS="$log_dir/image-rootfs"

step "end-to-end: testbed + MCP clients + conformance"
bash scripts/e2e.sh 2>&1 | tee "$log_dir/e2e.log"
e2e_passed=$(sed -n 's/^=* \([0-9]*\) passed.*/\1/p' "$log_dir/e2e.log" | tail -n 1)

step "end-to-end: compatibility subset on the previous Backstage release line"
if ! wait "$prev_pid"; then
  tail -n 40 "$log_dir/previous-testbed.log"
  echo "the previous-line testbed did not start" >&2
  exit 1
fi
prev_pid=""
bash scripts/e2e.sh --compat 2>&1 | tee "$log_dir/compat.log"
compat_passed=$(sed -n 's/^=* \([0-9]*\) passed.*/\1/p' "$log_dir/compat.log" | tail -n 1)
TESTBED_RUN_DIR="$prev_run_dir" bash testbed/stop.sh

echo "== test.sh: all green in $((SECONDS - T0)) s (cargo ${cargo_passed}, deploy ${deploy_passed:-0}, e2e ${e2e_passed:-0}, compat ${compat_passed:-0}, conformance baselines held) =="
echo "tests: $((cargo_passed + ${deploy_passed:-0} + ${e2e_passed:-0} + ${compat_passed:-0})) passed, 0 failed"
