//! Self-checks of the solana-sbpf 0.26 oracle adapter (`tests/reference26/mod.rs`).
//!
//! - Every row of `shared/corpus/sbpf_elfs/checklist.tsv` is reproduced on 0.26's
//!   interpreter and on its JIT (result, faulting slot, instruction count), and the two
//!   engines agree in everything, memory included. This proves the adapter's settings,
//!   memory layout, syscalls and error naming.
//! - The per-version opcode tables of `bpfvm_testkit::sbpf26::opcodes` (the spec's) equal
//!   what 0.26's verifier accepts, byte by byte, for every version.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod reference26;

use bpfvm_testkit::corpus::checklist::{load_checklist, Deviation};
use bpfvm_testkit::sbpf26::opcodes::{kind_of, Kind, Operand};
use bpfvm_testkit::sbpf26::rawgen::RawSlot;
use bpfvm_testkit::sbpf26::Version;
use bpfvm_testkit::syscalls::SyscallSet;
use reference26::{run_both, verify, Case26, LoaderMode, Program26};

#[test]
fn sbpf_elfs_checklist_is_reproduced_on_both_engines() {
    let rows = load_checklist().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(rows.len(), 29, "the checklist has 29 rows");
    let mut failures = Vec::new();
    let mut ok = 0;
    for row in &rows {
        let bytes = std::fs::read(row.path().unwrap()).unwrap();
        let e_flags = u32::from_le_bytes(bytes[48..52].try_into().unwrap());
        assert_eq!(e_flags, row.e_flags, "{}", row.file);
        assert_eq!(Version::from_e_flags(e_flags), row.version, "{}", row.file);
        let mut case = Case26::new(Program26::Elf(&bytes));
        case.input = &row.input;
        case.budget = 1 << 62;
        case.syscalls = if row.deviates(Deviation::NoSyscalls) {
            SyscallSet::None
        } else {
            SyscallSet::Logging
        };
        if row.deviates(Deviation::RejectBrokenElfs) {
            case.loader = LoaderMode::Deploy;
        }
        let (interpreter, jit) = run_both(&case);
        let name = format!("{} (line {})", row.file, row.line);
        assert_eq!(row.interp_jit, "agree", "{name}");
        let engines = jit.differences(&interpreter);
        if !engines.is_empty() {
            failures.push(format!("{name}: interpreter and JIT differ: {engines:?}"));
        }
        let against_row = row.differences(&interpreter);
        if against_row.is_empty() {
            ok += 1;
        } else {
            failures.push(format!("{name}: {against_row:?} ({interpreter})"));
        }
    }
    println!(
        "sbpf_elfs checklist: {ok} of {} rows reproduced on 0.26's interpreter and JIT",
        rows.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A well-formed use of an opcode of `kind`, followed by `exit`: operands the verifier
/// accepts (non-zero divisors, shifts in range, endian widths, the callx register where
/// the version reads it).
fn valid_use(version: Version, opcode: u8, kind: Kind) -> Vec<u8> {
    let mut slots = match kind {
        Kind::Alu(op, _, Operand::Imm) if op.shifts() || op.divides() => {
            vec![RawSlot::new(opcode, 0, 0, 0, 1)]
        }
        Kind::Alu(_, _, Operand::Imm) | Kind::Neg(_) | Kind::Hor64 => {
            vec![RawSlot::new(opcode, 0, 0, 0, -5)]
        }
        Kind::Alu(_, _, Operand::Reg) | Kind::Pqr(_, Operand::Reg) | Kind::Load(_) => {
            vec![RawSlot::new(opcode, 0, 1, 0, 0)]
        }
        Kind::Pqr(_, Operand::Imm) => vec![RawSlot::new(opcode, 0, 0, 0, 3)],
        Kind::Endian(_) => vec![RawSlot::new(opcode, 0, 0, 0, 32)],
        Kind::Lddw => vec![
            RawSlot::new(opcode, 0, 0, 0, 1),
            RawSlot::new(0, 0, 0, 0, 2),
        ],
        Kind::StoreImm(_) => vec![RawSlot::new(opcode, 10, 0, -8, 7)],
        Kind::StoreReg(_) => vec![RawSlot::new(opcode, 10, 1, -8, 0)],
        Kind::Ja | Kind::Jump(..) => vec![RawSlot::new(opcode, 1, 2, 0, 3)],
        Kind::Call => vec![RawSlot::new(opcode, 0, 0, 0, 0x1234)],
        Kind::Callx => vec![match version {
            Version::V0 | Version::V1 => RawSlot::new(opcode, 0, 0, 0, 1),
            Version::V2 => RawSlot::new(opcode, 0, 1, 0, 0),
            Version::V3 | Version::V4 => RawSlot::new(opcode, 1, 0, 0, 0),
        }],
        Kind::Exit => Vec::new(),
    };
    slots.push(RawSlot::new(0x95, 0, 0, 0, 0));
    slots.iter().flat_map(|slot| slot.bytes()).collect()
}

#[test]
fn opcode_tables_equal_what_the_verifier_accepts() {
    let mut failures = Vec::new();
    for version in Version::ALL {
        let mut accepted = 0;
        for opcode in 0..=255u8 {
            match kind_of(version, opcode) {
                Some(kind) => match verify(&valid_use(version, opcode, kind), version) {
                    Ok(()) => accepted += 1,
                    Err(error) => failures.push(format!(
                        "{version} {opcode:#04x} ({kind:?}) rejected: {error}"
                    )),
                },
                None => {
                    let text = [
                        RawSlot::new(opcode, 0, 0, 0, 0).bytes(),
                        [0x95, 0, 0, 0, 0, 0, 0, 0],
                    ]
                    .concat();
                    let verdict = verify(&text, version);
                    let unknown = matches!(&verdict, Err(error) if error.kind == "UnknownOpCode");
                    if !unknown {
                        failures.push(format!(
                            "{version} {opcode:#04x} is not in the table, but the verifier says {verdict:?}"
                        ));
                    }
                }
            }
        }
        println!("{version}: the verifier accepts the table's {accepted} opcodes and no other");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
