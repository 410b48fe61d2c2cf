//! The first pass of the raw generator: what each function contains.
//!
//! A function is a few [`Item`]s drawn by category (ALU, PQR, constants, memory, jumps,
//! JMP32, `add64 r10`, calls, syscalls, `callx`, early exits) and ends with `exit`; the
//! entry function starts by loading edge values into some registers. Categories a version
//! lacks get no weight, and each picks its opcode from the version's table, so a program
//! only uses what its version has, apart from a small share of deliberately invalid slots.

use super::{Item, RawSlot, Target};
use super::{BYTECODE_START, FRAME_SIZE, HEAP_START, INPUT_START, STACK_START};
use crate::generator::Rng;
use crate::sbpf26::opcodes::{table, AluOp, Kind, Operand, PqrOp, Width};
use crate::sbpf26::Version;
use crate::syscalls::{standard_keys, ABORT, BURN, GATHER_BYTES, MEM_FROB, STANDARD_NAMES};

/// What every function of a program shares.
pub(super) struct Context {
    pub version: Version,
    pub function_count: usize,
    pub input_len: usize,
    pub heap_size: usize,
}

/// A category of items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Alu,
    NegOrEndian,
    Pqr,
    Constant,
    Hor64,
    Memory,
    Jump,
    Jump32,
    Ja,
    AddR10,
    Call,
    Syscall,
    OddCall,
    Callx,
    Exit,
}

const CATEGORIES: [(Category, u32); 15] = [
    (Category::Alu, 30),
    (Category::NegOrEndian, 3),
    (Category::Pqr, 16),
    (Category::Constant, 6),
    (Category::Hor64, 3),
    (Category::Memory, 18),
    (Category::Jump, 8),
    (Category::Jump32, 10),
    (Category::Ja, 2),
    (Category::AddR10, 4),
    (Category::Call, 4),
    (Category::Syscall, 3),
    (Category::OddCall, 1),
    (Category::Callx, 3),
    (Category::Exit, 1),
];

fn available(category: Category, version: Version) -> bool {
    match category {
        Category::Pqr | Category::Hor64 => version == Version::V2,
        Category::Jump32 => matches!(version, Version::V3 | Version::V4),
        Category::AddR10 => version.manual_frames(),
        Category::Alu
        | Category::NegOrEndian
        | Category::Constant
        | Category::Memory
        | Category::Jump
        | Category::Ja
        | Category::Call
        | Category::Syscall
        | Category::OddCall
        | Category::Callx
        | Category::Exit => true,
    }
}

/// The items of function `index`, ending with `exit`.
pub(super) fn function(rng: &mut Rng, context: &Context, index: usize) -> Vec<Item> {
    let mut items = Vec::new();
    if index == 0 {
        for _ in 0..rng.range(1, 4) {
            items.push(Item::Const64 {
                dst: register(rng),
                value: edge_u64(rng),
            });
        }
    }
    let weights: Vec<u32> = CATEGORIES
        .iter()
        .map(|&(category, weight)| {
            if available(category, context.version) {
                weight
            } else {
                0
            }
        })
        .collect();
    for _ in 0..rng.range(2, 24) {
        let category = CATEGORIES[rng.weighted(&weights)].0;
        items.extend(category_items(rng, context, category));
    }
    items.push(Item::Slot(exit()));
    items
}

fn category_items(rng: &mut Rng, context: &Context, category: Category) -> Vec<Item> {
    let version = context.version;
    match category {
        Category::Alu => vec![Item::Slot(alu(rng, version))],
        Category::NegOrEndian => vec![Item::Slot(neg_or_endian(rng, version))],
        Category::Pqr => pqr(rng, version),
        Category::Constant => vec![Item::Const64 {
            dst: register(rng),
            value: edge_u64(rng),
        }],
        Category::Hor64 => vec![Item::Slot(RawSlot::new(
            0xf7,
            register(rng),
            0,
            0,
            edge_i32(rng),
        ))],
        Category::Memory => memory(rng, context),
        Category::Jump => vec![jump(rng, version, Width::W64)],
        Category::Jump32 => jump32(rng, version),
        Category::Ja => vec![Item::Jump {
            slot: RawSlot::new(0x05, 0, 0, 0, 0),
            target: direction(rng),
        }],
        Category::AddR10 => vec![Item::Slot(add_r10(rng))],
        Category::Call => vec![Item::Call {
            function: rng.index(context.function_count),
        }],
        Category::Syscall => syscall(rng, context),
        Category::OddCall => vec![Item::Slot(odd_call(rng, version))],
        Category::Callx => callx(rng, context),
        Category::Exit => vec![Item::Slot(exit())],
    }
}

fn exit() -> RawSlot {
    RawSlot::new(0x95, 0, 0, 0, 0)
}

/// A destination register: r0-r9, rarely r10 or an invalid number (verifier errors).
fn register(rng: &mut Rng) -> u8 {
    match rng.below(3000) {
        0 => 10,
        1 => 11,
        _ => rng.below(10) as u8,
    }
}

fn source(rng: &mut Rng) -> u8 {
    if rng.chance(1, 3000) {
        11
    } else {
        rng.below(11) as u8
    }
}

/// Immediates where arithmetic has edges.
pub(super) fn edge_i32(rng: &mut Rng) -> i32 {
    const EDGES: [i32; 16] = [
        0,
        1,
        -1,
        2,
        3,
        7,
        8,
        31,
        32,
        63,
        64,
        -2,
        0x100,
        i32::MAX,
        i32::MIN,
        -4096,
    ];
    if rng.chance(1, 4) {
        rng.next_u64() as i32
    } else {
        rng.pick(&EDGES).unwrap_or(0)
    }
}

/// 64-bit values where arithmetic, comparisons and truncation have edges.
pub(super) fn edge_u64(rng: &mut Rng) -> u64 {
    const EDGES: [u64; 16] = [
        0,
        1,
        2,
        u64::MAX,
        u64::MAX - 1,
        i64::MIN as u64,
        i64::MAX as u64,
        0xffff_ffff,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff_8000_0000,
        0x1_0000_0000,
        0x1_0000_0001,
        0xffff_ffff_0000_0000,
        0x8000_0000_0000_0001,
        0x1_ffff_ffff,
    ];
    match rng.below(6) {
        0 => rng.next_u64(),
        1 => rng.next_u64() & 0xffff_ffff,
        _ => rng.pick(&EDGES).unwrap_or(0),
    }
}

/// Forward mostly, sometimes backward (a loop the budget ends).
fn direction(rng: &mut Rng) -> Target {
    match rng.below(20) {
        0..=3 => Target::Backward,
        4 if rng.chance(1, 50) => Target::Relative(rng.range_i64(-200, 200) as i16),
        _ => Target::Forward,
    }
}

/// A kind of the version's table matching `filter`.
fn pick_kind(rng: &mut Rng, version: Version, filter: impl Fn(Kind) -> bool) -> Option<(u8, Kind)> {
    let candidates: Vec<(u8, Kind)> = table(version)
        .into_iter()
        .filter(|&(_, kind)| filter(kind))
        .collect();
    candidates.get(rng.index(candidates.len())).copied()
}

fn alu(rng: &mut Rng, version: Version) -> RawSlot {
    let Some((opcode, Kind::Alu(op, width, operand))) =
        pick_kind(rng, version, |kind| matches!(kind, Kind::Alu(..)))
    else {
        return exit();
    };
    let dst = register(rng);
    match operand {
        Operand::Reg => RawSlot::new(opcode, dst, source(rng), 0, 0),
        Operand::Imm => RawSlot::new(opcode, dst, 0, 0, alu_immediate(rng, op, width)),
    }
}

fn alu_immediate(rng: &mut Rng, op: AluOp, width: Width) -> i32 {
    let deliberately_invalid = rng.chance(1, 200);
    if op.shifts() && !deliberately_invalid {
        rng.below(width.bits() as u64) as i32
    } else if op.divides() && !deliberately_invalid {
        match edge_i32(rng) {
            0 => -1,
            imm => imm,
        }
    } else {
        edge_i32(rng)
    }
}

fn neg_or_endian(rng: &mut Rng, version: Version) -> RawSlot {
    let Some((opcode, kind)) = pick_kind(rng, version, |kind| {
        matches!(kind, Kind::Neg(_) | Kind::Endian(_))
    }) else {
        return exit();
    };
    let imm = match kind {
        Kind::Endian(_) if rng.chance(1, 100) => 8,
        Kind::Endian(_) => [16, 32, 64][rng.index(3)],
        _ => 0,
    };
    RawSlot::new(opcode, register(rng), 0, 0, imm)
}

/// A PQR instruction, often after loading edge operands: type minimum and -1 (with garbage
/// in the upper half for the 32-bit forms), zero divisors, values whose low half is zero.
fn pqr(rng: &mut Rng, version: Version) -> Vec<Item> {
    let Some((opcode, Kind::Pqr(op, operand))) =
        pick_kind(rng, version, |kind| matches!(kind, Kind::Pqr(..)))
    else {
        return Vec::new();
    };
    let dst = register(rng);
    let src = source(rng);
    let mut items = Vec::new();
    if rng.chance(2, 3) && dst < 10 {
        items.push(Item::Const64 {
            dst,
            value: pqr_dividend(rng, op),
        });
    }
    let slot = match operand {
        Operand::Reg => {
            if rng.chance(2, 3) && src < 10 && src != dst {
                items.push(Item::Const64 {
                    dst: src,
                    value: pqr_divisor(rng),
                });
            }
            RawSlot::new(opcode, dst, src, 0, 0)
        }
        Operand::Imm => {
            let imm = match edge_i32(rng) {
                0 if op.divides() && !rng.chance(1, 100) => -1,
                imm => imm,
            };
            RawSlot::new(opcode, dst, 0, 0, imm)
        }
    };
    items.push(Item::Slot(slot));
    items
}

fn pqr_dividend(rng: &mut Rng, op: PqrOp) -> u64 {
    let garbage = rng.next_u64() << 32;
    match (op.width(), rng.below(4)) {
        (Width::W32, 0) => 0x8000_0000 | garbage,
        (Width::W32, 1) => 0x8000_0000,
        (Width::W64, 0 | 1) => i64::MIN as u64,
        _ => edge_u64(rng),
    }
}

fn pqr_divisor(rng: &mut Rng) -> u64 {
    let garbage = rng.next_u64() << 32;
    match rng.below(6) {
        0 => u64::MAX,
        1 => 0xffff_ffff | garbage,
        2 => 0,
        3 => garbage,
        _ => edge_u64(rng),
    }
}

/// A load or store, through r10 or through a register loaded with an address near the edge
/// of a region (input, heap, stack, read-only data or nothing at all).
fn memory(rng: &mut Rng, context: &Context) -> Vec<Item> {
    let Some((opcode, kind)) = pick_kind(rng, context.version, |kind| {
        matches!(kind, Kind::Load(_) | Kind::StoreImm(_) | Kind::StoreReg(_))
    }) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    let (base, off) = if rng.chance(2, 5) {
        let off = match rng.below(10) {
            0 => rng.range_i64(0, 64),
            1 => rng.range_i64(-2 * FRAME_SIZE, -FRAME_SIZE),
            _ => rng.range_i64(-FRAME_SIZE, -1),
        };
        (10, off)
    } else {
        let base = rng.below(10) as u8;
        items.push(Item::Const64 {
            dst: base,
            value: address(rng, context),
        });
        (base, rng.range_i64(-8, 8))
    };
    let off = off as i16;
    let slot = match kind {
        Kind::Load(_) => RawSlot::new(opcode, register(rng), base, off, 0),
        Kind::StoreImm(_) => RawSlot::new(opcode, base, 0, off, edge_i32(rng)),
        _ => RawSlot::new(opcode, base, source(rng), off, 0),
    };
    items.push(Item::Slot(slot));
    items
}

/// An address in (or, a quarter of the time, just past) one of the regions, or in none.
fn address(rng: &mut Rng, context: &Context) -> u64 {
    let near = |rng: &mut Rng, start: u64, len: usize| {
        let slack = if rng.chance(1, 4) { 16 } else { 0 };
        start + rng.below((len as u64 + slack).max(1))
    };
    match rng.below(14) {
        0..=4 => near(rng, INPUT_START, context.input_len),
        5..=6 => near(rng, HEAP_START, context.heap_size),
        7..=9 => near(rng, STACK_START, FRAME_SIZE as usize),
        10 if context.version.strict_elf() => rng.below(64),
        10 => BYTECODE_START + rng.below(64),
        11 => STACK_START + FRAME_SIZE as u64 + rng.below(2 * FRAME_SIZE as u64),
        12 => [5 << 32, u64::MAX - 3, 0][rng.index(3)],
        _ => rng.below(64),
    }
}

fn jump(rng: &mut Rng, version: Version, width: Width) -> Item {
    let Some((opcode, Kind::Jump(_, _, operand))) = pick_kind(
        rng,
        version,
        |kind| matches!(kind, Kind::Jump(_, w, _) if w == width),
    ) else {
        return Item::Slot(exit());
    };
    let slot = match operand {
        Operand::Imm => RawSlot::new(opcode, register(rng), 0, 0, edge_i32(rng)),
        Operand::Reg => RawSlot::new(opcode, register(rng), source(rng), 0, 0),
    };
    Item::Jump {
        slot,
        target: direction(rng),
    }
}

/// A JMP32 jump, often on operands whose low halves relate as the test needs and whose
/// upper halves differ.
fn jump32(rng: &mut Rng, version: Version) -> Vec<Item> {
    let Item::Jump { slot, target } = jump(rng, version, Width::W32) else {
        return Vec::new();
    };
    let mut items = Vec::new();
    if rng.chance(2, 3) && slot.dst < 10 {
        let low = if slot.src == 0 && rng.chance(1, 2) {
            slot.imm as u32 as u64
        } else {
            edge_u64(rng) & 0xffff_ffff
        };
        items.push(Item::Const64 {
            dst: slot.dst,
            value: low | (rng.next_u64() << 32),
        });
        if slot.src != 0 && slot.src < 10 && slot.src != slot.dst && rng.chance(1, 2) {
            items.push(Item::Const64 {
                dst: slot.src,
                value: low | (rng.next_u64() << 32),
            });
        }
    }
    items.push(Item::Jump { slot, target });
    items
}

/// `add64 r10, imm` (V1, V2): a multiple of 64, mostly making room; rarely unaligned.
fn add_r10(rng: &mut Rng) -> RawSlot {
    let imm = if rng.chance(1, 100) {
        rng.range_i64(-100, 100) as i32
    } else {
        64 * rng.range_i64(-80, 8) as i32
    };
    RawSlot::new(0x07, 10, 0, 0, imm)
}

/// A syscall of the standard set, with arguments that make it do something.
fn syscall(rng: &mut Rng, context: &Context) -> Vec<Item> {
    let keys = standard_keys();
    let choice = rng.weighted(&[3, 4, 3, 1]);
    let name = STANDARD_NAMES[choice];
    let mut items = Vec::new();
    if name == MEM_FROB {
        items.push(Item::Const64 {
            dst: 1,
            value: address(rng, context),
        });
        items.push(Item::Slot(RawSlot::new(
            0xb7,
            2,
            0,
            0,
            rng.below(24) as i32,
        )));
    } else if name == BURN || name == GATHER_BYTES {
        items.push(Item::Slot(RawSlot::new(0xb7, 1, 0, 0, edge_i32(rng))));
    } else {
        debug_assert_eq!(name, ABORT);
    }
    items.push(Item::Slot(RawSlot::new(0x85, 0, 0, 0, keys[choice] as i32)));
    items
}

/// A `call` that resolves to nothing (or, from V3, not the usual way).
fn odd_call(rng: &mut Rng, version: Version) -> RawSlot {
    if !version.strict_elf() {
        return RawSlot::new(0x85, 0, rng.below(2) as u8, 0, rng.next_u64() as i32);
    }
    match rng.below(4) {
        0 => RawSlot::new(0x85, 0, 1, 0, rng.range_i64(-300, 300) as i32),
        1 => RawSlot::new(0x85, 0, 1, 0, -1),
        2 => RawSlot::new(0x85, 0, rng.range(2, 10) as u8, 0, edge_i32(rng)),
        _ => RawSlot::new(0x85, 0, 0, 0, rng.next_u64() as i32),
    }
}

/// `callx` through a register loaded with a text address: a function start, or unaligned,
/// inside a function, before the text or far past it.
fn callx(rng: &mut Rng, context: &Context) -> Vec<Item> {
    let reg = match rng.below(300) {
        0 => 10,
        1 => 11,
        _ => rng.below(10) as u8,
    };
    let delta = match rng.below(10) {
        0 => rng.range_i64(1, 7),
        1 => 8 * rng.range_i64(1, 6),
        2 => -8,
        3 => 1 << 20,
        4 => -(1 << 33),
        _ => 0,
    };
    let mut items = Vec::new();
    if reg < 10 && rng.chance(9, 10) {
        items.push(Item::TextAddress {
            dst: reg,
            function: rng.index(context.function_count),
            delta,
        });
    }
    let slot = match context.version {
        Version::V0 | Version::V1 => RawSlot::new(0x8d, 0, 0, 0, i32::from(reg)),
        Version::V2 => RawSlot::new(0x8d, 0, reg, 0, 0),
        Version::V3 | Version::V4 => RawSlot::new(0x8d, reg, 0, 0, 0),
    };
    items.push(Item::Slot(slot));
    items
}
