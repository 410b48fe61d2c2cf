#!/bin/sh
# Rebuilds the benchmark kernels for BPF with Debian's clang 14:
# `examples/c/kernels/build.sh [OUT_DIR]`. The output is deterministic; the committed .o
# files were built with this script. Every object must be relocation-free (the reference
# runs the raw .text), which this script checks with llvm-readelf when it is installed.
# The native build of the same sources is done by crates/testkit/build.rs (the cc crate,
# the system C compiler, -O2, `entrypoint` renamed to `bpfvm_kernel_<name>`).
set -eu
cd "$(dirname "$0")"
out=${1:-.}
mkdir -p "$out"
for source in histogram.c checksum.c crc32.c sort.c fib.c collatz.c; do
	object="$out/${source%.c}.o"
	${CC:-clang} -O2 -target bpf -mcpu=v2 -ffreestanding -c "$source" -o "$object"
	if command -v llvm-readelf >/dev/null 2>&1 && llvm-readelf -r "$object" | grep -q 'Relocation section'; then
		echo "$object has relocations; kernels must be relocation-free" >&2
		exit 1
	fi
done
