#!/usr/bin/env bash
# Local-catalog benchmark: generates a catalog (default 100,000 entities) once, then loads and
# queries it with the release build and prints a Markdown report.
#
#   bench/local-catalog/run.sh [ENTITIES]        (catalog cached in ${BENCH_DIR:-/tmp})
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
n="${1:-100000}"
dir="${BENCH_DIR:-/tmp}/stagedoor-catalog-$n"
[[ -d "$dir" ]] || python3 bench/local-catalog/generate.py "$dir" "$n"
cargo build --release --locked --example local_catalog_bench
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
"$target/release/examples/local_catalog_bench" "$dir"
echo
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
