//! The bpf_conformance corpus in both dialects.
//!
//! eBPF: every vector must return its expected r0 (r1 = input address, r2 = its length,
//! helper 5 = unwind). sBPF under the default and the legacy configuration: every vector must
//! give the reference's recorded outcome (the same r0, or the same verifier or runtime error
//! with the same fields) and the recorded instruction count. Our assembler must also turn each
//! vector's `-- asm` into the bytecode bpf_conformance's assembler produced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{Config, Preset};
use bpfvm_isa::Dialect;
use bpfvm_testkit::corpus::{
    conformance_dir, encode_hex, load_vectors, read_assembled, Vector, Verdict,
};
use bpfvm_testkit::harness::run_on_all;
use bpfvm_testkit::outcome::{show_result, Outcome};
use bpfvm_testkit::syscalls::SyscallSet;
use bpfvm_testkit::{Program, TestCase};

fn vectors() -> Vec<Vector> {
    let vectors = load_vectors().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(vectors.len(), 313, "the corpus has 313 vectors");
    vectors
}

fn case<'a>(vector: &'a Vector, dialect: Dialect, config: Config) -> TestCase<'a> {
    TestCase {
        program: Program::Text(&vector.code),
        functions: &[],
        dialect,
        config,
        input: &vector.data.mem,
        heap_size: 0,
        syscalls: match dialect {
            Dialect::Ebpf => SyscallSet::Conformance,
            Dialect::Sbpf | Dialect::Sbpf26(_) => SyscallSet::None,
        },
        budget: 1_000_000,
    }
}

fn run(case: &TestCase<'_>) -> Outcome {
    run_on_all(case).unwrap_or_else(|disagreement| panic!("{disagreement}"))
}

#[test]
fn data_files_agree_with_assembled_jsonl() {
    let assembled = read_assembled(&conformance_dir().unwrap().join("assembled.jsonl")).unwrap();
    for vector in vectors() {
        let entry = &assembled[&vector.name];
        assert_eq!(
            Some(entry.expected_r0),
            vector.data.result,
            "{}",
            vector.name
        );
        assert_eq!(entry.mem, vector.data.mem, "{}", vector.name);
        if let Some(raw) = &vector.data.raw {
            let bytes: Vec<u8> = raw.iter().flat_map(|slot| slot.to_le_bytes()).collect();
            assert_eq!(bytes, vector.code, "{}: -- raw", vector.name);
        }
    }
}

#[test]
fn ebpf_dialect_passes_every_vector() {
    let config = Preset::Ebpf.config();
    let mut failures = Vec::new();
    let vectors = vectors();
    for vector in &vectors {
        let outcome = run(&case(vector, Dialect::Ebpf, config));
        let expected = vector.data.result.unwrap();
        if outcome.result != Ok(expected) {
            failures.push(format!(
                "{}: expected Ok({expected:#x}), got {}",
                vector.name,
                show_result(&outcome.result)
            ));
        }
    }
    println!(
        "eBPF dialect: {} of {} vectors pass",
        vectors.len() - failures.len(),
        vectors.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Compares one sBPF run with the reference's recorded outcome.
fn check_recorded(vector: &Vector, outcome: &Outcome) -> Result<(), String> {
    let expected = match &vector.reference.verdict {
        Verdict::Pass => Ok(vector.data.result.unwrap()),
        Verdict::Diff { got } => Ok(*got),
        Verdict::Error(error) => Err(error.clone()),
    };
    if outcome.result != expected {
        return Err(format!(
            "{}: reference {}, bpfvm {}",
            vector.name,
            show_result(&expected),
            show_result(&outcome.result)
        ));
    }
    match vector.reference.instruction_count {
        Some(count) if count != outcome.instruction_count => Err(format!(
            "{}: reference counted {count} instructions, bpfvm {}",
            vector.name, outcome.instruction_count
        )),
        _ => Ok(()),
    }
}

fn sbpf_matches_reference(name: &str, config: Config) {
    let vectors = vectors();
    let mut failures = Vec::new();
    let mut counts = [0usize; 4];
    for vector in &vectors {
        let outcome = run(&case(vector, Dialect::Sbpf, config));
        let bucket = match &vector.reference.verdict {
            Verdict::Pass => 0,
            Verdict::Diff { .. } => 1,
            Verdict::Error(error) if error.stage == bpfvm_testkit::Stage::Verify => 2,
            Verdict::Error(_) => 3,
        };
        match check_recorded(vector, &outcome) {
            Ok(()) => counts[bucket] += 1,
            Err(failure) => failures.push(failure),
        }
    }
    println!(
        "sBPF {name}: {} of {} vectors match the reference ({} pass, {} different r0, {} verifier errors, {} runtime errors)",
        vectors.len() - failures.len(),
        vectors.len(),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(counts, [148, 34, 112, 19]);
}

#[test]
fn sbpf_default_config_matches_reference() {
    sbpf_matches_reference("default", Config::default());
}

#[test]
fn sbpf_legacy_config_matches_reference() {
    sbpf_matches_reference("legacy", Config::legacy());
}

#[test]
fn assembler_reproduces_bpf_conformance_bytecode() {
    let vectors = vectors();
    let mut failures = Vec::new();
    for vector in &vectors {
        match bpfvm_asm::assemble(&vector.data.asm_text(), Dialect::Ebpf) {
            Ok(assembled) if assembled.bytes == vector.code => {}
            Ok(assembled) => failures.push(format!(
                "{}: expected {}, assembled {}",
                vector.name,
                encode_hex(&vector.code),
                encode_hex(&assembled.bytes)
            )),
            Err(error) => failures.push(format!("{}: {error}", vector.name)),
        }
    }
    println!(
        "assembler: {} of {} vectors assemble to bpf_conformance's bytes",
        vectors.len() - failures.len(),
        vectors.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
