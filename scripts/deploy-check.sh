#!/usr/bin/env bash
# The packaging check (scripts/test.sh runs it before the end-to-end suite):
#
#   1. installs what it needs when missing: podman (apt), kubectl with kustomize v5, systemd's
#      systemd-analyze (apt), and a venv with kubernetes-validate and pytest (pip); apt and pip
#      downloads are cached under ~/.cache/stagedoor
#   2. builds the static release binary (scripts/build-static.sh), unless --binary gives one
#   3. builds the container image from it with podman (scripts/build-image.sh: Containerfile's
#      "prebuilt" variant) and exports the image's file system
#   4. runs tests/deploy: the image's configuration, every Kubernetes overlay rendered with
#      `kubectl kustomize` and validated against Kubernetes' schemas, the systemd unit
#
#   scripts/deploy-check.sh [--binary PATH] [--rootfs DIR] [pytest args...]
#
# --binary PATH builds the image from that static binary instead: scripts/test.sh passes the
# static dev build its end-to-end suite runs, which saves a release build on every run.
# --rootfs DIR keeps the exported file system there for tests/e2e/test_image.py (which runs
# the image's binary against the Backstage testbed); without it the file system is removed.
# The image itself (localhost/stagedoor:check) is removed at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$SD_REPO_ROOT"

rootfs=""
bin=""
PYTEST_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rootfs) rootfs="${2:?--rootfs needs a directory}"; shift 2 ;;
    --binary) bin="${2:?--binary needs a path}"; shift 2 ;;
    *) PYTEST_ARGS+=("$1"); shift ;;
  esac
done

CACHE="${STAGEDOOR_CACHE_DIR:-$HOME/.cache/stagedoor}"
IMAGE=localhost/stagedoor:check
T0=$SECONDS
work="$(mktemp -d)"
image_built=0
images_before=""
# Removes the image and the intermediate images its build added (podman keeps one per step).
remove_image() {
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  local added
  added="$(comm -13 <(echo "$images_before") <(podman images -aq --no-trunc | sort -u))"
  [[ -z "$added" ]] || podman rmi $added >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  [[ $image_built -eq 1 ]] && remove_image
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------
apt_install() { sd_apt_install "$@"; }

kustomize_major() { "$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p'; }

command -v podman >/dev/null || apt_install podman
command -v systemd-analyze >/dev/null || apt_install systemd
KUBECTL="${KUBECTL:-$(command -v kubectl || true)}"
if [[ -z "$KUBECTL" ]]; then
  apt_install kubernetes-client
  KUBECTL="$(command -v kubectl || true)"
fi
major="$( [[ -n "$KUBECTL" ]] && kustomize_major "$KUBECTL" || true)"
if [[ -z "$major" || "$major" -lt 5 ]]; then
  sd_die "kubectl with kustomize v5 or newer is needed (found: ${KUBECTL:-none}, kustomize v${major:-?}); set KUBECTL"
fi
export KUBECTL

reqs=tests/deploy/requirements.txt
venv="$CACHE/deploy-venv"
key="$(cat "$reqs" | sha256sum | cut -c1-16)"
if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.version" 2>/dev/null)" != "$key" ]]; then
  sd_log "creating $venv (tests/deploy/requirements.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  PIP_CACHE_DIR="$CACHE/pip" "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$reqs" >&2
  echo "$key" >"$venv/.version"
fi
sd_log "tools: $(podman --version), kubectl kustomize v$major, $(systemd-analyze --version | head -1)"

# --- static binary and image -------------------------------------------------------
if [[ -z "$bin" ]]; then
  t=$SECONDS
  bin="$(scripts/build-static.sh)"
  sd_log "static binary: $bin ($(du -m "$bin" | cut -f1) MiB) in $((SECONDS - t)) s"
fi
[[ -x "$bin" ]] || sd_die "no executable binary at $bin"

t=$SECONDS
export_dir="${rootfs:-$work/rootfs}"
rm -rf "$export_dir"
images_before="$(podman images -aq --no-trunc | sort -u)"
image_built=1
scripts/build-image.sh --binary "$bin" --tag "$IMAGE" --export-rootfs "$export_dir" >/dev/null
sd_log "image $IMAGE built and exported to $export_dir in $((SECONDS - t)) s"

# --- tests -------------------------------------------------------------------------
set +e
(cd tests/deploy && STAGEDOOR_BIN="$bin" STAGEDOOR_IMAGE="$IMAGE" PYTHONDONTWRITEBYTECODE=1 \
  "$venv/bin/python" -m pytest "${PYTEST_ARGS[@]}")
rc=$?
set -e
echo "== deploy-check: $([[ $rc -eq 0 ]] && echo PASS || echo FAIL) in $((SECONDS - T0)) s =="
exit $rc
