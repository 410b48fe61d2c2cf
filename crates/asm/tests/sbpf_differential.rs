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
use common::Rng;

const ALU: &[&str] = &[
    "add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "xor", "mov", "arsh",
];
const WIDTHS: &[&str] = &["", "32", "64"];
const SIZES: &[&str] = &["b", "h", "w", "dw"];
const CONDS: &[&str] = &[
    "jeq", "jgt", "jge", "jlt", "jle", "jset", "jne", "jsgt", "jsge", "jslt", "jsle",
];

fn reg(rng: &mut Rng) -> String {
    format!("r{}", rng.below(11))
}

fn imm(rng: &mut Rng) -> String {
    let value = rng.next() as i32 >> rng.below(32);
    match rng.below(3) {
        0 => value.to_string(),
        1 if value >= 0 => format!("{value:#x}"),
        _ => format!("-{:#x}", value.unsigned_abs()),
    }
}

fn mem(rng: &mut Rng) -> String {
    let off = rng.next() as i16 >> rng.below(16);
    match rng.below(3) {
        0 => format!("[{}]", reg(rng)),
        1 => format!("[{}{off:+}]", reg(rng)),
        _ => format!(
            "[{}{}{:#x}]",
            reg(rng),
            if off < 0 { '-' } else { '+' },
            off.unsigned_abs()
        ),
    }
}

/// One instruction whose jump targets are instruction indices, filled in later.
enum Gen {
    Text(String),
    /// `prefix <target>`, the target written as a label or as an offset.
    Jump(String, usize),
    /// `call <relative imm>` to an instruction index.
    CallRel(usize),
}

fn instruction(rng: &mut Rng, count: usize) -> Gen {
    let text = match rng.below(14) {
        0..=2 => format!(
            "{}{} {}, {}",
            rng.pick(ALU),
            rng.pick(WIDTHS),
            reg(rng),
            if rng.chance(2) { reg(rng) } else { imm(rng) }
        ),
        3 => format!("neg{} {}", rng.pick(WIDTHS), reg(rng)),
        4 => format!(
            "{}{} {}",
            rng.pick(&["be", "le"]),
            rng.pick(&["16", "32", "64"]),
            reg(rng)
        ),
        5 => format!("lddw {}, {:#x}", reg(rng), rng.next()),
        6 => format!("ldx{} {}, {}", rng.pick(SIZES), reg(rng), mem(rng)),
        7 => format!("st{} {}, {}", rng.pick(SIZES), mem(rng), imm(rng)),
        8 => format!("stx{} {}, {}", rng.pick(SIZES), mem(rng), reg(rng)),
        9 => return Gen::Jump("ja".to_string(), rng.below(count)),
        10 => {
            let src = if rng.chance(2) { reg(rng) } else { imm(rng) };
            return Gen::Jump(
                format!("{} {}, {src},", rng.pick(CONDS), reg(rng)),
                rng.below(count),
            );
        }
        11 => return Gen::CallRel(rng.below(count)),
        12 => match rng.below(3) {
            0 => "syscall sol_log_".to_string(),
            1 => "syscall nothing".to_string(),
            _ => format!("callx {}", reg(rng)),
        },
        _ => "exit".to_string(),
    };
    Gen::Text(text)
}

/// A random program and the label names it defines before each instruction.
fn program(rng: &mut Rng) -> String {
    let count = 1 + rng.below(24);
    let gens: Vec<Gen> = (0..count).map(|_| instruction(rng, count)).collect();
    let mut pcs = Vec::new();
    let mut pc = 0;
    for g in &gens {
        pcs.push(pc);
        pc += match g {
            Gen::Text(t) if t.starts_with("lddw") => 2,
            _ => 1,
        };
    }
    let names: Vec<Option<String>> = (0..count)
        .map(|i| match rng.below(6) {
            0 => Some(format!("function_{i}")),
            1 | 2 => Some(format!("lbb_x{i}")),
            _ => None,
        })
        .collect();
    let mut out = String::new();
    for (i, g) in gens.iter().enumerate() {
        if let Some(name) = &names[i] {
            out.push_str(&format!("{name}:\n"));
        }
        let line = match g {
            Gen::Text(t) => t.clone(),
            Gen::Jump(prefix, t) => match &names[*t] {
                Some(name) if rng.chance(2) => format!("{prefix} {name}"),
                _ => format!("{prefix} {:+}", pcs[*t] as i64 - pcs[i] as i64 - 1),
            },
            Gen::CallRel(t) => format!("call {}", pcs[*t] as i64 - pcs[i] as i64 - 1),
        };
        out.push_str(&format!("{}{line}\n", " ".repeat(rng.below(3))));
    }
    out
}

#[test]
fn random_programs_match_the_reference() {
    let mut rng = Rng::new(0x5eed_0001);
    let mut exact = 0;
    for _ in 0..400 {
        let source = program(&mut rng);
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
