//! The JIT's error type: why a program could not be compiled (or why this build cannot
//! compile at all). It exists in every build, so callers handle one error type whether or
//! not the JIT is there.

use core::fmt;

/// Why a program could not be compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JitError {
    /// The encoder rejected an instruction (a bug in the lowering).
    Encode {
        /// The encoder's message.
        message: String,
    },
    /// An invariant of the compiler itself failed (a bug in the JIT, never the program's
    /// fault): a jump that was never resolved, a routine asked for in the wrong place.
    Internal {
        /// What went wrong.
        message: String,
    },
    /// Code memory could not be allocated or protected.
    CodeMemory {
        /// The system's message.
        message: String,
    },
    /// The program has more slots than generated code can address.
    ProgramTooLarge {
        /// The slot count (or the offending pc).
        slots: usize,
    },
    /// This build has no JIT because the host is not x86-64 (the interpreter runs
    /// everything; see `Backend::AVAILABLE`).
    UnsupportedTarget {
        /// The target architecture of this build.
        arch: &'static str,
    },
    /// This build has no JIT because `bpfvm` was built without its `jit` feature.
    FeatureDisabled,
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Encode { message } => write!(f, "machine-code encoding failed: {message}"),
            JitError::Internal { message } => write!(f, "internal JIT error: {message}"),
            JitError::CodeMemory { message } => write!(f, "code memory: {message}"),
            JitError::ProgramTooLarge { slots } => {
                write!(f, "program too large for the JIT ({slots} slots)")
            }
            JitError::UnsupportedTarget { arch } => write!(
                f,
                "the JIT generates x86-64 code only; this build targets {arch} (use the interpreter)"
            ),
            JitError::FeatureDisabled => f.write_str(
                "this build of bpfvm has no JIT (its `jit` feature is off; use the interpreter)",
            ),
        }
    }
}

impl std::error::Error for JitError {}

/// The error that says why this build has no JIT.
#[cfg(not(bpfvm_jit))]
pub(crate) fn unavailable() -> JitError {
    if cfg!(target_arch = "x86_64") {
        JitError::FeatureDisabled
    } else {
        JitError::UnsupportedTarget {
            arch: std::env::consts::ARCH,
        }
    }
}
