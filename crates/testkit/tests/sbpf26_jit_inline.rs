//! The JIT runs every instruction of SBPF V0-V4 natively: a program holding every opcode a
//! version accepts (each with the operand forms whose lowering differs: immediates that
//! widen with zeros or with their sign, a divisor of -1, `add64 r10` in V1/V2, `call` by
//! key, by relative offset and by syscall key, `callx`) compiles with no slot whose code is
//! only a hand-over to the interpreter (`JitProgram::interpreted_slots`), and runs to the
//! same outcome on both backends. The PQR class runs on its edge operands (zero divisors,
//! the signed minimum by -1, immediates that zero- or sign-extend, upper halves that 32-bit
//! forms ignore) to the same result, error, faulting pc and instruction count on both
//! backends.
#![cfg(all(target_arch = "x86_64", not(miri)))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bpfvm::Backend;
use bpfvm_testkit::sbpf26::opcodes::{table, Endian, Kind, Operand, PqrOp, Width};
use bpfvm_testkit::sbpf26::ours::{self, Case, Loader26, Program26};
use bpfvm_testkit::sbpf26::rawgen::{const64, internal_call, RawSlot};
use bpfvm_testkit::sbpf26::Version;
use bpfvm_testkit::syscalls::{standard_keys, SyscallSet};

/// Immediates each opcode with an immediate form is tried with: small, negative (which
/// `udiv64`, `urem64` and `uhmul64` widen with zeros), and -1 (the signed divisions' edge).
const IMMEDIATES: [i32; 3] = [7, -5, -1];

/// The slots of one instance of `opcode` (of `kind`) with immediate `imm`, placed at `pc`
/// in a program whose function `callee` the calls go to.
fn instance(version: Version, opcode: u8, kind: Kind, imm: i32, pc: usize) -> Vec<RawSlot> {
    let slot = |dst, src, off, imm| vec![RawSlot::new(opcode, dst, src, off, imm)];
    match kind {
        Kind::Alu(op, width, Operand::Imm) if op.shifts() => {
            slot(1, 0, 0, imm.rem_euclid(width.bits() as i32))
        }
        Kind::Alu(_, _, Operand::Imm) | Kind::Hor64 => slot(1, 0, 0, imm),
        Kind::Pqr(_, Operand::Imm) => slot(1, 0, 0, imm),
        Kind::Alu(_, _, Operand::Reg) | Kind::Pqr(_, Operand::Reg) => slot(1, 2, 0, 0),
        Kind::Neg(_) => slot(1, 0, 0, 0),
        Kind::Endian(Endian::Le | Endian::Be) => slot(1, 0, 0, 32),
        Kind::Lddw => const64(version, 3, 0x1234_5678_9abc_def0).to_vec(),
        Kind::Load(_) => slot(3, 10, -8, 0),
        Kind::StoreImm(_) => slot(10, 0, -16, imm),
        Kind::StoreReg(_) => slot(10, 4, -24, 0),
        Kind::Ja => slot(0, 0, 0, 0),
        Kind::Jump(_, _, Operand::Imm) => slot(1, 0, 0, imm),
        Kind::Jump(_, _, Operand::Reg) => slot(1, 2, 0, 0),
        // A call of the function at pc 1 (which returns at once), and a syscall by key.
        Kind::Call => {
            let syscall = RawSlot::new(opcode, 0, 0, 0, standard_keys()[0] as i32);
            vec![internal_call(version, pc, 1), syscall]
        }
        // `callx` of the function at pc 1 through r5, which holds its address.
        Kind::Callx => {
            let mut slots = const64(version, 5, text_address(1)).to_vec();
            slots.push(match version {
                Version::V0 | Version::V1 => RawSlot::new(opcode, 0, 0, 0, 5),
                Version::V2 => RawSlot::new(opcode, 0, 5, 0, 0),
                Version::V3 | Version::V4 => RawSlot::new(opcode, 5, 0, 0, 0),
            });
            slots
        }
        Kind::Exit => Vec::new(),
    }
}

/// The guest address of slot `pc` of raw text (which every version maps at 1 << 32).
fn text_address(pc: usize) -> u64 {
    (1 << 32) + 8 * pc as u64
}

/// A program with every opcode `version` accepts: slot 0 jumps over the function at slot 1
/// (`exit`), then each opcode once per immediate, r1/r2 re-seeded with non-zero operands
/// before each, and `exit`.
fn every_opcode(version: Version) -> Vec<u8> {
    let mut slots = vec![
        RawSlot::new(0x05, 0, 0, 1, 0),
        RawSlot::new(0x95, 0, 0, 0, 0),
    ];
    if version.manual_frames() {
        // `add64 r10, -64`: V1/V2's manual frame bump.
        slots.push(RawSlot::new(0x07, 10, 0, 0, -64));
    }
    for (opcode, kind) in table(version) {
        for imm in IMMEDIATES {
            slots.push(RawSlot::new(0xb7, 1, 0, 0, 1000));
            slots.push(RawSlot::new(0xb7, 2, 0, 0, 3));
            let pc = slots.len();
            slots.extend(instance(version, opcode, kind, imm, pc));
        }
    }
    slots.push(RawSlot::new(0x95, 0, 0, 0, 0));
    slots.iter().flat_map(|slot| slot.bytes()).collect()
}

fn case<'a>(text: &'a [u8], version: Version, functions: &'a [usize]) -> Case<'a> {
    Case {
        program: Program26::Text {
            bytes: text,
            version,
            functions,
        },
        loader: Loader26::Execute,
        syscalls: SyscallSet::Standard,
        input: &[],
        heap_size: 0,
        budget: 1_000_000,
    }
}

#[test]
fn no_instruction_of_any_version_is_left_to_the_interpreter() {
    for version in Version::ALL {
        let text = every_opcode(version);
        let functions = [0, 1];
        let case = case(&text, version, &functions);
        let mut program = ours::load_verified(&case)
            .unwrap_or_else(|error| panic!("{version}: the program does not verify: {error}"));
        program.jit_compile().unwrap();
        let jit = program.jit_program().unwrap();
        assert!(
            jit.interpreted_slots().is_empty(),
            "{version}: slots left to the interpreter: {:?}",
            jit.interpreted_slots()
        );
        let interpreted = ours::run_verified(&program, &case, Backend::Interpreter);
        let native = ours::run_verified(&program, &case, Backend::Jit);
        assert!(
            native == interpreted,
            "{version}: {}",
            native.differences(&interpreted).join("; ")
        );
        assert!(interpreted.result.is_ok(), "{version}: {interpreted:?}");
    }
}

/// A witness that the accessor reports what it says: eBPF-style traps are slots the
/// interpreter runs (an unresolved V3 `call` src 0 raises `UnsupportedInstruction`).
#[test]
fn an_unresolved_call_is_reported_as_interpreted() {
    let slots = [
        RawSlot::new(0xb7, 0, 0, 0, 0),
        RawSlot::new(0x85, 0, 0, 0, 0x0bad_cafe),
        RawSlot::new(0x95, 0, 0, 0, 0),
    ];
    let text: Vec<u8> = slots.iter().flat_map(|slot| slot.bytes()).collect();
    let functions = [0];
    let case = case(&text, Version::V3, &functions);
    let mut program = ours::load_verified(&case).unwrap();
    program.jit_compile().unwrap();
    assert_eq!(program.jit_program().unwrap().interpreted_slots(), &[1]);
}

/// Edge values for PQR operands.
const EDGES: [u64; 10] = [
    0,
    1,
    u64::MAX,
    i64::MIN as u64,
    0x8000_0000,
    0xffff_ffff_8000_0000,
    0x1_0000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    0xdead_beef_0000_0007,
];

/// Every PQR opcode on every pair of edge operands (register form) and every edge
/// immediate: the JIT's result, error, faulting pc and count equal the interpreter's.
#[test]
fn pqr_edge_operands_agree_on_both_backends() {
    let version = Version::V2;
    let pqr: Vec<(u8, PqrOp, Operand)> = table(version)
        .into_iter()
        .filter_map(|(opcode, kind)| match kind {
            Kind::Pqr(op, operand) => Some((opcode, op, operand)),
            _ => None,
        })
        .collect();
    assert_eq!(pqr.len(), 24);
    let mut runs = 0;
    for &(opcode, op, operand) in &pqr {
        for a in EDGES {
            let mut slots = const64(version, 1, a).to_vec();
            match operand {
                Operand::Reg => {
                    for b in EDGES {
                        let mut program = slots.clone();
                        program.extend(const64(version, 2, b));
                        program.push(RawSlot::new(opcode, 1, 2, 0, 0));
                        check(version, &program, &format!("{op:?} {a:#x}, {b:#x}"));
                        runs += 1;
                    }
                }
                Operand::Imm => {
                    for imm in [1, -1, 7, -7, i32::MIN, i32::MAX] {
                        let mut program = slots.clone();
                        program.push(RawSlot::new(opcode, 1, 0, 0, imm));
                        check(version, &program, &format!("{op:?} {a:#x}, imm {imm}"));
                        runs += 1;
                    }
                }
            }
            slots.clear();
        }
    }
    assert!(runs > 1000, "{runs}");
    assert!(pqr
        .iter()
        .any(|&(_, op, _)| op.width() == Width::W32 && op.signed_division()));
}

/// Runs `body` followed by `mov r0, r1; exit` on both backends and compares.
fn check(version: Version, body: &[RawSlot], what: &str) {
    let mut slots = body.to_vec();
    slots.push(RawSlot::new(0xbf, 0, 1, 0, 0));
    slots.push(RawSlot::new(0x95, 0, 0, 0, 0));
    let text: Vec<u8> = slots.iter().flat_map(|slot| slot.bytes()).collect();
    let functions = [0];
    let case = case(&text, version, &functions);
    let mut program = ours::load_verified(&case).unwrap();
    program.jit_compile().unwrap();
    assert!(program
        .jit_program()
        .unwrap()
        .interpreted_slots()
        .is_empty());
    let interpreted = ours::run_verified(&program, &case, Backend::Interpreter);
    let native = ours::run_verified(&program, &case, Backend::Jit);
    assert!(
        native == interpreted,
        "{what}: {}",
        native.differences(&interpreted).join("; ")
    );
}
