//! Verifiers (solana-sbpf 0.26's `verifier` module): the [`Verifier`] trait, the consensus
//! [`RequisiteVerifier`] (bpfvm's verifier under the program's SBPF version), and the
//! client-side [`LocalVerifier`].
//!
//! `Executable::verify::<V>()` runs `V` and also builds bpfvm's verified program, which is
//! what both backends run. For [`RequisiteVerifier`] that is one pass. A host verifier that
//! accepts a program bpfvm's verifier refuses (a custom verifier more lenient than 0.26's)
//! leaves the executable unrunnable: `execute_program` and `jit_compile` then fail with
//! bpfvm's verdict as `EbpfError::VerifierError`, instead of running code bpfvm cannot run
//! safely.

use crate::{
    ebpf,
    program::{FunctionRegistry, SBPFVersion},
};

/// Why a verifier refused a program.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
pub enum VerifierError {
    /// The text length is not a multiple of 8.
    #[error("program length must be a multiple of {} octets", ebpf::INSN_SIZE)]
    ProgramLengthNotMultiple,
    /// No longer produced.
    #[error("Deprecated")]
    ProgramTooLarge(usize),
    /// The text is empty.
    #[error("no program set, call prog_set() to load one")]
    NoProgram,
    /// Division by an immediate zero (the slot).
    #[error("division by 0 (insn #{0})")]
    DivisionByZero(usize),
    /// `le`/`be` with a width other than 16, 32 or 64 (the slot).
    #[error("unsupported argument for LE/BE (insn #{0})")]
    UnsupportedLEBEArgument(usize),
    /// An `lddw` in the last slot.
    #[error("LD_DW instruction cannot be last in program")]
    LDDWCannotBeLast,
    /// An `lddw` whose second slot is not opcode 0 (the slot).
    #[error("incomplete LD_DW instruction (insn #{0})")]
    IncompleteLDDW(usize),
    /// No longer produced.
    #[error("infinite loop (insn #{0})")]
    InfiniteLoop(usize),
    /// A jump outside the text: the target and the slot.
    #[error("jump out of code to #{0} (insn #{1})")]
    JumpOutOfCode(usize, usize),
    /// A jump into the second slot of an `lddw`: the target and the slot.
    #[error("jump to middle of LD_DW at #{0} (insn #{1})")]
    JumpToMiddleOfLDDW(usize, usize),
    /// A source register above r10 (the slot).
    #[error("invalid source register (insn #{0})")]
    InvalidSourceRegister(usize),
    /// A write to r10 (the slot).
    #[error("cannot write into register r10 (insn #{0})")]
    CannotWriteR10(usize),
    /// A destination register above r10 (the slot).
    #[error("invalid destination register (insn #{0})")]
    InvalidDestinationRegister(usize),
    /// An opcode the version does not have: the opcode and the slot.
    #[error("unknown eBPF opcode {0:#2x} (insn #{1:?})")]
    UnknownOpCode(u8, usize),
    /// A shift by an immediate of at least the width: the amount, the width and the slot
    /// (the message names them in the real crate's order, amount first).
    #[error("Shift with overflow of {0}-bit value by {1} (insn #{2:?})")]
    ShiftWithOverflow(u64, u64, usize),
    /// A `callx` register outside r0..=r9 (the slot).
    #[error("Invalid register specified at instruction {0}")]
    InvalidRegister(usize),
    /// A relative call to itself (local verifier; the slot).
    #[error("Invalid function at instruction {0}")]
    InvalidFunction(usize),
    /// A static syscall no builtin serves (local verifier; the key).
    #[error("Invalid syscall code {0}")]
    InvalidSyscall(u32),
    /// `add64 r10` by an immediate that is not a multiple of 64 (the slot).
    #[error("Unaligned immediate (insn #{0})")]
    UnalignedImmediate(usize),
}

/// A check a program must pass before it runs.
pub trait Verifier {
    /// Checks `prog` (the text) of `sbpf_version` against the loader's builtins.
    fn verify<T: Copy + PartialEq>(
        prog: &[u8],
        sbpf_version: SBPFVersion,
        syscall_registry: &FunctionRegistry<T>,
    ) -> Result<(), VerifierError>;

    /// Whether this verifier is exactly bpfvm's (then `Executable::verify` runs it once).
    #[doc(hidden)]
    fn is_requisite() -> bool {
        false
    }
}

/// The consensus verifier: every rule 0.26 checks for the version, by bpfvm's verifier.
#[derive(Debug)]
pub struct RequisiteVerifier {}

impl Verifier for RequisiteVerifier {
    fn verify<T: Copy + PartialEq>(
        prog: &[u8],
        sbpf_version: SBPFVersion,
        _syscall_registry: &FunctionRegistry<T>,
    ) -> Result<(), VerifierError> {
        crate::bridge::verify_text(prog, sbpf_version)
    }

    fn is_requisite() -> bool {
        true
    }
}

/// The check `solana deploy` runs locally on V3 and later programs: every static syscall is
/// registered, and no relative call targets itself (immediate -1).
#[derive(Debug)]
pub struct LocalVerifier {}

impl Verifier for LocalVerifier {
    fn verify<T: Copy + PartialEq>(
        prog: &[u8],
        sbpf_version: SBPFVersion,
        syscall_registry: &FunctionRegistry<T>,
    ) -> Result<(), VerifierError> {
        if sbpf_version < SBPFVersion::V3 {
            return Ok(());
        }
        let mut pc = 0;
        while ebpf::is_pc_in_program(prog, pc) {
            let insn = ebpf::get_insn(prog, pc);
            match insn.opc {
                ebpf::LD_DW_IMM => pc += 1,
                ebpf::CALL_IMM
                    if insn.src == 0
                        && syscall_registry.lookup_by_key(insn.imm as u32).is_none() =>
                {
                    return Err(VerifierError::InvalidSyscall(insn.imm as u32));
                }
                ebpf::CALL_IMM if insn.src == 1 && insn.imm == -1 => {
                    return Err(VerifierError::InvalidFunction(pc));
                }
                _ => {}
            }
            pc += 1;
        }
        Ok(())
    }
}
