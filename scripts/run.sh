#!/usr/bin/env bash
# The README's run command: start stagedoor over Streamable HTTP on 127.0.0.1:7008/mcp.
#
# With BACKSTAGE_BASE_URL set, it serves that Backstage. Without it, it starts the
# project's real Backstage testbed (testbed/, installed from npm on first use) and serves
# that, so a newcomer sees stagedoor answer with nothing else running.
# Ctrl-C stops stagedoor and the testbed it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started_testbed=0
cleanup() {
  if [[ $started_testbed -eq 1 ]]; then
    testbed/stop.sh >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [[ -z "${BACKSTAGE_BASE_URL:-}" ]]; then
  echo "run: no BACKSTAGE_BASE_URL given; starting the Backstage testbed (first run installs it: a few minutes)" >&2
  if [[ ! -f testbed/.run/testbed.env ]] || ! kill -0 "$(sed -n 's/^TESTBED_PID=//p' testbed/.run/testbed.env)" 2>/dev/null; then
    started_testbed=1
  fi
  testbed/start.sh >/dev/null
  set -a
  # shellcheck disable=SC1091
  source testbed/.run/testbed.env
  set +a
fi

cargo build --release --locked -p stagedoor
echo "run: stagedoor serving Backstage at $BACKSTAGE_BASE_URL on http://${LISTEN:-127.0.0.1:7008}/mcp (Ctrl-C to stop)" >&2
target/release/stagedoor serve --transport http --listen "${LISTEN:-127.0.0.1:7008}" "$@"
