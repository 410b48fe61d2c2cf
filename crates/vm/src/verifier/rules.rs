//! The per-instruction rules of the verifier, for both dialects.
//!
//! [`check_instruction`] decodes one instruction and applies, in order, the opcode rule and
//! the register rule. The sBPF rules are the reference's (§7), quirks included: a jump's
//! `dst` field must not be r10 even though jumps only read it, and the source field is checked
//! even where the instruction ignores it. The eBPF rules judge registers by what the
//! instruction does with them (read or written). The SBPF versions of 0.26 keep the sBPF
//! rules with the version's deltas (spec `sbpf-0.26.md` §1.5): opcodes by the version's
//! table, `add64 r10, imm` with an immediate that is a multiple of 64 in V1 and V2
//! (`UnalignedImmediate`), the PQR divisions' non-zero immediates, JMP32 targets, the
//! `callx` register (0 to 9, from the version's field), and no r11.

use crate::config::Config;
use crate::error::VerifyError;
use bpfvm_isa::{
    decode_slot, AluOp, DecodeError, Dialect, EndianOp, Extend, Insn, MemSize, Reg, SbpfVersion,
    Slot, Source, Width, SLOT_SIZE,
};

/// How an instruction uses its `dst` register field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DstRole {
    /// The register is written.
    Written,
    /// The register is only read (a store's base, a compare operand, a callx target).
    Read,
    /// The field is not a register operand.
    Unused,
}

/// The program text as slots, read in place (no copy of the text is made).
#[derive(Clone, Copy)]
pub(super) struct Text<'a> {
    slots: &'a [[u8; SLOT_SIZE]],
}

impl<'a> Text<'a> {
    /// A view of the whole slots of `bytes` (a trailing partial slot is left out; the
    /// verifier refuses such text before it makes a view).
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        // Byte arrays have alignment 1, so the view always exists.
        let slots = object::pod::slice_from_bytes(bytes, bytes.len() / SLOT_SIZE)
            .map_or(&[][..], |(slots, _)| slots);
        Text { slots }
    }

    /// The number of whole slots.
    pub(super) fn len(self) -> usize {
        self.slots.len()
    }

    /// The slot at `pc`, if there is one.
    #[inline(always)]
    pub(super) fn slot(self, pc: usize) -> Option<Slot> {
        let bytes = self.slots.get(pc)?;
        Some(Slot::from_u64(u64::from_le_bytes(*bytes)))
    }
}

/// Decodes the instruction at `pc` and checks it with the exact rules: every eBPF
/// instruction, and the sBPF instructions the fast path leaves to them. Kept out of line so
/// the sBPF loop stays small.
#[inline(never)]
pub(super) fn check_instruction(
    text: Text<'_>,
    pc: usize,
    dialect: Dialect,
    config: &Config,
) -> Result<Insn, VerifyError> {
    let Some(slot) = text.slot(pc) else {
        return Err(VerifyError::NoProgram);
    };
    // Only an lddw reads the slot after it.
    let insn = decode_slot(slot, || text.slot(pc.wrapping_add(1)), dialect)
        .map_err(|error| decode_error(error, slot, pc, dialect))?;
    match dialect {
        Dialect::Sbpf => {
            check_sbpf_opcode(&insn, slot, text, pc, config)?;
            check_sbpf_registers(&insn, slot, pc, config)?;
        }
        Dialect::Sbpf26(version) => {
            check_version_opcode(&insn, slot, text, pc, version)?;
            check_version_registers(&insn, slot, pc, version)?;
        }
        Dialect::Ebpf => {
            check_ebpf_opcode(&insn, slot, text, pc)?;
            check_ebpf_registers(&insn, slot, pc)?;
        }
    }
    Ok(insn)
}

#[cold]
fn decode_error(error: DecodeError, slot: Slot, pc: usize, dialect: Dialect) -> VerifyError {
    match error {
        // sBPF has no canonical-field rule: what eBPF calls a bad field is an opcode it lacks.
        DecodeError::InvalidField { .. } if dialect.is_sbpf() => VerifyError::UnknownOpCode {
            opcode: slot.opcode,
            pc,
        },
        DecodeError::UnknownOpcode { opcode } => VerifyError::UnknownOpCode { opcode, pc },
        DecodeError::LddwCannotBeLast => VerifyError::LDDWCannotBeLast,
        DecodeError::IncompleteLddw => VerifyError::IncompleteLDDW { pc },
        DecodeError::InvalidCallRegister { .. } => VerifyError::InvalidRegister { pc },
        DecodeError::InvalidField { field, .. } => VerifyError::InvalidField { pc, field },
    }
}

/// Checks that `pc + 1 + offset` is an instruction of the program.
fn check_jump_target(text: Text<'_>, pc: usize, offset: i64) -> Result<(), VerifyError> {
    let target = pc as i64 + 1 + offset;
    let Some(index) = usize::try_from(target).ok().filter(|&t| t < text.len()) else {
        return Err(VerifyError::JumpOutOfCode {
            target: target as u64,
            pc,
        });
    };
    if text.slot(index).is_some_and(Slot::is_lddw_continuation) {
        return Err(VerifyError::JumpToMiddleOfLDDW { target: index, pc });
    }
    Ok(())
}

fn check_endian(bits: i32, pc: usize) -> Result<(), VerifyError> {
    match bits {
        16 | 32 | 64 => Ok(()),
        _ => Err(VerifyError::UnsupportedLEBEArgument { pc }),
    }
}

fn check_sbpf_opcode(
    insn: &Insn,
    slot: Slot,
    text: Text<'_>,
    pc: usize,
    config: &Config,
) -> Result<(), VerifyError> {
    let unknown = VerifyError::UnknownOpCode {
        opcode: slot.opcode,
        pc,
    };
    match *insn {
        Insn::Alu { width, op, src, .. } => check_sbpf_alu(width, op, src, pc, config, unknown),
        Insn::Endian {
            op: EndianOp::ToLe | EndianOp::ToBe,
            bits,
            ..
        } => check_endian(bits, pc),
        Insn::Ja { off } => check_jump_target(text, pc, i64::from(off)),
        Insn::Branch {
            width: Width::W64,
            off,
            ..
        } => check_jump_target(text, pc, i64::from(off)),
        Insn::CallReg { reg } => {
            let limit = if config.reject_callx_r10 { 9 } else { 10 };
            if reg.number() > limit {
                return Err(VerifyError::InvalidRegister { pc });
            }
            Ok(())
        }
        Insn::Load {
            extend: Extend::Zero,
            ..
        }
        | Insn::Store { .. }
        | Insn::LoadImm64 { .. }
        | Insn::Neg { .. }
        | Insn::Call { .. }
        | Insn::Exit => Ok(()),
        // Decodable in sBPF for the disassembler, or eBPF-only, but not executable here.
        Insn::Pqr { .. }
        | Insn::Hor64 { .. }
        | Insn::Load {
            extend: Extend::Sign,
            ..
        }
        | Insn::Endian {
            op: EndianOp::Swap, ..
        }
        | Insn::Atomic { .. }
        | Insn::PacketLoad { .. }
        | Insn::JaLong { .. }
        | Insn::Branch {
            width: Width::W32, ..
        } => Err(unknown),
    }
}

/// The opcode rule of an SBPF version (0.26's `RequisiteVerifier`, in its order).
fn check_version_opcode(
    insn: &Insn,
    slot: Slot,
    text: Text<'_>,
    pc: usize,
    version: SbpfVersion,
) -> Result<(), VerifyError> {
    let unknown = VerifyError::UnknownOpCode {
        opcode: slot.opcode,
        pc,
    };
    let nonzero = |src: Source| match src {
        Source::Imm(0) => Err(VerifyError::DivisionByZero { pc }),
        Source::Imm(_) | Source::Reg(_) => Ok(()),
    };
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let frame_bump = version.manual_stack_frame_bump()
                && dst == Reg::R10
                && width == Width::W64
                && op == AluOp::Add;
            match (op, src) {
                (AluOp::Add, Source::Imm(imm)) if frame_bump => {
                    if imm % 64 != 0 {
                        return Err(VerifyError::UnalignedImmediate { pc });
                    }
                    Ok(())
                }
                (AluOp::Div | AluOp::Mod, _) => nonzero(src),
                (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Imm(imm)) => {
                    check_shift(width, imm, pc)
                }
                (AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_), _) => Err(unknown),
                (
                    AluOp::Add
                    | AluOp::Sub
                    | AluOp::Mul
                    | AluOp::Or
                    | AluOp::And
                    | AluOp::Lsh
                    | AluOp::Rsh
                    | AluOp::Arsh
                    | AluOp::Xor
                    | AluOp::Mov,
                    _,
                ) => Ok(()),
            }
        }
        Insn::Pqr { op, src, .. } if op.divides() => nonzero(src),
        Insn::Endian {
            op: EndianOp::ToLe | EndianOp::ToBe,
            bits,
            ..
        } => check_endian(bits, pc),
        Insn::Ja { off } | Insn::Branch { off, .. } => check_jump_target(text, pc, i64::from(off)),
        Insn::CallReg { reg } => {
            if reg.number() > 9 {
                return Err(VerifyError::InvalidRegister { pc });
            }
            Ok(())
        }
        Insn::Pqr { .. }
        | Insn::Hor64 { .. }
        | Insn::Load {
            extend: Extend::Zero,
            ..
        }
        | Insn::Store { .. }
        | Insn::LoadImm64 { .. }
        | Insn::Neg { .. }
        | Insn::Call { .. }
        | Insn::Exit => Ok(()),
        // Decodable for the disassembler, but no version runs them.
        Insn::Load {
            extend: Extend::Sign,
            ..
        }
        | Insn::Endian {
            op: EndianOp::Swap, ..
        }
        | Insn::Atomic { .. }
        | Insn::PacketLoad { .. }
        | Insn::JaLong { .. } => Err(unknown),
    }
}

/// A shift by an immediate must stay below the width (both dialects of sBPF).
fn check_shift(width: Width, imm: i32, pc: usize) -> Result<(), VerifyError> {
    if imm < 0 || imm as u32 >= width.bits() {
        return Err(VerifyError::ShiftWithOverflow {
            shift: i64::from(imm) as u64,
            width: u64::from(width.bits()),
            pc,
        });
    }
    Ok(())
}

/// The register rule of an SBPF version: as sBPF's, with no r11 and `add64 r10, imm` allowed
/// in V1 and V2 (its immediate was checked by the opcode rule).
fn check_version_registers(
    insn: &Insn,
    slot: Slot,
    pc: usize,
    version: SbpfVersion,
) -> Result<(), VerifyError> {
    let pc = pc + insn.slot_count() - 1;
    if slot.src > 10 {
        return Err(VerifyError::InvalidSourceRegister { pc });
    }
    let is_store = matches!(insn, Insn::Store { .. });
    let frame_bump = version.manual_stack_frame_bump()
        && matches!(
            insn,
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                src: Source::Imm(_),
                ..
            }
        );
    match slot.dst {
        0..=9 => Ok(()),
        10 if is_store || frame_bump => Ok(()),
        10 => Err(VerifyError::CannotWriteR10 { pc }),
        _ => Err(VerifyError::InvalidDestinationRegister { pc }),
    }
}

fn check_sbpf_alu(
    width: Width,
    op: AluOp,
    src: Source,
    pc: usize,
    config: &Config,
    unknown: VerifyError,
) -> Result<(), VerifyError> {
    match (op, src) {
        (AluOp::SDiv, _) if !config.enable_sdiv => Err(unknown),
        (AluOp::Div | AluOp::Mod | AluOp::SDiv, Source::Imm(0)) => {
            Err(VerifyError::DivisionByZero { pc })
        }
        (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Imm(imm)) => check_shift(width, imm, pc),
        (AluOp::SMod | AluOp::MovSx(_), _) => Err(unknown),
        (AluOp::Div | AluOp::Mod | AluOp::SDiv, _)
        | (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Reg(_))
        | (
            AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::Or | AluOp::And | AluOp::Xor | AluOp::Mov,
            _,
        ) => Ok(()),
    }
}

fn check_sbpf_registers(
    insn: &Insn,
    slot: Slot,
    pc: usize,
    config: &Config,
) -> Result<(), VerifyError> {
    // Quirk: the reference steps over an lddw's second slot before it checks registers, so
    // an lddw's register errors carry the pc of its second slot.
    let pc = pc + insn.slot_count() - 1;
    if slot.src > 10 {
        return Err(VerifyError::InvalidSourceRegister { pc });
    }
    let is_store = matches!(insn, Insn::Store { .. });
    let moves_stack_pointer = config.dynamic_stack_frames
        && matches!(
            insn,
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add | AluOp::Sub,
                src: Source::Imm(_),
                ..
            }
        );
    match slot.dst {
        0..=9 => Ok(()),
        10 if is_store => Ok(()),
        10 => Err(VerifyError::CannotWriteR10 { pc }),
        11 if moves_stack_pointer => Ok(()),
        _ => Err(VerifyError::InvalidDestinationRegister { pc }),
    }
}

fn check_ebpf_opcode(
    insn: &Insn,
    slot: Slot,
    text: Text<'_>,
    pc: usize,
) -> Result<(), VerifyError> {
    match *insn {
        Insn::Endian { bits, .. } => check_endian(bits, pc),
        Insn::Ja { off } => check_jump_target(text, pc, i64::from(off)),
        Insn::JaLong { off } => check_jump_target(text, pc, i64::from(off)),
        Insn::Branch { off, .. } => check_jump_target(text, pc, i64::from(off)),
        Insn::Call { src: 0, .. } => Ok(()),
        Insn::Call { src: 1, imm } => check_jump_target(text, pc, i64::from(imm)),
        Insn::Call { .. } => Err(VerifyError::InvalidCall { pc }),
        Insn::CallReg { reg } => {
            if reg.number() > 10 {
                return Err(VerifyError::InvalidRegister { pc });
            }
            Ok(())
        }
        Insn::Atomic { size, .. } if !matches!(size, MemSize::W | MemSize::DW) => {
            Err(VerifyError::UnknownOpCode {
                opcode: slot.opcode,
                pc,
            })
        }
        Insn::PacketLoad { .. } | Insn::Pqr { .. } | Insn::Hor64 { .. } => {
            Err(VerifyError::UnknownOpCode {
                opcode: slot.opcode,
                pc,
            })
        }
        Insn::Alu { .. }
        | Insn::Neg { .. }
        | Insn::LoadImm64 { .. }
        | Insn::Load { .. }
        | Insn::Store { .. }
        | Insn::Atomic { .. }
        | Insn::Exit => Ok(()),
    }
}

fn ebpf_dst_role(insn: &Insn) -> DstRole {
    match insn {
        Insn::Alu { .. }
        | Insn::Pqr { .. }
        | Insn::Hor64 { .. }
        | Insn::Neg { .. }
        | Insn::Endian { .. }
        | Insn::LoadImm64 { .. }
        | Insn::Load { .. } => DstRole::Written,
        Insn::Store { .. } | Insn::Atomic { .. } | Insn::Branch { .. } | Insn::CallReg { .. } => {
            DstRole::Read
        }
        Insn::PacketLoad { .. }
        | Insn::Ja { .. }
        | Insn::JaLong { .. }
        | Insn::Call { .. }
        | Insn::Exit => DstRole::Unused,
    }
}

fn check_ebpf_registers(insn: &Insn, slot: Slot, pc: usize) -> Result<(), VerifyError> {
    // Atomic fetch operations write their source register, so it must not be r10 either.
    let src_written = matches!(
        insn,
        Insn::Atomic { op, .. } if !matches!(
            op,
            bpfvm_isa::AtomicOp::Add
                | bpfvm_isa::AtomicOp::Or
                | bpfvm_isa::AtomicOp::And
                | bpfvm_isa::AtomicOp::Xor
        )
    );
    if slot.src > 10 || (src_written && slot.src == 10) {
        return Err(VerifyError::InvalidSourceRegister { pc });
    }
    match (ebpf_dst_role(insn), slot.dst) {
        (_, 0..=9) | (DstRole::Read | DstRole::Unused, 10) => Ok(()),
        (DstRole::Written, 10) => Err(VerifyError::CannotWriteR10 { pc }),
        _ => Err(VerifyError::InvalidDestinationRegister { pc }),
    }
}
