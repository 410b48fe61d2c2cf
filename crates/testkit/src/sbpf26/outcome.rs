//! What one run under solana-sbpf 0.26's rules produced, in neutral types.
//!
//! A [`VersionedOutcome`] holds the result (`Ok(r0)` or a named [`ErrorDesc`]), the pc that
//! 0.26 leaves in register 11 when a run ends (the faulting slot on an error, the `exit` slot
//! on success; absent when the program never ran), the metered instruction count, and the
//! bytes of every writable region afterwards: stack, heap and input. It does not depend on
//! how bpfvm models versions, so a bpfvm run and an oracle run reduce to the same type.

use crate::outcome::{show_result, ErrorDesc};
use std::fmt;

/// Which of 0.26's two engines ran a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// The interpreter.
    Interpreter,
    /// The x86-64 JIT, the engine Solana's validators execute.
    Jit,
}

/// The writable regions' bytes after a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WritableMemory {
    /// The stack region (`0x2_0000_0000`), as the host holds it (without the gaps of V0).
    pub stack: Vec<u8>,
    /// The heap region (`0x3_0000_0000`).
    pub heap: Vec<u8>,
    /// The input region (`0x4_0000_0000`).
    pub input: Vec<u8>,
}

impl WritableMemory {
    /// Every region that differs from `expected`, with the first differing offset.
    fn differences(&self, expected: &WritableMemory) -> Vec<String> {
        let regions = [
            ("stack", &self.stack, &expected.stack),
            ("heap", &self.heap, &expected.heap),
            ("input", &self.input, &expected.input),
        ];
        regions
            .into_iter()
            .filter(|(_, ours, theirs)| ours != theirs)
            .map(|(name, ours, theirs)| {
                let first = ours.iter().zip(theirs.iter()).position(|(a, b)| a != b);
                format!(
                    "{name} after the run differs (lengths {} and {}, first differing byte {first:?})",
                    ours.len(),
                    theirs.len()
                )
            })
            .collect()
    }
}

/// The observable result of one run under 0.26's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedOutcome {
    /// `Ok(r0)`, or the error of whichever stage stopped the run.
    pub result: Result<u64, ErrorDesc>,
    /// Register 11 after the run: the slot of the faulting instruction, or of the final
    /// `exit`; `None` when the program did not run (a load or verifier error).
    pub pc: Option<u64>,
    /// Instructions charged by the meter.
    pub instruction_count: u64,
    /// The writable regions afterwards (the input as given, and no stack or heap, when the
    /// program did not run).
    pub memory: WritableMemory,
}

impl VersionedOutcome {
    /// An outcome for a program that stopped before running.
    pub fn not_run(error: ErrorDesc, input: &[u8]) -> VersionedOutcome {
        VersionedOutcome {
            result: Err(error),
            pc: None,
            instruction_count: 0,
            memory: WritableMemory {
                input: input.to_vec(),
                ..WritableMemory::default()
            },
        }
    }

    /// Every way `self` differs from `expected`, one sentence each; empty when equal.
    pub fn differences(&self, expected: &VersionedOutcome) -> Vec<String> {
        let mut out = Vec::new();
        if self.result != expected.result {
            out.push(format!(
                "result: got {}, expected {}",
                show_result(&self.result),
                show_result(&expected.result)
            ));
        }
        if self.pc != expected.pc {
            out.push(format!("pc: got {:?}, expected {:?}", self.pc, expected.pc));
        }
        if self.instruction_count != expected.instruction_count {
            out.push(format!(
                "instruction count: got {}, expected {}",
                self.instruction_count, expected.instruction_count
            ));
        }
        out.extend(self.memory.differences(&expected.memory));
        out
    }

    /// The outcome's kind, for counting: `Ok` or `stage Kind`.
    pub fn kind(&self) -> String {
        match &self.result {
            Ok(_) => "Ok".to_owned(),
            Err(error) => format!("{} {}", error.stage, error.kind),
        }
    }
}

impl fmt::Display for VersionedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", show_result(&self.result))?;
        if let Some(pc) = self.pc {
            write!(f, " at slot {pc}")?;
        }
        write!(f, " after {} instructions", self.instruction_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Stage;

    #[test]
    fn differences_name_every_part() {
        let base = VersionedOutcome {
            result: Ok(1),
            pc: Some(3),
            instruction_count: 4,
            memory: WritableMemory {
                stack: vec![0; 8],
                heap: Vec::new(),
                input: vec![1, 2],
            },
        };
        assert!(base.differences(&base).is_empty());
        let mut other = base.clone();
        other.pc = Some(2);
        other.memory.stack[5] = 1;
        other.result = Err(ErrorDesc {
            stage: Stage::Runtime,
            kind: "DivideByZero".to_owned(),
            fields: Vec::new(),
        });
        let differences = other.differences(&base);
        assert_eq!(differences.len(), 3, "{differences:?}");
        assert!(differences[2].contains("first differing byte Some(5)"));
        assert_eq!(other.kind(), "runtime DivideByZero");
        assert_eq!(base.to_string(), "Ok(0x1) at slot 3 after 4 instructions");
    }
}
