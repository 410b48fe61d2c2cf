//! Differential tests: bpfvm against the reference's interpreter (solana_rbpf 0.2.38).
//!
//! Generated programs run on the reference and on both of bpfvm's backends (interpreter and
//! JIT) under every generator profile; the outcome (r0 or the
//! error kind with every field, the instruction count, the input bytes afterwards and the
//! trace when tracing is on) must be equal. Random byte programs must get the same verifier
//! verdict. Every mismatch is collected and reported, grouped by cause, before the test fails.
//!
//! `BPFVM_DIFF_PROGRAMS=N` sets how many programs run (default below), `BPFVM_DIFF_SEED=S`
//! the first seed. The ignored test `millions_of_programs` runs 2,000,000 by default.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference;

use bpfvm::Backend;
use bpfvm_isa::Dialect;
use bpfvm_testkit::compare::{compare_outcomes, Mismatch};
use bpfvm_testkit::generator::{generate, Profile, Rng};
use bpfvm_testkit::harness::{load_verified, run, BACKENDS};
use bpfvm_testkit::mutate::{extreme_config, mutate_bytes};
use bpfvm_testkit::syscalls::SyscallSet;
use bpfvm_testkit::{Program, TestCase};
use std::collections::BTreeMap;

/// Programs compared by default (a few seconds in a debug build; the reference is built optimised).
const DEFAULT_PROGRAMS: u64 = 50_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Report {
    compared: u64,
    outcomes: BTreeMap<String, u64>,
    mismatches: BTreeMap<String, Vec<Mismatch>>,
}

impl Report {
    fn mismatch_count(&self) -> usize {
        self.mismatches.values().map(Vec::len).sum()
    }

    fn print(&self) {
        println!("differential: {} programs compared", self.compared);
        for (kind, count) in &self.outcomes {
            println!("  outcome {kind}: {count}");
        }
        for (signature, list) in &self.mismatches {
            println!("MISMATCH {signature}: {} programs; first:", list.len());
            for mismatch in list.iter().take(2) {
                println!("{mismatch}");
            }
        }
    }
}

fn compare_generated(first_seed: u64, count: u64) -> Report {
    let mut report = Report::default();
    for seed in first_seed..first_seed + count {
        let program = generate(seed, Dialect::Sbpf);
        assert_eq!(program.encode_failures, 0, "seed {seed}: generator bug");
        let case = program.case();
        let expected = reference::run(&case);
        let kind = match &expected.result {
            Ok(_) => "Ok".to_owned(),
            Err(error) => format!("{} {}", error.stage, error.kind),
        };
        *report.outcomes.entry(kind).or_insert(0) += 1;
        report.compared += 1;
        // Both of our backends against the reference's interpreter.
        for backend in BACKENDS {
            let ours = run(&case, *backend);
            if let Err(mismatch) = compare_outcomes(&program, ours, &expected) {
                report
                    .mismatches
                    .entry(format!("{backend:?}: {}", mismatch.signature()))
                    .or_default()
                    .push(*mismatch);
            }
        }
    }
    report
}

fn assert_no_mismatches(report: &Report) {
    report.print();
    assert_eq!(
        report.mismatch_count(),
        0,
        "{} mismatches against the reference (see above)",
        report.mismatch_count()
    );
}

#[test]
fn generated_programs_match_reference() {
    let count = env_u64("BPFVM_DIFF_PROGRAMS", DEFAULT_PROGRAMS);
    let first = env_u64("BPFVM_DIFF_SEED", 0);
    let report = compare_generated(first, count);
    // The generator must reach the interesting outcomes, or the comparison proves little.
    for kind in [
        "Ok",
        "runtime AccessViolation",
        "runtime DivideByZero",
        "runtime ExceededMaxInstructions",
        "runtime UnsupportedInstruction",
        "runtime CallOutsideTextSegment",
    ] {
        if count >= 5_000 {
            assert!(
                report.outcomes.contains_key(kind),
                "no program ended in {kind}"
            );
        }
    }
    assert_no_mismatches(&report);
}

#[test]
#[ignore = "long: run with --ignored (and BPFVM_DIFF_PROGRAMS=N)"]
fn millions_of_programs() {
    let count = env_u64("BPFVM_DIFF_PROGRAMS", 2_000_000);
    let first = env_u64("BPFVM_DIFF_SEED", 1 << 32);
    assert_no_mismatches(&compare_generated(first, count));
}

#[test]
fn every_profile_is_generated_and_verifies() {
    for seed in 0..2_000 {
        let program = generate(seed, Dialect::Sbpf);
        let ebpf = generate(seed, Dialect::Ebpf);
        for program in [&program, &ebpf] {
            assert_eq!(program.encode_failures, 0, "seed {seed}");
            if let Err(error) = load_verified(&program.case()) {
                panic!("seed {seed} {:?}: {error}", program.dialect);
            }
        }
        assert_eq!(program.profile, Profile::ALL[(seed % 9) as usize]);
    }
}

/// A random byte program: a mutated generated program, or bytes drawn from scratch.
fn random_text(rng: &mut Rng, seed: u64) -> Vec<u8> {
    if rng.chance(2, 3) {
        mutate_bytes(rng, &generate(seed, Dialect::Sbpf).text)
    } else {
        let len = rng.range(0, 12) * 8 + u64::from(rng.chance(1, 10));
        (0..len).map(|_| rng.next_u64() as u8).collect()
    }
}

#[test]
fn verifier_verdicts_match_reference() {
    let count = env_u64("BPFVM_DIFF_PROGRAMS", DEFAULT_PROGRAMS);
    let mut rng = Rng::new(0x7e41_f1e5);
    let mut failures = Vec::new();
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 0..count {
        let text = random_text(&mut rng, seed);
        let config = extreme_config(&mut rng);
        let mut case = TestCase::new(Program::Text(&text), Dialect::Sbpf, config);
        case.syscalls = SyscallSet::None;
        let ours = load_verified(&case).map(|_| ());
        let expected = reference::verify(&text, &config);
        let verdict = match &expected {
            Ok(()) => "accepted".to_owned(),
            Err(error) => error.kind.clone(),
        };
        *verdicts.entry(verdict).or_insert(0) += 1;
        if ours != expected {
            failures.push(format!(
                "[{}] {}",
                verdict_signature(&ours, &expected),
                format_args!(
                    "{}: reference {expected:?}, bpfvm {ours:?} (config {config:?})",
                    bpfvm_testkit::corpus::encode_hex(&text)
                )
            ));
        }
    }
    println!("verifier verdicts over {count} random programs: {verdicts:?}");
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for failure in &failures {
        let signature = failure.split(']').next().unwrap_or("");
        *groups.entry(signature).or_insert(0) += 1;
    }
    println!("verdict mismatches by cause: {groups:?}");
    assert!(
        failures.is_empty(),
        "{} verdict mismatches, first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A short cause for a verdict mismatch: both kinds and how far apart the pcs are.
fn verdict_signature(
    ours: &Result<(), bpfvm_testkit::ErrorDesc>,
    expected: &Result<(), bpfvm_testkit::ErrorDesc>,
) -> String {
    let pc = |error: &bpfvm_testkit::ErrorDesc| {
        error.fields.iter().find_map(|field| match field {
            bpfvm_testkit::Field::Pc(pc) => Some(*pc as i64),
            bpfvm_testkit::Field::Value(_) => None,
        })
    };
    match (ours, expected) {
        (Err(ours), Err(expected)) if ours.kind == expected.kind => format!(
            "{}: reference pc - bpfvm pc = {:?}",
            ours.kind,
            pc(expected).zip(pc(ours)).map(|(a, b)| a - b)
        ),
        (ours, expected) => format!(
            "bpfvm {} vs reference {}",
            ours.as_ref()
                .map_or_else(|e| e.kind.as_str(), |()| "accepted"),
            expected
                .as_ref()
                .map_or_else(|e| e.kind.as_str(), |()| "accepted")
        ),
    }
}

#[test]
fn the_comparison_can_fail() {
    // A different budget on one side must show up as a mismatch, or the differential test
    // would pass for the wrong reason.
    let mut seen = 0;
    for seed in 0..200 {
        let program = generate(seed, Dialect::Sbpf);
        let mut case = program.case();
        let ours = run(&case, Backend::Interpreter);
        if ours.instruction_count < 3 || !case.config.enable_instruction_meter {
            continue;
        }
        case.budget = ours.instruction_count - 2;
        let expected = reference::run(&case);
        assert!(
            compare_outcomes(&program, ours, &expected).is_err(),
            "seed {seed}"
        );
        seen += 1;
    }
    assert!(seen > 50);
}

/// Hand-picked verifier edge cases (hex text, sBPF, default and legacy config): the verdicts
/// must equal the reference's. The lddw rows pin where a register error of an `lddw` is
/// reported (the reference checks registers after stepping over the second slot).
const VERIFIER_EDGE_CASES: [&str; 8] = [
    // lddw r10, 0; exit
    "180a00000000000000000000000000009500000000000000",
    // lddw r1 with src 11; exit
    "18b100000000000000000000000000009500000000000000",
    // lddw r11, 0; exit
    "180b00000000000000000000000000009500000000000000",
    // mov r0, 0; lddw r12, 0; exit
    "b700000000000000180c00000000000000000000000000009500000000000000",
    // ja +1 into the middle of an lddw
    "0500010000000000180000000000000000000000000000009500000000000000",
    // callx with imm 11
    "8d0000000b0000009500000000000000",
    // lsh64 r0, 64
    "67000000400000009500000000000000",
    // lddw as the last instruction
    "1800000000000000",
];

#[test]
fn verifier_edge_cases_match_reference() {
    let mut failures = Vec::new();
    for hex in VERIFIER_EDGE_CASES {
        let text = bpfvm_testkit::corpus::decode_hex(hex).unwrap();
        for config in [bpfvm::Config::default(), bpfvm::Config::legacy()] {
            let case = TestCase::new(Program::Text(&text), Dialect::Sbpf, config);
            let ours = load_verified(&case).map(|_| ());
            let expected = reference::verify(&text, &config);
            if ours != expected {
                failures.push(format!("{hex}: reference {expected:?}, bpfvm {ours:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
