#!/bin/sh
# Rebuilds the eBPF object test material with Debian's clang 14: `build.sh [OUT_DIR]`.
# Every source is built with -mcpu=v1, v2 and v3 (clang 14 knows no v4), each without and with
# -g (DWARF and BTF sections). -fdebug-compilation-dir keeps the objects independent of where
# the repository lives. The committed .o files were built with this script, and
# crates/testkit/tests/ebpf_objects.rs checks a rebuild against them where clang 14 is found.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
mkdir -p "$out"
for source in globals.c alu32.c calls.c helpers.c; do
    for cpu in v1 v2 v3; do
        name=${source%.c}.$cpu
        ${CC:-clang} -O2 -target bpf -mcpu=$cpu -ffreestanding -c "$source" -o "$out/$name.o"
        ${CC:-clang} -O2 -g -target bpf -mcpu=$cpu -ffreestanding -fdebug-compilation-dir=. \
            -c "$source" -o "$out/$name.g.o"
    done
done
