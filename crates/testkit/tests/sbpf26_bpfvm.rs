//! bpfvm's SBPF version profiles against solana-sbpf 0.26, per version, on random programs
//! from the version-aware raw generator and on random bytes.
//!
//! Every generated program runs on 0.26's JIT (the engine Solana's validators execute; where
//! its interpreter disagrees, bpfvm follows the JIT) and on both of bpfvm's backends, with the
//! same settings (`bpfvm_testkit::sbpf26::ours`). The result or the error with its fields,
//! the faulting pc (0.26's register 11), the instruction count and the stack, heap and input
//! bytes must be equal. Random byte strings, as text of each version, must get the same
//! verifier verdict (accepted, or the same error with the same fields).
//!
//! `BPFVM_SBPF26_PROGRAMS=N` sets the programs per version (a bounded slice by default) and
//! `BPFVM_SBPF26_SEED=S` the first seed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm::Backend;
use bpfvm_testkit::harness::BACKENDS;
use bpfvm_testkit::sbpf26::ours::{self, compare};
use bpfvm_testkit::sbpf26::rawgen::{generate, RawProgram};
use bpfvm_testkit::sbpf26::{Engine, Version, VersionedOutcome};
use reference26::{Case26, Program26};
use std::collections::BTreeMap;

/// Programs per version by default: a slice CI runs in a few seconds.
const DEFAULT_PROGRAMS: u64 = 1_500;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn show(program: &RawProgram, ours: &VersionedOutcome, theirs: &VersionedOutcome) -> String {
    format!(
        "{} seed {} budget {}\n  bpfvm: {ours}\n  0.26:  {theirs}\n  {}\n{}",
        program.version,
        program.seed,
        program.budget,
        compare(ours, theirs).join("\n  "),
        program.listing().join("\n")
    )
}

/// Compares `count` programs of `version` from `first`; returns the outcome kinds seen and the
/// first mismatches.
fn compare_version(
    version: Version,
    first: u64,
    count: u64,
) -> (BTreeMap<String, u64>, Vec<String>) {
    let mut kinds = BTreeMap::new();
    let mut mismatches = Vec::new();
    for seed in first..first + count {
        let program = generate(seed, version);
        let theirs = reference26::run(&Case26::generated(&program), Engine::Jit);
        *kinds.entry(theirs.kind()).or_default() += 1;
        let case = ours::Case::generated(&program);
        for &backend in BACKENDS {
            let outcome = ours::run(&case, backend);
            if !compare(&outcome, &theirs).is_empty() {
                let key = format!("MISMATCH {backend:?} {}", theirs.kind());
                *kinds.entry(key).or_default() += 1;
                if mismatches.len() < 3 {
                    mismatches.push(format!(
                        "{backend:?}: {}",
                        show(&program, &outcome, &theirs)
                    ));
                }
            }
        }
    }
    (kinds, mismatches)
}

#[test]
fn bpfvm_runs_every_version_as_the_0_26_jit_does() {
    let count = env_u64("BPFVM_SBPF26_PROGRAMS", DEFAULT_PROGRAMS);
    let first = env_u64("BPFVM_SBPF26_SEED", 0);
    let mut failures = Vec::new();
    for version in Version::ALL {
        let (kinds, mismatches) = compare_version(version, first, count);
        println!("{version}: {count} programs, 0.26 JIT outcomes {kinds:?}");
        failures.extend(mismatches);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A deterministic byte stream (xorshift64*).
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Random text whose slots mostly have a valid opcode of the version, so that verdicts go
/// past the first slot.
fn random_text(seed: u64, version: Version) -> Vec<u8> {
    let slots = 1 + (seed % 12) as usize;
    let mut bytes = random_bytes(seed, slots * 8);
    let valid: Vec<u8> = bpfvm_testkit::sbpf26::opcodes::table(version)
        .into_iter()
        .map(|(opcode, _)| opcode)
        .collect();
    for (index, slot) in bytes.chunks_mut(8).enumerate() {
        if (seed >> (index % 8)) & 3 != 0 {
            slot[0] = valid[usize::from(slot[0]) % valid.len()];
        }
        // Registers mostly in range, so the register rules are reached.
        if (seed >> (index % 16)) & 1 == 0 {
            slot[1] &= 0x7f;
        }
    }
    bytes
}

#[test]
fn verifier_verdicts_on_random_bytes_equal_0_26() {
    let count = env_u64("BPFVM_SBPF26_VERIFIER", 4_000);
    let mut failures = Vec::new();
    let mut accepted = BTreeMap::new();
    for version in Version::ALL {
        for seed in 0..count {
            let text = random_text(seed, version);
            let theirs = reference26::verify(&text, version);
            let case = ours::Case {
                program: ours::Program26::Text {
                    bytes: &text,
                    version,
                    functions: &[],
                },
                loader: ours::Loader26::Execute,
                syscalls: bpfvm_testkit::syscalls::SyscallSet::None,
                input: &[],
                heap_size: 0,
                budget: 0,
            };
            let ours = ours::load_verified(&case).map(|_| ());
            *accepted.entry(version).or_insert(0u64) += u64::from(theirs.is_ok());
            if ours != theirs && failures.len() < 5 {
                failures.push(format!(
                    "{version} seed {seed} {}: bpfvm {ours:?}, 0.26 {theirs:?}",
                    bpfvm_testkit::corpus::encode_hex(&text)
                ));
            }
        }
    }
    println!("accepted per version: {accepted:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_comparison_can_fail() {
    // One instruction less of budget must show up, or the test passes for the wrong reason.
    let mut seen = 0;
    for seed in 0..200 {
        let program = generate(seed, Version::V2);
        let mut case = Case26::generated(&program);
        let theirs = reference26::run(&case, Engine::Jit);
        if theirs.instruction_count < 3 || program.budget > 1 << 40 {
            continue;
        }
        case.budget = theirs.instruction_count - 1;
        let mut ours_case = ours::Case::generated(&program);
        ours_case.budget = case.budget;
        let ours = ours::run(&ours_case, Backend::Interpreter);
        assert!(!compare(&ours, &theirs).is_empty(), "seed {seed}");
        seen += 1;
    }
    assert!(seen > 30, "{seen}");
    let _ = Program26::Elf(&[]);
}

/// The typed generator emits every instruction the versions added (V2's PQR operations and
/// `hor64`, `add64 r10` in V1 and V2, V3's JMP32), and bpfvm's two backends agree on what
/// it makes, in every version.
#[test]
fn the_typed_generator_covers_the_new_instructions() {
    use bpfvm_isa::{AluOp, Dialect, Insn, PqrOp, Reg, Source, Width};
    use bpfvm_testkit::generator;
    use bpfvm_testkit::harness::run_on_all;
    for version in Version::ALL {
        let dialect = Dialect::Sbpf26(ours::sbpf_version(version));
        let mut pqr = std::collections::BTreeSet::new();
        let (mut hor64, mut frame_bumps, mut jmp32) = (0, 0, 0);
        for seed in 0..300 {
            let program = generator::generate(seed, dialect);
            for insn in &program.insns {
                match *insn {
                    Insn::Pqr { op, width, .. } => {
                        pqr.insert((op as u8, width == Width::W64));
                    }
                    Insn::Hor64 { .. } => hor64 += 1,
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Add,
                        dst: Reg::R10,
                        src: Source::Imm(_),
                    } => frame_bumps += 1,
                    Insn::Branch {
                        width: Width::W32, ..
                    } => jmp32 += 1,
                    _ => {}
                }
            }
            if let Err(disagreement) = run_on_all(&program.case()) {
                panic!("{version} seed {seed}: {disagreement}");
            }
        }
        let v2 = version == Version::V2;
        // Every PQR operation in every width it has: 5 in both widths, 2 in 64 bits only.
        let expected_pqr = if v2 { PqrOp::ALL.len() * 2 - 2 } else { 0 };
        assert_eq!(pqr.len(), expected_pqr, "{version}: {pqr:?}");
        assert_eq!(hor64 > 0, v2, "{version}: {hor64} hor64");
        assert_eq!(
            frame_bumps > 0,
            matches!(version, Version::V1 | Version::V2),
            "{version}: {frame_bumps} add64 r10"
        );
        assert_eq!(
            jmp32 > 0,
            matches!(version, Version::V3 | Version::V4),
            "{version}: {jmp32} JMP32 branches"
        );
    }
}
