//! The verifier's rules as a table: each row is a program, a dialect, a configuration and the
//! verdict the reference (sBPF) or RFC 9669 (eBPF) gives.

use super::check;
use crate::config::Config;
use crate::error::VerifyError;
use bpfvm_isa::{Dialect, Slot};

/// A slot from its fields: opcode, dst, src, off, imm.
fn s(opcode: u8, dst: u8, src: u8, off: i16, imm: i32) -> Slot {
    Slot {
        opcode,
        dst,
        src,
        off,
        imm,
    }
}

const EXIT: (u8, u8, u8, i16, i32) = (0x95, 0, 0, 0, 0);

fn bytes(slots: &[(u8, u8, u8, i16, i32)]) -> Vec<u8> {
    slots
        .iter()
        .flat_map(|&(o, d, r, off, imm)| s(o, d, r, off, imm).to_bytes())
        .collect()
}

enum Cfg {
    Default,
    Legacy,
    NoCallxR10Check,
}

impl Cfg {
    fn config(&self) -> Config {
        match self {
            Cfg::Default => Config::default(),
            Cfg::Legacy => Config::legacy(),
            Cfg::NoCallxR10Check => Config {
                reject_callx_r10: false,
                ..Config::default()
            },
        }
    }
}

type Row = (
    &'static str,
    Dialect,
    Cfg,
    &'static [(u8, u8, u8, i16, i32)],
    Result<(), VerifyError>,
);

use Dialect::{Ebpf, Sbpf};
use VerifyError as E;

const ROWS: &[Row] = &[
    ("exit alone", Sbpf, Cfg::Default, &[EXIT], Ok(())),
    ("empty", Sbpf, Cfg::Default, &[], Err(E::NoProgram)),
    (
        "div imm 0",
        Sbpf,
        Cfg::Default,
        &[(0x37, 1, 0, 0, 0), EXIT],
        Err(E::DivisionByZero { pc: 0 }),
    ),
    (
        "mod32 imm 0",
        Sbpf,
        Cfg::Default,
        &[(0x94, 1, 0, 0, 0), EXIT],
        Err(E::DivisionByZero { pc: 0 }),
    ),
    (
        "sdiv imm 0",
        Sbpf,
        Cfg::Default,
        &[(0xe7, 1, 0, 0, 0), EXIT],
        Err(E::DivisionByZero { pc: 0 }),
    ),
    (
        "div reg is fine",
        Sbpf,
        Cfg::Default,
        &[(0x3f, 1, 2, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "sdiv off in legacy",
        Sbpf,
        Cfg::Legacy,
        &[(0xef, 1, 2, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xef,
            pc: 0,
        }),
    ),
    (
        "sdiv imm off in legacy",
        Sbpf,
        Cfg::Legacy,
        &[(0xe4, 1, 0, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xe4,
            pc: 0,
        }),
    ),
    (
        "le 8",
        Sbpf,
        Cfg::Default,
        &[(0xd4, 1, 0, 0, 8), EXIT],
        Err(E::UnsupportedLEBEArgument { pc: 0 }),
    ),
    (
        "be 64",
        Sbpf,
        Cfg::Default,
        &[(0xdc, 1, 0, 0, 64), EXIT],
        Ok(()),
    ),
    (
        "lddw last",
        Sbpf,
        Cfg::Default,
        &[EXIT, (0x18, 0, 0, 0, 1)],
        Err(E::LDDWCannotBeLast),
    ),
    (
        "lddw incomplete",
        Sbpf,
        Cfg::Default,
        &[(0x18, 0, 0, 0, 1), EXIT],
        Err(E::IncompleteLDDW { pc: 0 }),
    ),
    (
        "lddw second slot fields unchecked",
        Sbpf,
        Cfg::Default,
        &[(0x18, 0, 0, 0, 1), (0, 15, 15, 7, 2), EXIT],
        Ok(()),
    ),
    (
        "jump past end",
        Sbpf,
        Cfg::Default,
        &[(0x05, 0, 0, 1, 0), EXIT],
        Err(E::JumpOutOfCode { target: 2, pc: 0 }),
    ),
    (
        "jump before start",
        Sbpf,
        Cfg::Default,
        &[(0x05, 0, 0, -2, 0), EXIT],
        Err(E::JumpOutOfCode {
            target: u64::MAX,
            pc: 0,
        }),
    ),
    (
        "jump into lddw",
        Sbpf,
        Cfg::Default,
        &[
            (0x15, 1, 0, 1, 0),
            (0x18, 0, 0, 0, 1),
            (0, 0, 0, 0, 0),
            EXIT,
        ],
        Err(E::JumpToMiddleOfLDDW { target: 2, pc: 0 }),
    ),
    (
        "src r11",
        Sbpf,
        Cfg::Default,
        &[(0xbf, 1, 11, 0, 0), EXIT],
        Err(E::InvalidSourceRegister { pc: 0 }),
    ),
    (
        "src checked on imm op",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 1, 12, 0, 0), EXIT],
        Err(E::InvalidSourceRegister { pc: 0 }),
    ),
    (
        "write r10",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 10, 0, 0, 0), EXIT],
        Err(E::CannotWriteR10 { pc: 0 }),
    ),
    (
        "jump dst r10 (quirk)",
        Sbpf,
        Cfg::Default,
        &[(0x15, 10, 0, 0, 0), EXIT],
        Err(E::CannotWriteR10 { pc: 0 }),
    ),
    (
        "exit dst r10 (quirk)",
        Sbpf,
        Cfg::Default,
        &[(0x95, 10, 0, 0, 0)],
        Err(E::CannotWriteR10 { pc: 0 }),
    ),
    (
        "store via r10",
        Sbpf,
        Cfg::Default,
        &[(0x7a, 10, 0, -8, 1), (0x7b, 10, 1, -8, 0), EXIT],
        Ok(()),
    ),
    (
        "add64 r11 dynamic",
        Sbpf,
        Cfg::Default,
        &[(0x07, 11, 0, 0, -64), (0x17, 11, 0, 0, -64), EXIT],
        Ok(()),
    ),
    (
        "add64 r11 fixed",
        Sbpf,
        Cfg::Legacy,
        &[(0x07, 11, 0, 0, -64), EXIT],
        Err(E::InvalidDestinationRegister { pc: 0 }),
    ),
    (
        "mov r11",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 11, 0, 0, 0), EXIT],
        Err(E::InvalidDestinationRegister { pc: 0 }),
    ),
    (
        "add64 reg r11",
        Sbpf,
        Cfg::Default,
        &[(0x0f, 11, 1, 0, 0), EXIT],
        Err(E::InvalidDestinationRegister { pc: 0 }),
    ),
    (
        "dst r12",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 12, 0, 0, 0), EXIT],
        Err(E::InvalidDestinationRegister { pc: 0 }),
    ),
    (
        "unknown opcode",
        Sbpf,
        Cfg::Default,
        &[(0x8f, 0, 0, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0x8f,
            pc: 0,
        }),
    ),
    (
        "opcode before registers",
        Sbpf,
        Cfg::Default,
        &[(0xff, 12, 12, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xff,
            pc: 0,
        }),
    ),
    (
        "bswap is eBPF",
        Sbpf,
        Cfg::Default,
        &[(0xd7, 1, 0, 0, 16), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xd7,
            pc: 0,
        }),
    ),
    (
        "jmp32 is eBPF",
        Sbpf,
        Cfg::Default,
        &[(0x16, 1, 0, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0x16,
            pc: 0,
        }),
    ),
    (
        "atomic add is eBPF",
        Sbpf,
        Cfg::Default,
        &[(0xdb, 1, 2, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xdb,
            pc: 0,
        }),
    ),
    (
        "atomic with bad op",
        Sbpf,
        Cfg::Default,
        &[(0xc3, 1, 2, 0, 7), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xc3,
            pc: 0,
        }),
    ),
    (
        "ldabs rejected",
        Sbpf,
        Cfg::Default,
        &[(0x20, 0, 0, 0, 1), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0x20,
            pc: 0,
        }),
    ),
    (
        "ldxsb is eBPF",
        Sbpf,
        Cfg::Default,
        &[(0x91, 1, 2, 0, 0), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0x91,
            pc: 0,
        }),
    ),
    (
        "lsh32 by 32",
        Sbpf,
        Cfg::Default,
        &[(0x64, 1, 0, 0, 32), EXIT],
        Err(E::ShiftWithOverflow {
            shift: 32,
            width: 32,
            pc: 0,
        }),
    ),
    (
        "arsh64 by -4",
        Sbpf,
        Cfg::Default,
        &[(0xc7, 1, 0, 0, -4), EXIT],
        Err(E::ShiftWithOverflow {
            shift: 18446744073709551612,
            width: 64,
            pc: 0,
        }),
    ),
    (
        "rsh64 by 63",
        Sbpf,
        Cfg::Default,
        &[(0x77, 1, 0, 0, 63), EXIT],
        Ok(()),
    ),
    (
        "callx r10 rejected",
        Sbpf,
        Cfg::Default,
        &[(0x8d, 0, 0, 0, 10), EXIT],
        Err(E::InvalidRegister { pc: 0 }),
    ),
    (
        "callx r10 allowed",
        Sbpf,
        Cfg::NoCallxR10Check,
        &[(0x8d, 0, 0, 0, 10), EXIT],
        Ok(()),
    ),
    (
        "callx r11",
        Sbpf,
        Cfg::NoCallxR10Check,
        &[(0x8d, 0, 0, 0, 11), EXIT],
        Err(E::InvalidRegister { pc: 0 }),
    ),
    (
        "callx negative",
        Sbpf,
        Cfg::Default,
        &[(0x8d, 0, 0, 0, -1), EXIT],
        Err(E::InvalidRegister { pc: 0 }),
    ),
    (
        "call targets unchecked",
        Sbpf,
        Cfg::Default,
        &[(0x85, 0, 1, 0, 99), EXIT],
        Ok(()),
    ),
    (
        "no final exit needed",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 0, 0, 0, 1)],
        Ok(()),
    ),
    (
        "error at second insn",
        Sbpf,
        Cfg::Default,
        &[(0xb7, 0, 0, 0, 1), (0x37, 1, 0, 0, 0)],
        Err(E::DivisionByZero { pc: 1 }),
    ),
    // eBPF
    (
        "ebpf div imm 0 defined",
        Ebpf,
        Cfg::Default,
        &[(0x37, 1, 0, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf shift imm masked",
        Ebpf,
        Cfg::Default,
        &[(0x64, 1, 0, 0, 48), EXIT],
        Ok(()),
    ),
    (
        "ebpf sdiv",
        Ebpf,
        Cfg::Default,
        &[(0x3f, 1, 2, 1, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf div bad offset",
        Ebpf,
        Cfg::Default,
        &[(0x3f, 1, 2, 2, 0), EXIT],
        Err(E::InvalidField {
            pc: 0,
            field: "offset",
        }),
    ),
    (
        "ebpf sBPF sdiv unknown",
        Ebpf,
        Cfg::Default,
        &[(0xe7, 1, 0, 0, 1), EXIT],
        Err(E::UnknownOpCode {
            opcode: 0xe7,
            pc: 0,
        }),
    ),
    (
        "ebpf jmp32",
        Ebpf,
        Cfg::Default,
        &[(0x16, 1, 0, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf ja32 out",
        Ebpf,
        Cfg::Default,
        &[(0x06, 0, 0, 0, 5), EXIT],
        Err(E::JumpOutOfCode { target: 6, pc: 0 }),
    ),
    (
        "ebpf local call",
        Ebpf,
        Cfg::Default,
        &[(0x85, 0, 1, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf local call out",
        Ebpf,
        Cfg::Default,
        &[(0x85, 0, 1, 0, 4), EXIT],
        Err(E::JumpOutOfCode { target: 5, pc: 0 }),
    ),
    (
        "ebpf kfunc call",
        Ebpf,
        Cfg::Default,
        &[(0x85, 0, 2, 0, 4), EXIT],
        Err(E::InvalidCall { pc: 0 }),
    ),
    (
        "ebpf compare r10",
        Ebpf,
        Cfg::Default,
        &[(0x1d, 10, 1, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf write r10",
        Ebpf,
        Cfg::Default,
        &[(0xb7, 10, 0, 0, 0), EXIT],
        Err(E::CannotWriteR10 { pc: 0 }),
    ),
    (
        "ebpf r11",
        Ebpf,
        Cfg::Default,
        &[(0x07, 11, 0, 0, 8), EXIT],
        Err(E::InvalidDestinationRegister { pc: 0 }),
    ),
    (
        "ebpf fetch into r10",
        Ebpf,
        Cfg::Default,
        &[(0xdb, 1, 10, 0, 1), EXIT],
        Err(E::InvalidSourceRegister { pc: 0 }),
    ),
    (
        "ebpf atomic add from r10",
        Ebpf,
        Cfg::Default,
        &[(0xdb, 1, 10, 0, 0), EXIT],
        Ok(()),
    ),
    (
        "ebpf lddw pseudo",
        Ebpf,
        Cfg::Default,
        &[(0x18, 1, 1, 0, 0), (0, 0, 0, 0, 0), EXIT],
        Err(E::InvalidField {
            pc: 0,
            field: "source",
        }),
    ),
    (
        "ebpf bswap 16",
        Ebpf,
        Cfg::Default,
        &[(0xd7, 1, 0, 0, 16), EXIT],
        Ok(()),
    ),
    (
        "ebpf bswap 8",
        Ebpf,
        Cfg::Default,
        &[(0xd7, 1, 0, 0, 8), EXIT],
        Err(E::UnsupportedLEBEArgument { pc: 0 }),
    ),
];

#[test]
fn verdicts_match_the_table() {
    for (name, dialect, cfg, program, expected) in ROWS {
        let verdict = check(&bytes(program), *dialect, &cfg.config()).map(|_| ());
        assert_eq!(&verdict, expected, "{name}");
    }
}

#[test]
fn length_must_be_a_multiple_of_eight() {
    let mut text = bytes(&[EXIT]);
    text.push(0);
    assert_eq!(
        check(&text, Sbpf, &Config::default()),
        Err(E::ProgramLengthNotMultiple)
    );
}

#[test]
fn sbpf_accepts_exactly_the_reference_opcodes() {
    // Every opcode with harmless fields (a valid shift, a non-zero divisor, a valid width or
    // callx register, a jump to the next slot): the reference accepts 95 with sdiv on and 91
    // with it off.
    let accepted = |config: &Config| {
        (0..=255u8)
            .filter(|&opcode| {
                [16, 2].iter().any(|&imm| {
                    let program = [(opcode, 1, 2, 0, imm), (0x95, 0, 0, 0, 0), EXIT];
                    check(&bytes(&program), Sbpf, config).is_ok()
                })
            })
            .count()
    };
    // lddw with imm 16 takes the exit as its second slot and then fails; count it apart.
    let lddw = check(
        &bytes(&[(0x18, 1, 0, 0, 16), (0, 0, 0, 0, 0), EXIT]),
        Sbpf,
        &Config::default(),
    );
    assert!(lddw.is_ok());
    assert_eq!(accepted(&Config::default()) + 1, 95);
    assert_eq!(accepted(&Config::legacy()) + 1, 91);
}

#[test]
fn decoded_marks_lddw_second_slots() {
    let text = bytes(&[(0x18, 1, 0, 0, 5), (0, 0, 0, 0, 0), EXIT]);
    let decoded = check(&text, Sbpf, &Config::default()).unwrap();
    assert_eq!(decoded.len(), 3);
    assert!(decoded[0].is_some() && decoded[1].is_none() && decoded[2].is_some());
}

/// The sBPF fast path never passes what the exact rules reject, and covers as many slots as
/// the instruction they decode: checked over every opcode with register, offset (jumps in range,
/// into an lddw, out of range) and immediate (shift widths, zero divisors, callx registers)
/// variations, under configurations that flip every setting the rules read, in the 2022
/// dialect and in every SBPF version.
#[test]
fn sbpf_fast_path_agrees_with_the_exact_rules() {
    use super::fast::{checks_of, sbpf_verdict};
    use super::rules::{check_instruction, Text};
    use bpfvm_isa::{Insn, SbpfVersion};
    let mut cases = vec![
        (Dialect::Sbpf, Config::default()),
        (Dialect::Sbpf, Config::legacy()),
        (Dialect::Sbpf, Cfg::NoCallxR10Check.config()),
    ];
    cases.extend(SbpfVersion::ALL.map(|version| (Dialect::Sbpf26(version), Config::agave())));
    let regs = [0u8, 9, 10, 11];
    let offsets = [-2i16, -1, 0, 1, 2, 3, 100];
    let imms = [0i32, 1, -1, 10, 11, 16, 32, 64, -64];
    let mut passed = 0usize;
    for (dialect, config) in &cases {
        let (dialect, checks) = (*dialect, checks_of(*dialect).unwrap());
        for opcode in 0..=255u8 {
            let fields = regs.iter().flat_map(|&dst| regs.map(|src| (dst, src)));
            let fields = fields.flat_map(|(dst, src)| offsets.map(|off| (dst, src, off)));
            let fields = fields.flat_map(|(dst, src, off)| imms.map(|imm| (dst, src, off, imm)));
            let fields = fields.flat_map(|(d, s, o, i)| [0x00u8, 0x95].map(|n| (d, s, o, i, n)));
            for (dst, src, off, imm, next) in fields {
                // slot 0: the candidate; 1: an exit or a bare lddw second slot; 2-3: an lddw.
                let text = bytes(&[
                    (opcode, dst, src, off, imm),
                    (next, 0, 0, 0, 0),
                    (0x18, 0, 0, 0, 0),
                    (0x00, 0, 0, 0, 0),
                    EXIT,
                ]);
                let view = Text::new(&text);
                let verdict = sbpf_verdict(view, 0, checks);
                let exact = check_instruction(view, 0, dialect, config);
                if let Ok(insn) = exact {
                    assert_eq!(
                        verdict.lddw,
                        matches!(insn, Insn::LoadImm64 { .. }),
                        "{:?}",
                        (opcode, dst, src, off, imm, next)
                    );
                }
                if verdict.passes {
                    assert_eq!(
                        exact.map(|insn| insn.slot_count()),
                        Ok(1 + usize::from(verdict.lddw)),
                        "{:?}",
                        (opcode, dst, src, off, imm, next)
                    );
                    passed += 1;
                }
            }
        }
    }
    assert!(passed > 100_000, "the fast path passed only {passed} cases");
}
