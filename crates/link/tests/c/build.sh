#!/bin/sh
# Rebuilds the linker's test objects with Debian's clang 14:
# `crates/link/tests/c/build.sh [OUT_DIR]`. The output is deterministic; the committed .o
# files were built with this script, so the tests need no clang.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
mkdir -p "$out"
for source in calls.c; do
	${CC:-clang} -O2 -target bpf -mcpu=v2 -ffreestanding -c "$source" -o "$out/${source%.c}.o"
done
