//! A tidy check over the engine's and the isa crate's source: no match over instruction kinds
//! (`Op`, `Insn`, `AluOp`, `EndianOp`, `AtomicOp`, `Cond`) has a wildcard arm, so a new
//! instruction breaks the build wherever it must be handled (issue 12, point 2).
//!
//! The check reads rustfmt's layout: the arms of one `match` start at the same indentation,
//! so a `_ =>` line is flagged when an arm above it, at its indentation and before the
//! `match` line, starts with a pattern of one of those enums. It is a tidy heuristic, not a
//! parser: a tuple pattern whose first element is something else is not looked at.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fs;
use std::path::{Path, PathBuf};

/// The instruction-kind enums whose matches must be exhaustive.
const KINDS: [&str; 6] = [
    "Op::",
    "Insn::",
    "AluOp::",
    "EndianOp::",
    "AtomicOp::",
    "Cond::",
];

/// Every `.rs` file under `dir`, as (path, text), sorted.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                files.push((path.display().to_string(), text));
            }
        }
    }
    files.sort();
    files
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether an arm's first line starts with a pattern of an instruction-kind enum (possibly
/// inside `(`, `Some(`, `&` or after `|`).
fn names_a_kind(arm: &str) -> bool {
    let mut pattern = arm.trim();
    loop {
        let stripped = ["(", "Some(", "&", "| "]
            .iter()
            .find_map(|prefix| pattern.strip_prefix(prefix));
        match stripped {
            Some(rest) => pattern = rest.trim_start(),
            None => break,
        }
    }
    KINDS
        .iter()
        .any(|kind| pattern.starts_with(kind) || pattern.starts_with(&format!("bpfvm_isa::{kind}")))
}

/// The 1-based numbers of the `_ =>` lines of `text` that close a match over an
/// instruction kind.
fn wildcards_over_kinds(text: &str) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with("_ =>") {
            continue;
        }
        let depth = indent(line);
        let arms = lines[..index]
            .iter()
            .rev()
            .filter(|above| !above.trim().is_empty() && !above.trim_start().starts_with("//"))
            .take_while(|above| indent(above) >= depth)
            .filter(|above| indent(above) == depth);
        if arms.into_iter().any(|arm| names_a_kind(arm)) {
            found.push(index + 1);
        }
    }
    found
}

#[test]
fn no_wildcard_arm_over_instruction_kinds() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = sources(&manifest.join("src"));
    files.extend(sources(&manifest.join("../isa/src")));
    assert!(files.len() > 50, "the sources were not found");
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|(file, text)| {
            wildcards_over_kinds(text)
                .into_iter()
                .map(move |line| format!("{file}:{line}"))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "`_ =>` over an instruction kind (list the variants instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_check_finds_a_wildcard_over_kinds_and_only_there() {
    let over_ops = "fn f(op: Op) -> u8 {\n    match op {\n        Op::Exit => 1,\n        Op::Call {\n            target,\n        } => 2,\n        _ => 3,\n    }\n}\n";
    assert_eq!(wildcards_over_kinds(over_ops), vec![7]);
    let in_tuple = "match (op, src) {\n    (AluOp::Add, Imm(imm)) => 1,\n    _ => 2,\n}\n";
    assert_eq!(wildcards_over_kinds(in_tuple), vec![3]);
    let optional = "match insn {\n    Some(Insn::Exit) => 1,\n    _ => 2,\n}\n";
    assert_eq!(wildcards_over_kinds(optional), vec![3]);
    // Wildcards over other things, and a nested match over numbers inside an op arm.
    let numbers = "match n {\n    0 => 1,\n    _ => 2,\n}\n";
    assert!(wildcards_over_kinds(numbers).is_empty());
    let nested = "match op {\n    Op::Exit => match n {\n        0 => 1,\n        _ => 2,\n    },\n    Op::Call { .. } => 3,\n}\n";
    assert!(wildcards_over_kinds(nested).is_empty());
}
