//! Fuzzes the assembler of both dialects over arbitrary text.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bpfvm_testkit::fuzzing::exercise_assembler(data));
