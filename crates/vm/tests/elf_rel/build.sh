#!/bin/sh
# Rebuilds the relocatable test objects with Debian's clang 14 (apt-get install clang):
# `build.sh [OUT_DIR]`. The built .o files are committed so that the tests do not need clang;
# crates/vm/tests/elf_rel.rs checks a rebuild against them where clang 14 is installed.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
mkdir -p "$out"
for source in *.c; do
    clang -O2 -target bpf -mcpu=v2 -fno-builtin -c "$source" -o "$out/${source%.c}.o"
done
