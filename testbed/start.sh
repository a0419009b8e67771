#!/usr/bin/env bash
# Start the stagedoor testbed: a real Backstage backend on 127.0.0.1.
#
#   testbed/start.sh [PORT]        PORT 0 or absent: pick a free port
#
# Idempotent: installs node_modules (npm ci) and the TechDocs venv only when
# missing or stale, restoring them from a cache keyed by the lock files; if a
# testbed started from this directory is still running it is reused.
# When it returns 0 the backend is ready, every ref in
# catalog/expected-entities.txt and every relation in
# catalog/expected-relations.txt is in the catalog, and the TechDocs sites are
# built. stdout carries only the env lines (also in .run/testbed.env), so
#   eval "$(testbed/start.sh)"   or   cat testbed/.run/testbed.env >> "$GITHUB_ENV"
# both work. Progress goes to stderr.
#
# Environment:
#   TESTBED_CACHE_DIR       cache root (default $HOME/.cache/stagedoor; "off" disables)
#   BACKSTAGE_STATIC_TOKEN  static external-access token (default as in app-config.yaml)
#   TESTBED_CONFIG          extra app-config overlays, space separated
#                           (e.g. app-config.all-actions.yaml)
#   TESTBED_TIMEOUT         seconds for each wait phase (default 180)
#   WAIT_SEARCH=1           also wait until search returns catalog and techdocs hits
#   LOG_LEVEL               passed to Backstage (default info)
#   TESTBED_RUN_DIR         where testbed.env and logs go (default testbed/.run);
#                           give each concurrent suite its own to run several
#                           independent backends from one checkout
#   TESTBED_LINE            latest (default: ./package.json, Node >= 22) or previous
#                           (./previous/package.json plus the previous/app-config.yaml
#                           overlay; the compatibility matrix)
#   TESTBED_NODE            the node binary to run (default: `node` if new enough for
#                           the line, else $NODE22 from scripts/install-test-tools.sh)
#   TESTBED_POLICY          allow-all (default) or deny-guest-catalog: a permission policy
#                           refusing user:default/guest every catalog entity but Users
#
# Concurrent calls are serialised by a lock on testbed/.run/start.lock: the
# second caller waits, then reuses the backend the first one started.
set -euo pipefail

TESTBED="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$TESTBED"

PORT_ARG="${1:-${PORT:-0}}"
CACHE_DIR="${TESTBED_CACHE_DIR:-$HOME/.cache/stagedoor}"
TOKEN="${BACKSTAGE_STATIC_TOKEN:-stagedoor-testbed-static-token-0123456789}"
TIMEOUT="${TESTBED_TIMEOUT:-180}"
RUN_DIR="${TESTBED_RUN_DIR:-$TESTBED/.run}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$TESTBED/$RUN_DIR" ;; esac
ENV_FILE="$RUN_DIR/testbed.env"
EXPECTED="$TESTBED/catalog/expected-entities.txt"
STOP_CMD="$TESTBED/stop.sh"
LINE="${TESTBED_LINE:-latest}"
case "$LINE" in
  latest) PKG_DIR="$TESTBED"; NODE_MIN=22 ;;
  previous) PKG_DIR="$TESTBED/previous"; NODE_MIN=20 ;;
  *) echo "TESTBED_LINE must be latest or previous, got '$LINE'" >&2; exit 2 ;;
esac
case "${TESTBED_POLICY:-}" in
  "" | allow-all | deny-guest-catalog) ;;
  *) echo "TESTBED_POLICY must be allow-all (the default) or deny-guest-catalog, got '$TESTBED_POLICY'" >&2; exit 2 ;;
esac
[[ "$RUN_DIR" == "$TESTBED/.run" ]] || STOP_CMD="TESTBED_RUN_DIR=$RUN_DIR $STOP_CMD"

T0=$SECONDS
log() { printf '[testbed %3ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$RUN_DIR" "$TESTBED/.run" "$TESTBED/.data/techdocs"

# One start at a time per checkout and release line (that line's node_modules and the
# .venv are shared). fd 8 is closed for the backend so the lock ends with this script.
lock_file="$TESTBED/.run/start.lock"
[[ "$LINE" == latest ]] || lock_file="$TESTBED/.run/start-$LINE.lock"
exec 8>"$lock_file"
if ! flock -n 8; then
  log "another start.sh is running here; waiting for it"
  flock -w $((TIMEOUT * 4)) 8 || die "timed out waiting for $lock_file"
fi

# ---------------------------------------------------------------- reuse ----
if [[ -f "$ENV_FILE" ]]; then
  old_pid="$(sed -n 's/^TESTBED_PID=//p' "$ENV_FILE")"
  old_url="$(sed -n 's/^BACKSTAGE_BASE_URL=//p' "$ENV_FILE")"
  old_port="${old_url##*:}"
  old_line="$(sed -n 's/^TESTBED_LINE=//p' "$ENV_FILE")"
  if [[ -n "$old_pid" ]] && kill -0 "$old_pid" 2>/dev/null &&
    grep -q 'src/index.js' "/proc/$old_pid/cmdline" 2>/dev/null; then
    if [[ "$PORT_ARG" == 0 || "$PORT_ARG" == "$old_port" ]] && [[ "${old_line:-latest}" == "$LINE" ]] &&
      curl -fsS -o /dev/null --max-time 5 "$old_url/.backstage/health/v1/readiness"; then
      log "already running (pid $old_pid, $old_url); stop it with $STOP_CMD"
      cat "$ENV_FILE"
      exit 0
    fi
    die "a testbed is already running (pid $old_pid, $old_url); run $STOP_CMD first"
  fi
  log "removing stale $ENV_FILE (pid $old_pid is gone)"
  rm -f "$ENV_FILE"
fi

# ----------------------------------------------------------------- node ----
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
NODE_BIN="${TESTBED_NODE:-}"
if [[ -z "$NODE_BIN" ]]; then
  if command -v node >/dev/null && (($(node_major node) >= NODE_MIN)); then
    NODE_BIN="$(command -v node)"
  elif [[ -n "${NODE22:-}" && -x "$NODE22" ]]; then
    NODE_BIN="$NODE22"
  else
    die "the $LINE line needs Node >= $NODE_MIN: source \"\$(scripts/install-test-tools.sh)\" (sets NODE22) or set TESTBED_NODE"
  fi
fi
(($(node_major "$NODE_BIN") >= NODE_MIN)) || die "$NODE_BIN is older than Node $NODE_MIN (the $LINE line needs it)"
NODE_DIR="$(cd "$(dirname "$NODE_BIN")" && pwd)"
log "$LINE line, packages from $PKG_DIR, node $("$NODE_BIN" --version) ($NODE_BIN)"

# --------------------------------------------------------- node_modules ----
# Key: the lock file plus the Node ABI and platform (better-sqlite3 is native).
node_abi="$("$NODE_BIN" -p 'process.versions.modules + "-" + process.platform + "-" + process.arch')"
nm_key="$( (sha256sum "$PKG_DIR/package-lock.json" | cut -c1-64; echo "$node_abi") | sha256sum | cut -c1-24)"
NM_DIR="$PKG_DIR/node_modules"
NM_MARKER="$NM_DIR/.stagedoor-key"

copy_tree() { # copy_tree SRC DST: hardlink copy when possible, else a real copy
  cp -al "$1" "$2" 2>/dev/null || { rm -rf "$2"; cp -a "$1" "$2"; }
}

if [[ -f "$NM_MARKER" && "$(cat "$NM_MARKER")" == "$nm_key" ]]; then
  log "node_modules up to date (key $nm_key)"
elif [[ "$CACHE_DIR" != off && -f "$CACHE_DIR/node_modules/$nm_key/.complete" ]]; then
  log "restoring node_modules from $CACHE_DIR/node_modules/$nm_key"
  rm -rf "$NM_DIR"
  copy_tree "$CACHE_DIR/node_modules/$nm_key/node_modules" "$NM_DIR"
  echo "$nm_key" >"$NM_MARKER"
  log "node_modules restored"
else
  log "installing node_modules with npm ci (takes 2-3 minutes: better-sqlite3 compiles from source)"
  # The chosen node first on PATH, and its own headers for node-gyp when it ships them
  # (better-sqlite3 builds from source: no prebuilt download here).
  nodedir_env=()
  [[ -d "$NODE_DIR/../include/node" ]] && nodedir_env=("npm_config_nodedir=$(cd "$NODE_DIR/.." && pwd)")
  (cd "$PKG_DIR" && env PATH="$NODE_DIR:$PATH" "${nodedir_env[@]}" \
    npm ci --prefer-offline --no-audit --no-fund) >"$RUN_DIR/npm-ci.log" 2>&1 || {
    tail -n 40 "$RUN_DIR/npm-ci.log" >&2
    die "npm ci failed (full log: $RUN_DIR/npm-ci.log)"
  }
  [[ -f "$NM_DIR/better-sqlite3/build/Release/better_sqlite3.node" ]] ||
    die "better-sqlite3 was not built (is it listed in allowScripts?); see $RUN_DIR/npm-ci.log"
  echo "$nm_key" >"$NM_MARKER"
  log "node_modules installed"
  if [[ "$CACHE_DIR" != off ]]; then
    mkdir -p "$CACHE_DIR/node_modules"
    tmp="$CACHE_DIR/node_modules/.tmp-$nm_key-$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    copy_tree "$NM_DIR" "$tmp/node_modules"
    touch "$tmp/.complete"
    if mv -T "$tmp" "$CACHE_DIR/node_modules/$nm_key" 2>/dev/null; then
      log "cached node_modules as $CACHE_DIR/node_modules/$nm_key"
    else
      rm -rf "$tmp" # another job cached the same key first
    fi
    # Keep the four most recent keys (two release lines).
    ls -1dt "$CACHE_DIR"/node_modules/*/ 2>/dev/null | tail -n +5 | xargs -r rm -rf
  fi
fi

# ---------------------------------------------------------------- venv -----
# A venv is not relocatable, so with a cache it lives in the cache dir and
# .venv is a symlink to it: the same venv serves every checkout.
req_file=requirements.lock.txt
[[ -f "$req_file" ]] || req_file=requirements.txt
py_ver="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
venv_key="$( (sha256sum "$req_file" | cut -c1-64; echo "$py_ver") | sha256sum | cut -c1-24)"
if [[ "$CACHE_DIR" == off ]]; then venv_dir="$TESTBED/.venv"; else venv_dir="$CACHE_DIR/venv/$venv_key"; fi

venv_ok() { [[ -f "$1/.stagedoor-key" && "$(cat "$1/.stagedoor-key")" == "$venv_key" ]] && "$1/bin/mkdocs" --version >/dev/null 2>&1; }

venv_build() {
  rm -rf "$venv_dir"
  python3 -m venv "$venv_dir" || die "python3 -m venv failed"
  "$venv_dir/bin/pip" install --disable-pip-version-check -q -r "$req_file" >"$RUN_DIR/pip.log" 2>&1 || {
    tail -n 30 "$RUN_DIR/pip.log" >&2
    die "pip install failed (full log: $RUN_DIR/pip.log)"
  }
  echo "$venv_key" >"$venv_dir/.stagedoor-key" # written last: marks the venv complete
}

if venv_ok "$venv_dir"; then
  log "venv up to date ($venv_dir)"
else
  log "creating the TechDocs venv from $req_file in $venv_dir"
  mkdir -p "$(dirname "$venv_dir")"
  exec 9>"$venv_dir.lock" # concurrent jobs sharing the cache build it once
  flock -w 900 9 || die "timed out waiting for $venv_dir.lock"
  venv_ok "$venv_dir" || venv_build
  exec 9>&-
  log "venv ready"
fi
if [[ "$venv_dir" != "$TESTBED/.venv" ]]; then
  if [[ ! -L .venv || "$(readlink .venv)" != "$venv_dir" ]]; then
    rm -rf .venv
    ln -s "$venv_dir" .venv
  fi
fi

# ---------------------------------------------------------------- port -----
if [[ "$PORT_ARG" == 0 ]]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
else
  port="$PORT_ARG"
  [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is already in use"
  fi
fi
BASE_URL="http://127.0.0.1:$port"
LOG_FILE="$RUN_DIR/backstage-$port.log"

# --------------------------------------------------------------- start -----
config_args=(--config app-config.yaml)
[[ "$LINE" == latest ]] || config_args+=(--config "$LINE/app-config.yaml")
for overlay in ${TESTBED_CONFIG:-}; do
  [[ -f "$overlay" ]] || die "TESTBED_CONFIG: no such file $overlay (relative to $TESTBED)"
  config_args+=(--config "$overlay")
done

# ------------------------------------------------------- OAuth fixtures ----
# The latest line admits exactly one Client ID Metadata Document URL, served over HTTPS on
# loopback by the e2e tests: pick its port and a throw-away CA now (Node reads
# NODE_EXTRA_CA_CERTS only at start). The tests sign the server certificate with this CA.
cimd_env=()
if [[ "$LINE" == latest ]]; then
  cimd_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  CIMD_CLIENT_ID="https://127.0.0.1:$cimd_port/stagedoor-e2e/client.json"
  CIMD_CA_KEY="$RUN_DIR/cimd-ca.key"
  CIMD_CA_CERT="$RUN_DIR/cimd-ca.pem"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=stagedoor testbed CIMD test CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign \
    -keyout "$CIMD_CA_KEY" -out "$CIMD_CA_CERT" >/dev/null 2>&1 || die "openssl could not create the CIMD test CA"
  cimd_env=("TESTBED_CIMD_CLIENT_ID=$CIMD_CLIENT_ID" "NODE_EXTRA_CA_CERTS=$CIMD_CA_CERT")
fi

log "starting Backstage on $BASE_URL (log: $LOG_FILE)"
# setsid: the backend leads its own process group, so stop.sh can end it and
# the mkdocs children it spawns in one signal. Not a group leader here (no job
# control in scripts), so setsid execs in place and $! is node's pid.
env "${cimd_env[@]}" PATH="$TESTBED/.venv/bin:$PATH" PORT="$port" BACKSTAGE_STATIC_TOKEN="$TOKEN" TESTBED_LINE="$LINE" \
  setsid "$NODE_BIN" src/index.js "${config_args[@]}" >"$LOG_FILE" 2>&1 </dev/null 8>&- &
pid=$!
T_START=$SECONDS

cat >"$ENV_FILE" <<EOF
BACKSTAGE_BASE_URL=$BASE_URL
BACKSTAGE_TOKEN=$TOKEN
TESTBED_PID=$pid
TESTBED_LINE=$LINE
TESTBED_POLICY=${TESTBED_POLICY:-allow-all}
EOF
if [[ "$LINE" == latest ]]; then
  cat >>"$ENV_FILE" <<EOF
TESTBED_CIMD_CLIENT_ID=$CIMD_CLIENT_ID
TESTBED_CIMD_CA_CERT=$CIMD_CA_CERT
TESTBED_CIMD_CA_KEY=$CIMD_CA_KEY
EOF
fi

fail() {
  log "ERROR: $*"
  log "last 40 lines of $LOG_FILE:"
  tail -n 40 "$LOG_FILE" >&2 || true
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  rm -f "$ENV_FILE"
  exit 1
}
trap 'fail "interrupted"' INT TERM

alive() { kill -0 "$pid" 2>/dev/null || fail "Backstage exited during startup"; }
auth=(-H "Authorization: Bearer $TOKEN")

# ----------------------------------------------------------- readiness -----
deadline=$((SECONDS + TIMEOUT))
until curl -fsS -o /dev/null --max-time 5 "$BASE_URL/.backstage/health/v1/readiness" 2>/dev/null; do
  alive
  ((SECONDS < deadline)) || fail "not ready after ${TIMEOUT}s"
  sleep 0.25
done
log "ready after $((SECONDS - T_START))s"

# ------------------------------------------------------------ entities -----
# Every expected entity AND every expected relation (catalog/expected-*.txt):
# relations appear a moment after the entities, when both ends are stitched.
expected_count="$(grep -c . "$EXPECTED")"
query="$BASE_URL/api/catalog/entities/by-query?fields=kind,metadata.namespace,metadata.name,relations&limit=1000"
deadline=$((SECONDS + TIMEOUT))
while :; do
  alive
  if diff_out="$(curl -sS --max-time 10 "${auth[@]}" "$query" 2>&1 | "$NODE_BIN" scripts/catalog-diff.js)"; then
    break
  fi
  if ((SECONDS >= deadline)); then
    log "catalog still incomplete after ${TIMEOUT}s:"
    grep -v '^unexpected-entity' <<<"$diff_out" | head -n 40 | sed 's/^/  /' >&2
    fail "catalog ingestion incomplete"
  fi
  sleep 0.5
done
grep '^unexpected-entity' <<<"$diff_out" | sed 's/^/  warning: /' >&2 || true
log "all $expected_count expected entities and $(grep -c . catalog/expected-relations.txt) relations in the catalog after $((SECONDS - T_START))s"

# ------------------------------------------------------------ techdocs -----
docs_refs="$(curl -fsS --max-time 10 "${auth[@]}" \
  "$BASE_URL/api/catalog/entities/by-query?filter=metadata.annotations.backstage.io/techdocs-ref&fields=kind,metadata.namespace,metadata.name&limit=100" |
  "$NODE_BIN" -e 'let b="";process.stdin.on("data",d=>b+=d).on("end",()=>{for(const e of JSON.parse(b).items)console.log(`${e.metadata.namespace||"default"}/${e.kind.toLowerCase()}/${e.metadata.name}`)})')" ||
  fail "could not list TechDocs entities"
for triplet in $docs_refs; do
  out="$(curl -sS -N --max-time "$TIMEOUT" "${auth[@]}" -H 'Accept: text/event-stream' \
    "$BASE_URL/api/techdocs/sync/$triplet" 2>&1)" || true
  if ! grep -q '^event: finish' <<<"$out"; then
    printf '%s\n' "$out" | tail -n 20 >&2
    fail "TechDocs build for $triplet did not finish"
  fi
  code="$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$BASE_URL/api/techdocs/static/docs/$triplet/index.html")"
  [[ "$code" == 200 ]] || fail "TechDocs index.html for $triplet answered $code"
  log "TechDocs built: $triplet"
done

# -------------------------------------------------------------- search -----
if [[ "${WAIT_SEARCH:-0}" == 1 ]]; then
  log "waiting for the search index (collators start 10-15 s after boot)"
  deadline=$((SECONDS + TIMEOUT))
  for type in software-catalog techdocs; do
    until [[ "$(curl -sS --max-time 10 "${auth[@]}" "$BASE_URL/api/search/query?term=payment&types%5B0%5D=$type" 2>/dev/null |
      "$NODE_BIN" -e 'let b="";process.stdin.on("data",d=>b+=d).on("end",()=>{try{console.log(JSON.parse(b).results.length>0?"yes":"no")}catch{console.log("no")}})')" == yes ]]; do
      alive
      ((SECONDS < deadline)) || fail "search index for $type still empty after ${TIMEOUT}s"
      sleep 1
    done
    log "search answers for $type"
  done
fi

trap - INT TERM
log "testbed up in $((SECONDS - T0))s (backend start to done: $((SECONDS - T_START))s), pid $pid"
log "stop it with: $STOP_CMD"
cat "$ENV_FILE"
