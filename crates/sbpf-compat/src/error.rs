//! The runtime error [`EbpfError`] and the result type of programs and syscalls
//! ([`ProgramResult`], a `Result` with a fixed layout), as solana-sbpf 0.26 defines them.
//!
//! Variant names, fields and messages are part of the observable behaviour (hosts log them,
//! match on them and downcast `SyscallError`), so they are the real crate's. bpfvm's own
//! errors are translated into these in `crate::bridge`.

use crate::{elf::ElfError, memory_region::AccessType, verifier::VerifierError};
use std::error::Error;

/// Why loading, verifying, compiling or running a program failed.
#[derive(Debug, thiserror::Error)]
#[repr(u64)]
pub enum EbpfError {
    /// The ELF loader failed.
    #[error("ELF error: {0}")]
    ElfError(#[from] ElfError),
    /// A function was registered twice.
    #[error("function #{0} was already registered")]
    FunctionAlreadyRegistered(usize),
    /// A call would exceed the maximum call depth.
    #[error("exceeded max BPF to BPF call depth")]
    CallDepthExceeded,
    /// `exit` from the root frame in a context that forbids it.
    #[error("attempted to exit root call frame")]
    ExitRootCallFrame,
    /// Division or remainder by zero.
    #[error("divide by zero at BPF instruction")]
    DivideByZero,
    /// Signed division of the minimum value by -1.
    #[error("division overflow at BPF instruction")]
    DivideOverflow,
    /// Execution ran past the last instruction.
    #[error("attempted to execute past the end of the text segment at BPF instruction")]
    ExecutionOverrun,
    /// `callx` to an address outside the text.
    #[error("callx attempted to call outside of the text segment")]
    CallOutsideTextSegment,
    /// The instruction meter ran out.
    #[error("exceeded CUs meter at BPF instruction")]
    ExceededMaxInstructions,
    /// The JIT was asked to run a program it has not compiled.
    #[error("program has not been JIT-compiled")]
    JitNotCompiled,
    /// Memory regions that do not form a valid mapping (the index of the offending one).
    #[error("Invalid memory region at index {0}")]
    InvalidMemoryRegion(usize),
    /// An access outside the mapped regions, or a store into a read-only one: access, address,
    /// length and the region's name.
    #[error("Access violation {0} {2} bytes at address {1:#x} (in {3} region)")]
    AccessViolation(AccessType, u64, u64, &'static str),
    /// An access violation near the stack: access, address, length and the frame index.
    #[error("Access violation in stack frame {3} at address {1:#x} of size {2:?}")]
    StackAccessViolation(AccessType, u64, u64, i64),
    /// An instruction with invalid fields.
    #[error("invalid BPF instruction")]
    InvalidInstruction,
    /// An instruction that cannot be executed (an unresolved call, for example).
    #[error("unsupported BPF instruction")]
    UnsupportedInstruction,
    /// The JIT's code does not fit its buffer.
    #[error("Compilation exhausted text segment at BPF instruction {0}")]
    ExhaustedTextSegment(usize),
    /// A system call of the host failed: its name, arguments and error code.
    #[error("Libc calling {0} {1:?} returned error code {2}")]
    LibcInvocationFailed(&'static str, Vec<String>, i32),
    /// The verifier refused the program.
    #[error("Verifier error: {0}")]
    VerifierError(#[from] VerifierError),
    /// A builtin function (syscall) failed with the host's error.
    #[error("Syscall error: {0}")]
    SyscallError(Box<dyn Error>),
}

impl EbpfError {
    /// The variant's index, as the real crate's `#[repr(u64)]` discriminant.
    pub const fn discriminant(&self) -> u64 {
        match self {
            EbpfError::ElfError(_) => 0,
            EbpfError::FunctionAlreadyRegistered(_) => 1,
            EbpfError::CallDepthExceeded => 2,
            EbpfError::ExitRootCallFrame => 3,
            EbpfError::DivideByZero => 4,
            EbpfError::DivideOverflow => 5,
            EbpfError::ExecutionOverrun => 6,
            EbpfError::CallOutsideTextSegment => 7,
            EbpfError::ExceededMaxInstructions => 8,
            EbpfError::JitNotCompiled => 9,
            EbpfError::InvalidMemoryRegion(_) => 10,
            EbpfError::AccessViolation(..) => 11,
            EbpfError::StackAccessViolation(..) => 12,
            EbpfError::InvalidInstruction => 13,
            EbpfError::UnsupportedInstruction => 14,
            EbpfError::ExhaustedTextSegment(_) => 15,
            EbpfError::LibcInvocationFailed(..) => 16,
            EbpfError::VerifierError(_) => 17,
            EbpfError::SyscallError(_) => 18,
        }
    }
}

/// `Result` with a fixed memory layout (`#[repr(C, u64)]`), the result type of programs.
#[derive(Debug)]
#[repr(C, u64)]
pub enum StableResult<T, E> {
    /// Success.
    Ok(T),
    /// Failure.
    Err(E),
}

impl<T: std::fmt::Debug, E: std::fmt::Debug> StableResult<T, E> {
    /// Whether this is `Ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok(_))
    }

    /// Whether this is `Err`.
    pub fn is_err(&self) -> bool {
        matches!(self, Self::Err(_))
    }

    /// The value of `Ok`.
    ///
    /// # Panics
    ///
    /// On `Err`, with the error's `Debug` text (as `Result::unwrap`).
    #[allow(clippy::panic, reason = "the documented contract of unwrap")]
    pub fn unwrap(self) -> T {
        match self {
            Self::Ok(value) => value,
            Self::Err(error) => panic!("unwrap {error:?}"),
        }
    }

    /// The error of `Err`.
    ///
    /// # Panics
    ///
    /// On `Ok`, with the value's `Debug` text.
    #[allow(clippy::panic, reason = "the documented contract of unwrap_err")]
    pub fn unwrap_err(self) -> E {
        match self {
            Self::Ok(value) => panic!("unwrap_err {value:?}"),
            Self::Err(error) => error,
        }
    }

    /// Maps the value of `Ok`.
    pub fn map<U, O: FnOnce(T) -> U>(self, op: O) -> StableResult<U, E> {
        match self {
            Self::Ok(value) => StableResult::Ok(op(value)),
            Self::Err(error) => StableResult::Err(error),
        }
    }

    /// Maps the error of `Err`.
    pub fn map_err<F, O: FnOnce(E) -> F>(self, op: O) -> StableResult<T, F> {
        match self {
            Self::Ok(value) => StableResult::Ok(value),
            Self::Err(error) => StableResult::Err(op(error)),
        }
    }
}

impl<T, E> From<StableResult<T, E>> for Result<T, E> {
    fn from(result: StableResult<T, E>) -> Self {
        match result {
            StableResult::Ok(value) => Ok(value),
            StableResult::Err(error) => Err(error),
        }
    }
}

impl<T, E> From<Result<T, E>> for StableResult<T, E> {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Self::Ok(value),
            Err(error) => Self::Err(error),
        }
    }
}

/// The result of a program or a syscall: `r0` or the error that ended the run.
pub type ProgramResult = StableResult<u64, EbpfError>;
