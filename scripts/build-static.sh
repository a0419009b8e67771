#!/usr/bin/env bash
# Build the statically linked stagedoor binary: glibc linked in (`-C target-feature=+crt-static`
# on the host's *-linux-gnu target), TLS by rustls, so it runs on any Linux of the same
# architecture and in an empty (`scratch`) container image. glibc's /etc/hosts and DNS
# resolvers are part of libc itself, so name resolution needs no NSS module at run time.
#
#   scripts/build-static.sh [--profile release|dev|NAME]     (default: release)
#
# Prints the binary's path on stdout (cargo's output goes to stderr). `--target` is given
# explicitly so that build scripts and proc-macros are still built for the host without
# crt-static. Fails if the result has an ELF interpreter or needs a shared library.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a value}"; shift 2 ;;
    *) echo "build-static: unknown argument: $1" >&2; exit 64 ;;
  esac
done

triple="$(rustc -vV | sed -n 's/^host: //p')"
case "$triple" in
  *-unknown-linux-gnu) ;;
  *) echo "build-static: needs a *-unknown-linux-gnu host, not $triple" >&2; exit 1 ;;
esac

RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
  cargo build --locked -p stagedoor --profile "$profile" --target "$triple" >&2

target_dir="$(cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
case "$profile" in
  dev) out_dir=debug ;;
  *) out_dir="$profile" ;;
esac
bin="$target_dir/$triple/$out_dir/stagedoor"
[[ -x "$bin" ]] || { echo "build-static: no binary at $bin" >&2; exit 1; }

if readelf -lW "$bin" | grep -q 'Requesting program interpreter'; then
  echo "build-static: $bin has an ELF interpreter: not statically linked" >&2; exit 1
fi
if readelf -dW "$bin" | grep -q '(NEEDED)'; then
  echo "build-static: $bin needs shared libraries:" >&2
  readelf -dW "$bin" | grep '(NEEDED)' >&2
  exit 1
fi
echo "$bin"
