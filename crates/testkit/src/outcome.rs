//! What a run produced, in a form both bpfvm and the reference can be reduced to.
//!
//! An [`Outcome`] is the observable result of one run: `Ok(r0)` or an [`ErrorDesc`], the
//! metered instruction count, the input region's bytes afterwards and the instruction trace.
//! [`ErrorDesc`] names an error the way the reference does (its variant name) with the
//! reference's fields in the reference's order, so the two implementations compare field by
//! field. Program counters are slot indices ([`Field::Pc`]); the reference's +29 is removed
//! when its errors are converted, never added to ours.

use bpfvm::{ErrorField, LoadError, RuntimeError, VerifyError, REFERENCE_PC_OFFSET};
use std::fmt;

/// Which stage an error came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Loading bytes into an executable (or assembling text).
    Load,
    /// The verifier.
    Verify,
    /// Creating the VM or running the program.
    Runtime,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Load => "load",
            Stage::Verify => "verifier",
            Stage::Runtime => "runtime",
        })
    }
}

/// One field of an error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// A program counter, as a slot index.
    Pc(usize),
    /// Any other value, rendered as the reference's Debug output renders it (decimal numbers,
    /// `Load`/`Store`, bare region names).
    Value(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Pc(pc) => write!(f, "pc {pc}"),
            Field::Value(value) => f.write_str(value),
        }
    }
}

/// An error as a stage, a kind name and the fields in the reference's order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorDesc {
    /// Where the error came from.
    pub stage: Stage,
    /// The reference's variant name.
    pub kind: String,
    /// The fields in the reference's positional order.
    pub fields: Vec<Field>,
}

impl fmt::Display for ErrorDesc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.stage, self.kind)?;
        if !self.fields.is_empty() {
            let fields: Vec<String> = self.fields.iter().map(Field::to_string).collect();
            write!(f, "({})", fields.join(", "))?;
        }
        Ok(())
    }
}

fn value(value: impl fmt::Display) -> Field {
    Field::Value(value.to_string())
}

/// `text` with its first letter in upper case (`load` -> `Load`).
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Which positional fields of a reference error are program counters (reported + 29).
fn reference_pc_positions(stage: Stage, kind: &str) -> &'static [usize] {
    match (stage, kind) {
        (Stage::Verify, "UnknownOpCode" | "JumpOutOfCode" | "JumpToMiddleOfLDDW") => &[1],
        (Stage::Verify, "ShiftWithOverflow") => &[2],
        (
            Stage::Verify,
            "DivisionByZero"
            | "UnsupportedLEBEArgument"
            | "IncompleteLDDW"
            | "InvalidSourceRegister"
            | "CannotWriteR10"
            | "InvalidDestinationRegister"
            | "InvalidRegister",
        ) => &[0],
        (
            Stage::Runtime,
            "CallDepthExceeded"
            | "DivideByZero"
            | "DivideOverflow"
            | "ExecutionOverrun"
            | "CallOutsideTextSegment"
            | "ExceededMaxInstructions"
            | "AccessViolation"
            | "StackAccessViolation"
            | "InvalidInstruction"
            | "UnsupportedInstruction",
        ) => &[0],
        (Stage::Load, "RelativeJumpOutOfBounds") => &[0],
        _ => &[],
    }
}

impl ErrorDesc {
    /// Builds a description from the reference's positional fields as it prints them. Fields
    /// that are pcs lose the reference's +29; a pc below 29 (an error raised inside a syscall,
    /// which reports pc 0) is kept as it is.
    pub fn from_reference(stage: Stage, kind: &str, fields: Vec<String>) -> ErrorDesc {
        let pcs = reference_pc_positions(stage, kind);
        let fields = fields
            .into_iter()
            .enumerate()
            .map(|(index, text)| match text.parse::<usize>() {
                Ok(pc) if pcs.contains(&index) => {
                    Field::Pc(pc.checked_sub(REFERENCE_PC_OFFSET).unwrap_or(pc))
                }
                _ => Field::Value(text),
            })
            .collect();
        ErrorDesc {
            stage,
            kind: kind.to_owned(),
            fields,
        }
    }

    /// Describes a bpfvm runtime error.
    pub fn from_runtime(error: &RuntimeError) -> ErrorDesc {
        ErrorDesc::from_fields(Stage::Runtime, error.kind(), error.fields())
    }

    /// Describes a bpfvm verifier error.
    pub fn from_verify(error: &VerifyError) -> ErrorDesc {
        ErrorDesc::from_fields(Stage::Verify, error.kind(), error.fields())
    }

    /// Renders an error's named fields (declared in the reference's positional order) as the
    /// reference prints them: pcs as slot indexes, numbers and addresses in decimal, access
    /// types capitalised, other text as it is.
    fn from_fields(stage: Stage, kind: &str, fields: Vec<(&'static str, ErrorField)>) -> ErrorDesc {
        let fields = fields
            .into_iter()
            .map(|(name, field)| match (name, field) {
                ("pc", ErrorField::Number(pc)) => Field::Pc(pc as usize),
                ("access", ErrorField::Text(text)) => value(capitalised(&text)),
                (_, ErrorField::Number(number) | ErrorField::Address(number)) => value(number),
                (_, ErrorField::Signed(number)) => value(number),
                (_, ErrorField::Text(text)) => Field::Value(text),
            })
            .collect();
        ErrorDesc {
            stage,
            kind: kind.to_owned(),
            fields,
        }
    }

    /// Every field of a bpfvm load error, in declaration order, rendered as the references
    /// print them (solana-sbpf 0.26 reports every field of its load errors).
    pub fn from_load_fields(error: &LoadError) -> Vec<Field> {
        ErrorDesc::from_fields(Stage::Load, error.kind(), error.fields()).fields
    }

    /// Describes a bpfvm load error (kind and the fields that matter for comparison).
    pub fn from_load(error: &LoadError) -> ErrorDesc {
        let fields = match error {
            LoadError::RelativeJumpOutOfBounds { pc } => vec![Field::Pc(*pc)],
            LoadError::SymbolHashCollision { key } => vec![value(key)],
            LoadError::FunctionAlreadyRegistered { key } => vec![value(key)],
            _ => Vec::new(),
        };
        ErrorDesc {
            stage: Stage::Load,
            kind: error.kind().to_owned(),
            fields,
        }
    }

    /// A load-stage error with a free-form message (assembler errors, missing backends).
    pub fn load_message(kind: &str, message: impl fmt::Display) -> ErrorDesc {
        ErrorDesc {
            stage: Stage::Load,
            kind: kind.to_owned(),
            fields: vec![value(message)],
        }
    }
}

/// The observable result of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok(r0)`, or the error of whichever stage stopped the case.
    pub result: Result<u64, ErrorDesc>,
    /// Instructions metered (0 when the program did not run or metering is off).
    pub instruction_count: u64,
    /// The input region's bytes after the run (the input as given when it did not run).
    pub memory_after: Vec<u8>,
    /// `[r0..r10, pc]` before every instruction, when tracing is on.
    pub trace: Vec<[u64; 12]>,
}

impl Outcome {
    /// An outcome for a case that stopped before running.
    pub fn not_run(error: ErrorDesc, input: &[u8]) -> Outcome {
        Outcome {
            result: Err(error),
            instruction_count: 0,
            memory_after: input.to_vec(),
            trace: Vec::new(),
        }
    }

    /// Every way `self` differs from `expected`, one sentence each; empty when equal.
    pub fn differences(&self, expected: &Outcome) -> Vec<String> {
        let mut out = Vec::new();
        if self.result != expected.result {
            out.push(format!(
                "result: got {}, expected {}",
                show_result(&self.result),
                show_result(&expected.result)
            ));
        }
        if self.instruction_count != expected.instruction_count {
            out.push(format!(
                "instruction count: got {}, expected {}",
                self.instruction_count, expected.instruction_count
            ));
        }
        if self.memory_after != expected.memory_after {
            let first = self
                .memory_after
                .iter()
                .zip(&expected.memory_after)
                .position(|(a, b)| a != b);
            out.push(format!(
                "input memory after the run differs (lengths {} and {}, first differing byte {:?})",
                self.memory_after.len(),
                expected.memory_after.len(),
                first
            ));
        }
        if self.trace != expected.trace {
            let first = self
                .trace
                .iter()
                .zip(&expected.trace)
                .position(|(a, b)| a != b);
            out.push(format!(
                "trace differs (lengths {} and {}, first differing entry {:?})",
                self.trace.len(),
                expected.trace.len(),
                first
            ));
        }
        out
    }
}

/// Renders `Ok(0x..)` or the error description.
pub fn show_result(result: &Result<u64, ErrorDesc>) -> String {
    match result {
        Ok(r0) => format!("Ok({r0:#x})"),
        Err(error) => format!("Err({error})"),
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} after {} instructions",
            show_result(&self.result),
            self.instruction_count
        )
    }
}
