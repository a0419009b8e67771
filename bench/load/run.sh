#!/usr/bin/env bash
# Load harness: stagedoor (release build) against the testbed, driven by wrk at concurrency
# 1, 8, 32 and 64 — get_entity cached and with the cache off, a bridged action, the official
# MCP endpoint, the direct action invoke and REST by-name — plus stagedoor's RSS during each
# series and with 1,000 open sessions, and start-to-ready time. Prints a Markdown report
# (also written to $BENCH_OUT, default /tmp/stagedoor-load.md). Not a CI test.
#
#   bench/load/run.sh [--duration 5s] [--sessions 1000]
#
# Reuses a live testbed (testbed/.run/testbed.env or $TESTBED_ENV) or starts one and stops
# it afterwards; installs wrk from Debian when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib/common.sh

cleanup() {
  local rc=$?
  sd_testbed_release || rc=1
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || sd_apt_install wrk
cargo build --release --locked -p stagedoor >&2
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
sd_testbed_ensure
out="${BENCH_OUT:-/tmp/stagedoor-load.md}"
python3 bench/load/load.py --bin "$target/release/stagedoor" --env "$TESTBED_ENV" "$@" | tee "$out"
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD)"
