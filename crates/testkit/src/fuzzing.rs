//! Entry points for the cargo-fuzz targets in `fuzz/`: each target is a one-line shim over a
//! function here, so unit tests can call the same code.
//!
//! Every function treats its input as hostile: it may make bpfvm return any error, but a
//! panic inside bpfvm, or two backends that disagree, is a finding and panics here on purpose
//! (that is how libFuzzer reports it).

use crate::generator::{generate, Rng};
use crate::harness::{run_on_all, Program, TestCase};
use crate::mutate::extreme_config;
use crate::syscalls::SyscallSet;
use bpfvm::{Config, Preset};
use bpfvm_isa::Dialect;

/// The budget of fuzzed runs: enough for loops to do something, small enough to stay fast.
const FUZZ_BUDGET: u64 = 20_000;

/// Every dialect a profile runs: the 2022 sBPF, eBPF, and SBPF V0 to V4.
fn dialects() -> Vec<Dialect> {
    let mut dialects: Vec<Dialect> = Vec::new();
    for preset in Preset::ALL {
        if !dialects.contains(&preset.dialect()) {
            dialects.push(preset.dialect());
        }
    }
    dialects
}

/// The profile and configuration a fuzz input's first byte chooses: the low three bits pick
/// one of the eight profiles; the 2022 sBPF and eBPF profiles also run under extreme
/// configurations (the high bits seed them), the versions always under their own.
fn profile_of(selector: u8) -> (Dialect, Config) {
    let preset = Preset::ALL[usize::from(selector) % Preset::ALL.len()];
    let extreme = u64::from(selector) / Preset::ALL.len() as u64;
    let config = match (preset, extreme) {
        (Preset::Sbpf26(_), _) | (_, 0) => preset.config(),
        (_, seed) => extreme_config(&mut Rng::new(seed)),
    };
    (preset.dialect(), config)
}

/// Loads arbitrary bytes as a raw program (first byte: profile and configuration choice),
/// verifies it and, when it verifies, runs it on every backend, which must agree.
pub fn exercise_program(data: &[u8]) {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let (dialect, config) = profile_of(selector);
    let input = [0x5au8; 64];
    let case = TestCase {
        input: &input,
        heap_size: 256,
        syscalls: SyscallSet::Standard,
        budget: FUZZ_BUDGET,
        ..TestCase::new(Program::Raw(text), dialect, config)
    };
    if let Err(disagreement) = run_on_all(&case) {
        #[allow(
            clippy::panic,
            reason = "a backend disagreement is the fuzzer's finding"
        )]
        {
            panic!("{disagreement}");
        }
    }
}

/// Runs the generated program of `seed` (every dialect: the 2022 sBPF, eBPF and V0 to V4) on
/// every backend, which must agree.
pub fn exercise_generated(seed: u64) {
    for dialect in dialects() {
        let program = generate(seed, dialect);
        if let Err(disagreement) = run_on_all(&program.case()) {
            #[allow(
                clippy::panic,
                reason = "a backend disagreement is the fuzzer's finding"
            )]
            {
                panic!("seed {seed} ({dialect:?}): {disagreement}");
            }
        }
    }
}

/// Assembles arbitrary text in every dialect; only a panic is a finding.
pub fn exercise_assembler(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        for dialect in dialects() {
            let _ = bpfvm_asm::assemble(text, dialect);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_reach_every_profile() {
        let reached: Vec<Dialect> = (0..8u8).map(|selector| profile_of(selector).0).collect();
        assert_eq!(dialects().len(), 7, "{:?}", dialects());
        for dialect in dialects() {
            assert!(reached.contains(&dialect), "{dialect:?} is never fuzzed");
        }
        assert!((8..=255u8).any(|selector| profile_of(selector).1 != Config::default()));
    }

    #[test]
    fn shims_run_on_sample_inputs() {
        // mov64 r0, 7; exit — in both dialects and three configurations.
        let program = [0xb7, 0, 0, 0, 7, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        for selector in 0..24u8 {
            let mut data = vec![selector];
            data.extend_from_slice(&program);
            exercise_program(&data);
        }
        exercise_program(&[]);
        exercise_program(&[0, 1, 2, 3]);
        for seed in 0..20 {
            exercise_generated(seed);
        }
        exercise_assembler(b"mov64 r0, 1\nexit");
        exercise_assembler(&[0xff, 0xfe]);
    }
}
