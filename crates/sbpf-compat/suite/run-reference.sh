#!/usr/bin/env bash
# Runs solana-sbpf 0.26.0's suite against the REAL crate (the reproduction the corpus README
# describes), to compare with the drop-in's run (`cargo test` in this directory). It copies
# this harness without its [patch] line into target/ (tests stay links to the corpus) and
# points test_utils at a copy whose solana-sbpf is the registry's.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="$(cd "$here/../../../../shared/corpus/sbpf_suite" && pwd)"
out="$here/target/reference-harness"
mkdir -p "$out/src"
cp -r "$corpus/test_utils" "$out/" 2>/dev/null || true
chmod -R u+w "$out/test_utils"
ln -sfn "$corpus/tests" "$out/tests"
cp "$here/src/lib.rs" "$out/src/lib.rs"
sed -e '/^\[patch.crates-io\]/,/^$/d' \
    -e 's|path = "../../../../shared/corpus/sbpf_suite/test_utils"|path = "test_utils"|' \
    "$here/Cargo.toml" > "$out/Cargo.toml"
cd "$out"
cargo test --release --no-fail-fast "$@"
