//! Fuzzes the verifier and every backend over arbitrary raw programs (backends must agree).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bpfvm_testkit::fuzzing::exercise_program(data));
