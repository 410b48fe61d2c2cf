//! Why a syscall failed: the named reasons behind a `RuntimeError::UserError`.
//!
//! The engine's error type has one variant for host failures, `UserError { message }`; the
//! syscalls build their messages from this enum so every reason has a name and a test can
//! compare values instead of strings ([`SyscallError::into_runtime`]).

use crate::error::RuntimeError;
use core::fmt;

/// A syscall's failure reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyscallError {
    /// The program called `abort()`.
    Abort,
    /// The program called `sol_panic_`.
    Panic {
        /// The source file the program named.
        file: String,
        /// Its line.
        line: u64,
        /// Its column.
        column: u64,
    },
    /// A string argument is not UTF-8 (up to its first NUL byte).
    InvalidString {
        /// The bytes that failed to decode.
        bytes: Vec<u8>,
    },
    /// `sol_memcpy_` (or an output pair of `sol_get_return_data`) got overlapping ranges.
    CopyOverlapping,
    /// A typed pointer argument is not aligned for its type.
    UnalignedPointer {
        /// The guest address.
        vaddr: u64,
        /// The alignment its type needs.
        align: u64,
    },
    /// `sol_set_return_data` with more than the allowed bytes.
    ReturnDataTooLarge {
        /// The requested length.
        len: u64,
        /// The maximum ([`crate::syscalls::host::MAX_RETURN_DATA`]).
        max: u64,
    },
    /// The syscall's compute cost exceeded the remaining budget (the runtime's
    /// `ComputationalBudgetExceeded`).
    ComputeBudgetExceeded {
        /// The cost.
        cost: u64,
        /// What was left before the charge.
        remaining: u64,
    },
    /// More than 16 seeds, or a seed longer than 32 bytes, for a program address.
    MaxSeedLengthExceeded,
    /// A hash syscall was given more slices than it takes.
    TooManySlices {
        /// The slices given.
        count: u64,
        /// The most it takes.
        max: u64,
    },
    /// The program imported a syscall this VM does not implement.
    Unsupported {
        /// The syscall's name.
        name: &'static str,
    },
}

impl SyscallError {
    /// The engine error carrying this reason as its message.
    pub fn into_runtime(self) -> RuntimeError {
        RuntimeError::UserError {
            message: self.to_string(),
        }
    }
}

impl From<SyscallError> for RuntimeError {
    fn from(error: SyscallError) -> Self {
        error.into_runtime()
    }
}

impl fmt::Display for SyscallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyscallError::Abort => f.write_str("the program called abort()"),
            SyscallError::Panic { file, line, column } => {
                write!(f, "the program panicked at {file}:{line}:{column}")
            }
            SyscallError::InvalidString { bytes } => {
                write!(f, "string argument is not valid UTF-8: {bytes:02x?}")
            }
            SyscallError::CopyOverlapping => f.write_str("source and destination overlap"),
            SyscallError::UnalignedPointer { vaddr, align } => {
                write!(f, "pointer {vaddr:#x} is not aligned to {align} bytes")
            }
            SyscallError::ReturnDataTooLarge { len, max } => {
                write!(f, "return data of {len} bytes exceeds the maximum of {max}")
            }
            SyscallError::ComputeBudgetExceeded { cost, remaining } => write!(
                f,
                "compute budget exceeded: the syscall costs {cost} units, {remaining} remain"
            ),
            SyscallError::MaxSeedLengthExceeded => {
                f.write_str("length of the seed is too long for address generation")
            }
            SyscallError::TooManySlices { count, max } => {
                write!(
                    f,
                    "hashing {count} slices in one syscall is over the limit {max}"
                )
            }
            SyscallError::Unsupported { name } => write!(f, "unsupported syscall {name}"),
        }
    }
}

impl std::error::Error for SyscallError {}
