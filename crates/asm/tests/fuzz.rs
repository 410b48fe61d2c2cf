//! Robustness: random and mutated sources never panic the assembler, and random bytes never
//! panic the disassembler. Errors always carry a position inside the source.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_asm::{assemble, disassemble, format_insn, Dialect, SymbolTable};

mod common;
use common::Rng;

const DIALECTS: [Dialect; 2] = [Dialect::Sbpf, Dialect::Ebpf];

/// Fragments that random sources are glued from: pieces of valid syntax and junk.
const PIECES: &[&str] = &[
    "add",
    "add32",
    "lddw",
    "ldxw",
    "stxdw",
    "st",
    "ja",
    "jeq",
    "jne32",
    "call",
    "local",
    "lock",
    "fetch",
    "xchg",
    "syscall",
    "callx",
    "exit",
    "neg",
    "be16",
    "movsx832",
    "r1",
    "%r2",
    "r16",
    "%r",
    "[",
    "]",
    "[r1+",
    "[%r10-8]",
    "+",
    "-",
    "0x",
    "0xffffffffffffffffff",
    "-2147483649",
    "4294967295",
    "99999999999999999999999",
    ",",
    ":",
    "#",
    "lbb_1",
    "lbb_1:",
    "entrypoint:",
    "function_3:",
    " ",
    " ",
    "\n",
    "\t",
    "\r\n",
    "é",
    "\u{0}",
    "$",
    "=",
    "exit:",
];

/// A few valid programs to mutate.
const SEEDS: &[&str] = &[
    "entrypoint:\n    mov64 r1, 2\n    jeq r1, 2, lbb_3\n    lddw r0, 0x1\nlbb_3:\n    exit\n",
    "mov %r0, 0\ncall local f\nlock fetch add32 [%r10-8], %r1\nexit\nf:\nja32 +0\nexit\n",
    "ldxw r1, [r2+5]\nstw [r2-0x5], 7\ncall 3\nsyscall sol_log_\ncallx r3\nexit",
];

fn check(source: &str) {
    for dialect in DIALECTS {
        if let Err(error) = assemble(source, dialect) {
            let lines = source.lines().count().max(1);
            assert!(
                error.line >= 1 && error.line <= lines,
                "{source:?}: {error}"
            );
            assert!(error.column >= 1, "{source:?}: {error}");
        }
    }
}

#[test]
fn random_sources_never_panic() {
    let mut rng = Rng::new(7);
    for _ in 0..20_000 {
        let pieces = rng.below(12);
        let source: String = (0..pieces).map(|_| *rng.pick(PIECES)).collect();
        check(&source);
    }
}

#[test]
fn mutated_programs_never_panic() {
    let mut rng = Rng::new(11);
    for _ in 0..20_000 {
        let mut chars: Vec<char> = rng.pick(SEEDS).chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(chars.len() + 1);
            let junk = *rng.pick(&[
                '[', ']', ',', ':', '-', '+', 'x', 'r', '%', '9', ' ', '\n', '#',
            ]);
            match rng.below(3) {
                0 => chars.insert(at, junk),
                1 if at < chars.len() => {
                    chars.remove(at);
                }
                _ if at < chars.len() => chars[at] = junk,
                _ => {}
            }
        }
        check(&chars.into_iter().collect::<String>());
    }
}

#[test]
fn random_bytes_always_disassemble() {
    let mut rng = Rng::new(13);
    let symbols = SymbolTable::default().with_syscalls(["abort"]);
    for _ in 0..5_000 {
        let len = rng.below(80);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        for dialect in DIALECTS {
            let listing = disassemble(&bytes, dialect, &symbols);
            let lines = listing.lines().filter(|l| l.starts_with("    ")).count();
            assert!(lines <= len / 8, "one line per instruction at most");
            for decoded in bpfvm_isa::decode_program(&bpfvm_isa::Slot::slots_of(&bytes), dialect) {
                if let Ok(insn) = decoded.insn {
                    assert!(!format_insn(&insn, decoded.pc, dialect, &symbols).is_empty());
                }
            }
        }
    }
}

/// A random instruction in canonical eBPF encoding (random slots that decode, re-encoded),
/// leaving out what the syntax cannot express: calls with a source field other than 0 or 1,
/// and `ldabs` with a nonzero source field.
fn random_canonical_insn(rng: &mut Rng) -> Vec<bpfvm_isa::Slot> {
    use bpfvm_isa::{decode, encode, Insn, Slot};
    loop {
        let mut random_slot = || Slot::from_bytes(rng.next().to_le_bytes());
        let mut pair = [random_slot(), random_slot()];
        pair[1].opcode = 0;
        match decode(&pair, 0, Dialect::Ebpf) {
            Ok(Insn::Call { src, .. }) if src > 1 => {}
            Ok(Insn::PacketLoad {
                mode: bpfvm_isa::PacketMode::Abs,
                src,
                ..
            }) if src != bpfvm_isa::Reg::R0 => {}
            Ok(insn) => return encode(&insn, Dialect::Ebpf).unwrap(),
            Err(_) => {}
        }
    }
}

#[test]
fn ebpf_listings_of_canonical_bytes_reassemble() {
    let mut rng = Rng::new(17);
    for _ in 0..3_000 {
        let count = 1 + rng.below(12);
        let bytes: Vec<u8> = (0..count)
            .flat_map(|_| random_canonical_insn(&mut rng))
            .flat_map(|slot| slot.to_bytes())
            .collect();
        let text = disassemble(&bytes, Dialect::Ebpf, &SymbolTable::default());
        let again = assemble(&text, Dialect::Ebpf).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(again.bytes, bytes, "{text}");
    }
}
