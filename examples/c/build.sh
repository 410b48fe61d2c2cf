#!/bin/sh
# Rebuilds the example objects with Debian's clang 14: `examples/c/build.sh [OUT_DIR]`.
# The output is deterministic (same compiler, same bytes); the committed .o files were
# built with this script, and crates/vm/tests/c_examples.rs checks a rebuild against them.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
mkdir -p "$out"
for source in fib.c primes.c hash.c hello.c; do
	${CC:-clang} -O2 -target bpf -mcpu=v2 -ffreestanding -c "$source" -o "$out/${source%.c}.o"
done
