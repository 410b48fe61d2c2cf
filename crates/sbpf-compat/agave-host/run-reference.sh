#!/usr/bin/env bash
# Runs the host test against the REAL solana-sbpf 0.26.0 and records its report into
# expected/spl_token.txt (the file the drop-in's run must equal). It copies this package
# without its [patch] line into target/reference-host; tests and expected/ are links.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/target/reference-host"
mkdir -p "$out/src"
ln -sfn "$here/tests" "$out/tests"
ln -sfn "$here/expected" "$out/expected"
cp "$here/src/lib.rs" "$out/src/lib.rs"
sed -e '/^\[patch.crates-io\]/,/^$/d' "$here/Cargo.toml" > "$out/Cargo.toml"
export SPL_TOKEN_ELF="$here/../../../../shared/corpus/solana_programs/spl_token-3.5.0.so"
cd "$out"
RECORD=1 cargo test --ignore-rust-version "$@"
