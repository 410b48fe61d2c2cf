//! Where solana-sbpf 0.26's interpreter and its JIT disagree, as data.
//!
//! The spec says bpfvm follows the JIT (the engine validators execute) wherever the two
//! differ. These are the classes found, each with a witness program that the test
//! `sbpf26_differential` runs on both engines to prove the class still holds, and a
//! [`classify`] rule the random differential uses to sort every disagreement it meets: a
//! disagreement no class explains fails that test.
//!
//! | class | reachable from an ELF | interpreter | JIT |
//! |---|---|---|---|
//! | [`Class::MeterWrap`] | yes | runs normally | stops at once with `ExceededMaxInstructions` and a meaningless pc and count |
//! | [`Class::CallTargetOutsideText`] | no (raw text only) | `CallOutsideTextSegment` when the call runs | `jit_compile` panics (index out of bounds) |
//! | [`Class::EntryOutsideText`] | no (raw text only) | `ExecutionOverrun` after charging one instruction | the run panics (index out of bounds) |
//!
//! Where the JIT panics, bpfvm cannot follow it; it must return a named error instead (the
//! interpreter's is the natural choice). The ELF loaders rule both raw-text classes out: the
//! lenient loader refuses call targets outside `.text` (`RelativeJumpOutOfBounds`,
//! `ValueOutOfBounds`) and entry points outside it (`EntrypointOutOfBounds`), and the strict
//! loader checks the entry against the bytecode segment and resolves no call through the
//! registry.
//!
//! Everything else agreed on every program tried: 1,000,000 random programs per version, V0 to
//! V4, with no disagreement at all (the testkit README has the command and the counts), the
//! 313 conformance vectors under V0, V2 and V3, and the sbpf_elfs corpus.

use super::{Version, VersionedOutcome};

/// A class of programs on which 0.26's interpreter and JIT disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The JIT keeps the instruction meter as `remaining + pc` in one 64-bit register; when
    /// the budget is within the text length of `u64::MAX`, a jump or the entry pc makes that
    /// sum wrap, and the JIT's next meter check fails with `ExceededMaxInstructions` (pc and
    /// count derived from the wrapped value) where the interpreter runs on.
    MeterWrap,
    /// An internal function registered (by hand, through `from_text_bytes`) at a pc past
    /// the text: the interpreter pushes the frame and fails with `CallOutsideTextSegment`;
    /// the JIT's compiler indexes its pc table with the target and panics.
    CallTargetOutsideText,
    /// An `entrypoint` registered (by hand, through `from_text_bytes`) at a pc past the
    /// text: the interpreter charges one instruction and fails with `ExecutionOverrun`; the
    /// JIT indexes its pc table with the entry pc when the run starts and panics.
    EntryOutsideText,
}

/// What the JIT does on a witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JitBehaviour {
    /// It runs and gives this outcome (the `Display` of a [`VersionedOutcome`]).
    Outcome(&'static str),
    /// `jit_compile` panics.
    CompilePanics,
    /// Compiling succeeds and the run panics.
    RunPanics,
}

/// A program that shows a class, with what each engine does.
#[derive(Clone, Copy, Debug)]
pub struct Witness {
    /// The program's version.
    pub version: Version,
    /// Its text, hex.
    pub text_hex: &'static str,
    /// Internal functions registered by hand (pcs, hashed keys before V3).
    pub functions: &'static [usize],
    /// The pc registered as `entrypoint` by hand (0: the default).
    pub entry: usize,
    /// The budget.
    pub budget: u64,
    /// The interpreter's outcome (the `Display` of a [`VersionedOutcome`]).
    pub interpreter: &'static str,
    /// What the JIT does.
    pub jit: JitBehaviour,
}

/// A class with its witness.
#[derive(Clone, Copy, Debug)]
pub struct Disagreement {
    /// The class.
    pub class: Class,
    /// Whether an ELF file can show it (both raw-text-only classes need a hand-made
    /// function registry).
    pub reachable_from_elf: bool,
    /// A witness.
    pub witness: Witness,
}

/// Every known class.
pub const DISAGREEMENTS: [Disagreement; 3] = [
    Disagreement {
        class: Class::MeterWrap,
        reachable_from_elf: true,
        witness: Witness {
            version: Version::V0,
            // ja +1; exit; mov64 r0, 1; exit
            text_hex: "05000100000000009500000000000000b7000000010000009500000000000000",
            functions: &[],
            entry: 0,
            budget: u64::MAX,
            interpreter: "Ok(0x1) at slot 3 after 3 instructions",
            jit: JitBehaviour::Outcome(
                "Err(runtime ExceededMaxInstructions) at slot 0 after 18446744073709551615 instructions",
            ),
        },
    },
    Disagreement {
        class: Class::CallTargetOutsideText,
        reachable_from_elf: false,
        witness: Witness {
            version: Version::V0,
            // call <Murmur3 of pc 50>; exit
            text_hex: "850000004866a6089500000000000000",
            functions: &[50],
            entry: 0,
            budget: 1_000,
            interpreter: "Err(runtime CallOutsideTextSegment) at slot 0 after 1 instructions",
            jit: JitBehaviour::CompilePanics,
        },
    },
    Disagreement {
        class: Class::EntryOutsideText,
        reachable_from_elf: false,
        witness: Witness {
            version: Version::V3,
            // mov64 r0, 1; exit, entry registered at pc 5
            text_hex: "b7000000010000009500000000000000",
            functions: &[],
            entry: 5,
            budget: 1_000,
            interpreter: "Err(runtime ExecutionOverrun) at slot 5 after 1 instructions",
            jit: JitBehaviour::RunPanics,
        },
    },
];

/// The class that explains a disagreement between the interpreter's and the JIT's outcomes
/// of a program with `slots` text slots run with `budget`, if any. Only
/// [`Class::MeterWrap`] can arise from programs whose registered functions and entry lie
/// inside the text (every generated program and every ELF).
pub fn classify(
    budget: u64,
    slots: u64,
    interpreter: &VersionedOutcome,
    jit: &VersionedOutcome,
) -> Option<Class> {
    let jit_meter_stop =
        matches!(&jit.result, Err(error) if error.kind == "ExceededMaxInstructions");
    let wraps = budget.checked_add(slots).is_none();
    (jit_meter_stop && wraps && interpreter != jit).then_some(Class::MeterWrap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ErrorDesc, Stage};

    #[test]
    fn meter_wrap_needs_a_budget_near_the_top_and_a_meter_stop() {
        let ok = VersionedOutcome::not_run(
            ErrorDesc {
                stage: Stage::Runtime,
                kind: "DivideByZero".to_owned(),
                fields: Vec::new(),
            },
            &[],
        );
        let mut stop = ok.clone();
        stop.result = Err(ErrorDesc {
            stage: Stage::Runtime,
            kind: "ExceededMaxInstructions".to_owned(),
            fields: Vec::new(),
        });
        assert_eq!(
            classify(u64::MAX - 2, 3, &ok, &stop),
            Some(Class::MeterWrap)
        );
        assert_eq!(classify(u64::MAX - 3, 3, &ok, &stop), None);
        assert_eq!(classify(u64::MAX, 3, &ok, &ok), None);
        assert_eq!(classify(u64::MAX, 3, &stop, &ok), None);
    }

    #[test]
    fn witness_keys_are_the_hashes_the_text_uses() {
        let witness = DISAGREEMENTS[1].witness;
        let key = super::super::rawgen::hashed_function_key(witness.functions[0]);
        let text = crate::corpus::decode_hex(witness.text_hex).unwrap_or_default();
        assert_eq!(text.get(4..8), Some(&key.to_le_bytes()[..]));
    }
}
