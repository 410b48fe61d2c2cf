//! The bpf_conformance corpus: every `-- asm` section must assemble (eBPF syntax) to the
//! bytecode recorded in `assembled.jsonl`, and disassembling those bytes must give text that
//! assembles back to the same bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_asm::{assemble, disassemble, Dialect, SymbolTable};
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/bpf_conformance");
    assert!(
        dir.join("tests").is_dir() && dir.join("assembled.jsonl").is_file(),
        "the bpf_conformance corpus is missing: expected {} (the repo root's ../shared/corpus)",
        dir.display()
    );
    dir
}

/// The `-- asm` section of a `.data` file, with `#` comments removed.
fn asm_section(data: &str) -> String {
    let mut in_asm = false;
    let mut out = String::new();
    for raw in data.lines() {
        let line = raw.split('#').next().unwrap_or("");
        if line.contains("--") {
            in_asm = line.contains("asm");
            continue;
        }
        if in_asm && !line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The value of a string field in one flat JSON object line.
fn json_field<'a>(line: &'a str, key: &str) -> &'a str {
    let marker = format!("\"{key}\": \"");
    let start = line
        .find(&marker)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + marker.len();
    let len = line[start..].find('"').unwrap();
    &line[start..start + len]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// (test name, asm source, expected code hex) for every recorded test.
fn cases() -> Vec<(String, String, String)> {
    let dir = corpus_dir();
    let jsonl = std::fs::read_to_string(dir.join("assembled.jsonl")).unwrap();
    jsonl
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let test = json_field(line, "test").to_string();
            let code = json_field(line, "code_hex").to_string();
            let data = std::fs::read_to_string(dir.join("tests").join(&test)).unwrap();
            (test, asm_section(&data), code)
        })
        .collect()
}

#[test]
fn every_conformance_program_assembles_to_the_recorded_bytes() {
    let cases = cases();
    assert_eq!(cases.len(), 313, "expected 313 recorded programs");
    let mut failures = Vec::new();
    for (test, source, expected) in &cases {
        match assemble(source, Dialect::Ebpf) {
            Ok(out) if hex(&out.bytes) == *expected => {}
            Ok(out) => failures.push(format!("{test}: got {} want {expected}", hex(&out.bytes))),
            Err(e) => failures.push(format!("{test}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_conformance_program_survives_disassembly() {
    let mut failures = Vec::new();
    for (test, _, expected) in cases() {
        let bytes = unhex(&expected);
        let text = disassemble(&bytes, Dialect::Ebpf, &SymbolTable::default());
        match assemble(&text, Dialect::Ebpf) {
            Ok(out) if out.bytes == bytes => {}
            Ok(out) => failures.push(format!("{test}: {} != {expected}\n{text}", hex(&out.bytes))),
            Err(e) => failures.push(format!("{test}: {e}\n{text}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
