//! The decoder written as a chain of matches over the opcode's fields, kept for the tests as
//! an oracle: the table-driven [`super::decode`] must agree with it on every opcode and on
//! every interesting value of the other fields, in the two dialects of 2022 (the SBPF
//! versions have their own test against the spec's opcode lists, in `tests.rs`).

use super::*;

/// The decoder as it was before the opcode tables: a chain of matches per class.
pub(super) fn decode_by_matches(
    slots: &[Slot],
    at: usize,
    dialect: Dialect,
) -> Result<Insn, DecodeError> {
    let Some(&slot) = slots.get(at) else {
        return Err(DecodeError::UnknownOpcode { opcode: 0 });
    };
    let unknown = Err(DecodeError::UnknownOpcode {
        opcode: slot.opcode,
    });
    match slot.opcode & 0x07 {
        CLASS_LD => decode_ld(slots, at, slot, dialect),
        CLASS_LDX => decode_ldx(slot, dialect),
        CLASS_ST => match slot.opcode & 0xe0 {
            MODE_MEM => Ok(Insn::Store {
                size: size_of(slot.opcode),
                base: reg(slot.dst),
                off: slot.off,
                src: Source::Imm(slot.imm),
            }),
            _ => unknown,
        },
        CLASS_STX => decode_stx(slot),
        CLASS_ALU32 => decode_alu(slot, Width::W32, dialect),
        CLASS_ALU64 => decode_alu(slot, Width::W64, dialect),
        CLASS_JMP => decode_jmp(slot, Width::W64, dialect),
        CLASS_JMP32 => match dialect {
            Dialect::Sbpf26(_) => unknown,
            Dialect::Ebpf => decode_jmp(slot, Width::W32, dialect),
            Dialect::Sbpf => unknown,
        },
        _ => unknown,
    }
}

fn decode_ld(slots: &[Slot], at: usize, slot: Slot, dialect: Dialect) -> Result<Insn, DecodeError> {
    let size = size_of(slot.opcode);
    match slot.opcode & 0xe0 {
        MODE_IMM if size == MemSize::DW => {
            let second = slots.get(at + 1).ok_or(DecodeError::LddwCannotBeLast)?;
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
        mode @ (MODE_ABS | MODE_IND) => Ok(Insn::PacketLoad {
            mode: if mode == MODE_ABS {
                PacketMode::Abs
            } else {
                PacketMode::Ind
            },
            size,
            src: reg(slot.src),
            imm: slot.imm,
        }),
        _ => Err(DecodeError::UnknownOpcode {
            opcode: slot.opcode,
        }),
    }
}

fn decode_ldx(slot: Slot, dialect: Dialect) -> Result<Insn, DecodeError> {
    let size = size_of(slot.opcode);
    let extend = match (slot.opcode & 0xe0, dialect) {
        (MODE_MEM, _) => Extend::Zero,
        (MODE_MEMSX, Dialect::Ebpf) if size != MemSize::DW => Extend::Sign,
        _ => {
            return Err(DecodeError::UnknownOpcode {
                opcode: slot.opcode,
            })
        }
    };
    Ok(Insn::Load {
        size,
        extend,
        dst: reg(slot.dst),
        base: reg(slot.src),
        off: slot.off,
    })
}

fn decode_stx(slot: Slot) -> Result<Insn, DecodeError> {
    let size = size_of(slot.opcode);
    match slot.opcode & 0xe0 {
        MODE_MEM => Ok(Insn::Store {
            size,
            base: reg(slot.dst),
            off: slot.off,
            src: Source::Reg(reg(slot.src)),
        }),
        // The atomic operation field has one decoding, shared with the table-driven decoder.
        MODE_ATOMIC if matches!(size, MemSize::W | MemSize::DW) => super::decode_atomic(slot, size),
        _ => Err(DecodeError::UnknownOpcode {
            opcode: slot.opcode,
        }),
    }
}

fn alu_source(slot: Slot) -> Source {
    if slot.opcode & SRC_X != 0 {
        Source::Reg(reg(slot.src))
    } else {
        Source::Imm(slot.imm)
    }
}

fn decode_alu(slot: Slot, width: Width, dialect: Dialect) -> Result<Insn, DecodeError> {
    let unknown = DecodeError::UnknownOpcode {
        opcode: slot.opcode,
    };
    let op_bits = slot.opcode & 0xf0;
    let has_x = slot.opcode & SRC_X != 0;
    let dst = reg(slot.dst);
    match op_bits {
        ALU_NEG if !has_x => {
            canonical_offset(slot, dialect, 0)?;
            Ok(Insn::Neg { width, dst })
        }
        ALU_END => {
            let op = match (width, has_x, dialect) {
                (Width::W32, false, _) => EndianOp::ToLe,
                (Width::W32, true, _) => EndianOp::ToBe,
                (Width::W64, false, Dialect::Ebpf) => EndianOp::Swap,
                _ => return Err(unknown),
            };
            canonical_offset(slot, dialect, 0)?;
            Ok(Insn::Endian {
                op,
                dst,
                bits: slot.imm,
            })
        }
        ALU_SBPF_SDIV if dialect == Dialect::Ebpf => Err(unknown),
        _ => {
            let op = ALU_BY_HIGH_NIBBLE[usize::from(op_bits >> 4)].ok_or(unknown)?;
            let src = alu_source(slot);
            let op = match dialect {
                Dialect::Sbpf | Dialect::Sbpf26(_) => op,
                Dialect::Ebpf => ebpf_alu_op(slot, op, width)?,
            };
            Ok(Insn::Alu {
                width,
                op,
                dst,
                src,
            })
        }
    }
}

fn decode_jmp(slot: Slot, width: Width, dialect: Dialect) -> Result<Insn, DecodeError> {
    let unknown = DecodeError::UnknownOpcode {
        opcode: slot.opcode,
    };
    let op_bits = slot.opcode & 0xf0;
    let has_x = slot.opcode & SRC_X != 0;
    if let Some(cond) = COND_BY_HIGH_NIBBLE[usize::from(op_bits >> 4)] {
        return Ok(Insn::Branch {
            width,
            cond,
            dst: reg(slot.dst),
            src: alu_source(slot),
            off: slot.off,
        });
    }
    match (op_bits, has_x, width) {
        (JMP_JA, false, Width::W64) => Ok(Insn::Ja { off: slot.off }),
        (JMP_JA, false, Width::W32) => Ok(Insn::JaLong { off: slot.imm }),
        (JMP_CALL, false, Width::W64) => Ok(Insn::Call {
            src: slot.src,
            imm: slot.imm,
        }),
        (JMP_CALL, true, Width::W64) => match dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => u8::try_from(slot.imm)
                .ok()
                .and_then(Reg::new)
                .map(|reg| Insn::CallReg { reg })
                .ok_or(DecodeError::InvalidCallRegister { imm: slot.imm }),
            Dialect::Ebpf => Ok(Insn::CallReg { reg: reg(slot.dst) }),
        },
        (JMP_EXIT, false, Width::W64) => Ok(Insn::Exit),
        _ => Err(unknown),
    }
}

/// Field values that exercise every branch of the decoders: register fields in and out of
/// range, offsets that eBPF gives a meaning to, immediates that name atomics, callx
/// registers and their out-of-range neighbours.
const REGS: [u8; 5] = [0, 1, 10, 11, 15];
const OFFSETS: [i16; 8] = [0, 1, 8, 16, 32, -1, 2, i16::MIN];
const IMMS: [i32; 12] = [0, 1, 10, 15, 16, -1, 0x40, 0x51, 0xa1, 0xe1, 0xf1, i32::MIN];

/// Every slot with `opcode` over the field values above.
fn slots_with(opcode: u8) -> impl Iterator<Item = Slot> {
    REGS.iter().flat_map(move |&dst| {
        REGS.iter().flat_map(move |&src| {
            OFFSETS.iter().flat_map(move |&off| {
                IMMS.iter().map(move |&imm| Slot {
                    opcode,
                    dst,
                    src,
                    off,
                    imm,
                })
            })
        })
    })
}

#[test]
fn table_decoder_equals_match_decoder_on_every_opcode_and_field() {
    let seconds = [
        Slot::default(),
        Slot {
            imm: -7,
            ..Slot::default()
        },
        Slot {
            opcode: 0x18,
            ..Slot::default()
        },
    ];
    let mut compared = 0usize;
    for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
        for opcode in 0..=255u8 {
            for slot in slots_with(opcode) {
                // Alone (an lddw in the last slot) and followed by each kind of second slot.
                let alone = [slot];
                assert_eq!(
                    decode(&alone, 0, dialect),
                    decode_by_matches(&alone, 0, dialect),
                    "{slot:?} alone in {dialect:?}"
                );
                for second in seconds {
                    let pair = [slot, second];
                    let expected = decode_by_matches(&pair, 0, dialect);
                    assert_eq!(decode(&pair, 0, dialect), expected, "{pair:?} {dialect:?}");
                    assert_eq!(decode_slot(slot, || Some(second), dialect), expected);
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * 256 * 5 * 5 * 8 * 12 * 3);
    assert_eq!(
        decode(&[], 0, Dialect::Sbpf),
        decode_by_matches(&[], 0, Dialect::Sbpf)
    );
}
