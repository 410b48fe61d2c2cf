//! Hand-checked analyses of small assembled programs: blocks, edges, order, roots,
//! dominators, labels and the listing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_analysis::{Analysis, Dominator, FunctionOrigin};
use bpfvm_asm::{assemble, Dialect, SymbolTable};

#[path = "../../asm/tests/common/mod.rs"]
mod common;

/// Assembles and analyses, with `entrypoint` at pc 0 unless the source says otherwise.
fn analyse(source: &str, dialect: Dialect) -> Analysis {
    let assembled = assemble(source, dialect).unwrap();
    let mut symbols = SymbolTable::from_assembled(&assembled).with_syscalls(["sol_log_", "abort"]);
    if dialect == Dialect::Sbpf && !symbols.functions.values().any(|n| n == "entrypoint") {
        symbols.functions.entry(0).or_insert("entrypoint".into());
    }
    Analysis::from_text(&assembled.bytes, dialect, symbols, 0)
}

/// One expected block: start, end, successors, dominator (`None` = the super-root), label.
type Expected = (usize, usize, &'static [usize], Option<usize>, &'static str);

struct Case {
    source: &'static str,
    dialect: Dialect,
    blocks: &'static [Expected],
    topological: &'static [usize],
    roots: &'static [usize],
    /// The listing, or "" to skip it.
    listing: &'static str,
}

const LOOP: &str = "
entrypoint:
    mov r0, 0
loop:
    add r0, 1
    jlt r0, 5, loop
    exit";

const DIAMOND: &str = "
entrypoint:
    jeq r1, 0, else
    mov r0, 1
    ja end
else:
    mov r0, 2
end:
    call function_f
    callx r2
    syscall abort
    exit
function_f:
    syscall sol_log_
    lddw r0, 0x1122334455667788
    exit";

const EBPF: &str = "
    mov %r0, 0
    call local f
    exit
f:
    jeq32 %r1, 0, +1
    mov %r0, 1
    exit";

const CASES: &[Case] = &[
    Case {
        source: LOOP,
        dialect: Dialect::Sbpf,
        blocks: &[
            (0, 1, &[1], None, "entrypoint"),
            (1, 3, &[3, 1], Some(0), "lbb_1"),
            (3, 4, &[], Some(1), "lbb_3"),
        ],
        topological: &[0, 1, 3],
        roots: &[0],
        listing: "entrypoint:\n    mov64 r0, 0\nlbb_1:\n    add64 r0, 1\n    jlt r0, 5, lbb_1\n    exit\n",
    },
    Case {
        source: DIAMOND,
        dialect: Dialect::Sbpf,
        blocks: &[
            (0, 1, &[1, 3], None, "entrypoint"),
            (1, 3, &[4], Some(0), "lbb_1"),
            (3, 4, &[4], Some(0), "lbb_3"),
            (4, 5, &[5], Some(0), "lbb_4"),
            (5, 6, &[6], Some(4), "lbb_5"),
            (6, 7, &[], Some(5), "lbb_6"),
            (7, 8, &[], None, "function_7"),
            (8, 12, &[], None, "function_f"),
        ],
        topological: &[8, 7, 0, 3, 1, 4, 5, 6],
        roots: &[8, 7, 0],
        listing: "entrypoint:
    jeq r1, 0, lbb_3
    mov64 r0, 1
    ja lbb_4
lbb_3:
    mov64 r0, 2
lbb_4:
    call function_f
    callx r2
    syscall abort

function_7:
    exit

function_f:
    syscall sol_log_
    lddw r0, 0x1122334455667788
    exit
",
    },
    Case {
        source: EBPF,
        dialect: Dialect::Ebpf,
        blocks: &[
            (0, 2, &[2], None, "function_0"),
            (2, 3, &[], Some(0), "lbb_2"),
            (3, 4, &[4, 5], None, "function_3"),
            (4, 5, &[5], Some(3), "lbb_4"),
            (5, 6, &[], Some(3), "lbb_5"),
        ],
        topological: &[3, 4, 5, 0, 2],
        roots: &[3, 0],
        listing: "",
    },
];

#[test]
fn hand_checked_programs() {
    for case in CASES {
        let analysis = analyse(case.source, case.dialect);
        let blocks: Vec<Expected> = analysis
            .blocks()
            .values()
            .zip(case.blocks)
            .map(|(b, e)| {
                let dominator = match b.dominator {
                    Dominator::SuperRoot => None,
                    Dominator::Block(pc) => Some(pc),
                };
                assert_eq!(
                    b.successors, e.2,
                    "successors of {} in {}",
                    b.start, case.source
                );
                (b.start, b.end, e.2, dominator, e.4)
            })
            .collect();
        assert_eq!(
            analysis.blocks().len(),
            case.blocks.len(),
            "{}",
            case.source
        );
        for (got, want) in blocks.iter().zip(case.blocks) {
            assert_eq!(
                (got.0, got.1, got.3),
                (want.0, want.1, want.3),
                "{}",
                case.source
            );
            assert_eq!(analysis.blocks()[&got.0].label, want.4, "{}", case.source);
        }
        assert_eq!(
            analysis.topological_order(),
            case.topological,
            "{}",
            case.source
        );
        assert_eq!(analysis.roots(), case.roots, "{}", case.source);
        if !case.listing.is_empty() {
            assert_eq!(analysis.disassemble(), case.listing);
        }
    }
}

#[test]
fn predecessors_mirror_successors() {
    let analysis = analyse(DIAMOND, Dialect::Sbpf);
    let preds: Vec<(usize, Vec<usize>)> = analysis
        .blocks()
        .values()
        .map(|b| (b.start, b.predecessors.clone()))
        .collect();
    assert_eq!(
        preds,
        [
            (0, vec![]),
            (1, vec![0]),
            (3, vec![0]),
            (4, vec![1, 3]),
            (5, vec![4]),
            (6, vec![5]),
            (7, vec![]),
            (8, vec![])
        ]
    );
    let dominated: Vec<usize> = analysis.blocks()[&0].dominated.clone();
    assert_eq!(dominated, [3, 1, 4]);
    assert!(analysis.dominates(0, 6));
    assert!(analysis.dominates(4, 6));
    assert!(!analysis.dominates(1, 4));
    assert!(!analysis.dominates(3, 4));
    assert!(!analysis.dominates(0, 8));
}

#[test]
fn functions_and_lookups() {
    let analysis = analyse(DIAMOND, Dialect::Sbpf);
    let functions: Vec<(usize, &str, FunctionOrigin)> = analysis
        .functions()
        .values()
        .map(|f| (f.pc, f.name.as_str(), f.origin))
        .collect();
    assert_eq!(
        functions,
        [
            (0, "entrypoint", FunctionOrigin::Registered),
            (7, "function_7", FunctionOrigin::Root),
            (8, "function_f", FunctionOrigin::Registered)
        ]
    );
    assert_eq!(analysis.function_range(0), 0..7);
    assert_eq!(analysis.function_range(8), 8..12);
    assert_eq!(analysis.function_containing(10).unwrap().pc, 8);
    assert_eq!(analysis.block_containing(10).unwrap().start, 8);
    assert_eq!(analysis.block_containing(12), None);
    assert_eq!(analysis.text_end(), 12);
}

#[test]
fn demangled_labels() {
    let bytes = assemble("exit\nexit", Dialect::Sbpf).unwrap().bytes;
    let mut symbols = SymbolTable::default();
    symbols.functions.insert(0, "entrypoint".into());
    symbols.functions.insert(
        1,
        "_ZN9spl_token9processor9Processor7process17h0123456789abcdefE".into(),
    );
    let analysis = Analysis::from_text(&bytes, Dialect::Sbpf, symbols, 0);
    assert_eq!(
        analysis.blocks()[&1].label,
        "spl_token::processor::Processor::process::h0123456789abcdef"
    );
    assert_eq!(
        analysis.disassemble(),
        "entrypoint:\n    exit\n\nspl_token::processor::Processor::process::h0123456789abcdef:\n    exit\n"
    );
}

#[test]
fn empty_and_hostile_text() {
    let empty = Analysis::from_text(&[], Dialect::Sbpf, SymbolTable::default(), 0);
    assert!(empty.blocks().is_empty());
    assert_eq!(empty.disassemble(), "");
    assert_eq!(empty.to_dot(None).lines().last(), Some("}"));
    // Jumps far out of range, an lddw cut short, a partial slot and undecodable bytes.
    let mut bytes = Vec::new();
    for slot in [
        [0x05, 0, 0xff, 0x7f, 0, 0, 0, 0],
        [0x15, 1, 0x00, 0x80, 0, 0, 0, 0],
        [0xff; 8],
        [0x18, 0, 0, 0, 0, 0, 0, 0],
    ] {
        bytes.extend_from_slice(&slot);
    }
    bytes.extend_from_slice(&[0x95, 0, 0]);
    for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
        let analysis = Analysis::from_text(&bytes, dialect, SymbolTable::default(), 0);
        let starts: Vec<usize> = analysis.blocks().keys().copied().collect();
        assert_eq!(starts, [0, 1, 2]);
        assert!(analysis.disassemble().contains("[invalid]") || dialect == Dialect::Ebpf);
        assert!(analysis.to_dot(None).starts_with("digraph"));
    }
}

/// Random bytes, random names and a random trace: every output is produced without a panic,
/// and the blocks always partition the instructions.
#[test]
fn random_bytes_never_panic() {
    let mut rng = common::Rng::new(0x0a11_0002);
    for round in 0..300 {
        let len = rng.below(40) * 8 + rng.below(2) * rng.below(8);
        let bytes: Vec<u8> = (0..len)
            .map(|i| match i % 8 {
                // Mostly valid opcodes: jumps, calls, exit, lddw and ALU.
                0 => *rng.pick(&[0x05, 0x15, 0x85, 0x8d, 0x95, 0x18, 0x07, 0x00, 0xb7, 0x16]),
                _ => rng.next() as u8 >> rng.below(8),
            })
            .collect();
        let mut symbols = SymbolTable::default().with_syscalls(["abort", "sol_log_"]);
        for _ in 0..rng.below(4) {
            symbols.functions.insert(rng.below(48), format!("f{round}"));
        }
        for _ in 0..rng.below(3) {
            symbols
                .function_keys
                .insert(rng.next() as u32 & 0x3f, rng.below(48));
        }
        let dialect = *rng.pick(&[Dialect::Sbpf, Dialect::Ebpf]);
        let analysis = Analysis::from_text(&bytes, dialect, symbols, 0);
        let mut covered = 0;
        for block in analysis.blocks().values() {
            assert_eq!(block.instructions.start, covered);
            covered = block.instructions.end;
            assert!(block.instructions.start < block.instructions.end);
        }
        assert_eq!(covered, analysis.instructions().len());
        assert_eq!(analysis.topological_order().len(), analysis.blocks().len());
        let trace: Vec<[u64; 12]> = (0..rng.below(200))
            .map(|_| {
                let mut entry = [0u64; 12];
                entry[11] = rng.below(50) as u64;
                entry
            })
            .collect();
        let profile = bpfvm_analysis::Profile::from_trace(&analysis, &trace);
        assert_eq!(profile.instructions(), trace.len() as u64);
        let _ = (analysis.disassemble(), analysis.to_dot(Some(&profile)));
        let _ = (profile.folded(), profile.function_table());
    }
}
