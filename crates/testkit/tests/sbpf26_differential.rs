//! solana-sbpf 0.26's interpreter against its own JIT, per SBPF version, on random programs
//! from the version-aware raw generator (`bpfvm_testkit::sbpf26::rawgen`).
//!
//! Every program runs on both engines with Agave's settings (`tests/reference26/mod.rs`);
//! the outcomes (result or error with its fields, the pc in register 11, the instruction
//! count, the stack, heap and input bytes) must be equal, or the difference must belong to a
//! known class of `bpfvm_testkit::sbpf26::disagreements` (bpfvm follows the JIT there). A
//! disagreement no class explains fails the test with the program's listing. The witness
//! of every class is run too, so the table stays true.
//!
//! `BPFVM_SBPF26_PROGRAMS=N` sets the programs per version (default below) and
//! `BPFVM_SBPF26_SEED=S` the first seed. The ignored test `millions_per_version` runs
//! 1,000,000 per version by default:
//! `cargo test --release -p bpfvm-testkit --test sbpf26_differential millions -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm_testkit::corpus::decode_hex;
use bpfvm_testkit::sbpf26::disagreements::{classify, Class, JitBehaviour, DISAGREEMENTS};
use bpfvm_testkit::sbpf26::rawgen::{generate, RawProgram};
use bpfvm_testkit::sbpf26::{Engine, Version, VersionedOutcome};
use reference26::{execute, loader, run_both, text_executable, Case26, Program26};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Programs per version by default (about ten seconds in all, release build).
const DEFAULT_PROGRAMS: u64 = 4_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// What the comparison of one version's programs found.
#[derive(Default)]
struct Report {
    programs: u64,
    outcomes: BTreeMap<String, u64>,
    classes: BTreeMap<String, u64>,
    unexplained: Vec<String>,
}

fn describe_mismatch(
    program: &RawProgram,
    interpreter: &VersionedOutcome,
    jit: &VersionedOutcome,
) -> String {
    format!(
        "{} seed {} budget {} input {} heap {}\n  interpreter: {interpreter}\n  jit:         {jit}\n  {}\n{}",
        program.version,
        program.seed,
        program.budget,
        bpfvm_testkit::corpus::encode_hex(&program.input),
        program.heap_size,
        jit.differences(interpreter).join("\n  "),
        program.listing().join("\n")
    )
}

fn compare_version(version: Version, first_seed: u64, count: u64) -> Report {
    let mut report = Report::default();
    for seed in first_seed..first_seed + count {
        let program = generate(seed, version);
        let (interpreter, jit) = run_both(&Case26::generated(&program));
        report.programs += 1;
        *report.outcomes.entry(interpreter.kind()).or_default() += 1;
        if interpreter == jit {
            continue;
        }
        let slots = (program.text.len() / 8) as u64;
        match classify(program.budget, slots, &interpreter, &jit) {
            Some(class) => *report.classes.entry(format!("{class:?}")).or_default() += 1,
            None => report
                .unexplained
                .push(describe_mismatch(&program, &interpreter, &jit)),
        }
    }
    report
}

/// The outcomes the generator must reach in every version, or the comparison proves little.
fn required_outcomes(version: Version) -> Vec<&'static str> {
    let mut kinds = vec![
        "Ok",
        "runtime AccessViolation",
        "runtime DivideByZero",
        "runtime ExceededMaxInstructions",
        "runtime CallDepthExceeded",
        "runtime CallOutsideTextSegment",
        "runtime UnsupportedInstruction",
        "runtime SyscallError",
    ];
    match version {
        Version::V0 | Version::V3 | Version::V4 => kinds.push("runtime StackAccessViolation"),
        Version::V1 => kinds.push("verifier UnalignedImmediate"),
        Version::V2 => kinds.push("runtime DivideOverflow"),
    }
    kinds
}

fn check(version: Version, report: &Report, check_coverage: bool) {
    println!(
        "{version}: {} programs, interpreter outcomes {:?}, known disagreements {:?}, unexplained {}",
        report.programs,
        report.outcomes,
        report.classes,
        report.unexplained.len()
    );
    if check_coverage {
        for kind in required_outcomes(version) {
            assert!(
                report.outcomes.contains_key(kind),
                "{version}: no program ended in {kind}"
            );
        }
    }
    assert!(
        report.unexplained.is_empty(),
        "{version}: {} disagreements no class explains; first ones:\n{}",
        report.unexplained.len(),
        report
            .unexplained
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn interpreter_and_jit_agree_on_every_version() {
    let count = env_u64("BPFVM_SBPF26_PROGRAMS", DEFAULT_PROGRAMS);
    let first = env_u64("BPFVM_SBPF26_SEED", 0);
    for version in Version::ALL {
        let report = compare_version(version, first, count);
        check(version, &report, count >= 2_000);
    }
}

#[test]
#[ignore = "long: run with --ignored (and BPFVM_SBPF26_PROGRAMS=N)"]
fn millions_per_version() {
    let count = env_u64("BPFVM_SBPF26_PROGRAMS", 1_000_000);
    let first = env_u64("BPFVM_SBPF26_SEED", 1 << 32);
    for version in Version::ALL {
        let report = compare_version(version, first, count);
        check(version, &report, true);
    }
}

/// Runs a witness on one engine, or says it panicked.
fn run_witness(
    executable: &solana_sbpf::elf::Executable<reference26::Context26>,
    case: &Case26<'_>,
    engine: Engine,
) -> Result<VersionedOutcome, ()> {
    catch_unwind(AssertUnwindSafe(|| execute(executable, case, engine))).map_err(|_| ())
}

#[test]
fn every_disagreement_class_has_a_witness_that_still_disagrees() {
    let mut seen = Vec::new();
    for disagreement in DISAGREEMENTS {
        let witness = disagreement.witness;
        let text = decode_hex(witness.text_hex).unwrap();
        let mut case = Case26::new(Program26::Text {
            bytes: &text,
            version: witness.version,
            functions: witness.functions,
        });
        case.budget = witness.budget;
        let executable = text_executable(
            loader(&case),
            &text,
            witness.version,
            witness.functions,
            witness.entry,
        )
        .unwrap();
        executable
            .verify::<solana_sbpf::verifier::RequisiteVerifier>()
            .unwrap();
        let name = disagreement.class;
        let interpreter = run_witness(&executable, &case, Engine::Interpreter)
            .unwrap_or_else(|()| panic!("{name:?}: the interpreter panicked"));
        assert_eq!(interpreter.to_string(), witness.interpreter, "{name:?}");
        let compiled = catch_unwind(AssertUnwindSafe(|| executable.jit_compile()));
        match witness.jit {
            JitBehaviour::CompilePanics => {
                assert!(compiled.is_err(), "{name:?}: jit_compile did not panic");
            }
            JitBehaviour::RunPanics => {
                assert!(matches!(compiled, Ok(Ok(()))), "{name:?}: compile failed");
                let run = run_witness(&executable, &case, Engine::Jit);
                assert!(run.is_err(), "{name:?}: the JIT run did not panic: {run:?}");
            }
            JitBehaviour::Outcome(expected) => {
                assert!(matches!(compiled, Ok(Ok(()))), "{name:?}: compile failed");
                let jit = run_witness(&executable, &case, Engine::Jit)
                    .unwrap_or_else(|()| panic!("{name:?}: the JIT panicked"));
                assert_eq!(jit.to_string(), expected, "{name:?}");
                let slots = (text.len() / 8) as u64;
                assert_eq!(
                    classify(witness.budget, slots, &interpreter, &jit),
                    Some(name)
                );
            }
        }
        seen.push(name);
    }
    assert_eq!(
        seen,
        [
            Class::MeterWrap,
            Class::CallTargetOutsideText,
            Class::EntryOutsideText
        ]
    );
}

#[test]
fn meter_wrap_also_shows_on_elf_files() {
    // relative_call.so enters at slot 4: a budget of u64::MAX - 3 makes remaining + pc wrap.
    let path = bpfvm_testkit::corpus::corpus_dir()
        .unwrap()
        .join("sbpf_elfs/relative_call.so");
    let bytes = std::fs::read(path).unwrap();
    let input = [1u8];
    for (budget, disagree) in [(u64::MAX - 3, true), (u64::MAX - 4, false)] {
        let mut case = Case26::new(Program26::Elf(&bytes));
        case.input = &input;
        case.budget = budget;
        let (interpreter, jit) = run_both(&case);
        assert_eq!(interpreter.result, Ok(3));
        assert_eq!(interpreter != jit, disagree, "budget {budget}: {jit}");
        if disagree {
            assert_eq!(
                classify(budget, 16, &interpreter, &jit),
                Some(Class::MeterWrap)
            );
        }
    }
}

#[test]
fn the_comparison_can_fail() {
    // Running the JIT with one instruction less must show up as a difference, or the
    // differential test would pass for the wrong reason.
    let mut seen = 0;
    for seed in 0..300 {
        let program = generate(seed, Version::V3);
        let mut case = Case26::generated(&program);
        let (interpreter, _) = run_both(&case);
        if interpreter.instruction_count < 3 || program.budget > 1 << 40 {
            continue;
        }
        case.budget = interpreter.instruction_count - 1;
        let jit = reference26::run(&case, Engine::Jit);
        assert!(!jit.differences(&interpreter).is_empty(), "seed {seed}");
        seen += 1;
    }
    assert!(seen > 50, "{seen}");
}
