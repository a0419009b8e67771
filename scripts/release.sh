#!/usr/bin/env bash
# Produce a release's artifacts in dist/ (nothing is uploaded):
#
#   dist/stagedoor-<version>-<target>.tar.gz     the static binary, LICENSE, README.md and the
#                                                systemd unit
#   dist/stagedoor-<version>-image.oci.tar       the container image (OCI archive), built from
#                                                that same binary
#   dist/SHA256SUMS                              checksums of both, and of the binary itself
#
#   scripts/release.sh            # version from Cargo.toml; the work tree must be clean
#   scripts/release.sh --dirty    # allow uncommitted changes (the image's revision label
#                                 # then names HEAD, which is not what was built)
#
# Then, by hand: tag the commit (git tag v<version>), push the image with
# `podman push localhost/stagedoor:<version> <registry>/stagedoor:<version>` (or
# `skopeo copy oci-archive:dist/...image.oci.tar docker://<registry>/stagedoor:<version>`),
# and attach the archive and SHA256SUMS to the release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dirty=0
[[ "${1:-}" == "--dirty" ]] && dirty=1
if [[ $dirty -eq 0 && -n "$(git status --porcelain --untracked-files=no)" ]]; then
  echo "release: the work tree has uncommitted changes (commit them, or pass --dirty)" >&2
  exit 1
fi

version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
name="stagedoor-$version-$triple"
echo "release: stagedoor $version for $triple" >&2

bin="$(scripts/build-static.sh --profile release)"
[[ "$("$bin" --version)" == "stagedoor $version" ]] || { echo "release: $bin is not version $version" >&2; exit 1; }

rm -rf dist/release && mkdir -p "dist/release/$name"
install -m 0755 "$bin" "dist/release/$name/stagedoor"
install -m 0644 LICENSE README.md deploy/systemd/stagedoor.service "dist/release/$name/"
# A reproducible archive: fixed order, owner and times (the commit's).
epoch="$(git log -1 --format=%ct)"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
  -C dist/release -cf - "$name" | gzip -n -9 >"dist/$name.tar.gz"

image="localhost/stagedoor:$version"
scripts/build-image.sh --binary "$bin" --tag "$image" --save "dist/stagedoor-$version-image.oci.tar" >/dev/null

cp "$bin" "dist/release/stagedoor"
(cd dist && sha256sum "$name.tar.gz" "stagedoor-$version-image.oci.tar" > SHA256SUMS \
  && (cd release && sha256sum stagedoor | sed "s|  stagedoor|  $name/stagedoor|") >> SHA256SUMS)
rm -rf dist/release
echo "release: done; image $image" >&2
ls -l dist >&2
cat dist/SHA256SUMS
