#!/usr/bin/env bash
# The README's run command: start stagedoor over Streamable HTTP on 127.0.0.1:7008/mcp.
#
#   scripts/run.sh              serve the example catalog (examples/catalog) from disk:
#                               nothing else needs to run; edits to the files show up live
#   scripts/run.sh --testbed    start the project's real Backstage testbed (testbed/,
#                               installed from npm on first use) and serve that
#   BACKSTAGE_BASE_URL=... BACKSTAGE_TOKEN=... scripts/run.sh
#                               serve that Backstage
#
# Environment: LISTEN (default 127.0.0.1:7008), CATALOG (default examples/catalog),
# STAGEDOOR_BIN (a prebuilt binary; default: build target/release/stagedoor).
# Other arguments go to `stagedoor serve`. Ctrl-C stops stagedoor (and the testbed it started).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

testbed=0
args=()
for a in "$@"; do
  case "$a" in
    --testbed) testbed=1 ;;
    *) args+=("$a") ;;
  esac
done
listen="${LISTEN:-127.0.0.1:7008}"

if [[ -n "${STAGEDOOR_BIN:-}" ]]; then
  bin="$STAGEDOOR_BIN"
else
  cargo build --release --locked -p stagedoor
  bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/stagedoor"
fi

if [[ $testbed -eq 0 && -z "${BACKSTAGE_BASE_URL:-}" ]]; then
  catalog="${CATALOG:-examples/catalog}"
  echo "run: stagedoor serving the local catalog $catalog on http://$listen/mcp (Ctrl-C to stop)" >&2
  exec "$bin" serve --catalog "$catalog" --transport http --listen "$listen" "${args[@]}"
fi

started_testbed=0
cleanup() {
  if [[ $started_testbed -eq 1 ]]; then
    testbed/stop.sh >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [[ $testbed -eq 1 ]]; then
  echo "run: starting the Backstage testbed (first run installs it: a few minutes)" >&2
  # The testbed's latest Backstage line needs Node 22: without it, use the pinned one the
  # test tools install (cached under ~/.cache/stagedoor/tools).
  if [[ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 22 && -z "${NODE22:-}" ]]; then
    # shellcheck disable=SC1090
    source "$(bash scripts/install-test-tools.sh)"
  fi
  if [[ ! -f testbed/.run/testbed.env ]] || ! kill -0 "$(sed -n 's/^TESTBED_PID=//p' testbed/.run/testbed.env)" 2>/dev/null; then
    started_testbed=1
  fi
  testbed/start.sh >/dev/null
  set -a
  # shellcheck disable=SC1091
  source testbed/.run/testbed.env
  set +a
fi

echo "run: stagedoor serving Backstage at $BACKSTAGE_BASE_URL on http://$listen/mcp (Ctrl-C to stop)" >&2
"$bin" serve --transport http --listen "$listen" "${args[@]}"
