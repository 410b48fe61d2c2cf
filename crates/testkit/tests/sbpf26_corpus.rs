//! bpfvm's SBPF version profiles on the corpus, on every backend.
//!
//! - `shared/corpus/sbpf_elfs/checklist.tsv`: every row (the successor's V0 and V3 test ELFs
//!   and the three files every VM must refuse) gives the row's outcome: the result or error
//!   with its fields, the faulting slot and the instruction count, loaded as `--config auto`
//!   loads it (the version its `e_flags` name).
//! - The 313 bpf_conformance vectors under V0, V2 and V3 give what solana-sbpf 0.26 gives
//!   (`tests/data/sbpf26_conformance.tsv`, recorded from the oracle on both of its engines).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm_testkit::corpus::checklist::{load_checklist, Deviation};
use bpfvm_testkit::corpus::load_vectors;
use bpfvm_testkit::harness::BACKENDS;
use bpfvm_testkit::outcome::show_result;
use bpfvm_testkit::sbpf26::ours::{self, Case, Loader26, Program26};
use bpfvm_testkit::sbpf26::Version;
use bpfvm_testkit::syscalls::SyscallSet;
use std::path::PathBuf;

#[test]
fn sbpf_elfs_checklist_on_every_backend() {
    let rows = load_checklist().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(rows.len(), 29, "the checklist has 29 rows");
    let mut failures = Vec::new();
    let mut ok = 0;
    for row in &rows {
        let bytes = std::fs::read(row.path().unwrap()).unwrap();
        let case = Case {
            program: Program26::Elf(&bytes),
            loader: match row.deviates(Deviation::RejectBrokenElfs) {
                true => Loader26::Deploy,
                false => Loader26::Execute,
            },
            syscalls: match row.deviates(Deviation::NoSyscalls) {
                true => SyscallSet::None,
                false => SyscallSet::Logging,
            },
            input: &row.input,
            heap_size: 32 * 1024,
            budget: 1 << 62,
        };
        for &backend in BACKENDS {
            let outcome = ours::run(&case, backend);
            let name = format!("{} (line {}) on {backend:?}", row.file, row.line);
            let differences = row.differences(&outcome);
            if differences.is_empty() {
                ok += 1;
            } else {
                failures.push(format!("{name}: {differences:?} ({outcome})"));
            }
        }
    }
    println!(
        "sbpf_elfs checklist: {ok} of {} row runs give the row's outcome",
        rows.len() * BACKENDS.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn results_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sbpf26_conformance.tsv")
}

#[test]
fn conformance_vectors_under_v0_v2_v3_give_0_26s_outcome() {
    let vectors = load_vectors().unwrap_or_else(|error| panic!("{error}"));
    let recorded = std::fs::read_to_string(results_path()).unwrap();
    let mut expected = std::collections::BTreeMap::new();
    for line in recorded.lines().filter(|line| !line.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        if let [name, version, result, pc, count] = fields[..] {
            expected.insert((name.to_owned(), version.to_owned()), (result, pc, count));
        }
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for version in [Version::V0, Version::V2, Version::V3] {
        for vector in &vectors {
            let key = (vector.name.clone(), version.to_string());
            let Some(&(result, pc, count)) = expected.get(&key) else {
                failures.push(format!("{} {version}: not recorded", vector.name));
                continue;
            };
            let case = Case {
                program: Program26::Text {
                    bytes: &vector.code,
                    version,
                    functions: &[],
                },
                loader: Loader26::Execute,
                syscalls: SyscallSet::None,
                input: &vector.data.mem,
                heap_size: 0,
                budget: 1_000_000,
            };
            for &backend in BACKENDS {
                let outcome = ours::run(&case, backend);
                let ours_pc = outcome
                    .pc
                    .map_or_else(|| "-".to_owned(), |pc| pc.to_string());
                // bpfvm reports no pc for a successful run (the slot of its final exit).
                let pc_matches = outcome.result.is_ok() || ours_pc == pc;
                let line = (
                    show_result(&outcome.result),
                    outcome.instruction_count.to_string(),
                );
                if line.0 != result || line.1 != count || !pc_matches {
                    failures.push(format!(
                        "{} {version} {backend:?}: got {} at {ours_pc} after {}, 0.26 gives {result} at {pc} after {count}",
                        vector.name, line.0, line.1
                    ));
                }
                checked += 1;
            }
        }
    }
    println!("conformance vectors: {checked} runs checked against 0.26");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The 18 production vectors on solana-sbpf 0.26 under V0, with the logging syscalls the
/// oracle registers: every row whose run reaches no other syscall gives the r0 and the
/// instruction count recorded on 0.2.38 (which bpfvm's `v0` profile reproduces on both
/// backends, `bpfvm/tests/solana_vectors.rs`), so 0.26's V0 does not differ there.
#[test]
fn production_vectors_agree_on_0_26_v0() {
    let dir = bpfvm_testkit::corpus::corpus_dir()
        .unwrap()
        .join("solana_programs");
    let table = std::fs::read_to_string(dir.join("vm-vectors.tsv")).unwrap();
    let mut compared = 0;
    let mut rows = 0;
    for line in table.lines().filter(|line| !line.starts_with('#')).skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [program, input, result, count, ..] = fields[..] else {
            panic!("{line}");
        };
        rows += 1;
        let bytes = std::fs::read(dir.join(program)).unwrap();
        let input = bpfvm_testkit::corpus::decode_hex(input).unwrap();
        let mut case = reference26::Case26::new(reference26::Program26::Elf(&bytes));
        case.input = &input;
        case.syscalls = SyscallSet::Logging;
        let outcome = reference26::run(&case, bpfvm_testkit::sbpf26::Engine::Jit);
        if outcome.result.is_err() {
            // A stub the logging set lacks was reached (the vectors stub every import).
            continue;
        }
        assert_eq!(show_result(&outcome.result), result, "{program}");
        assert_eq!(outcome.instruction_count.to_string(), count, "{program}");
        compared += 1;
    }
    println!("production vectors: {compared} of {rows} compared with 0.26");
    assert_eq!(rows, 18);
    assert!(compared >= 6, "only {compared} rows ran on 0.26");
}
