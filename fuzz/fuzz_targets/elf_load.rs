//! Fuzzes the ELF loader (both sBPF presets, the verifier and `describe`) over arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bpfvm::elf::exercise_loader(data));
