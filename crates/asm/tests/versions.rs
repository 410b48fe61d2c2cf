//! The assembler and disassembler in the SBPF versions of solana-sbpf 0.26: each version's
//! mnemonics assemble to the opcodes of spec `sbpf-0.26.md` §1.3, instructions a version
//! lacks do not assemble, and every instruction a version decodes prints as text that
//! assembles back to an instruction that prints the same.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_asm::{assemble, disassemble, Dialect, SymbolTable};
use bpfvm_isa::{decode, Insn, SbpfVersion, Slot};

use SbpfVersion::{V0, V1, V2, V3, V4};

/// One source line of a version, and the fields of the slot it must give.
struct Case {
    versions: &'static [SbpfVersion],
    source: &'static str,
    opcode: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

const fn case(
    versions: &'static [SbpfVersion],
    source: &'static str,
    (opcode, dst, src, off, imm): (u8, u8, u8, i16, i32),
) -> Case {
    Case {
        versions,
        source,
        opcode,
        dst,
        src,
        off,
        imm,
    }
}

const CASES: &[Case] = &[
    // V2's PQR class, immediate then register form; a bare name is the 64-bit one.
    case(&[V2], "uhmul64 r1, 5", (0x36, 1, 0, 0, 5)),
    case(&[V2], "uhmul r1, r2", (0x3e, 1, 2, 0, 0)),
    case(&[V2], "udiv32 r1, 7", (0x46, 1, 0, 0, 7)),
    case(&[V2], "udiv64 r1, r2", (0x5e, 1, 2, 0, 0)),
    case(&[V2], "urem32 r3, -1", (0x66, 3, 0, 0, -1)),
    case(&[V2], "urem64 r3, r4", (0x7e, 3, 4, 0, 0)),
    case(&[V2], "lmul32 r1, 3", (0x86, 1, 0, 0, 3)),
    case(&[V2], "lmul r1, r9", (0x9e, 1, 9, 0, 0)),
    case(&[V2], "shmul64 r0, -3", (0xb6, 0, 0, 0, -3)),
    case(&[V2], "sdiv32 r0, r1", (0xce, 0, 1, 0, 0)),
    case(&[V2], "sdiv r0, 2", (0xd6, 0, 0, 0, 2)),
    case(&[V2], "srem32 r5, 9", (0xe6, 5, 0, 0, 9)),
    case(&[V2], "srem64 r5, r6", (0xfe, 5, 6, 0, 0)),
    case(&[V2], "hor64 r2, 0x1234", (0xf7, 2, 0, 0, 0x1234)),
    // V2's moved memory classes.
    case(&[V2], "ldxb r1, [r2+1]", (0x2c, 1, 2, 1, 0)),
    case(&[V2], "ldxh r1, [r2-2]", (0x3c, 1, 2, -2, 0)),
    case(&[V2], "ldxw r1, [r2+4]", (0x8c, 1, 2, 4, 0)),
    case(&[V2], "ldxdw r1, [r10-8]", (0x9c, 1, 10, -8, 0)),
    case(&[V2], "stb [r1+0], 7", (0x27, 1, 0, 0, 7)),
    case(&[V2], "sth [r1+2], 7", (0x37, 1, 0, 2, 7)),
    case(&[V2], "stw [r1+4], 7", (0x87, 1, 0, 4, 7)),
    case(&[V2], "stdw [r10-8], -1", (0x97, 10, 0, -8, -1)),
    case(&[V2], "stxb [r1+0], r2", (0x2f, 1, 2, 0, 0)),
    case(&[V2], "stxh [r1+0], r2", (0x3f, 1, 2, 0, 0)),
    case(&[V2], "stxw [r1+0], r2", (0x8f, 1, 2, 0, 0)),
    case(&[V2], "stxdw [r10-16], r2", (0x9f, 10, 2, -16, 0)),
    // The same mnemonics keep the old encoding elsewhere.
    case(&[V0, V1, V3, V4], "ldxw r1, [r2+4]", (0x61, 1, 2, 4, 0)),
    case(
        &[V0, V1, V3, V4],
        "stxdw [r10-16], r2",
        (0x7b, 10, 2, -16, 0),
    ),
    // `callx` names its register where the version says.
    case(&[V0, V1], "callx r3", (0x8d, 0, 0, 0, 3)),
    case(&[V2], "callx r3", (0x8d, 0, 3, 0, 0)),
    case(&[V3, V4], "callx r3", (0x8d, 3, 0, 0, 0)),
    // V3's JMP32 class (and the 64-bit compare, also spelt with `64`).
    case(&[V3, V4], "jeq32 r1, 5, +1", (0x16, 1, 0, 1, 5)),
    case(&[V3, V4], "jsle32 r1, r2, -1", (0xde, 1, 2, -1, 0)),
    case(&[V3, V4], "jset32 r1, r2, +0", (0x4e, 1, 2, 0, 0)),
    case(&[V3, V4], "jgt64 r1, r2, +0", (0x2d, 1, 2, 0, 0)),
    // V3's calls: src 1 and a pc-relative immediate; syscalls by name or key with src 0.
    case(&[V3, V4], "call 4", (0x85, 0, 1, 0, 4)),
    case(&[V3, V4], "call -1", (0x85, 0, 1, 0, -1)),
    case(&[V3, V4], "syscall 77", (0x85, 0, 0, 0, 77)),
    case(
        &[V0, V1, V2, V3, V4],
        "syscall sol_log_",
        (0x85, 0, 0, 0, 0x207559bd_u32 as i32),
    ),
    // V1 and V2 move the frame pointer themselves.
    case(&[V1, V2], "add64 r10, -64", (0x07, 10, 0, 0, -64)),
];

#[test]
fn each_versions_mnemonics_assemble_to_its_opcodes() {
    for case in CASES {
        for &version in case.versions {
            let assembled = assemble(case.source, Dialect::Sbpf26(version))
                .unwrap_or_else(|error| panic!("{version} {:?}: {error}", case.source));
            let slot = Slot::slots_of(&assembled.bytes)[0];
            assert_eq!(
                (slot.opcode, slot.dst, slot.src, slot.off, slot.imm),
                (case.opcode, case.dst, case.src, case.off, case.imm),
                "{version} {:?}",
                case.source
            );
        }
    }
}

#[test]
fn instructions_a_version_lacks_do_not_assemble() {
    let rejected: &[(&[SbpfVersion], &str)] = &[
        (&[V2], "lddw r1, 5"),
        (&[V2], "neg64 r1"),
        (&[V2], "le16 r1"),
        (&[V2], "mul64 r1, 2"),
        (&[V2], "div32 r1, r2"),
        (&[V2], "mod r1, 3"),
        (&[V0, V1, V3, V4], "uhmul64 r1, 2"),
        (&[V0, V1, V3, V4], "hor64 r1, 2"),
        (&[V0, V1, V2], "jeq32 r1, 1, +0"),
        (&[V2], "uhmul32 r1, 2"),
        (&[V0, V1, V2, V3, V4], "ja32 +1"),
    ];
    for (versions, source) in rejected {
        for &version in *versions {
            assert!(
                assemble(source, Dialect::Sbpf26(version)).is_err(),
                "{version} {source:?} assembled"
            );
        }
    }
    // The 2022 dialect keeps its own `sdiv` and has no PQR names.
    let sdiv = assemble("sdiv r1, 3", Dialect::Sbpf).unwrap();
    assert_eq!(sdiv.bytes[0], 0xe7);
    assert!(assemble("uhmul64 r1, 3", Dialect::Sbpf).is_err());
}

/// Every one-slot instruction each version decodes except `call imm` (whose text names a
/// syscall or function the table would have to know), with a zero offset so that every jump
/// lands inside the program.
fn decodable_slots(version: SbpfVersion) -> Vec<Slot> {
    let mut slots = Vec::new();
    for opcode in (0..=255u8).filter(|&opcode| opcode != 0x85) {
        for (dst, src, off, imm) in [(1, 2, 0, 3), (3, 4, 0, -5), (10, 0, 0, 16)] {
            let slot = Slot {
                opcode,
                dst,
                src,
                off,
                imm,
            };
            let ok = match decode(&[slot, Slot::default()], 0, Dialect::Sbpf26(version)) {
                // A byte-order width other than 16, 32 or 64 has no mnemonic.
                Ok(Insn::Endian { bits, .. }) => [16, 32, 64].contains(&bits),
                Ok(insn) => insn.slot_count() == 1,
                Err(_) => false,
            };
            if ok {
                slots.push(slot);
            }
        }
    }
    slots
}

#[test]
fn every_decodable_instruction_round_trips_through_text() {
    for version in SbpfVersion::ALL {
        let dialect = Dialect::Sbpf26(version);
        let slots = decodable_slots(version);
        assert!(slots.len() > 150, "{version}: {}", slots.len());
        // One instruction after another, with an exit to jump to: offsets 0 and -8 keep
        // every jump inside the program.
        let mut bytes: Vec<u8> = slots.iter().flat_map(|slot| slot.to_bytes()).collect();
        bytes.extend(
            Slot {
                opcode: 0x95,
                ..Slot::default()
            }
            .to_bytes(),
        );
        let text = disassemble(&bytes, dialect, &SymbolTable::default());
        let again =
            assemble(&text, dialect).unwrap_or_else(|error| panic!("{version}: {error}\n{text}"));
        // Fields an instruction ignores may differ; what it means may not.
        let reprinted = disassemble(&again.bytes, dialect, &SymbolTable::default());
        assert_eq!(reprinted, text, "{version}");
        assert_eq!(again.bytes.len(), bytes.len(), "{version}");
    }
}
