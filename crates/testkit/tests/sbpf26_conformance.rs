//! The 313 bpf_conformance vectors on solana-sbpf 0.26, under V0, V2 and V3.
//!
//! Each vector's bytecode runs as raw text of the version (r1 = the address of its `-- mem`
//! bytes, mapped writable at `0x4_0000_0000`; no syscalls; a budget of 10^6) on 0.26's
//! interpreter and on its JIT, which must agree in everything. The outcomes are recorded in
//! `tests/data/sbpf26_conformance.tsv` (vector, version, result, pc, instructions), which the
//! test checks line by line, so the versions work can compare bpfvm's V0, V2 and V3 profiles
//! with the file (or with the oracle directly). `BPFVM_BLESS=1` rewrites the file from the
//! oracle instead of checking it. A summary of how many vectors pass per version is printed,
//! and V0 is compared with what solana_rbpf 0.2.38 recorded for the same vectors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm_testkit::corpus::{load_vectors, Vector, Verdict};
use bpfvm_testkit::outcome::{show_result, Field, Stage};
use bpfvm_testkit::sbpf26::{Version, VersionedOutcome};
use reference26::{run_both, Case26, Program26};
use std::collections::BTreeMap;
use std::path::PathBuf;

const VERSIONS: [Version; 3] = [Version::V0, Version::V2, Version::V3];

fn results_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sbpf26_conformance.tsv")
}

/// One line of the results file.
fn line(vector: &Vector, version: Version, outcome: &VersionedOutcome) -> String {
    let pc = outcome
        .pc
        .map_or_else(|| "-".to_owned(), |pc| pc.to_string());
    format!(
        "{}\t{version}\t{}\t{pc}\t{}",
        vector.name,
        show_result(&outcome.result),
        outcome.instruction_count
    )
}

/// Where a vector's outcome falls for the summary.
fn bucket(vector: &Vector, outcome: &VersionedOutcome) -> &'static str {
    match &outcome.result {
        Ok(r0) if Some(*r0) == vector.data.result => "pass",
        Ok(_) => "different r0",
        Err(error) if error.stage == Stage::Verify => "verifier error",
        Err(_) => "runtime error",
    }
}

/// Runs every vector under every version on both engines: the result lines and the failures
/// (engines that disagree).
fn run_all(vectors: &[Vector]) -> (Vec<String>, Vec<String>, Vec<(Version, &'static str)>) {
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut buckets = Vec::new();
    for version in VERSIONS {
        for vector in vectors {
            let program = Program26::Text {
                bytes: &vector.code,
                version,
                functions: &[],
            };
            let mut case = Case26::new(program);
            case.input = &vector.data.mem;
            let (interpreter, jit) = run_both(&case);
            let differences = jit.differences(&interpreter);
            if !differences.is_empty() {
                failures.push(format!(
                    "{} {version}: interpreter {interpreter}, JIT {jit}: {differences:?}",
                    vector.name
                ));
            }
            lines.push(line(vector, version, &interpreter));
            buckets.push((version, bucket(vector, &interpreter)));
        }
    }
    (lines, failures, buckets)
}

#[test]
fn conformance_vectors_on_0_26_per_version() {
    let vectors = load_vectors().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(vectors.len(), 313);
    let (lines, failures, buckets) = run_all(&vectors);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for version in VERSIONS {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, bucket) in buckets.iter().filter(|(v, _)| *v == version) {
            *counts.entry(bucket).or_default() += 1;
        }
        println!("0.26 {version}: {counts:?} (interpreter and JIT agree on all 313)");
    }
    let mut text = String::from("test\tversion\tresult\tpc\tinstructions\n");
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    let path = results_path();
    if std::env::var_os("BPFVM_BLESS").is_some() {
        std::fs::write(&path, text).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let recorded = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error} (BPFVM_BLESS=1 writes it)", path.display()));
    let changed: Vec<String> = recorded
        .lines()
        .zip(text.lines())
        .filter(|(recorded, now)| recorded != now)
        .map(|(recorded, now)| format!("recorded {recorded}\n     now {now}"))
        .collect();
    assert_eq!(recorded.lines().count(), text.lines().count());
    assert!(changed.is_empty(), "{}", changed.join("\n"));
}

/// How a 0.26 V0 outcome differs from what 0.2.38 recorded for the vector: the r0, the
/// verifier error with its fields, or the runtime error's kind and pc (0.26's runtime errors
/// carry no pc; it is register 11), and the instruction count.
fn differs_from_0_2_38(vector: &Vector, outcome: &VersionedOutcome) -> Option<String> {
    let expected = match &vector.reference.verdict {
        Verdict::Pass => Ok(vector.data.result.unwrap()),
        Verdict::Diff { got } => Ok(*got),
        Verdict::Error(error) => Err(error),
    };
    let same_result = match (&expected, &outcome.result) {
        (Ok(old), Ok(new)) => old == new,
        (Err(old), Err(new)) if old.stage == Stage::Verify => *old == new,
        (Err(old), Err(new)) => {
            let old_pc = old.fields.iter().find_map(|field| match field {
                Field::Pc(pc) => Some(*pc as u64),
                Field::Value(_) => None,
            });
            old.kind == new.kind && old_pc == outcome.pc
        }
        _ => false,
    };
    let same_count = vector.reference.instruction_count.unwrap_or(0) == outcome.instruction_count;
    (!same_result || !same_count).then(|| {
        format!(
            "{}: 0.2.38 {:?} after {:?}, 0.26 V0 {outcome}",
            vector.name, vector.reference.verdict, vector.reference.instruction_count
        )
    })
}

#[test]
fn v0_gives_what_0_2_38_recorded_on_every_vector() {
    // The meter rule, sdiv, r11 and callx r10 changed between the two (spec 1.11), but no
    // vector reaches them: the same r0, errors, pcs and counts on all 313.
    let vectors = load_vectors().unwrap_or_else(|error| panic!("{error}"));
    let mut differences = Vec::new();
    for vector in &vectors {
        let program = Program26::Text {
            bytes: &vector.code,
            version: Version::V0,
            functions: &[],
        };
        let mut case = Case26::new(program);
        case.input = &vector.data.mem;
        let outcome = reference26::run(&case, bpfvm_testkit::sbpf26::Engine::Jit);
        differences.extend(differs_from_0_2_38(vector, &outcome));
    }
    println!(
        "0.26 V0 against 0.2.38's recorded outcomes: {} of {} differ",
        differences.len(),
        vectors.len()
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
