#!/bin/sh
# Seeds the fuzz corpus with the test ELFs and objects, then runs the ELF loader target:
#   fuzz/seed.sh [seconds]   (needs nightly and cargo-fuzz)
set -eu
cd "$(dirname "$0")"
mkdir -p corpus/elf_load
cp ../../shared/corpus/rbpf_elfs/*.so ../../shared/corpus/solana_programs/bpf_loader_test_elfs/*.so \
   ../../shared/corpus/solana_programs/spl_memo-1.0.0.so ../crates/vm/tests/elf_rel/*.o corpus/elf_load/
# cargo-fuzz reads the compiler version from $RUSTC; point it at the nightly one.
export RUSTC="${RUSTC:-$(rustup +nightly which rustc)}"
cargo +nightly fuzz run elf_load corpus/elf_load -- -max_total_time="${1:-120}" -max_len=65536
