//! Why a command could not do its work: the CLI's error type, one variant per stage.
//!
//! Every failure exits with code 2. In text it is one line on stderr (`bpfvm: ` and the
//! `Display`); with `--json` it is a document with the stage, the error's kind and named
//! fields, and the same message (`schema/`). A program that runs and raises an error is not
//! a failure: that is the run's result (exit code 1).

use crate::schema::ProgramDescription;
use bpfvm::jit::JitError;
use bpfvm::ErrorField::{self, Text};
use bpfvm::{LoadError, RuntimeError, VerifyError};
use bpfvm_asm::AsmError;
use core::fmt;
use std::path::Path;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong: a clap error, or a value outside its stated limits.
    Usage {
        /// clap's error kind (`InvalidValue`, `UnknownArgument`, ...) or `OutOfRange`,
        /// `Conflict` for the CLI's own checks.
        kind: String,
        /// The option at fault, when one is.
        option: Option<String>,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A file or stream could not be read or written.
    Io {
        /// What was being done (`read`, `write`).
        action: &'static str,
        /// The path (`-` for the standard streams).
        path: String,
        /// The system's message.
        message: String,
    },
    /// The assembler rejected the source.
    Assemble {
        /// Where and why.
        error: AsmError,
    },
    /// The loader rejected the program.
    Load {
        /// The loader's error.
        error: LoadError,
        /// How it was being loaded (none for `info`, which loads nothing).
        program: Option<Box<ProgramDescription>>,
    },
    /// The verifier rejected the program.
    Verify {
        /// The verifier's error.
        error: VerifyError,
        /// How it was loaded.
        program: Box<ProgramDescription>,
    },
    /// The JIT could not compile the program.
    Compile {
        /// The compiler's error.
        error: JitError,
    },
    /// The VM could not be set up around the program (its memory regions).
    Setup {
        /// The VM's error.
        error: RuntimeError,
    },
    /// An external tool (Graphviz's `dot`) is missing or failed.
    Tool {
        /// The tool.
        tool: &'static str,
        /// What went wrong.
        message: String,
    },
}

impl Failure {
    /// A value outside its stated limits.
    pub fn out_of_range(option: &str, message: impl Into<String>) -> Self {
        Failure::Usage {
            kind: "OutOfRange".to_owned(),
            option: Some(option.to_owned()),
            message: message.into(),
        }
    }

    /// Options that cannot be used together, or with this command.
    pub fn conflict(option: &str, message: impl Into<String>) -> Self {
        Failure::Usage {
            kind: "Conflict".to_owned(),
            option: Some(option.to_owned()),
            message: message.into(),
        }
    }

    /// A value that does not parse (hex, ...).
    pub fn invalid_value(option: &str, message: impl Into<String>) -> Self {
        Failure::Usage {
            kind: "InvalidValue".to_owned(),
            option: Some(option.to_owned()),
            message: message.into(),
        }
    }

    /// A read that failed.
    pub fn read(path: &Path, error: &std::io::Error) -> Self {
        Failure::Io {
            action: "read",
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }

    /// A write that failed.
    pub fn write(path: &Path, error: &std::io::Error) -> Self {
        Failure::Io {
            action: "write",
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }

    /// The stage that failed, as the JSON names it.
    pub fn stage(&self) -> &'static str {
        match self {
            Failure::Usage { .. } => "usage",
            Failure::Io { .. } => "io",
            Failure::Assemble { .. } => "assemble",
            Failure::Load { .. } => "load",
            Failure::Verify { .. } => "verify",
            Failure::Compile { .. } => "compile",
            Failure::Setup { .. } => "setup",
            Failure::Tool { .. } => "tool",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage { message, .. } => f.write_str(message),
            Failure::Io {
                action,
                path,
                message,
            } => write!(f, "cannot {action} {path}: {message}"),
            Failure::Assemble { error } => write!(f, "assembly: {error}"),
            Failure::Load { error, .. } => write!(f, "cannot load: {error}"),
            Failure::Verify { error, .. } => write!(f, "verification failed: {error}"),
            Failure::Compile { error } => write!(f, "JIT compilation failed: {error}"),
            Failure::Setup { error } => write!(f, "cannot set up the VM: {error}"),
            Failure::Tool { message, .. } => f.write_str(message),
        }
    }
}

/// A JIT error's variant name and fields, as the other stages name theirs.
pub fn jit_error_parts(error: &JitError) -> (&'static str, Vec<(&'static str, ErrorField)>) {
    let n = |value: usize| ErrorField::Number(value as u64);
    match error {
        JitError::Encode { message } => ("Encode", vec![("reason", Text(message.clone()))]),
        JitError::CodeMemory { message } => ("CodeMemory", vec![("reason", Text(message.clone()))]),
        JitError::Internal { message } => ("Internal", vec![("reason", Text(message.clone()))]),
        JitError::ProgramTooLarge { slots } => ("ProgramTooLarge", vec![("slots", n(*slots))]),
        JitError::UnsupportedTarget { arch } => (
            "UnsupportedTarget",
            vec![("arch", Text((*arch).to_owned()))],
        ),
        JitError::FeatureDisabled => ("FeatureDisabled", vec![]),
    }
}
