# Shared helpers for scripts/*.sh (source it; bash only).
# Every process started here binds 127.0.0.1 on a free port and is stopped by PID.

SD_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# TESTBED_LINE=previous: the previous Backstage release line, in its own run dir (the same
# default as tests/e2e/conftest.py), so both lines can be up at once.
SD_TESTBED_LINE="${TESTBED_LINE:-latest}"
if [[ "$SD_TESTBED_LINE" == latest ]]; then
  SD_TESTBED_RUN_DIR="$SD_REPO_ROOT/testbed/.run"
else
  SD_TESTBED_RUN_DIR="$SD_REPO_ROOT/testbed/.run/$SD_TESTBED_LINE"
fi
SD_TESTBED_DEFAULT_ENV="$SD_TESTBED_RUN_DIR/testbed.env"

sd_log() { printf '[%s %s] %s\n' "$(basename "$0")" "$(date +%H:%M:%S)" "$*" >&2; }
sd_die() { sd_log "ERROR: $*"; exit 1; }

# Install (or reuse) the pinned test tools and load their variables.
sd_tools_env() {
  local env_file
  env_file="$("$SD_REPO_ROOT/scripts/install-test-tools.sh")" || sd_die "install-test-tools.sh failed"
  # shellcheck disable=SC1090
  source "$env_file"
}

# sd_apt_install PACKAGE...: install Debian packages (sudo when not root), keeping the
# downloaded .debs under ${STAGEDOOR_CACHE_DIR:-~/.cache/stagedoor}/apt; updates the
# package lists only when a package is unknown or the install fails.
SD_APT_UPDATED=0
sd_apt_install() {
  local sudo=() cache="${STAGEDOOR_CACHE_DIR:-$HOME/.cache/stagedoor}/apt"
  [[ $EUID -eq 0 ]] || sudo=(sudo)
  mkdir -p "$cache/partial"
  local opts=(-o "Dir::Cache::Archives=$cache" -o APT::Sandbox::User=root -y -q --no-install-recommends)
  if [[ $SD_APT_UPDATED -eq 0 ]] && ! apt-cache show "$@" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -q >&2
    SD_APT_UPDATED=1
  fi
  sd_log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install "${opts[@]}" "$@" >&2 \
    || { "${sudo[@]}" apt-get update -q >&2; SD_APT_UPDATED=1
         DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install "${opts[@]}" "$@" >&2; }
}

sd_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

sd_pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# sd_stop_pid PID [GRACE_S]: SIGTERM, SIGKILL after the grace period. Returns 0 once gone.
sd_stop_pid() {
  local pid="$1" grace="${2:-5}" i
  sd_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do sd_pid_alive "$pid" || return 0; sleep 0.1; done
  sd_log "pid $pid ignored SIGTERM for ${grace}s; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do sd_pid_alive "$pid" || return 0; sleep 0.1; done
  sd_log "pid $pid survived SIGKILL"
  return 1
}

# Read KEY=value lines of an env file into the environment (export).
sd_load_env_file() {
  local line k v
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#export }"
    [[ -z "$line" || "$line" == \#* || "$line" != *=* ]] && continue
    k="${line%%=*}"; v="${line#*=}"
    v="${v%\"}"; v="${v#\"}"; v="${v%\'}"; v="${v#\'}"
    export "$k=$v"
  done <"$1"
}

# sd_testbed_ensure: reuse a live testbed ($TESTBED_ENV or testbed/.run/testbed.env),
# else start one with testbed/start.sh. Exports BACKSTAGE_BASE_URL, BACKSTAGE_TOKEN,
# TESTBED_PID, TESTBED_ENV; sets SD_TESTBED_STARTED=1 when this script started it.
SD_TESTBED_STARTED=0
sd_testbed_ensure() {
  local env_file="${TESTBED_ENV:-$SD_TESTBED_DEFAULT_ENV}" pid
  if [[ -f "$env_file" ]]; then
    pid="$(sed -n 's/^\(export \)\{0,1\}TESTBED_PID=//p' "$env_file" | tr -d '"'"'")"
    if sd_pid_alive "$pid"; then
      sd_load_env_file "$env_file"
      export TESTBED_ENV="$env_file"
      sd_log "reusing testbed pid $TESTBED_PID at $BACKSTAGE_BASE_URL"
      return 0
    fi
  fi
  [[ -x "$SD_REPO_ROOT/testbed/start.sh" ]] || sd_die "no live testbed and no testbed/start.sh"
  sd_log "starting the $SD_TESTBED_LINE-line testbed (testbed/start.sh)"
  TESTBED_LINE="$SD_TESTBED_LINE" TESTBED_RUN_DIR="$SD_TESTBED_RUN_DIR" \
    "$SD_REPO_ROOT/testbed/start.sh" >/dev/null || sd_die "testbed/start.sh failed"
  env_file="$SD_TESTBED_DEFAULT_ENV"
  [[ -f "$env_file" ]] || sd_die "testbed/start.sh wrote no $env_file"
  sd_load_env_file "$env_file"
  sd_pid_alive "$TESTBED_PID" || sd_die "testbed pid $TESTBED_PID is not alive"
  export TESTBED_ENV="$env_file"
  SD_TESTBED_STARTED=1
  sd_log "testbed pid $TESTBED_PID at $BACKSTAGE_BASE_URL"
}

# sd_testbed_release: stop the testbed if sd_testbed_ensure started it.
sd_testbed_release() {
  [[ "$SD_TESTBED_STARTED" == 1 ]] || return 0
  sd_log "stopping testbed pid $TESTBED_PID"
  TESTBED_RUN_DIR="$SD_TESTBED_RUN_DIR" "$SD_REPO_ROOT/testbed/stop.sh" >&2 || true
  sd_stop_pid "$TESTBED_PID" 15 || return 1
  SD_TESTBED_STARTED=0
}

# sd_stagedoor_start LOGFILE [extra serve args...]: start `stagedoor serve --transport http`
# on a free 127.0.0.1 port with the current BACKSTAGE_* env and wait for /healthz.
# Sets SD_PID, SD_PORT, SD_URL (…/mcp).
sd_stagedoor_start() {
  local log="$1"; shift
  local bin="${STAGEDOOR_BIN:-$SD_REPO_ROOT/target/debug/stagedoor}" i
  [[ -x "$bin" ]] || sd_die "stagedoor binary not found at $bin (cargo build, or set STAGEDOOR_BIN)"
  SD_PORT="$(sd_free_port)"
  "$bin" serve --transport http --listen "127.0.0.1:$SD_PORT" "$@" </dev/null >"$log" 2>&1 &
  SD_PID=$!
  SD_URL="http://127.0.0.1:$SD_PORT/mcp"
  for ((i = 0; i < 200; i++)); do
    if ! sd_pid_alive "$SD_PID"; then
      cat "$log" >&2
      sd_die "stagedoor exited before answering /healthz"
    fi
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$SD_PORT/healthz" 2>/dev/null && return 0
    sleep 0.1
  done
  cat "$log" >&2
  sd_stop_pid "$SD_PID"
  sd_die "stagedoor did not answer /healthz within 20 s"
}
