#!/usr/bin/env bash
# Stop the testbed started by start.sh: ends the process group led by the
# TESTBED_PID recorded in .run/testbed.env (Backstage and any mkdocs child),
# waits for it to exit, then removes testbed.env. Logs in .run/ are kept.
#
#   testbed/stop.sh [PORT]    PORT, if given, must match the running testbed
#   TESTBED_RUN_DIR           the same value start.sh was given (default testbed/.run)
set -euo pipefail

TESTBED="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${TESTBED_RUN_DIR:-$TESTBED/.run}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$TESTBED/$RUN_DIR" ;; esac
ENV_FILE="$RUN_DIR/testbed.env"
log() { printf '[testbed] %s\n' "$*" >&2; }

# Do not race a start.sh that is still bringing the backend up (its lock is per line).
lock_file="$TESTBED/.run/start.lock"
[[ "${TESTBED_LINE:-latest}" == latest ]] || lock_file="$TESTBED/.run/start-$TESTBED_LINE.lock"
if [[ -d "$TESTBED/.run" ]]; then
  exec 8>"$lock_file"
  flock -w 900 8 || { log "timed out waiting for $lock_file"; exit 1; }
fi

if [[ ! -f "$ENV_FILE" ]]; then
  log "not running (no $ENV_FILE)"
  exit 0
fi

pid="$(sed -n 's/^TESTBED_PID=//p' "$ENV_FILE")"
url="$(sed -n 's/^BACKSTAGE_BASE_URL=//p' "$ENV_FILE")"
if [[ -n "${1:-}" && "${1}" != 0 && "${url##*:}" != "$1" ]]; then
  log "the running testbed is on $url, not port $1; leaving it alone"
  exit 1
fi

# Only signal the pid if it is still our backend (guards against pid reuse).
if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
  grep -q 'src/index.js' "/proc/$pid/cmdline" 2>/dev/null; then
  pgid="$(ps -o pgid= -p "$pid" | tr -d ' ')"
  if [[ "$pgid" == "$pid" ]]; then target=(-- "-$pid"); else target=("$pid"); fi
  log "stopping pid $pid ($url)"
  kill -TERM "${target[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do # up to 10 s for a graceful shutdown
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 10 s; sending SIGKILL"
    kill -KILL "${target[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  # Reap leftover group members (mkdocs builds) if the leader went first.
  [[ "$pgid" == "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
  if kill -0 "$pid" 2>/dev/null; then
    log "ERROR: pid $pid did not exit"
    exit 1
  fi
  log "stopped"
else
  log "pid ${pid:-?} is not running"
fi
rm -f "$ENV_FILE"
