//! Bad input: byte-level mutation of programs, assembly text and configurations.
//!
//! Starting from valid material (generated programs, the conformance corpus's assembly), the
//! mutator flips bits, overwrites bytes with boundary values, inserts, deletes, duplicates
//! and truncates. The runners feed the results to the loader, the verifier, the interpreter
//! (with a small budget) and the assembler, and count what happened. A panic is caught and
//! recorded with the input that caused it, so one run reports every failure at once; the
//! tests then require that list to be empty and every error to have a name.

use crate::corpus::encode_hex;
use crate::generator::{generate, Rng};
use crate::harness::{load_verified, run_verified, Program, TestCase};
use crate::outcome::ErrorDesc;
use crate::syscalls::SyscallSet;
use bpfvm::{Backend, Config};
use bpfvm_isa::Dialect;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Boundary bytes the mutator likes to write.
const INTERESTING: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0xff, 0x18, 0x85, 0x8d, 0x95, 0x0a, 0x0b, 0xf0,
];

/// Mutates `input` with one to four random edits.
pub fn mutate_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..rng.range(1, 4) {
        let at = rng.index(bytes.len().max(1));
        match rng.below(7) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
            1 if !bytes.is_empty() => bytes[at] = rng.pick(&INTERESTING).unwrap_or(0),
            2 if !bytes.is_empty() => bytes[at] = rng.next_u64() as u8,
            3 => bytes.insert(at.min(bytes.len()), rng.next_u64() as u8),
            4 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            5 => bytes.truncate(at),
            _ => {
                let start = at - at % 8;
                let slot: Vec<u8> = bytes.iter().skip(start).take(8).copied().collect();
                let to = rng.index(bytes.len() + 1);
                bytes.splice(to..to, slot);
            }
        }
    }
    bytes
}

/// Mutates text at the byte level, then reads it back lossily as UTF-8.
pub fn mutate_text(rng: &mut Rng, text: &str) -> String {
    let mut bytes = mutate_bytes(rng, text.as_bytes());
    if rng.chance(1, 4) {
        let tokens: [&[u8]; 8] = [b"%r", b"r11", b"0x", b"-", b"+", b"[", b"]", b","];
        let at = rng.index(bytes.len() + 1);
        let token = rng.pick(&tokens).unwrap_or(b"r");
        bytes.splice(at..at, token.iter().copied());
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A configuration with extreme values: zero depths, odd frame sizes, every flag random.
/// Metering stays on: a mutated program may loop, and without the meter it would run (and,
/// with tracing, allocate) forever, which is the host's choice, not a bug.
pub fn extreme_config(rng: &mut Rng) -> Config {
    Config {
        max_call_depth: rng.pick(&[0, 1, 2, 5, 64]).unwrap_or(1),
        stack_frame_size: rng.pick(&[0, 1, 3, 8, 100, 4096]).unwrap_or(8),
        enable_stack_frame_gaps: rng.chance(1, 2),
        enable_instruction_tracing: rng.chance(1, 4),
        dynamic_stack_frames: rng.chance(1, 2),
        enable_sdiv: rng.chance(1, 2),
        static_syscalls: rng.chance(1, 2),
        reject_callx_r10: rng.chance(1, 2),
        aligned_memory_mapping: rng.chance(1, 2),
        external_internal_function_hash_collision: rng.chance(1, 2),
        ..Config::default()
    }
}

/// What a mutation run saw.
#[derive(Clone, Debug, Default)]
pub struct MutationStats {
    /// Inputs tried.
    pub inputs: u64,
    /// Inputs that loaded, verified (or assembled) and ran.
    pub ran: u64,
    /// Errors by stage and kind.
    pub errors: BTreeMap<String, u64>,
    /// Panics: what was being done, with the input in hex.
    pub panics: Vec<String>,
    /// Errors without a kind name.
    pub unnamed_errors: u64,
}

impl MutationStats {
    fn record_error(&mut self, error: &ErrorDesc) {
        if error.kind.is_empty() {
            self.unnamed_errors += 1;
        }
        *self
            .errors
            .entry(format!("{} {}", error.stage, error.kind))
            .or_insert(0) += 1;
    }
}

/// Mutates generated programs `count` times and feeds each mutant to the loader (both as
/// text bytes and as a raw program), the verifier and, when it passes, the interpreter with a
/// budget of at most 1000.
pub fn run_program_mutations(seed: u64, count: u64, dialect: Dialect) -> MutationStats {
    let mut stats = MutationStats::default();
    let mut rng = Rng::new(seed);
    for index in 0..count {
        let base = generate(seed.wrapping_add(index), dialect);
        let text = mutate_bytes(&mut rng, &base.text);
        let config = if rng.chance(1, 4) {
            extreme_config(&mut rng)
        } else {
            Config {
                enable_instruction_meter: true,
                ..base.config
            }
        };
        let raw = rng.chance(1, 3);
        let mut case = base.case();
        case.program = if raw {
            Program::Raw(&text)
        } else {
            Program::Text(&text)
        };
        case.config = config;
        case.budget = case.budget.min(1000);
        stats.inputs += 1;
        let attempt = catch_unwind(AssertUnwindSafe(|| run_case(&case)));
        match attempt {
            Ok(Ok(())) => stats.ran += 1,
            Ok(Err(error)) => stats.record_error(&error),
            Err(_) => stats.panics.push(format!(
                "{dialect:?} program (raw: {raw}) {} config {config:?}",
                encode_hex(&text)
            )),
        }
    }
    stats
}

fn run_case(case: &TestCase<'_>) -> Result<(), ErrorDesc> {
    let program = load_verified(case)?;
    let outcome = run_verified(&program, case, Backend::Interpreter);
    outcome.result.map(|_| ())
}

/// Mutates each assembly source `rounds` times and assembles each mutant in both dialects.
pub fn run_assembly_mutations(seed: u64, sources: &[String], rounds: u64) -> MutationStats {
    let mut stats = MutationStats::default();
    let mut rng = Rng::new(seed);
    for source in sources {
        for _ in 0..rounds {
            let text = mutate_text(&mut rng, source);
            for dialect in [Dialect::Ebpf, Dialect::Sbpf] {
                stats.inputs += 1;
                let attempt = catch_unwind(AssertUnwindSafe(|| assemble_and_run(&text, dialect)));
                match attempt {
                    Ok(Ok(())) => stats.ran += 1,
                    Ok(Err(error)) => stats.record_error(&error),
                    Err(_) => stats.panics.push(format!("{dialect:?} assembly {text:?}")),
                }
            }
        }
    }
    stats
}

fn assemble_and_run(text: &str, dialect: Dialect) -> Result<(), ErrorDesc> {
    let mut case = TestCase::new(Program::Assembly(text), dialect, Config::default());
    case.budget = 1000;
    case.syscalls = match dialect {
        Dialect::Ebpf => SyscallSet::Conformance,
        Dialect::Sbpf | Dialect::Sbpf26(_) => SyscallSet::Standard,
    };
    run_case(&case)
}
