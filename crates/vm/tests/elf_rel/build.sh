#!/bin/sh
# Rebuilds the relocatable test objects with Debian's clang 14 (apt-get install clang).
# The built .o files are committed so that the tests do not need clang.
set -eu
cd "$(dirname "$0")"
for source in *.c; do
    clang -O2 -target bpf -mcpu=v2 -fno-builtin -c "$source" -o "${source%.c}.o"
done
