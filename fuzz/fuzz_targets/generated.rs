//! Fuzzes every backend on generated, verifier-passing programs (backends must agree).
#![no_main]
libfuzzer_sys::fuzz_target!(|seed: u64| bpfvm_testkit::fuzzing::exercise_generated(seed));
