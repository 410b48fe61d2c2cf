#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The edges of the interpreter's direct lookup (`memory::host::DirectRows`, phase H), as
//! tables run on every backend: accesses that end exactly at a region's end and one byte
//! past it, for every size, on both mappings; stores into read-only memory; the gapped
//! stack (an access that starts in a frame and runs into the gap, one that starts in the
//! gap); and syscalls that replace a region mid-run (read-only, writable, shorter, and an
//! owned region replaced by another, which frees the first), after which every access must
//! see the new region.

mod interp_common;

use bpfvm::memory::ViolationHandler;
use bpfvm::{AccessType, Config, MemoryMapping, MemoryRegion, RuntimeError};
use bpfvm::{MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};
use bpfvm_isa::{AluOp, Dialect, Insn, MemSize, Width};
use interp_common::*;
use RuntimeError as E;

/// Both 2022 dialects agree.
fn both(name: &'static str, program: Vec<Insn>, expect: Result<u64, E>, count: u64) -> [Case; 2] {
    [
        Case::new(name, Dialect::Sbpf, program.clone(), expect.clone(), count),
        Case::new(name, Dialect::Ebpf, program, expect, count),
    ]
}

fn unaligned(config: Config) -> Config {
    Config {
        aligned_memory_mapping: false,
        ..config
    }
}

const SIZES: [MemSize; 4] = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];

/// The input of the straddle rows: bytes 1 to 16.
fn input() -> Vec<u8> {
    (1..=16).collect()
}

/// The little-endian value of `len` input bytes at `offset`.
fn input_value(offset: usize, len: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[..len].copy_from_slice(&input()[offset..offset + len]);
    u64::from_le_bytes(bytes)
}

fn input_violation(pc: usize, access: AccessType, offset: u64, len: u64) -> E {
    E::AccessViolation {
        pc,
        access,
        vaddr: MM_INPUT_START + offset,
        len,
        region: "input",
    }
}

/// Per size: a load and a store that end at the input's last byte, and a load and a store
/// one byte further, which fail with the instruction's pc and the access's address.
fn straddle_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for size in SIZES {
        let len = size.bytes();
        let last = (16 - len) as i16;
        let load = vec![ldx(size, 0, 1, last), exit()];
        let want = input_value(last as usize, len as usize);
        cases.extend(both("a load ending at the region's end", load, Ok(want), 2));
        let over = vec![mov(0, 0), ldx(size, 0, 1, last + 1), exit()];
        let err = input_violation(1, AccessType::Load, last as u64 + 1, len);
        cases.extend(both("a load one byte past the end", over, Err(err), 2));
        // r2 = -1; [r1 + last] = r2; r0 = [r1 + 15] (the last byte, now 0xff).
        let store = vec![
            mov(2, -1),
            stx(size, 1, last, 2),
            ldx(MemSize::B, 0, 1, 15),
            exit(),
        ];
        cases.extend(both(
            "a store ending at the region's end",
            store,
            Ok(0xff),
            4,
        ));
        let over = vec![mov(2, -1), stx(size, 1, last + 1, 2), exit()];
        let err = input_violation(1, AccessType::Store, last as u64 + 1, len);
        cases.extend(both("a store one byte past the end", over, Err(err), 2));
    }
    cases.into_iter().map(|case| case.mem(input())).collect()
}

/// The same rows on the unaligned mapping, whose accesses all take the general path.
fn straddle_unaligned_cases() -> Vec<Case> {
    straddle_cases()
        .into_iter()
        .map(|case| case.config(unaligned))
        .collect()
}

/// The program's text is mapped read-only: loads read it, stores of every size fail.
fn readonly_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for size in SIZES {
        let program = vec![lddw(1, MM_PROGRAM_START), st(size, 1, 8, 1), exit()];
        let err = E::AccessViolation {
            pc: 2,
            access: AccessType::Store,
            vaddr: MM_PROGRAM_START + 8,
            len: size.bytes(),
            region: "program",
        };
        cases.extend(both("a store into the text", program, Err(err), 2));
    }
    // The text's first instruction is `lddw r1, ..` (opcode 0x18, registers 0x01): a
    // half-word load of it is 0x0118.
    let program = vec![lddw(1, MM_PROGRAM_START), ldx(MemSize::H, 0, 1, 0), exit()];
    cases.extend(both("a load of the text", program, Ok(0x0118), 3));
    cases
}

/// The gapped stack (fixed frames): r10 is frame 0's end, where its gap starts.
fn gap_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let program = vec![
        lddw(2, 0x1122_3344_5566_7788),
        stx(MemSize::DW, 10, -8, 2),
        ldx(MemSize::DW, 0, 10, -8),
        exit(),
    ];
    cases.extend(both(
        "a frame's last word",
        program,
        Ok(0x1122_3344_5566_7788),
        4,
    ));
    // An access is judged by its first byte: eight bytes at r10 - 4 run into the gap and
    // touch the next frame's first host bytes, and read back whole.
    let program = vec![
        lddw(2, 0x1122_3344_5566_7788),
        stx(MemSize::DW, 10, -4, 2),
        ldx(MemSize::DW, 0, 10, -4),
        exit(),
    ];
    cases.extend(both(
        "a word running into the gap",
        program,
        Ok(0x1122_3344_5566_7788),
        4,
    ));
    for (size, access, program) in [
        (
            MemSize::B,
            AccessType::Load,
            vec![ldx(MemSize::B, 0, 10, 0), exit()],
        ),
        (
            MemSize::DW,
            AccessType::Load,
            vec![ldx(MemSize::DW, 0, 10, 0), exit()],
        ),
        (
            MemSize::W,
            AccessType::Store,
            vec![st(MemSize::W, 10, 0, 1), exit()],
        ),
    ] {
        let err = E::StackAccessViolation {
            pc: 0,
            access,
            vaddr: MM_STACK_START + 0x1000,
            len: size.bytes(),
            frame: 1,
        };
        cases.extend(both("an access starting in the gap", program, Err(err), 1));
    }
    cases
        .into_iter()
        .map(|case| case.config(fixed_frames))
        .collect()
}

/// The bytes the read-only replacement of the input holds.
static READ_ONLY: [u8; 16] = [0x22; 16];

/// Replaces the input region with read-only bytes (0x22 each).
fn make_readonly(_: &mut Ctx, mapping: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    mapping.replace_region_at(MemoryRegion::readonly(&READ_ONLY, MM_INPUT_START))?;
    Ok(0)
}

/// Replaces the input region with 16 writable bytes of `byte` that the region owns.
fn owned(mapping: &mut MemoryMapping<'_>, byte: u8, len: usize) -> Result<u64, E> {
    let region = MemoryRegion::owned_copy(&vec![byte; len], MM_INPUT_START).unwrap();
    mapping.replace_region_at(region)?;
    Ok(0)
}

fn make_writable_ab(_: &mut Ctx, mapping: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    owned(mapping, 0xab, 16)
}

fn make_writable_cd(_: &mut Ctx, mapping: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    owned(mapping, 0xcd, 16)
}

fn make_short(_: &mut Ctx, mapping: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, E> {
    owned(mapping, 0x01, 4)
}

/// Syscalls that replace the input region mid-run: every access after one sees the new
/// region (its bytes, its writability, its length), none the old.
fn replaced_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    // [r1] = 7 on the caller's bytes; the region becomes read-only; r0 = [r1 + 1] (0x22);
    // [r1] = 8 fails. The caller's bytes keep the 7.
    let program = vec![
        mov(6, 0),
        st(MemSize::B, 1, 0, 7),
        call(0, 1),
        ldx(MemSize::B, 6, 1, 1),
        st(MemSize::B, 1, 0, 8),
        exit(),
    ];
    let err = input_violation(4, AccessType::Store, 0, 1);
    for case in both("a region made read-only by a syscall", program, Err(err), 5) {
        cases.push(case.mem(vec![0; 16]).syscall(1, make_readonly));
    }
    // Read-only, then writable (0xab bytes): [r1 + 8] = 0x1234 stores; r2 = [r1 + 8]; then
    // another owned region (0xcd bytes) replaces that one, which is freed: r3 = [r1 + 8] is
    // 0xcd. r0 = r2 << 8 | r3.
    let program = vec![
        call(0, 1),
        call(0, 2),
        st(MemSize::DW, 1, 8, 0x1234),
        ldx(MemSize::DW, 2, 1, 8),
        call(0, 3),
        ldx(MemSize::B, 3, 1, 8),
        alu(Width::W64, AluOp::Lsh, 2, k(8)),
        alu(Width::W64, AluOp::Or, 2, reg(3)),
        alu(Width::W64, AluOp::Mov, 0, reg(2)),
        exit(),
    ];
    for case in both(
        "a region made writable, then replaced again",
        program,
        Ok(0x1234 << 8 | 0xcd),
        10,
    ) {
        cases.push(
            case.mem(vec![0; 16])
                .syscall(1, make_readonly)
                .syscall(2, make_writable_ab)
                .syscall(3, make_writable_cd),
        );
    }
    // The region shrinks to 4 bytes: a word at offset 0 loads, one at offset 1 fails.
    let program = vec![
        call(0, 4),
        ldx(MemSize::W, 6, 1, 0),
        ldx(MemSize::W, 0, 1, 1),
        exit(),
    ];
    let err = input_violation(2, AccessType::Load, 1, 4);
    for case in both("a region shortened by a syscall", program, Err(err), 3) {
        cases.push(case.mem(vec![0; 16]).syscall(4, make_short));
    }
    cases
}

/// The bytes of the short read-only input the violation rows start from.
static SHORT_READ_ONLY: [u8; 4] = [0x44; 4];

/// Replaces the input region with 4 read-only bytes (0x44 each).
fn make_short_readonly(
    _: &mut Ctx,
    mapping: &mut MemoryMapping<'_>,
    _: [u64; 5],
) -> Result<u64, E> {
    mapping.replace_region_at(MemoryRegion::readonly(&SHORT_READ_ONLY, MM_INPUT_START))?;
    Ok(0)
}

/// A violation handler that answers any failed access with 16 writable bytes of 0x55 in
/// place of the input (copy-on-write and growth at once, as Solana runtimes do).
struct Grow;

impl ViolationHandler for Grow {
    fn handle(&mut self, _: AccessType, _: u64, _: u64) -> Option<MemoryRegion<'static>> {
        MemoryRegion::owned_copy(&[0x55; 16], MM_INPUT_START)
    }
}

fn grow() -> Box<dyn ViolationHandler> {
    Box::new(Grow)
}

/// A violation handler replaces the input during a load's or a store's general path: the
/// accesses after it, which the direct rows make, must see the new region. The input is
/// first made 4 read-only bytes of 0x44 (by a syscall), whose row would still give a load
/// at offset 0 (0x44) if the interpreter kept the old rows.
fn handler_replaced_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for size in SIZES {
        // A store into the read-only input fails; the handler puts 16 writable bytes in
        // its place and the store is made there; the load reads it back.
        let program = vec![
            call(0, 1),
            st(size, 1, 0, 7),
            ldx(MemSize::B, 0, 1, 0),
            exit(),
        ];
        for case in both("a store the violation handler rescues", program, Ok(7), 4) {
            cases.push(
                case.mem(vec![0; 16])
                    .syscall(1, make_short_readonly)
                    .violation(grow),
            );
        }
        // A load past the 4 bytes fails; the handler grows the region (0x55 bytes) and the
        // load is made there; the next load, at offset 0, reads 0x55, not the old 0x44.
        let program = vec![
            call(0, 1),
            ldx(size, 2, 1, 8),
            ldx(MemSize::B, 0, 1, 0),
            alu(Width::W64, AluOp::Add, 0, reg(2)),
            exit(),
        ];
        let loaded = u64::from_le_bytes([0x55; 8]) >> (64 - 8 * size.bytes());
        for case in both(
            "a load the violation handler rescues",
            program,
            Ok(0x55 + loaded),
            5,
        ) {
            cases.push(
                case.mem(vec![0; 16])
                    .syscall(1, make_short_readonly)
                    .violation(grow),
            );
        }
    }
    cases
}

#[test]
fn handler_replaced_table() {
    run_table(&handler_replaced_cases());
}

#[test]
fn straddle_table() {
    run_table(&straddle_cases());
}

#[test]
fn straddle_unaligned_table() {
    run_table(&straddle_unaligned_cases());
}

#[test]
fn readonly_table() {
    run_table(&readonly_cases());
}

#[test]
fn gap_table() {
    run_table(&gap_cases());
}

#[test]
fn replaced_region_table() {
    run_table(&replaced_cases());
}
