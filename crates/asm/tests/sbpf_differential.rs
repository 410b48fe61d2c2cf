//! Random sBPF programs, assembled by us and by the reference: same bytes, same function
//! registry, and our listing equals the reference's `Analysis::disassemble`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_asm::{assemble, disassemble, Dialect, SymbolTable};
use solana_rbpf::{
    assembler::assemble as reference_assemble,
    static_analysis::Analysis,
    syscalls::bpf_syscall_string,
    vm::{BuiltInProgram, Config, TestContextObject},
};
use std::collections::BTreeMap;
use std::sync::Arc;

mod common;
use common::{random_program, Rng};

#[test]
fn random_programs_match_the_reference() {
    let mut rng = Rng::new(0x5eed_0001);
    let mut exact = 0;
    for _ in 0..400 {
        let source = random_program(&mut rng, &["sol_log_", "nothing"]);
        let mut loader = BuiltInProgram::new_loader(Config {
            enable_symbol_and_section_labels: true,
            ..Config::default()
        });
        loader
            .register_function_by_name("sol_log_", bpf_syscall_string)
            .unwrap();
        let theirs = reference_assemble::<TestContextObject>(&source, Arc::new(loader))
            .unwrap_or_else(|e| panic!("reference rejects\n{source}: {e}"));
        let ours = assemble(&source, Dialect::Sbpf).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(ours.bytes, theirs.get_text_bytes().1, "{source}");

        let registry: BTreeMap<usize, String> = theirs
            .get_function_registry()
            .values()
            .map(|(pc, name)| (*pc, name.clone()))
            .collect();
        let mut expected: BTreeMap<usize, String> = ours
            .functions
            .iter()
            .map(|f| (f.pc, f.name.clone()))
            .collect();
        if !expected.values().any(|n| n == "entrypoint") {
            expected
                .entry(0)
                .or_insert_with(|| "entrypoint".to_string());
        }
        assert_eq!(expected, registry, "{source}");

        let analysis = Analysis::from_executable(&theirs).unwrap();
        let mut listing = Vec::new();
        analysis.disassemble(&mut listing).unwrap();
        let symbols = SymbolTable {
            syscalls: BTreeMap::new(),
            functions: registry,
            function_keys: BTreeMap::new(),
        }
        .with_syscalls(["sol_log_"]);
        let text = disassemble(&ours.bytes, Dialect::Sbpf, &symbols);
        let listing = String::from_utf8(listing).unwrap();
        assert_eq!(
            normalize(&text),
            normalize(&listing),
            "{source}\n{text}\n{listing}"
        );
        exact += usize::from(text == listing);
    }
    // Most listings agree to the byte; the rest differ only in how a loop's entry is named.
    assert!(exact > 300, "only {exact} listings match exactly");
}

/// A listing with blank lines dropped and `function_N`/`lbb_N` both written `L_N`: the
/// reference names the entry of a strongly connected component that nothing outside enters
/// `function_N` (found by its Tarjan pass), where we say `lbb_N`.
fn normalize(listing: &str) -> String {
    let mut out = String::new();
    for line in listing.lines().filter(|line| !line.is_empty()) {
        out.push_str(&line.replace("function_", "L_").replace("lbb_", "L_"));
        out.push('\n');
    }
    out
}
