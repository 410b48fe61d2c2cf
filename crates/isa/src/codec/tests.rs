//! Round-trip and table tests of the codec over the whole opcode space.

use super::*;

const DIALECTS: [Dialect; 2] = [Dialect::Sbpf, Dialect::Ebpf];

fn slot_with(opcode: u8, off: i16, imm: i32) -> Slot {
    Slot {
        opcode,
        dst: 3,
        src: 7,
        off,
        imm,
    }
}

/// Field variations that exercise every meaning the offset and immediate can carry.
fn variations(opcode: u8) -> Vec<Slot> {
    let mut out = Vec::new();
    for off in [0i16, 1, 8, 16, 32, -5] {
        for imm in [0i32, 1, 2, 16, 32, 64, 0x41, 0xa1, 0xe1, 0xf1, -1] {
            out.push(slot_with(opcode, off, imm));
        }
    }
    out
}

#[test]
fn decode_then_encode_is_identity_on_insns() {
    for dialect in DIALECTS {
        for opcode in 0..=255u8 {
            for first in variations(opcode) {
                let slots = [first, Slot::default()];
                let Ok(insn) = decode(&slots, 0, dialect) else {
                    continue;
                };
                let encoded = encode(&insn, dialect)
                    .unwrap_or_else(|e| panic!("{e} (decoded from {first:?})"));
                assert_eq!(encoded[0].opcode, opcode, "{insn:?} {dialect:?}");
                let again = decode(&encoded, 0, dialect).expect("re-decode");
                assert_eq!(again, insn, "{dialect:?} {first:?}");
            }
        }
    }
}

fn accepted_opcodes(dialect: Dialect) -> Vec<u8> {
    (0..=255u8)
        .filter(|&opcode| {
            variations(opcode).iter().any(|&first| {
                matches!(
                    decode(&[first, Slot::default()], 0, dialect),
                    Ok(insn) if !matches!(insn, Insn::PacketLoad { .. } | Insn::Atomic { .. })
                )
            })
        })
        .collect()
}

#[test]
fn sbpf_defines_the_reference_95_opcodes() {
    let accepted = accepted_opcodes(Dialect::Sbpf);
    assert_eq!(accepted.len(), 95, "{accepted:x?}");
    for opcode in [0xe4, 0xec, 0xe7, 0xef, 0x18, 0x8d, 0xd4, 0xdc] {
        assert!(accepted.contains(&opcode), "{opcode:#x}");
    }
    for opcode in [0xd7, 0x06, 0x16, 0xc3, 0xdb, 0x81, 0x8c, 0x8f] {
        assert!(!accepted.contains(&opcode), "{opcode:#x}");
    }
}

#[test]
fn ebpf_defines_rfc9669_opcodes() {
    let accepted = accepted_opcodes(Dialect::Ebpf);
    for opcode in [0xd7, 0x06, 0x16, 0x1e, 0x81, 0x89, 0x91, 0xbf, 0x3c] {
        assert!(accepted.contains(&opcode), "{opcode:#x}");
    }
    for opcode in [0xe4, 0xec, 0xe7, 0xef, 0x99, 0x86, 0x96, 0xdf] {
        assert!(!accepted.contains(&opcode), "{opcode:#x}");
    }
}

#[test]
fn dialects_read_callx_from_different_fields() {
    let callx = Slot {
        opcode: 0x8d,
        dst: 2,
        src: 0,
        off: 0,
        imm: 3,
    };
    assert_eq!(
        decode(&[callx], 0, Dialect::Sbpf),
        Ok(Insn::CallReg {
            reg: Reg::new(3).unwrap()
        })
    );
    assert_eq!(
        decode(&[callx], 0, Dialect::Ebpf),
        Ok(Insn::CallReg {
            reg: Reg::new(2).unwrap()
        })
    );
    let bad = Slot { imm: 16, ..callx };
    assert_eq!(
        decode(&[bad], 0, Dialect::Sbpf),
        Err(DecodeError::InvalidCallRegister { imm: 16 })
    );
}

#[test]
fn sbpf_ignores_alu_offsets() {
    let sdiv_rfc = Slot {
        opcode: 0x3f,
        dst: 1,
        src: 2,
        off: 1,
        imm: 0,
    };
    let Ok(Insn::Alu { op, .. }) = decode(&[sdiv_rfc], 0, Dialect::Sbpf) else {
        panic!("decodes");
    };
    assert_eq!(op, AluOp::Div);
    let Ok(Insn::Alu { op, .. }) = decode(&[sdiv_rfc], 0, Dialect::Ebpf) else {
        panic!("decodes");
    };
    assert_eq!(op, AluOp::SDiv);
}

#[test]
fn lddw_merges_two_slots() {
    let slots = [
        Slot {
            opcode: 0x18,
            dst: 4,
            src: 0,
            off: 0,
            imm: 0x89ab_cdefu32 as i32,
        },
        Slot {
            opcode: 0,
            dst: 0,
            src: 0,
            off: 0,
            imm: 0x0123_4567,
        },
    ];
    let insn = decode(&slots, 0, Dialect::Sbpf).unwrap();
    assert_eq!(
        insn,
        Insn::LoadImm64 {
            dst: Reg::new(4).unwrap(),
            imm: 0x0123_4567_89ab_cdef
        }
    );
    assert_eq!(
        decode(&slots[..1], 0, Dialect::Sbpf),
        Err(DecodeError::LddwCannotBeLast)
    );
    let broken = [
        slots[0],
        Slot {
            opcode: 0x95,
            ..slots[1]
        },
    ];
    assert_eq!(
        decode(&broken, 0, Dialect::Sbpf),
        Err(DecodeError::IncompleteLddw)
    );
    assert_eq!(encode(&insn, Dialect::Sbpf).unwrap(), slots.to_vec());
}

#[test]
fn listing_skips_lddw_second_slot() {
    let bytes = [
        0x18, 0x01, 0, 0, 1, 0, 0, 0, //
        0x00, 0x00, 0, 0, 2, 0, 0, 0, //
        0xff, 0x00, 0, 0, 0, 0, 0, 0, //
        0x95, 0x00, 0, 0, 0, 0, 0, 0,
    ];
    let listing = decode_program(&Slot::slots_of(&bytes), Dialect::Sbpf);
    let pcs: Vec<usize> = listing.iter().map(|d| d.pc).collect();
    assert_eq!(pcs, vec![0, 2, 3]);
    assert_eq!(
        listing[1].insn,
        Err(DecodeError::UnknownOpcode { opcode: 0xff })
    );
    assert_eq!(listing[2].insn, Ok(Insn::Exit));
}

/// Whether `insn` is the instruction `shape` names (in eBPF a non-zero offset may turn an ALU
/// operation into its signed or sign-extending form).
fn has_shape(insn: Insn, shape: OpcodeShape) -> bool {
    let kind = |src: Source| match src {
        Source::Imm(_) => SourceKind::Imm,
        Source::Reg(_) => SourceKind::Reg,
    };
    let offset_form = |op: AluOp| matches!(op, AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_));
    match (shape, insn) {
        (OpcodeShape::Lddw, Insn::LoadImm64 { .. })
        | (OpcodeShape::Ja, Insn::Ja { .. })
        | (OpcodeShape::JaLong, Insn::JaLong { .. })
        | (OpcodeShape::Call, Insn::Call { .. })
        | (OpcodeShape::CallReg, Insn::CallReg { .. })
        | (OpcodeShape::Exit, Insn::Exit) => true,
        (OpcodeShape::PacketLoad(m, s), Insn::PacketLoad { mode, size, .. }) => {
            (m, s) == (mode, size)
        }
        (OpcodeShape::Load(s, e), Insn::Load { size, extend, .. }) => (s, e) == (size, extend),
        (OpcodeShape::Store(s, k), Insn::Store { size, src, .. }) => (s, k) == (size, kind(src)),
        (OpcodeShape::Atomic(s), Insn::Atomic { size, .. }) => s == size,
        (OpcodeShape::Neg(w), Insn::Neg { width, .. }) => w == width,
        (OpcodeShape::Endian(o), Insn::Endian { op, .. }) => o == op,
        (OpcodeShape::Alu(w, o, k), Insn::Alu { width, op, src, .. }) => {
            (w, k) == (width, kind(src)) && (o == op || offset_form(op))
        }
        (
            OpcodeShape::Branch(w, c, k),
            Insn::Branch {
                width, cond, src, ..
            },
        ) => (w, c, k) == (width, cond, kind(src)),
        _ => false,
    }
}

/// Whether `error` is one of the field rules `shape` documents.
fn is_documented_field_error(error: DecodeError, shape: OpcodeShape, dialect: Dialect) -> bool {
    let ebpf = dialect == Dialect::Ebpf;
    match (shape, error) {
        (OpcodeShape::Lddw, DecodeError::IncompleteLddw | DecodeError::LddwCannotBeLast) => true,
        (OpcodeShape::Lddw, DecodeError::InvalidField { .. }) => ebpf,
        (OpcodeShape::CallReg, DecodeError::InvalidCallRegister { .. }) => !ebpf,
        (OpcodeShape::Atomic(_), DecodeError::InvalidField { .. }) => true,
        (
            OpcodeShape::Neg(_) | OpcodeShape::Endian(_) | OpcodeShape::Alu(..),
            DecodeError::InvalidField { .. },
        ) => ebpf,
        _ => false,
    }
}

/// The opcode table agrees with the decoder on every opcode, in both dialects, whatever the
/// other fields hold: unknown opcodes never decode, and every other opcode decodes to the
/// instruction its shape names or fails only by a field rule the shape documents.
#[test]
fn opcode_shapes_agree_with_decode() {
    let mut decoded = 0usize;
    for dialect in DIALECTS {
        for opcode in 0..=255u8 {
            let shape = opcode_shape(opcode, dialect);
            for first in variations(opcode) {
                for (dst, src) in [(0u8, 0u8), (10, 11), (15, 1)] {
                    let first = Slot { dst, src, ..first };
                    for next in [Slot::default(), slot_with(0x95, 0, 0)] {
                        let result = decode(&[first, next], 0, dialect);
                        match result {
                            Ok(insn) => {
                                assert!(has_shape(insn, shape), "{insn:?} {shape:?}");
                                decoded += 1;
                            }
                            Err(DecodeError::UnknownOpcode { opcode: seen }) => {
                                assert_eq!(seen, opcode);
                                assert_eq!(shape, OpcodeShape::Unknown, "{dialect:?}");
                            }
                            Err(error) => assert!(
                                is_documented_field_error(error, shape, dialect),
                                "{error:?} {shape:?} {dialect:?}"
                            ),
                        }
                    }
                }
            }
        }
    }
    assert!(decoded > 10_000, "only {decoded} slots decoded");
}
