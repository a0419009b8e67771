#!/usr/bin/env bash
# Build stagedoor's container image from a static binary built on this host (Containerfile's
# `--target prebuilt`: no builder stage, no registry pull), with podman.
#
#   scripts/build-image.sh [--binary PATH] [--tag NAME:TAG] [--export-rootfs DIR]
#                          [--save FILE.oci.tar]
#
#   --binary         a static stagedoor (default: scripts/build-static.sh builds one)
#   --tag            the image name (default: localhost/stagedoor:<version>)
#   --export-rootfs  also unpack the image's file system into DIR (podman create + export:
#                    the image is complete if the binary runs from there)
#   --save           also write the image as an OCI archive (podman load / skopeo copy)
#
# The image's creation time is the commit's, so the same binary gives the same image.
# Prints the image ID on stdout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"

log() { echo "build-image: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

bin=""
tag=""
rootfs=""
save=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) bin="${2:?}"; shift 2 ;;
    --tag) tag="${2:?}"; shift 2 ;;
    --export-rootfs) rootfs="${2:?}"; shift 2 ;;
    --save) save="${2:?}"; shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done

command -v podman >/dev/null || die "podman not found (apt-get install podman)"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
[[ -n "$version" ]] || die "no workspace.package version in Cargo.toml"
tag="${tag:-localhost/stagedoor:$version}"
[[ -n "$bin" ]] || bin="$(scripts/build-static.sh)"
[[ -x "$bin" ]] || die "no executable binary at $bin"
if readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
  die "$bin is dynamically linked; build it with scripts/build-static.sh"
fi
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[[ -s "$ca" ]] || die "no CA bundle at $ca (apt-get install ca-certificates, or set CA_BUNDLE)"

revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
epoch="$(git log -1 --format=%ct 2>/dev/null || date +%s)"
created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"

# The build context: exactly what the prebuilt variant copies, laid out as in the repository.
ctx="$(mktemp -d)"
cid=""
cleanup() {
  [[ -n "$cid" ]] && podman rm -f "$cid" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
mkdir -p "$ctx/dist/image" "$ctx/deploy"
cp Containerfile .containerignore "$ctx/"
cp -r deploy/container "$ctx/deploy/"
install -m 0755 "$bin" "$ctx/dist/image/stagedoor"
# A release binary is stripped already; a dev build (CI) sheds its debug info here.
strip "$ctx/dist/image/stagedoor"
install -m 0644 "$ca" "$ctx/dist/image/ca-certificates.crt"

log "podman build $tag (version $version, revision ${revision:0:12})"
podman build --quiet --pull=never --timestamp "$epoch" \
  --target prebuilt \
  --build-arg VERSION="$version" \
  --build-arg REVISION="$revision" \
  --build-arg CREATED="$created" \
  -f "$ctx/Containerfile" -t "$tag" "$ctx" >&2
id="$(podman image inspect --format '{{.Id}}' "$tag")"
size="$(podman image inspect --format '{{.Size}}' "$tag")"
log "built $tag: $(awk -v s="$size" 'BEGIN { printf "%.1f MiB", s / 1048576 }') ($size bytes)"

if [[ -n "$rootfs" ]]; then
  mkdir -p "$rootfs"
  cid="$(podman create "$tag")"
  podman export "$cid" | tar -x -C "$rootfs"
  podman rm -f "$cid" >/dev/null
  cid=""
  log "file system exported to $rootfs"
fi
if [[ -n "$save" ]]; then
  rm -f "$save"
  podman save --quiet --format oci-archive -o "$save" "$tag"
  log "saved $save"
fi
echo "$id"
