//! Decoding slots into [`Insn`] and encoding them back: the only code that knows opcode bytes.
//!
//! An opcode byte splits into a class (low 3 bits) and, per class, an operation and a source
//! or size/mode field. The tables below name each field value once; [`decode`] and [`encode`]
//! are inverses on canonical encodings (`decode(encode(i)) == i` for every encodable `i`,
//! checked over all 256 opcodes by the tests).
//!
//! Where the dialects differ, [`Dialect`] decides: sBPF ignores the offset of ALU instructions
//! (so RFC `sdiv` runs as `div` there, as on the reference), takes the `callx` register from
//! the immediate, and has signed division at 0xe4/0xec/0xe7/0xef; eBPF has JMP32, `ja32`,
//! atomics, sign-extending loads, `movsx` and `bswap`, and demands canonical offsets. The
//! SBPF versions of 0.26 ignore ALU offsets as sBPF does; which opcodes exist, where loads
//! and stores are encoded and which field names the `callx` register follow the version's
//! feature table ([`SbpfVersion`](crate::SbpfVersion)).

use crate::insn::{
    AluOp, AtomicOp, Cond, Dialect, EndianOp, Extend, Insn, MemSize, PacketMode, PqrOp, Reg,
    Source, Width,
};
use crate::slot::Slot;
use crate::version::CallxField;
use core::fmt;

mod shape;

pub use shape::{opcode_shape, OpcodeShape, SourceKind};

// Instruction classes (opcode & 0x07).
const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU32: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

// Memory modes (opcode & 0xe0) and sizes (opcode & 0x18).
const MODE_IMM: u8 = 0x00;
const MODE_ABS: u8 = 0x20;
const MODE_IND: u8 = 0x40;
const MODE_MEM: u8 = 0x60;
const MODE_MEMSX: u8 = 0x80;
const MODE_ATOMIC: u8 = 0xc0;
const SIZES: [(u8, MemSize); 4] = [
    (0x00, MemSize::W),
    (0x08, MemSize::H),
    (0x10, MemSize::B),
    (0x18, MemSize::DW),
];

// Source bit of ALU and JMP opcodes.
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;

// ALU operations (opcode & 0xf0).
const ALU_NEG: u8 = 0x80;
const ALU_END: u8 = 0xd0;
const ALU_BINARY: [(u8, AluOp); 13] = [
    (0x00, AluOp::Add),
    (0x10, AluOp::Sub),
    (0x20, AluOp::Mul),
    (0x30, AluOp::Div),
    (0x40, AluOp::Or),
    (0x50, AluOp::And),
    (0x60, AluOp::Lsh),
    (0x70, AluOp::Rsh),
    (0x90, AluOp::Mod),
    (0xa0, AluOp::Xor),
    (0xb0, AluOp::Mov),
    (0xc0, AluOp::Arsh),
    (0xe0, AluOp::SDiv), // sBPF only
];
const ALU_MUL: u8 = 0x20;
const ALU_DIV: u8 = 0x30;
const ALU_MOD: u8 = 0x90;
const ALU_MOV: u8 = 0xb0;
const ALU_SBPF_SDIV: u8 = 0xe0;
/// SBPF V2's `hor64` (ALU64, immediate only).
const ALU_HOR: u8 = 0xf0;

// SBPF V2's PQR class (class 6): the operation and width by the high nibble.
const CLASS_PQR: u8 = 0x06;
const PQR_OPS: [(u8, PqrOp, Width); 12] = [
    (0x30, PqrOp::Uhmul, Width::W64),
    (0x40, PqrOp::Udiv, Width::W32),
    (0x50, PqrOp::Udiv, Width::W64),
    (0x60, PqrOp::Urem, Width::W32),
    (0x70, PqrOp::Urem, Width::W64),
    (0x80, PqrOp::Lmul, Width::W32),
    (0x90, PqrOp::Lmul, Width::W64),
    (0xb0, PqrOp::Shmul, Width::W64),
    (0xc0, PqrOp::Sdiv, Width::W32),
    (0xd0, PqrOp::Sdiv, Width::W64),
    (0xe0, PqrOp::Srem, Width::W32),
    (0xf0, PqrOp::Srem, Width::W64),
];

// SBPF V2's moved memory classes: loads take ALU32 register opcodes, stores ALU64 ones; the
// high nibble gives the size.
const MOVED_LOAD_CLASS: u8 = CLASS_ALU32 | SRC_X;
const MOVED_STORE_IMM_CLASS: u8 = CLASS_ALU64 | SRC_K;
const MOVED_STORE_REG_CLASS: u8 = CLASS_ALU64 | SRC_X;
const MOVED_SIZES: [(u8, MemSize); 4] = [
    (0x20, MemSize::B),
    (0x30, MemSize::H),
    (0x80, MemSize::W),
    (0x90, MemSize::DW),
];

/// What a moved V2 memory opcode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MovedMemory {
    Load(MemSize),
    StoreImm(MemSize),
    StoreReg(MemSize),
}

/// The moved V2 memory instruction an opcode encodes, if it encodes one.
const fn moved_memory_of(opcode: u8) -> Option<MovedMemory> {
    let mut i = 0;
    while i < MOVED_SIZES.len() {
        let (bits, size) = MOVED_SIZES[i];
        if opcode & 0xf0 == bits {
            return match opcode & 0x0f {
                MOVED_LOAD_CLASS => Some(MovedMemory::Load(size)),
                MOVED_STORE_IMM_CLASS => Some(MovedMemory::StoreImm(size)),
                MOVED_STORE_REG_CLASS => Some(MovedMemory::StoreReg(size)),
                _ => None,
            };
        }
        i += 1;
    }
    None
}

/// The PQR operation and width of a class-6 opcode in V2, if it has one.
const fn pqr_of(opcode: u8) -> Option<(PqrOp, Width)> {
    let mut i = 0;
    while i < PQR_OPS.len() {
        let (bits, op, width) = PQR_OPS[i];
        if opcode & 0xf0 == bits {
            return Some((op, width));
        }
        i += 1;
    }
    None
}

// JMP operations (opcode & 0xf0).
const JMP_JA: u8 = 0x00;
const JMP_CALL: u8 = 0x80;
const JMP_EXIT: u8 = 0x90;
const JMP_CONDS: [(u8, Cond); 11] = [
    (0x10, Cond::Eq),
    (0x20, Cond::Gt),
    (0x30, Cond::Ge),
    (0x40, Cond::Set),
    (0x50, Cond::Ne),
    (0x60, Cond::Sgt),
    (0x70, Cond::Sge),
    (0xa0, Cond::Lt),
    (0xb0, Cond::Le),
    (0xc0, Cond::Slt),
    (0xd0, Cond::Sle),
];

// Atomic operations (the immediate of an atomic store).
const FETCH: i32 = 0x01;
const ATOMICS: [(i32, AtomicOp); 10] = [
    (0x00, AtomicOp::Add),
    (0x40, AtomicOp::Or),
    (0x50, AtomicOp::And),
    (0xa0, AtomicOp::Xor),
    (0x01, AtomicOp::FetchAdd),
    (0x41, AtomicOp::FetchOr),
    (0x51, AtomicOp::FetchAnd),
    (0xa1, AtomicOp::FetchXor),
    (0xe0 | FETCH, AtomicOp::Xchg),
    (0xf0 | FETCH, AtomicOp::CmpXchg),
];

/// Decode-side views of the tables above, indexed by the field value, built at compile time so
/// that decoding is a lookup rather than a search.
const ALU_BY_HIGH_NIBBLE: [Option<AluOp>; 16] = {
    let mut table = [None; 16];
    let mut i = 0;
    while i < ALU_BINARY.len() {
        table[(ALU_BINARY[i].0 >> 4) as usize] = Some(ALU_BINARY[i].1);
        i += 1;
    }
    table
};
const COND_BY_HIGH_NIBBLE: [Option<Cond>; 16] = {
    let mut table = [None; 16];
    let mut i = 0;
    while i < JMP_CONDS.len() {
        table[(JMP_CONDS[i].0 >> 4) as usize] = Some(JMP_CONDS[i].1);
        i += 1;
    }
    table
};
const SIZE_BY_BITS: [MemSize; 4] = {
    let mut table = [MemSize::W; 4];
    let mut i = 0;
    while i < SIZES.len() {
        table[(SIZES[i].0 >> 3) as usize] = SIZES[i].1;
        i += 1;
    }
    table
};

// The opcode of an `lddw` and of its second slot.
const OPCODE_LDDW: u8 = CLASS_LD | MODE_IMM | 0x18;
const OPCODE_LDDW_SECOND: u8 = 0x00;

/// Why a slot does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The opcode means nothing in this dialect.
    UnknownOpcode {
        /// The opcode byte.
        opcode: u8,
    },
    /// An `lddw` sits in the last slot.
    LddwCannotBeLast,
    /// The slot after an `lddw` does not have opcode 0.
    IncompleteLddw,
    /// sBPF (2022, V0, V1) `callx` names a register outside 0..=15 in its immediate.
    InvalidCallRegister {
        /// The immediate.
        imm: i32,
    },
    /// eBPF: a field that must be canonical (an offset, an `lddw` source, an atomic
    /// operation) holds a value the instruction does not define.
    InvalidField {
        /// The opcode byte.
        opcode: u8,
        /// The field's name.
        field: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownOpcode { opcode } => write!(f, "unknown opcode {opcode:#04x}"),
            DecodeError::LddwCannotBeLast => write!(f, "lddw in the last slot"),
            DecodeError::IncompleteLddw => write!(f, "lddw without its second slot"),
            DecodeError::InvalidCallRegister { imm } => {
                write!(f, "callx names register {imm}")
            }
            DecodeError::InvalidField { opcode, field } => {
                write!(f, "opcode {opcode:#04x} has an invalid {field} field")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// One entry of a decoded program listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The slot index of the instruction.
    pub pc: usize,
    /// The first slot's raw fields.
    pub slot: Slot,
    /// The instruction, or why the slot does not decode.
    pub insn: Result<Insn, DecodeError>,
}

fn reg(field: u8) -> Reg {
    // Fields come from 4-bit nibbles, so the value is always below 16.
    Reg::new(field & 0x0f).unwrap_or(Reg::R0)
}

const fn size_of(opcode: u8) -> MemSize {
    SIZE_BY_BITS[((opcode & 0x18) >> 3) as usize]
}

fn size_code(size: MemSize) -> u8 {
    SIZES
        .iter()
        .find(|(_, s)| *s == size)
        .map_or(0, |(code, _)| *code)
}

/// The source field and immediate of a `call imm` slot, or `None` for any other slot. A
/// cheap test for scans that look only for calls (the loader's relative-call fix-up).
pub fn call_operands(slot: Slot) -> Option<(u8, i32)> {
    (slot.opcode == CLASS_JMP | JMP_CALL | SRC_K).then_some((slot.src, slot.imm))
}

/// Decodes the instruction at slot `at`. For `lddw` the next slot is consumed as well.
#[inline]
pub fn decode(slots: &[Slot], at: usize, dialect: Dialect) -> Result<Insn, DecodeError> {
    let Some(&slot) = slots.get(at) else {
        return Err(DecodeError::UnknownOpcode { opcode: 0 });
    };
    decode_slot(slot, || slots.get(at.wrapping_add(1)).copied(), dialect)
}

/// Decodes the instruction in `slot`; `next` yields the slot after it (if any) and is called
/// only for an `lddw`. The same as [`decode`] for callers that read slots one at a time.
#[inline(always)]
pub fn decode_slot(
    slot: Slot,
    next: impl FnOnce() -> Option<Slot>,
    dialect: Dialect,
) -> Result<Insn, DecodeError> {
    let dst = reg(slot.dst);
    match opcode_shape(slot.opcode, dialect) {
        OpcodeShape::Unknown => Err(DecodeError::UnknownOpcode {
            opcode: slot.opcode,
        }),
        OpcodeShape::Lddw => decode_lddw(slot, next, dialect),
        OpcodeShape::PacketLoad(mode, size) => Ok(Insn::PacketLoad {
            mode,
            size,
            src: reg(slot.src),
            imm: slot.imm,
        }),
        OpcodeShape::Load(size, extend) => Ok(Insn::Load {
            size,
            extend,
            dst,
            base: reg(slot.src),
            off: slot.off,
        }),
        OpcodeShape::Store(size, operand) => Ok(Insn::Store {
            size,
            base: dst,
            off: slot.off,
            src: source(slot, operand),
        }),
        OpcodeShape::Atomic(size) => decode_atomic(slot, size),
        OpcodeShape::Neg(width) => {
            canonical_offset(slot, dialect, 0)?;
            Ok(Insn::Neg { width, dst })
        }
        OpcodeShape::Pqr(width, op, operand) => Ok(Insn::Pqr {
            width,
            op,
            dst,
            src: source(slot, operand),
        }),
        OpcodeShape::Hor64 => Ok(Insn::Hor64 { dst, imm: slot.imm }),
        OpcodeShape::Endian(op) => {
            canonical_offset(slot, dialect, 0)?;
            Ok(Insn::Endian {
                op,
                dst,
                bits: slot.imm,
            })
        }
        OpcodeShape::Alu(width, op, operand) => {
            let op = match dialect {
                Dialect::Sbpf | Dialect::Sbpf26(_) => op,
                Dialect::Ebpf => ebpf_alu_op(slot, op, width)?,
            };
            Ok(Insn::Alu {
                width,
                op,
                dst,
                src: source(slot, operand),
            })
        }
        OpcodeShape::Branch(width, cond, operand) => Ok(Insn::Branch {
            width,
            cond,
            dst,
            src: source(slot, operand),
            off: slot.off,
        }),
        OpcodeShape::Ja => Ok(Insn::Ja { off: slot.off }),
        OpcodeShape::JaLong => Ok(Insn::JaLong { off: slot.imm }),
        OpcodeShape::Call => Ok(Insn::Call {
            src: slot.src,
            imm: slot.imm,
        }),
        OpcodeShape::CallReg => match dialect.callx_field() {
            CallxField::Imm => u8::try_from(slot.imm)
                .ok()
                .and_then(Reg::new)
                .map(|reg| Insn::CallReg { reg })
                .ok_or(DecodeError::InvalidCallRegister { imm: slot.imm }),
            CallxField::Src => Ok(Insn::CallReg { reg: reg(slot.src) }),
            CallxField::Dst => Ok(Insn::CallReg { reg: dst }),
        },
        OpcodeShape::Exit => Ok(Insn::Exit),
    }
}

#[inline]
fn source(slot: Slot, operand: SourceKind) -> Source {
    match operand {
        SourceKind::Reg => Source::Reg(reg(slot.src)),
        SourceKind::Imm => Source::Imm(slot.imm),
    }
}

fn decode_lddw(
    slot: Slot,
    next: impl FnOnce() -> Option<Slot>,
    dialect: Dialect,
) -> Result<Insn, DecodeError> {
    let second = next().ok_or(DecodeError::LddwCannotBeLast)?;
    if second.opcode != OPCODE_LDDW_SECOND {
        return Err(DecodeError::IncompleteLddw);
    }
    if dialect == Dialect::Ebpf && slot.src != 0 {
        return Err(DecodeError::InvalidField {
            opcode: slot.opcode,
            field: "source",
        });
    }
    let imm = u64::from(slot.imm as u32) | (u64::from(second.imm as u32) << 32);
    Ok(Insn::LoadImm64 {
        dst: reg(slot.dst),
        imm,
    })
}

fn decode_atomic(slot: Slot, size: MemSize) -> Result<Insn, DecodeError> {
    let op = ATOMICS
        .iter()
        .find(|(code, _)| *code == slot.imm)
        .map(|(_, op)| *op)
        .ok_or(DecodeError::InvalidField {
            opcode: slot.opcode,
            field: "atomic operation",
        })?;
    Ok(Insn::Atomic {
        size,
        op,
        base: reg(slot.dst),
        off: slot.off,
        src: reg(slot.src),
    })
}

/// eBPF gives the offset field a meaning on div, mod and mov; elsewhere it must be zero.
fn ebpf_alu_op(slot: Slot, op: AluOp, width: Width) -> Result<AluOp, DecodeError> {
    let invalid = DecodeError::InvalidField {
        opcode: slot.opcode,
        field: "offset",
    };
    let has_x = slot.opcode & SRC_X != 0;
    match (slot.opcode & 0xf0, slot.off) {
        (_, 0) => Ok(op),
        (ALU_DIV, 1) => Ok(AluOp::SDiv),
        (ALU_MOD, 1) => Ok(AluOp::SMod),
        (ALU_MOV, 8) if has_x => Ok(AluOp::MovSx(MemSize::B)),
        (ALU_MOV, 16) if has_x => Ok(AluOp::MovSx(MemSize::H)),
        (ALU_MOV, 32) if has_x && width == Width::W64 => Ok(AluOp::MovSx(MemSize::W)),
        _ => Err(invalid),
    }
}

fn canonical_offset(slot: Slot, dialect: Dialect, expected: i16) -> Result<(), DecodeError> {
    if dialect == Dialect::Ebpf && slot.off != expected {
        return Err(DecodeError::InvalidField {
            opcode: slot.opcode,
            field: "offset",
        });
    }
    Ok(())
}

/// Decodes a whole program into a listing, one entry per instruction (an `lddw` covers two
/// slots; a slot that fails to decode covers one).
pub fn decode_program(slots: &[Slot], dialect: Dialect) -> Vec<Decoded> {
    let mut listing = Vec::with_capacity(slots.len());
    let mut pc = 0;
    while pc < slots.len() {
        let insn = decode(slots, pc, dialect);
        listing.push(Decoded {
            pc,
            slot: slots[pc],
            insn,
        });
        pc += insn.map_or(1, |insn| insn.slot_count());
    }
    listing
}

/// Why an instruction cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeError {
    /// The instruction.
    pub insn: Insn,
    /// The dialect that has no encoding for it.
    pub dialect: Dialect,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} has no encoding in {:?}", self.insn, self.dialect)
    }
}

impl std::error::Error for EncodeError {}

fn slot(opcode: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Slot {
    Slot {
        opcode,
        dst: dst.number(),
        src: src.number(),
        off,
        imm,
    }
}

fn width_class(width: Width) -> u8 {
    match width {
        Width::W32 => CLASS_ALU32,
        Width::W64 => CLASS_ALU64,
    }
}

fn source_fields(src: Source) -> (u8, Reg, i32) {
    match src {
        Source::Reg(reg) => (SRC_X, reg, 0),
        Source::Imm(imm) => (SRC_K, Reg::R0, imm),
    }
}

/// Encodes an instruction into one slot, or two for `lddw`. Fails when the dialect has no
/// encoding for it (an SBPF version without the instruction, an eBPF-only form in sBPF, ...).
pub fn encode(insn: &Insn, dialect: Dialect) -> Result<Vec<Slot>, EncodeError> {
    let error = EncodeError {
        insn: *insn,
        dialect,
    };
    let first = encode_first(insn, dialect).ok_or(error)?;
    // Only the decoder's table knows which opcodes a dialect has; an encoding is valid when
    // it decodes to the same instruction.
    let mut slots = vec![first];
    if let Insn::LoadImm64 { imm, .. } = *insn {
        slots.push(slot(
            OPCODE_LDDW_SECOND,
            Reg::R0,
            Reg::R0,
            0,
            (imm >> 32) as u32 as i32,
        ));
    }
    match decode(&slots, 0, dialect) {
        Ok(decoded) if decoded == *insn => Ok(slots),
        _ => Err(error),
    }
}

/// The first (or only) slot of an instruction's encoding in `dialect`, before the check that
/// it decodes back; `None` when the dialect has no form for it at all.
fn encode_first(insn: &Insn, dialect: Dialect) -> Option<Slot> {
    let r0 = Reg::R0;
    let moved = dialect
        .version()
        .is_some_and(|version| version.move_memory_instruction_classes());
    Some(match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let (op_bits, off) = alu_encoding(op, width, dialect)?;
            if matches!(op, AluOp::MovSx(_)) && !matches!(src, Source::Reg(_)) {
                return None;
            }
            let (x, src_reg, imm) = source_fields(src);
            slot(width_class(width) | op_bits | x, dst, src_reg, off, imm)
        }
        Insn::Pqr {
            width,
            op,
            dst,
            src,
        } => {
            let op_bits = PQR_OPS
                .iter()
                .find(|(_, o, w)| *o == op && *w == width)
                .map(|(bits, _, _)| *bits)?;
            let (x, src_reg, imm) = source_fields(src);
            slot(CLASS_PQR | op_bits | x, dst, src_reg, 0, imm)
        }
        Insn::Hor64 { dst, imm } => slot(CLASS_ALU64 | ALU_HOR | SRC_K, dst, r0, 0, imm),
        Insn::Neg { width, dst } => slot(width_class(width) | ALU_NEG, dst, r0, 0, 0),
        Insn::Endian { op, dst, bits } => {
            let opcode = match op {
                EndianOp::ToLe => CLASS_ALU32 | ALU_END | SRC_K,
                EndianOp::ToBe => CLASS_ALU32 | ALU_END | SRC_X,
                EndianOp::Swap => CLASS_ALU64 | ALU_END | SRC_K,
            };
            slot(opcode, dst, r0, 0, bits)
        }
        Insn::LoadImm64 { dst, imm } => slot(OPCODE_LDDW, dst, r0, 0, imm as u32 as i32),
        Insn::Load {
            size,
            extend,
            dst,
            base,
            off,
        } => {
            let opcode = match (extend, moved) {
                (Extend::Zero, true) => MOVED_LOAD_CLASS | moved_size_code(size),
                (Extend::Zero, false) => CLASS_LDX | MODE_MEM | size_code(size),
                (Extend::Sign, _) => CLASS_LDX | MODE_MEMSX | size_code(size),
            };
            slot(opcode, dst, base, off, 0)
        }
        Insn::Store {
            size,
            base,
            off,
            src,
        } => {
            let class = match (src, moved) {
                (Source::Reg(_), true) => MOVED_STORE_REG_CLASS | moved_size_code(size),
                (Source::Imm(_), true) => MOVED_STORE_IMM_CLASS | moved_size_code(size),
                (Source::Reg(_), false) => CLASS_STX | MODE_MEM | size_code(size),
                (Source::Imm(_), false) => CLASS_ST | MODE_MEM | size_code(size),
            };
            let (_, src_reg, imm) = source_fields(src);
            slot(class, base, src_reg, off, imm)
        }
        Insn::Atomic {
            size,
            op,
            base,
            off,
            src,
        } => {
            let imm = ATOMICS
                .iter()
                .find(|(_, o)| *o == op)
                .map_or(0, |(code, _)| *code);
            slot(
                CLASS_STX | MODE_ATOMIC | size_code(size),
                base,
                src,
                off,
                imm,
            )
        }
        Insn::PacketLoad {
            mode,
            size,
            src,
            imm,
        } => {
            let mode_bits = match mode {
                PacketMode::Abs => MODE_ABS,
                PacketMode::Ind => MODE_IND,
            };
            slot(CLASS_LD | mode_bits | size_code(size), r0, src, 0, imm)
        }
        Insn::Ja { off } => slot(CLASS_JMP | JMP_JA, r0, r0, off, 0),
        Insn::JaLong { off } => slot(CLASS_JMP32 | JMP_JA, r0, r0, 0, off),
        Insn::Branch {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let class = match width {
                Width::W64 => CLASS_JMP,
                Width::W32 => CLASS_JMP32,
            };
            let op_bits = JMP_CONDS
                .iter()
                .find(|(_, c)| *c == cond)
                .map_or(0, |(code, _)| *code);
            let (x, src_reg, imm) = source_fields(src);
            slot(class | op_bits | x, dst, src_reg, off, imm)
        }
        Insn::Call { src, imm } => Slot {
            opcode: CLASS_JMP | JMP_CALL,
            dst: 0,
            src: src & 0x0f,
            off: 0,
            imm,
        },
        Insn::CallReg { reg } => {
            let opcode = CLASS_JMP | JMP_CALL | SRC_X;
            match dialect.callx_field() {
                CallxField::Imm => slot(opcode, r0, r0, 0, i32::from(reg.number())),
                CallxField::Src => slot(opcode, r0, reg, 0, 0),
                CallxField::Dst => slot(opcode, reg, r0, 0, 0),
            }
        }
        Insn::Exit => slot(CLASS_JMP | JMP_EXIT, r0, r0, 0, 0),
    })
}

fn moved_size_code(size: MemSize) -> u8 {
    MOVED_SIZES
        .iter()
        .find(|(_, s)| *s == size)
        .map_or(0, |(code, _)| *code)
}

/// The operation bits and offset of a binary ALU operation, if the dialect has it.
fn alu_encoding(op: AluOp, width: Width, dialect: Dialect) -> Option<(u8, i16)> {
    let table = |wanted: AluOp| {
        ALU_BINARY
            .iter()
            .find(|(_, o)| *o == wanted)
            .map(|(code, _)| *code)
    };
    match (op, dialect) {
        (AluOp::SDiv, Dialect::Sbpf) => Some((ALU_SBPF_SDIV, 0)),
        (AluOp::SDiv, Dialect::Ebpf) => Some((ALU_DIV, 1)),
        (AluOp::SMod, Dialect::Ebpf) => Some((ALU_MOD, 1)),
        (AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_), Dialect::Sbpf26(_))
        | (AluOp::SMod | AluOp::MovSx(_), Dialect::Sbpf) => None,
        (AluOp::MovSx(from), Dialect::Ebpf) => match (from, width) {
            (MemSize::B, _) => Some((ALU_MOV, 8)),
            (MemSize::H, _) => Some((ALU_MOV, 16)),
            (MemSize::W, Width::W64) => Some((ALU_MOV, 32)),
            _ => None,
        },
        (
            AluOp::Add
            | AluOp::Sub
            | AluOp::Mul
            | AluOp::Div
            | AluOp::Mod
            | AluOp::Or
            | AluOp::And
            | AluOp::Lsh
            | AluOp::Rsh
            | AluOp::Arsh
            | AluOp::Xor
            | AluOp::Mov,
            _,
        ) => table(op).map(|code| (code, 0)),
    }
}

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;
