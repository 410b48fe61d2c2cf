//! Bad input: mutated programs through the loader, verifier and interpreter, and mutated
//! assembly through the assembler. Nothing may panic and every error must have a name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_isa::Dialect;
use bpfvm_testkit::corpus::load_vectors;
use bpfvm_testkit::mutate::{run_assembly_mutations, run_program_mutations, MutationStats};

fn count(default: u64) -> u64 {
    std::env::var("BPFVM_MUTATIONS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn check(what: &str, stats: &MutationStats) {
    println!(
        "{what}: {} inputs, {} loaded, verified and returned Ok; errors {:?}",
        stats.inputs, stats.ran, stats.errors
    );
    assert!(
        stats.panics.is_empty(),
        "{} panics, first ones:\n{}",
        stats.panics.len(),
        stats
            .panics
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(stats.unnamed_errors, 0);
    assert!(stats.inputs > 0);
}

#[test]
fn mutated_sbpf_programs_never_panic() {
    check(
        "sBPF programs",
        &run_program_mutations(1, count(50_000), Dialect::Sbpf),
    );
}

#[test]
fn mutated_ebpf_programs_never_panic() {
    check(
        "eBPF programs",
        &run_program_mutations(2, count(50_000), Dialect::Ebpf),
    );
}

#[test]
fn mutated_assembly_never_panics() {
    let sources: Vec<String> = load_vectors()
        .unwrap_or_else(|error| panic!("{error}"))
        .iter()
        .map(|vector| vector.data.asm_text())
        .collect();
    let rounds = (count(50_000) / sources.len() as u64).max(1);
    check("assembly", &run_assembly_mutations(3, &sources, rounds));
}
