//! One test row per line of the checklist of spec `sbpf-0.26.md` (sections A to F), as data.
//!
//! Each row is a small program in the assembly of the versions it names and the outcome the
//! spec says it has: the result or the error with its fields, the faulting slot, the
//! instruction count. Every row runs on both of bpfvm's backends and on solana-sbpf 0.26's
//! JIT; all three must give the row's outcome (0.26 keeps the rows honest, the rows keep
//! the comparison from agreeing on the wrong thing). Rows that are whole files (version
//! selection, the loaders) compare bpfvm with 0.26 on the corpus files and on mutations of
//! them. Assembled calls of V0 to V2 are keyed as the loader keys them (Murmur3 of the target
//! pc), since raw text is not relocated.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm::program::hash_internal_function;
use bpfvm_isa::{Dialect, Slot};
use bpfvm_testkit::harness::BACKENDS;
use bpfvm_testkit::sbpf26::ours::{self, compare, Case, Loader26};
use bpfvm_testkit::sbpf26::{Engine, Version, VersionedOutcome};
use bpfvm_testkit::syscalls::SyscallSet;
use reference26::{Case26, Program26};

use Version::{V0, V1, V2, V3, V4};

/// One checklist row.
struct Row {
    /// The checklist line (section letter and line number).
    id: &'static str,
    versions: &'static [Version],
    /// Assembly, or `hex:` followed by the text's bytes in hex.
    source: &'static str,
    budget: u64,
    /// The outcome, as `VersionedOutcome` prints bpfvm's (no slot for a success).
    expected: &'static str,
}

const fn row(
    id: &'static str,
    versions: &'static [Version],
    source: &'static str,
    expected: &'static str,
) -> Row {
    Row {
        id,
        versions,
        source,
        budget: 1000,
        expected,
    }
}

const fn budgeted(
    id: &'static str,
    versions: &'static [Version],
    source: &'static str,
    budget: u64,
    expected: &'static str,
) -> Row {
    Row {
        id,
        versions,
        source,
        budget,
        expected,
    }
}

const ALL: &[Version] = &[V0, V1, V2, V3, V4];
const NO_V2: &[Version] = &[V0, V1, V3, V4];
const FIXED: &[Version] = &[V0, V3, V4];
const MANUAL: &[Version] = &[V1, V2];
const STATIC: &[Version] = &[V3, V4];

const ROWS: &[Row] = &[
    // B. V0 -> V1: dynamic stack frames.
    row("B1 add64 r10 accepted", MANUAL, "add64 r10, -64\nmov64 r0, r10\nexit", "Ok(0x20003ffc0) after 3 instructions"),
    row("B1 mov64 r10 refused", MANUAL, "mov64 r10, 0\nexit", "Err(verifier CannotWriteR10(pc 0)) after 0 instructions"),
    row("B1 add32 r10 refused", MANUAL, "add32 r10, 64\nexit", "Err(verifier CannotWriteR10(pc 0)) after 0 instructions"),
    row("B1 sub64 r10 refused", MANUAL, "sub64 r10, 64\nexit", "Err(verifier CannotWriteR10(pc 0)) after 0 instructions"),
    row("B2 unaligned immediate", MANUAL, "add64 r10, -65\nexit", "Err(verifier UnalignedImmediate(pc 0)) after 0 instructions"),
    row("B2 positive multiple of 64", MANUAL, "add64 r10, 64\nmov64 r0, r10\nexit", "Ok(0x200040040) after 3 instructions"),
    row("B3 r10 at the top of the stack", MANUAL, "mov64 r0, r10\nexit", "Ok(0x200040000) after 2 instructions"),
    row("B4 the callee inherits r10", MANUAL, "add64 r10, -128\ncall fn\nexit\nfn:\nmov64 r0, r10\nadd64 r10, -64\nexit", "Ok(0x20003ff80) after 6 instructions"),
    row("B4 exit restores r10", MANUAL, "add64 r10, -128\ncall fn\nmov64 r0, r10\nexit\nfn:\nadd64 r10, -64\nexit", "Ok(0x20003ff80) after 6 instructions"),
    row("B5 no gaps", &[V1], "lddw r1, 0x200001000\nstdw [r1+0], 7\nldxdw r0, [r1+0]\nexit", "Ok(0x7) after 4 instructions"),
    row("B5 V0 has the gap", &[V0], "lddw r1, 0x200001000\nstdw [r1+0], 7\nldxdw r0, [r1+0]\nexit", "Err(runtime StackAccessViolation(Store, 8589938688, 8, 1)) at slot 2 after 2 instructions"),
    row("B6 plain access violation", &[V1], "lddw r1, 0x1fffff000\nldxb r0, [r1+0]\nexit", "Err(runtime AccessViolation(Load, 8589930496, 1, unallocated)) at slot 2 after 2 instructions"),
    row("D10 stack violation names the frame", FIXED, "lddw r1, 0x1fffff000\nldxb r0, [r1+0]\nexit", "Err(runtime StackAccessViolation(Load, 8589930496, 1, -1)) at slot 2 after 2 instructions"),
    row("B7 V1 calls by hash as V0", &[V0, V1], "call fn\nexit\nfn:\nmov64 r0, 9\nexit", "Ok(0x9) after 4 instructions"),
    // C. V1 -> V2.
    row("C3 loads zero-extend", &[V2], "mov64 r1, -1\nstxdw [r10-8], r1\nldxb r0, [r10-8]\nexit", "Ok(0xff) after 4 instructions"),
    row("C4 stdw sign-extends", &[V2], "stdw [r10-8], -1\nldxdw r0, [r10-8]\nexit", "Ok(0xffffffffffffffff) after 3 instructions"),
    row("C4 stw stores 4 bytes", &[V2], "stw [r10-8], -1\nldxdw r0, [r10-8]\nexit", "Ok(0xffffffff) after 3 instructions"),
    row("C4 r10 as a store base", &[V2], "stxh [r10-2], r10\nldxh r0, [r10-2]\nexit", "Ok(0x0) after 3 instructions"),
    row("C5 hor64", &[V2], "mov32 r0, 0x12345678\nhor64 r0, 0x1abcdef0\nexit", "Ok(0x1abcdef012345678) after 3 instructions"),
    row("C5 hor64 keeps the low half", &[V2], "mov32 r0, 5\nhor64 r0, -1\nexit", "Ok(0xffffffff00000005) after 3 instructions"),
    row("C8 uhmul64 zero-extends the immediate", &[V2], "mov64 r0, -1\nuhmul64 r0, -1\nexit", "Ok(0xfffffffe) after 3 instructions"),
    row("C8 shmul64 sign-extends", &[V2], "mov64 r0, -1\nshmul64 r0, -1\nexit", "Ok(0x0) after 3 instructions"),
    row("C8 shmul64 upper half", &[V2], "mov64 r0, -2\nmov64 r1, 3\nshmul64 r0, r1\nexit", "Ok(0xffffffffffffffff) after 4 instructions"),
    row("C7 lmul64 sign-extends", &[V2], "mov64 r0, 7\nlmul64 r0, -1\nexit", "Ok(0xfffffffffffffff9) after 3 instructions"),
    row("C7 lmul32 zero-extends", &[V2], "mov64 r0, -1\nlmul32 r0, 2\nexit", "Ok(0xfffffffe) after 3 instructions"),
    row("C7 udiv64 zero-extends the immediate", &[V2], "mov64 r0, -1\nudiv64 r0, -1\nexit", "Ok(0x100000001) after 3 instructions"),
    row("C7 urem64 zero-extends the immediate", &[V2], "mov64 r0, -1\nurem64 r0, -2\nexit", "Ok(0x3) after 3 instructions"),
    row("C7 udiv32 on the low half", &[V2], "mov64 r0, -7\nudiv32 r0, 2\nexit", "Ok(0x7ffffffc) after 3 instructions"),
    row("C7 urem32", &[V2], "mov64 r0, 7\nurem32 r0, 4\nexit", "Ok(0x3) after 3 instructions"),
    row("C9 sdiv64 truncates", &[V2], "mov64 r0, -7\nsdiv64 r0, 2\nexit", "Ok(0xfffffffffffffffd) after 3 instructions"),
    row("C9 srem64 takes the dividend's sign", &[V2], "mov64 r0, -7\nsrem64 r0, 2\nexit", "Ok(0xffffffffffffffff) after 3 instructions"),
    row("C9 sdiv32 zero-extends", &[V2], "mov64 r0, -7\nsdiv32 r0, 2\nexit", "Ok(0xfffffffd) after 3 instructions"),
    row("C9 srem32 zero-extends", &[V2], "mov64 r0, -7\nsrem32 r0, 2\nexit", "Ok(0xffffffff) after 3 instructions"),
    row("C9 sdiv64 by a negative divisor", &[V2], "mov64 r0, -7\nsdiv64 r0, -2\nexit", "Ok(0x3) after 3 instructions"),
    row("C10 register divisor zero", &[V2], "mov64 r0, 1\nmov64 r1, 0\nudiv64 r0, r1\nexit", "Err(runtime DivideByZero) at slot 2 after 3 instructions"),
    row("C10 32-bit divisor tests the low half", &[V2], "mov64 r1, 1\nlsh64 r1, 32\nudiv32 r0, r1\nexit", "Err(runtime DivideByZero) at slot 2 after 3 instructions"),
    row("C10 srem by zero", &[V2], "mov64 r1, 0\nsrem64 r0, r1\nexit", "Err(runtime DivideByZero) at slot 1 after 2 instructions"),
    row("C11 sdiv64 overflow", &[V2], "mov64 r0, 1\nlsh64 r0, 63\nsdiv64 r0, -1\nexit", "Err(runtime DivideOverflow) at slot 2 after 3 instructions"),
    row("C11 srem64 overflow", &[V2], "mov64 r0, 1\nlsh64 r0, 63\nsrem64 r0, -1\nexit", "Err(runtime DivideOverflow) at slot 2 after 3 instructions"),
    row("C11 sdiv32 overflow", &[V2], "mov32 r0, 1\nlsh32 r0, 31\nsdiv32 r0, -1\nexit", "Err(runtime DivideOverflow) at slot 2 after 3 instructions"),
    row("C11 srem32 overflow, register", &[V2], "mov32 r0, 1\nlsh32 r0, 31\nmov64 r1, -1\nsrem32 r0, r1\nexit", "Err(runtime DivideOverflow) at slot 3 after 4 instructions"),
    row("C12 sub64 imm is imm - dst", &[V2], "mov64 r0, 3\nsub64 r0, 10\nexit", "Ok(0x7) after 3 instructions"),
    row("C12 sub64 imm sign-extends", &[V2], "mov64 r0, 1\nsub64 r0, -1\nexit", "Ok(0xfffffffffffffffe) after 3 instructions"),
    row("C12 sub32 imm is imm - dst", &[V2], "mov64 r0, 3\nsub32 r0, 10\nexit", "Ok(0x7) after 3 instructions"),
    row("D1 sub64 imm is dst - imm", NO_V2, "mov64 r0, 3\nsub64 r0, 10\nexit", "Ok(0xfffffffffffffff9) after 3 instructions"),
    row("C13 add32 zero-extends", &[V2], "mov32 r0, 0x7fffffff\nadd32 r0, 1\nexit", "Ok(0x80000000) after 3 instructions"),
    row("C13 sub32 zero-extends", &[V2], "mov32 r0, 0\nmov32 r1, 1\nsub32 r0, r1\nexit", "Ok(0xffffffff) after 4 instructions"),
    row("D1 add32 sign-extends", NO_V2, "mov32 r0, 0x7fffffff\nadd32 r0, 1\nexit", "Ok(0xffffffff80000000) after 3 instructions"),
    row("D1 sub32 sign-extends", NO_V2, "mov32 r0, 0\nmov32 r1, 1\nsub32 r0, r1\nexit", "Ok(0xffffffffffffffff) after 4 instructions"),
    row("C14 mov32 reg sign-extends", &[V2], "mov64 r1, -1\nmov32 r0, r1\nexit", "Ok(0xffffffffffffffff) after 3 instructions"),
    row("C14 mov32 reg zero-extends before V2", NO_V2, "mov64 r1, -1\nmov32 r0, r1\nexit", "Ok(0xffffffff) after 3 instructions"),
    row("C14 mov32 imm zero-extends", ALL, "mov32 r0, -1\nexit", "Ok(0xffffffff) after 2 instructions"),
    row("C15 callx from src", &[V2], "mov32 r1, 32\nhor64 r1, 1\ncallx r1\nexit\nmov64 r0, 42\nexit", "Ok(0x2a) after 6 instructions"),
    row("C15 callx from imm or dst", NO_V2, "lddw r1, 0x100000020\ncallx r1\nexit\nmov64 r0, 42\nexit", "Ok(0x2a) after 5 instructions"),
    row("C16 jump to opcode 0", &[V2], "hex:0500000000000000 0000000000000000 9500000000000000", "Err(verifier JumpToMiddleOfLDDW(1, pc 0)) after 0 instructions"),
    row("C17 a constant costs two instructions", &[V2], "mov32 r0, 1\nhor64 r0, 1\nexit", "Ok(0x100000001) after 3 instructions"),
    row("C17 lddw costs one", NO_V2, "lddw r0, 0x100000001\nexit", "Ok(0x100000001) after 2 instructions"),
    // D. V0 -> V3.
    row("D1 le", STATIC, "mov64 r0, 0x1234\nle16 r0\nexit", "Ok(0x1234) after 3 instructions"),
    row("D1 neg", STATIC, "mov64 r0, 5\nneg64 r0\nexit", "Ok(0xfffffffffffffffb) after 3 instructions"),
    row("D1 mul", STATIC, "mov64 r0, 6\nmul64 r0, 7\nexit", "Ok(0x2a) after 3 instructions"),
    row("D1 old memory opcodes", STATIC, "stw [r10-4], 9\nldxw r0, [r10-4]\nexit", "Ok(0x9) after 3 instructions"),
    row("D2 jeq32 on the low half", STATIC, "lddw r1, 0x100000005\njeq32 r1, 5, +1\nexit\nmov64 r0, 1\nexit", "Ok(0x1) after 4 instructions"),
    row("D2 jeq on all 64 bits", ALL, "mov64 r1, 5\nlsh64 r1, 32\nadd64 r1, 5\njeq r1, 5, +1\nexit\nmov64 r0, 1\nexit", "Ok(0x0) after 5 instructions"),
    row("D2 jsgt32 signed", STATIC, "mov32 r1, -1\njsgt32 r1, 0, +1\nmov64 r0, 1\nexit", "Ok(0x1) after 4 instructions"),
    row("D2 jsgt on 64 bits", ALL, "mov32 r1, -1\njsgt r1, 0, +1\nmov64 r0, 1\nexit", "Ok(0x0) after 3 instructions"),
    row("D2 jlt32 ignores the upper half", STATIC, "lddw r1, 0x1ffffffff\njlt32 r1, 2, +1\nexit\nmov64 r0, 1\nexit", "Ok(0x0) after 3 instructions"),
    row("D2 jset32 register", STATIC, "lddw r1, 0x100000000\nmov64 r2, -1\njset32 r1, r2, +1\nexit\nmov64 r0, 1\nexit", "Ok(0x0) after 4 instructions"),
    row("D2 jle32 taken", STATIC, "mov64 r1, 3\njle32 r1, 3, +1\nexit\nmov64 r0, 1\nexit", "Ok(0x1) after 4 instructions"),
    row("D2 JMP32 targets are verified", STATIC, "jeq32 r1, 0, +5\nexit", "Err(verifier JumpOutOfCode(6, pc 0)) after 0 instructions"),
    row("D3 recursion to the depth limit", STATIC, "f:\ncall f\nexit", "Err(runtime CallDepthExceeded) at slot 0 after 64 instructions"),
    row("D3 out-of-text call", STATIC, "call 5\nexit", "Err(runtime UnsupportedInstruction) at slot 0 after 1 instructions"),
    row("D5 syscall by key", STATIC, "mov64 r1, 1\nsyscall bpf_gather_bytes\nexit", "Ok(0x100000000) after 3 instructions"),
    row("D5 unknown key", STATIC, "syscall 77\nexit", "Err(runtime UnsupportedInstruction) at slot 0 after 1 instructions"),
    row("D7 call src 2", STATIC, "hex:8520000005000000 9500000000000000", "Err(runtime UnsupportedInstruction) at slot 0 after 1 instructions"),
    row("D7 call src 11", STATIC, "hex:85b0000005000000 9500000000000000", "Err(verifier InvalidSourceRegister(pc 0)) after 0 instructions"),
    row("D8 0x9d is invalid", STATIC, "hex:9d00000000000000", "Err(verifier UnknownOpCode(157, pc 0)) after 0 instructions"),
    row("D9 no add64 r10", FIXED, "add64 r10, -64\nexit", "Err(verifier CannotWriteR10(pc 0)) after 0 instructions"),
    row("D10 a call adds one frame", STATIC, "call f\nexit\nf:\nmov64 r0, r10\nexit", "Ok(0x200002000) after 4 instructions"),
    row("D10 V0 adds two (gaps)", &[V0], "call f\nexit\nf:\nmov64 r0, r10\nexit", "Ok(0x200003000) after 4 instructions"),
    row("D10 frames are contiguous", STATIC, "stdw [r10+0], 7\nldxdw r0, [r10+0]\nexit", "Ok(0x7) after 3 instructions"),
    row("D rodata at 0", STATIC, "mov64 r1, 0\nldxb r0, [r1+0]\nexit", "Ok(0xb7) after 3 instructions"),
    row("D nothing at 0 before V3", &[V0, V1, V2], "mov64 r1, 0\nldxb r0, [r1+0]\nexit", "Err(runtime AccessViolation(Load, 0, 1, unallocated)) at slot 1 after 2 instructions"),
    row("D bytecode not readable", STATIC, "lddw r1, 0x100000000\nldxb r0, [r1+0]\nexit", "Err(runtime AccessViolation(Load, 4294967296, 1, unallocated)) at slot 2 after 2 instructions"),
    row("D bytecode readable before V3", &[V0, V1], "lddw r1, 0x100000000\nldxb r0, [r1+0]\nexit", "Ok(0x18) after 3 instructions"),
    row("D callx rounds down to a slot", NO_V2, "lddw r1, 0x100000027\ncallx r1\nexit\nmov64 r0, 42\nexit", "Ok(0x2a) after 5 instructions"),
    row("D callx outside the text", NO_V2, "lddw r1, 0x100000100\ncallx r1\nexit", "Err(runtime CallOutsideTextSegment) at slot 2 after 2 instructions"),
    // F. Common rules.
    budgeted("F1 a budget of N runs N", ALL, "mov64 r0, 1\nmov64 r0, 2\nmov64 r0, 3\nexit", 2, "Err(runtime ExceededMaxInstructions) at slot 2 after 2 instructions"),
    budgeted("F1 the last instruction of the budget", ALL, "mov64 r0, 1\nmov64 r0, 2\nmov64 r0, 3\nexit", 4, "Ok(0x3) after 4 instructions"),
    budgeted("F1 a budget of 0 runs nothing", ALL, "mov64 r0, 1\nexit", 0, "Err(runtime ExceededMaxInstructions) at slot 0 after 0 instructions"),
    budgeted("F1 the stop names the jump target", ALL, "ja +1\nmov64 r0, 1\nexit", 1, "Err(runtime ExceededMaxInstructions) at slot 2 after 1 instructions"),
    row("F1 running off the end", ALL, "mov64 r0, 1", "Err(runtime ExecutionOverrun) at slot 1 after 2 instructions"),
    row("F3 callx onto an lddw's second half", NO_V2, "lddw r1, 0x100000008\ncallx r1\nexit", "Err(runtime UnsupportedInstruction) at slot 1 after 3 instructions"),
    row("F4 callx r10 refused", ALL, "callx r10\nexit", "Err(verifier InvalidRegister(pc 0)) after 0 instructions"),
    row("F5 return past the last slot", ALL, "ja +1\nf:\nexit\ncall f", "Err(runtime ExecutionOverrun) at slot 3 after 4 instructions"),
];

/// The text and function pcs of a row in `version`.
fn text_of(source: &str, version: Version) -> (Vec<u8>, Vec<usize>) {
    if let Some(hex) = source.strip_prefix("hex:") {
        let hex: String = hex.split_whitespace().collect();
        return (bpfvm_testkit::corpus::decode_hex(&hex).unwrap(), Vec::new());
    }
    let dialect = Dialect::Sbpf26(ours::sbpf_version(version));
    let assembled = bpfvm_asm::assemble(source, dialect)
        .unwrap_or_else(|error| panic!("{version} {source:?}: {error}"));
    let mut bytes = assembled.bytes;
    let mut functions: Vec<usize> = assembled.functions.iter().map(|f| f.pc).collect();
    if !version.strict_elf() {
        // V0 to V2 resolve `call imm` by key: the hash of the target pc, registered.
        for slot in bytes.chunks_mut(8) {
            let parsed = Slot::from_bytes(slot.try_into().unwrap());
            if parsed.opcode == 0x85 && parsed.src == 1 {
                let target = parsed.imm as usize;
                let key = hash_internal_function(target, "");
                slot[4..8].copy_from_slice(&key.to_le_bytes());
                functions.push(target);
            }
        }
    }
    functions.sort_unstable();
    functions.dedup();
    (bytes, functions)
}

fn run_row(row: &Row, version: Version) -> Vec<String> {
    let (text, functions) = text_of(row.source, version);
    let case = Case {
        program: ours::Program26::Text {
            bytes: &text,
            version,
            functions: &functions,
        },
        loader: Loader26::Execute,
        syscalls: SyscallSet::Standard,
        input: &[],
        heap_size: 0,
        budget: row.budget,
    };
    let mut oracle = Case26::new(Program26::Text {
        bytes: &text,
        version,
        functions: &functions,
    });
    oracle.syscalls = SyscallSet::Standard;
    oracle.budget = row.budget;
    oracle.heap_size = 0;
    let theirs = reference26::run(&oracle, Engine::Jit);
    let mut failures = Vec::new();
    for &backend in BACKENDS {
        let outcome: VersionedOutcome = ours::run(&case, backend);
        if outcome.to_string() != row.expected {
            failures.push(format!(
                "{} {version} {backend:?}: got {outcome}, the row says {}",
                row.id, row.expected
            ));
        }
        let differences = compare(&outcome, &theirs);
        if !differences.is_empty() {
            failures.push(format!(
                "{} {version} {backend:?}: 0.26 gives {theirs}: {differences:?}",
                row.id
            ));
        }
    }
    failures
}

#[test]
fn every_checklist_row_on_both_backends_and_the_oracle() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for row in ROWS {
        for &version in row.versions {
            failures.extend(run_row(row, version));
            runs += 1;
        }
    }
    println!("{} rows, {runs} version runs", ROWS.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// C1, D2: the opcodes a version refuses are `UnknownOpCode` at the verifier, in bpfvm and in
/// 0.26 (a second slot of opcode 0 follows, so an lddw is complete).
#[test]
fn refused_opcodes_are_unknown() {
    let refused: &[(&[Version], &[u8])] = &[
        // C1: what V2 removed (0x18 and 0x00 included) and 0x9d.
        (
            &[V2],
            &[
                0x18, 0x00, 0xd4, 0x84, 0x24, 0x34, 0x94, 0x61, 0x69, 0x71, 0x79, 0x62, 0x6a, 0x72,
                0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xe4, 0xec, 0xe7, 0xef,
            ],
        ),
        // D2: the class-6 bytes V3 leaves invalid.
        (
            STATIC,
            &[
                0x06, 0x0e, 0x86, 0x8e, 0x96, 0x9e, 0xe6, 0xee, 0xf6, 0xfe, 0x9d,
            ],
        ),
        // 1.11 #3: no sdiv in V0; the PQR bytes mean nothing before V2.
        (&[V0, V1], &[0xe4, 0xec, 0xe7, 0xef, 0x36, 0x3e, 0xf7, 0x8c]),
    ];
    let mut failures = Vec::new();
    for (versions, opcodes) in refused {
        for &version in *versions {
            for &opcode in *opcodes {
                let text = [opcode, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                let expected = format!("Err(verifier UnknownOpCode({opcode}, pc 0))");
                let theirs = reference26::verify(&text, version);
                let case = Case {
                    program: ours::Program26::Text {
                        bytes: &text,
                        version,
                        functions: &[],
                    },
                    loader: Loader26::Execute,
                    syscalls: SyscallSet::None,
                    input: &[],
                    heap_size: 0,
                    budget: 0,
                };
                let ours = ours::load_verified(&case).map(|_| ());
                let shown = bpfvm_testkit::outcome::show_result(&ours.clone().map(|()| 0));
                if shown != expected || ours != theirs {
                    failures.push(format!(
                        "{version} {opcode:#04x}: bpfvm {ours:?}, 0.26 {theirs:?}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// C10: the eight division and remainder immediates of V2 refuse zero at the verifier.
#[test]
fn pqr_immediate_zero_divisors_are_refused() {
    for name in [
        "udiv32", "udiv64", "urem32", "urem64", "sdiv32", "sdiv64", "srem32", "srem64",
    ] {
        let source = format!("{name} r0, 0\nexit");
        let (text, _) = text_of(&source, V2);
        let case = Case {
            program: ours::Program26::Text {
                bytes: &text,
                version: V2,
                functions: &[],
            },
            loader: Loader26::Execute,
            syscalls: SyscallSet::None,
            input: &[],
            heap_size: 0,
            budget: 0,
        };
        let ours = ours::load_verified(&case).map(|_| ());
        assert_eq!(ours, reference26::verify(&text, V2), "{name}");
        assert_eq!(
            ours.unwrap_err().to_string(),
            "verifier DivisionByZero(pc 0)",
            "{name}"
        );
    }
}
