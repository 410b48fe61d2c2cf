//! The error values of the run-time stages: the trap a program raises and the verifier's verdict.
//!
//! Variant names are the reference's (`EbpfError` and `VerifierError` of solana_rbpf 0.2.38),
//! because hosts and the CLI's JSON report them by name; fields are named. Every program
//! counter is a slot index. The reference displays slot + 29 (`ELF_INSN_DUMP_OFFSET`); that
//! offset exists only in [`REFERENCE_PC_OFFSET`] for the compatibility layer, never in the
//! engine.

use core::fmt;

/// The reference adds this to slot indices when it reports a pc. Only comparison code with
/// the reference uses it.
pub const REFERENCE_PC_OFFSET: usize = 29;

/// Whether a memory access reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessType {
    /// A read.
    Load,
    /// A write.
    Store,
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessType::Load => "load",
            AccessType::Store => "store",
        })
    }
}

/// One named field of an error, typed so that reports can format it well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorField {
    /// A count, length, pc or index.
    Number(u64),
    /// A signed number (a stack frame index).
    Signed(i64),
    /// A guest address.
    Address(u64),
    /// Text: a region name, an access type, a message.
    Text(String),
}

/// Why a program stopped with an error, or why a VM could not be set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// A call raised the depth to `max_call_depth`.
    CallDepthExceeded {
        /// The calling instruction.
        pc: usize,
        /// The configured maximum depth.
        depth: usize,
    },
    /// Division or remainder by a zero register.
    DivideByZero {
        /// The faulting instruction.
        pc: usize,
    },
    /// Signed division of the minimum value by -1.
    DivideOverflow {
        /// The faulting instruction.
        pc: usize,
    },
    /// Execution ran past the last slot; `pc` is the slot count.
    ExecutionOverrun {
        /// The slot after the last instruction.
        pc: usize,
    },
    /// A `callx` target outside the text, or a call target out of range.
    CallOutsideTextSegment {
        /// The calling instruction.
        pc: usize,
        /// The target address as the reference reports it.
        target: u64,
    },
    /// The instruction budget ran out.
    ExceededMaxInstructions {
        /// Where the meter tripped (the next pc, as the reference reports it).
        pc: usize,
        /// The budget the run started with.
        budget: u64,
    },
    /// Memory regions that do not form a valid mapping.
    InvalidMemoryRegion {
        /// The index of the offending region.
        index: usize,
    },
    /// An access outside every region, into a gap, or a store to a read-only region.
    AccessViolation {
        /// The faulting instruction (0 inside a syscall).
        pc: usize,
        /// Load or store.
        access: AccessType,
        /// The guest address.
        vaddr: u64,
        /// The access length.
        len: u64,
        /// The region named by the address's upper bits: program, stack, heap, input, unknown.
        region: &'static str,
    },
    /// An access violation near the stack with fixed frames.
    StackAccessViolation {
        /// The faulting instruction (0 inside a syscall).
        pc: usize,
        /// Load or store.
        access: AccessType,
        /// The guest address.
        vaddr: u64,
        /// The access length.
        len: u64,
        /// The stack frame the address falls in (truncating division; may be -1).
        frame: i64,
    },
    /// An instruction with an invalid field reached execution.
    InvalidInstruction {
        /// The instruction.
        pc: usize,
    },
    /// An instruction the VM cannot execute: an unresolved call, or a `callx` to a pc that is
    /// not a function.
    UnsupportedInstruction {
        /// The instruction (for `callx`, the target pc).
        pc: usize,
    },
    /// A syscall failed; the host's message says why.
    UserError {
        /// The message.
        message: String,
    },
    /// solana-sbpf 0.26 (the SBPF versions): the syscall called at `pc` failed with `error`
    /// (a [`RuntimeError::UserError`], or an access violation of its arguments).
    SyscallError {
        /// The calling instruction.
        pc: usize,
        /// The syscall's own error.
        error: Box<RuntimeError>,
    },
    /// The JIT backend was asked for but no compiled code exists.
    JitNotCompiled,
    /// The JIT's generated code ended in a way it must never end (a bug in the JIT, never the
    /// program's doing): a bail-out site missing from its table, an exit kind it does not
    /// know, an error exit with no error.
    JitFailure {
        /// What went wrong.
        message: String,
    },
}

impl RuntimeError {
    /// The reference's name for this error (the variant name).
    pub fn kind(&self) -> &'static str {
        match self {
            RuntimeError::CallDepthExceeded { .. } => "CallDepthExceeded",
            RuntimeError::DivideByZero { .. } => "DivideByZero",
            RuntimeError::DivideOverflow { .. } => "DivideOverflow",
            RuntimeError::ExecutionOverrun { .. } => "ExecutionOverrun",
            RuntimeError::CallOutsideTextSegment { .. } => "CallOutsideTextSegment",
            RuntimeError::ExceededMaxInstructions { .. } => "ExceededMaxInstructions",
            RuntimeError::InvalidMemoryRegion { .. } => "InvalidMemoryRegion",
            RuntimeError::AccessViolation { .. } => "AccessViolation",
            RuntimeError::StackAccessViolation { .. } => "StackAccessViolation",
            RuntimeError::InvalidInstruction { .. } => "InvalidInstruction",
            RuntimeError::UnsupportedInstruction { .. } => "UnsupportedInstruction",
            RuntimeError::UserError { .. } => "UserError",
            RuntimeError::SyscallError { .. } => "SyscallError",
            RuntimeError::JitNotCompiled => "JitNotCompiled",
            RuntimeError::JitFailure { .. } => "JitFailure",
        }
    }

    /// The variant's fields by name, in declaration order.
    pub fn fields(&self) -> Vec<(&'static str, ErrorField)> {
        use ErrorField::{Address, Number, Signed, Text};
        let n = |value: usize| Number(value as u64);
        match self {
            RuntimeError::CallDepthExceeded { pc, depth } => {
                vec![("pc", n(*pc)), ("depth", n(*depth))]
            }
            RuntimeError::DivideByZero { pc }
            | RuntimeError::DivideOverflow { pc }
            | RuntimeError::ExecutionOverrun { pc }
            | RuntimeError::InvalidInstruction { pc }
            | RuntimeError::UnsupportedInstruction { pc } => vec![("pc", n(*pc))],
            RuntimeError::CallOutsideTextSegment { pc, target } => {
                vec![("pc", n(*pc)), ("target", Address(*target))]
            }
            RuntimeError::ExceededMaxInstructions { pc, budget } => {
                vec![("pc", n(*pc)), ("budget", Number(*budget))]
            }
            RuntimeError::InvalidMemoryRegion { index } => vec![("index", n(*index))],
            RuntimeError::AccessViolation {
                pc,
                access,
                vaddr,
                len,
                region,
            } => vec![
                ("pc", n(*pc)),
                ("access", Text(access.to_string())),
                ("vaddr", Address(*vaddr)),
                ("len", Number(*len)),
                ("region", Text((*region).to_owned())),
            ],
            RuntimeError::StackAccessViolation {
                pc,
                access,
                vaddr,
                len,
                frame,
            } => vec![
                ("pc", n(*pc)),
                ("access", Text(access.to_string())),
                ("vaddr", Address(*vaddr)),
                ("len", Number(*len)),
                ("frame", Signed(*frame)),
            ],
            RuntimeError::UserError { message } | RuntimeError::JitFailure { message } => {
                vec![("message", Text(message.clone()))]
            }
            RuntimeError::SyscallError { pc, error } => {
                vec![("pc", n(*pc)), ("error", Text(error.to_string()))]
            }
            RuntimeError::JitNotCompiled => Vec::new(),
        }
    }

    /// The pc the error carries, if it carries one.
    pub fn pc(&self) -> Option<usize> {
        match *self {
            RuntimeError::CallDepthExceeded { pc, .. }
            | RuntimeError::DivideByZero { pc }
            | RuntimeError::DivideOverflow { pc }
            | RuntimeError::ExecutionOverrun { pc }
            | RuntimeError::CallOutsideTextSegment { pc, .. }
            | RuntimeError::ExceededMaxInstructions { pc, .. }
            | RuntimeError::AccessViolation { pc, .. }
            | RuntimeError::StackAccessViolation { pc, .. }
            | RuntimeError::InvalidInstruction { pc }
            | RuntimeError::UnsupportedInstruction { pc }
            | RuntimeError::SyscallError { pc, .. } => Some(pc),
            RuntimeError::InvalidMemoryRegion { .. }
            | RuntimeError::UserError { .. }
            | RuntimeError::JitNotCompiled
            | RuntimeError::JitFailure { .. } => None,
        }
    }
}

/// One positional field of an error as solana-sbpf 0.26 reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sbpf26Field {
    /// A number (decimal in 0.26's `Debug` text).
    Number(u64),
    /// A signed number (a stack frame).
    Signed(i64),
    /// A name: an access type (`Load`, `Store`) or a region.
    Name(&'static str),
    /// The error of a failed syscall, itself an error.
    Inner(Box<RuntimeError>),
    /// A failed syscall's own message.
    Text(String),
}

impl RuntimeError {
    /// The error as solana-sbpf 0.26 reports it: its variant name and positional fields,
    /// without any pc (0.26 leaves the faulting pc in register 11: [`RuntimeError::pc`]).
    /// Variants 0.26 lacks keep their name and lose their pc.
    pub fn sbpf26_parts(&self) -> (&'static str, Vec<Sbpf26Field>) {
        use Sbpf26Field::{Inner, Name, Number, Signed, Text};
        let access_name = |access: &AccessType| match access {
            AccessType::Load => "Load",
            AccessType::Store => "Store",
        };
        let fields = match self {
            RuntimeError::CallDepthExceeded { .. }
            | RuntimeError::DivideByZero { .. }
            | RuntimeError::DivideOverflow { .. }
            | RuntimeError::ExecutionOverrun { .. }
            | RuntimeError::CallOutsideTextSegment { .. }
            | RuntimeError::ExceededMaxInstructions { .. }
            | RuntimeError::InvalidInstruction { .. }
            | RuntimeError::UnsupportedInstruction { .. }
            | RuntimeError::JitNotCompiled => Vec::new(),
            RuntimeError::InvalidMemoryRegion { index } => vec![Number(*index as u64)],
            RuntimeError::AccessViolation {
                access,
                vaddr,
                len,
                region,
                ..
            } => vec![
                Name(access_name(access)),
                Number(*vaddr),
                Number(*len),
                Name(region),
            ],
            RuntimeError::StackAccessViolation {
                access,
                vaddr,
                len,
                frame,
                ..
            } => vec![
                Name(access_name(access)),
                Number(*vaddr),
                Number(*len),
                Signed(*frame),
            ],
            RuntimeError::UserError { message } | RuntimeError::JitFailure { message } => {
                vec![Text(message.clone())]
            }
            RuntimeError::SyscallError { error, .. } => match error.as_ref() {
                RuntimeError::UserError { message } => vec![Text(message.clone())],
                other => vec![Inner(Box::new(other.clone()))],
            },
        };
        (self.kind(), fields)
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::CallDepthExceeded { pc, depth } => {
                write!(f, "call depth {depth} exceeded at pc {pc}")
            }
            RuntimeError::DivideByZero { pc } => write!(f, "division by zero at pc {pc}"),
            RuntimeError::DivideOverflow { pc } => write!(f, "division overflow at pc {pc}"),
            RuntimeError::ExecutionOverrun { pc } => {
                write!(f, "execution ran off the end of the program at pc {pc}")
            }
            RuntimeError::CallOutsideTextSegment { pc, target } => {
                write!(f, "call at pc {pc} to {target:#x}, outside the program text")
            }
            RuntimeError::ExceededMaxInstructions { pc, budget } => {
                write!(f, "instruction budget of {budget} exhausted at pc {pc}")
            }
            RuntimeError::InvalidMemoryRegion { index } => {
                write!(f, "memory region {index} does not fit the mapping")
            }
            RuntimeError::AccessViolation {
                pc,
                access,
                vaddr,
                len,
                region,
            } => write!(
                f,
                "access violation in {region} region at pc {pc}: {access} of {len} bytes at {vaddr:#x}"
            ),
            RuntimeError::StackAccessViolation {
                pc,
                access,
                vaddr,
                len,
                frame,
            } => write!(
                f,
                "stack access violation in frame {frame} at pc {pc}: {access} of {len} bytes at {vaddr:#x}"
            ),
            RuntimeError::InvalidInstruction { pc } => write!(f, "invalid instruction at pc {pc}"),
            RuntimeError::UnsupportedInstruction { pc } => {
                write!(f, "unsupported instruction at pc {pc}")
            }
            RuntimeError::UserError { message } => write!(f, "syscall error: {message}"),
            RuntimeError::SyscallError { pc, error } => {
                write!(f, "the syscall at pc {pc} failed: {error}")
            }
            RuntimeError::JitNotCompiled => write!(f, "the program was not compiled by the JIT"),
            RuntimeError::JitFailure { message } => write!(f, "internal JIT failure: {message}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// Why the verifier rejected a program. Every `pc` is a slot index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifyError {
    /// The text length is not a multiple of 8.
    ProgramLengthNotMultiple,
    /// The text is empty.
    NoProgram,
    /// Division or remainder by an immediate zero (sBPF).
    DivisionByZero {
        /// The instruction.
        pc: usize,
    },
    /// `le`/`be`/`bswap` with a width other than 16, 32 or 64.
    UnsupportedLEBEArgument {
        /// The instruction.
        pc: usize,
    },
    /// An `lddw` in the last slot.
    LDDWCannotBeLast,
    /// An `lddw` whose second slot has a non-zero opcode.
    IncompleteLDDW {
        /// The instruction.
        pc: usize,
    },
    /// A jump outside the program. `target` is the raw target slot (as u64, so a negative
    /// target shows as a large number, like the reference's usize cast).
    JumpOutOfCode {
        /// The target slot.
        target: u64,
        /// The jump.
        pc: usize,
    },
    /// A jump into the second slot of an `lddw`.
    JumpToMiddleOfLDDW {
        /// The target slot.
        target: usize,
        /// The jump.
        pc: usize,
    },
    /// A source register above r10.
    InvalidSourceRegister {
        /// The instruction.
        pc: usize,
    },
    /// A write to r10.
    CannotWriteR10 {
        /// The instruction.
        pc: usize,
    },
    /// A destination register above r10 (r11 only where allowed).
    InvalidDestinationRegister {
        /// The instruction.
        pc: usize,
    },
    /// An opcode the dialect or configuration does not accept.
    UnknownOpCode {
        /// The opcode byte.
        opcode: u8,
        /// The instruction.
        pc: usize,
    },
    /// A shift by an immediate outside `[0, width)` (sBPF).
    ShiftWithOverflow {
        /// The shift amount as the reference reports it (`imm as u64`).
        shift: u64,
        /// The operation width in bits.
        width: u64,
        /// The instruction.
        pc: usize,
    },
    /// `callx` with a register outside r0..=r10, or r10 when rejected.
    InvalidRegister {
        /// The instruction.
        pc: usize,
    },
    /// eBPF: a field that must be canonical holds an undefined value.
    InvalidField {
        /// The instruction.
        pc: usize,
        /// The field's name.
        field: &'static str,
    },
    /// SBPF V1/V2: `add64 r10, imm` with an immediate that is not a multiple of 64.
    UnalignedImmediate {
        /// The instruction.
        pc: usize,
    },
    /// eBPF: a call whose kind (the source field) or target is not supported.
    InvalidCall {
        /// The instruction.
        pc: usize,
    },
}

impl VerifyError {
    /// The reference's name for this error (the variant name).
    pub fn kind(&self) -> &'static str {
        match self {
            VerifyError::ProgramLengthNotMultiple => "ProgramLengthNotMultiple",
            VerifyError::NoProgram => "NoProgram",
            VerifyError::DivisionByZero { .. } => "DivisionByZero",
            VerifyError::UnsupportedLEBEArgument { .. } => "UnsupportedLEBEArgument",
            VerifyError::LDDWCannotBeLast => "LDDWCannotBeLast",
            VerifyError::IncompleteLDDW { .. } => "IncompleteLDDW",
            VerifyError::JumpOutOfCode { .. } => "JumpOutOfCode",
            VerifyError::JumpToMiddleOfLDDW { .. } => "JumpToMiddleOfLDDW",
            VerifyError::InvalidSourceRegister { .. } => "InvalidSourceRegister",
            VerifyError::CannotWriteR10 { .. } => "CannotWriteR10",
            VerifyError::InvalidDestinationRegister { .. } => "InvalidDestinationRegister",
            VerifyError::UnknownOpCode { .. } => "UnknownOpCode",
            VerifyError::ShiftWithOverflow { .. } => "ShiftWithOverflow",
            VerifyError::InvalidRegister { .. } => "InvalidRegister",
            VerifyError::InvalidField { .. } => "InvalidField",
            VerifyError::InvalidCall { .. } => "InvalidCall",
            VerifyError::UnalignedImmediate { .. } => "UnalignedImmediate",
        }
    }
}

impl VerifyError {
    /// The variant's fields by name, in declaration order.
    pub fn fields(&self) -> Vec<(&'static str, ErrorField)> {
        use ErrorField::{Number, Text};
        let n = |value: usize| Number(value as u64);
        match self {
            VerifyError::ProgramLengthNotMultiple
            | VerifyError::NoProgram
            | VerifyError::LDDWCannotBeLast => Vec::new(),
            VerifyError::DivisionByZero { pc }
            | VerifyError::UnsupportedLEBEArgument { pc }
            | VerifyError::IncompleteLDDW { pc }
            | VerifyError::InvalidSourceRegister { pc }
            | VerifyError::CannotWriteR10 { pc }
            | VerifyError::InvalidDestinationRegister { pc }
            | VerifyError::InvalidRegister { pc }
            | VerifyError::InvalidCall { pc }
            | VerifyError::UnalignedImmediate { pc } => vec![("pc", n(*pc))],
            VerifyError::JumpOutOfCode { target, pc } => {
                vec![("target", Number(*target)), ("pc", n(*pc))]
            }
            VerifyError::JumpToMiddleOfLDDW { target, pc } => {
                vec![("target", n(*target)), ("pc", n(*pc))]
            }
            VerifyError::UnknownOpCode { opcode, pc } => {
                vec![("opcode", Number(u64::from(*opcode))), ("pc", n(*pc))]
            }
            VerifyError::ShiftWithOverflow { shift, width, pc } => vec![
                ("shift", Number(*shift)),
                ("width", Number(*width)),
                ("pc", n(*pc)),
            ],
            VerifyError::InvalidField { pc, field } => {
                vec![("pc", n(*pc)), ("field", Text((*field).to_owned()))]
            }
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::ProgramLengthNotMultiple => {
                write!(f, "program length is not a multiple of 8 bytes")
            }
            VerifyError::NoProgram => write!(f, "the program is empty"),
            VerifyError::DivisionByZero { pc } => {
                write!(f, "division by zero immediate at pc {pc}")
            }
            VerifyError::UnsupportedLEBEArgument { pc } => {
                write!(f, "byte swap width must be 16, 32 or 64 at pc {pc}")
            }
            VerifyError::LDDWCannotBeLast => write!(f, "lddw cannot be the last instruction"),
            VerifyError::IncompleteLDDW { pc } => write!(f, "incomplete lddw at pc {pc}"),
            VerifyError::JumpOutOfCode { target, pc } => {
                write!(f, "jump at pc {pc} to {target} leaves the program")
            }
            VerifyError::JumpToMiddleOfLDDW { target, pc } => {
                write!(f, "jump at pc {pc} to {target} lands inside an lddw")
            }
            VerifyError::InvalidSourceRegister { pc } => {
                write!(f, "invalid source register at pc {pc}")
            }
            VerifyError::CannotWriteR10 { pc } => write!(f, "r10 is read-only, written at pc {pc}"),
            VerifyError::InvalidDestinationRegister { pc } => {
                write!(f, "invalid destination register at pc {pc}")
            }
            VerifyError::UnknownOpCode { opcode, pc } => {
                write!(f, "unknown opcode {opcode:#04x} at pc {pc}")
            }
            VerifyError::ShiftWithOverflow { shift, width, pc } => {
                write!(f, "shift by {shift} overflows {width} bits at pc {pc}")
            }
            VerifyError::InvalidRegister { pc } => write!(f, "invalid callx register at pc {pc}"),
            VerifyError::InvalidField { pc, field } => {
                write!(f, "invalid {field} field at pc {pc}")
            }
            VerifyError::InvalidCall { pc } => write!(f, "unsupported call kind at pc {pc}"),
            VerifyError::UnalignedImmediate { pc } => write!(
                f,
                "add64 r10 by an immediate that is not a multiple of 64 at pc {pc}"
            ),
        }
    }
}

impl std::error::Error for VerifyError {}
