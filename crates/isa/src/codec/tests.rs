//! Round-trip and table tests of the codec over the whole opcode space.

use super::*;

use crate::version::SbpfVersion;

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
    for dialect in Dialect::ALL {
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

/// The opcodes of each SBPF version as spec `sbpf-0.26.md` §1.3 lists them, written out
/// independently of the classifier: V0 is the 2022 set without sBPF's signed division, V1
/// the same, V2 removes and adds what §1.3 says, V3 and V4 add the 22 JMP32 opcodes.
fn spec_opcodes(version: SbpfVersion) -> Vec<u8> {
    let sdiv = [0xe4, 0xec, 0xe7, 0xef];
    let v0: Vec<u8> = accepted_opcodes(Dialect::Sbpf)
        .into_iter()
        .filter(|opcode| !sdiv.contains(opcode))
        .collect();
    let jmp32: [u8; 22] = [
        0x16, 0x1e, 0x26, 0x2e, 0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e, 0xa6,
        0xae, 0xb6, 0xbe, 0xc6, 0xce, 0xd6, 0xde,
    ];
    let v2_removed: [u8; 28] = [
        0x18, 0xd4, 0x84, 0x87, 0x24, 0x2c, 0x34, 0x3c, 0x94, 0x9c, 0x27, 0x2f, 0x37, 0x3f, 0x97,
        0x9f, 0x61, 0x69, 0x71, 0x79, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b,
    ];
    let v2_added: [u8; 37] = [
        // Moved loads, stores of the immediate, stores of a register.
        0x2c, 0x3c, 0x8c, 0x9c, 0x27, 0x37, 0x87, 0x97, 0x2f, 0x3f, 0x8f, 0x9f, //
        // hor64.
        0xf7, //
        // PQR, immediate then register form.
        0x36, 0x3e, 0x46, 0x4e, 0x56, 0x5e, 0x66, 0x6e, 0x76, 0x7e, 0x86, 0x8e, 0x96, 0x9e, 0xb6,
        0xbe, 0xc6, 0xce, 0xd6, 0xde, 0xe6, 0xee, 0xf6, 0xfe,
    ];
    let mut opcodes = match version {
        SbpfVersion::V0 | SbpfVersion::V1 => v0,
        SbpfVersion::V2 => v0
            .into_iter()
            .filter(|opcode| !v2_removed.contains(opcode))
            .chain(v2_added)
            .collect(),
        SbpfVersion::V3 | SbpfVersion::V4 => v0.into_iter().chain(jmp32).collect(),
    };
    opcodes.sort_unstable();
    opcodes
}

#[test]
fn each_version_defines_the_opcodes_of_the_spec() {
    for (version, count) in SbpfVersion::ALL.into_iter().zip([91, 91, 100, 113, 113]) {
        let accepted = accepted_opcodes(Dialect::Sbpf26(version));
        assert_eq!(accepted, spec_opcodes(version), "{version}");
        assert_eq!(accepted.len(), count, "{version}");
    }
}

#[test]
fn v2_moves_memory_and_v3_reads_callx_from_dst() {
    let v2 = Dialect::Sbpf26(SbpfVersion::V2);
    let load = Slot {
        opcode: 0x8c,
        dst: 1,
        src: 2,
        off: -4,
        imm: 0,
    };
    assert_eq!(
        decode(&[load], 0, v2),
        Ok(Insn::Load {
            size: MemSize::W,
            extend: Extend::Zero,
            dst: Reg::R1,
            base: reg(2),
            off: -4,
        })
    );
    let store = Slot {
        opcode: 0x97,
        dst: 10,
        src: 0,
        off: -8,
        imm: -1,
    };
    assert_eq!(
        decode(&[store], 0, v2),
        Ok(Insn::Store {
            size: MemSize::DW,
            base: Reg::R10,
            off: -8,
            src: Source::Imm(-1),
        })
    );
    // The same bytes are `mod64 r10, -1` in V0 and V3.
    for version in [SbpfVersion::V0, SbpfVersion::V3] {
        assert!(matches!(
            decode(&[store], 0, Dialect::Sbpf26(version)),
            Ok(Insn::Alu {
                op: AluOp::Mod,
                width: Width::W64,
                ..
            })
        ));
    }
    let hor = Slot {
        opcode: 0xf7,
        dst: 3,
        src: 0,
        off: 0,
        imm: 7,
    };
    assert_eq!(
        decode(&[hor], 0, v2),
        Ok(Insn::Hor64 {
            dst: reg(3),
            imm: 7
        })
    );
    let callx = Slot {
        opcode: 0x8d,
        dst: 4,
        src: 5,
        off: 0,
        imm: 6,
    };
    let field = |version| match decode(&[callx], 0, Dialect::Sbpf26(version)) {
        Ok(Insn::CallReg { reg }) => reg.number(),
        other => panic!("{other:?}"),
    };
    assert_eq!(SbpfVersion::ALL.map(field), [6, 6, 5, 4, 4]);
    for version in SbpfVersion::ALL {
        let dialect = Dialect::Sbpf26(version);
        let Ok(insn) = decode(&[callx], 0, dialect) else {
            panic!("callx in {version}");
        };
        let encoded = encode(&insn, dialect).unwrap();
        assert_eq!(decode(&encoded, 0, dialect), Ok(insn), "{version}");
    }
}

#[test]
fn encoding_fails_where_a_version_lacks_the_instruction() {
    let lddw = Insn::LoadImm64 {
        dst: Reg::R1,
        imm: 5,
    };
    let v2 = Dialect::Sbpf26(SbpfVersion::V2);
    assert!(encode(&lddw, v2).is_err());
    assert!(encode(&lddw, Dialect::Sbpf26(SbpfVersion::V3)).is_ok());
    let uhmul32 = Insn::Pqr {
        width: Width::W32,
        op: PqrOp::Uhmul,
        dst: Reg::R1,
        src: Source::Imm(1),
    };
    assert!(encode(&uhmul32, v2).is_err());
    let uhmul64 = Insn::Pqr {
        width: Width::W64,
        op: PqrOp::Uhmul,
        dst: Reg::R1,
        src: Source::Imm(1),
    };
    assert_eq!(encode(&uhmul64, v2).unwrap()[0].opcode, 0x36);
    assert!(encode(&uhmul64, Dialect::Sbpf26(SbpfVersion::V3)).is_err());
    let jeq32 = Insn::Branch {
        width: Width::W32,
        cond: Cond::Eq,
        dst: Reg::R1,
        src: Source::Imm(0),
        off: 1,
    };
    assert_eq!(
        encode(&jeq32, Dialect::Sbpf26(SbpfVersion::V3)).unwrap()[0].opcode,
        0x16
    );
    assert!(encode(&jeq32, Dialect::Sbpf26(SbpfVersion::V2)).is_err());
    assert!(encode(&Insn::JaLong { off: 1 }, Dialect::Sbpf26(SbpfVersion::V3)).is_err());
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
        (OpcodeShape::Pqr(w, o, k), Insn::Pqr { width, op, src, .. }) => {
            (w, o, k) == (width, op, kind(src))
        }
        (OpcodeShape::Hor64, Insn::Hor64 { .. }) => true,
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
        (OpcodeShape::CallReg, DecodeError::InvalidCallRegister { .. }) => {
            dialect.callx_field() == crate::CallxField::Imm
        }
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
    for dialect in Dialect::ALL {
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
