//! The instruction meter (reference §9.1; the interpreter's rule is the specification).
//!
//! Two numbers: `due`, the instructions executed since the run started or since the last
//! syscall, and `base`, the context's `remaining()` at that moment.
//!
//! 1. Every executed instruction adds one to `due` *before* it runs, so a faulting
//!    instruction is charged (the phantom slot of `ExecutionOverrun` too). An `lddw` counts
//!    once. An unregistered `callx` target charges one more.
//! 2. After an instruction completes without error, unless it is the root `exit`: when
//!    `due >= base`, the run stops with `ExceededMaxInstructions` at the *next* pc
//!    (`pc + width`; for jumps and calls the fall-through, not the target). So a budget of N
//!    runs N instructions only if the N-th is the root `exit`, and a budget of 0 still runs
//!    one instruction.
//! 3. A syscall first charges `due` to the context (`consume`) and resets it; after the
//!    syscall returns, `base` is re-read from `remaining()`, so syscalls may charge compute of
//!    their own. A syscall that drains the budget trips the check right after it.
//! 4. At the end the VM charges the rest of `due`; the count is the initial budget minus
//!    what remains, and an `ExceededMaxInstructions` error carries the initial budget.
//!
//! With metering off nothing is charged: `base` is `u64::MAX`, which `due` never reaches,
//! and the count is 0.

use crate::context::ContextObject;

/// Whether instructions are counted against the context's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metering {
    /// Count and stop at the budget.
    On,
    /// Run unlimited; the count is 0.
    Off,
}

/// The meter of one run.
#[derive(Debug)]
pub(crate) struct Meter {
    mode: Metering,
    initial: u64,
    base: u64,
    due: u64,
}

impl Meter {
    /// Starts a run: reads the budget from the context when metering is on.
    pub fn start<C: ContextObject>(mode: Metering, context: &C) -> Self {
        let initial = match mode {
            Metering::On => context.remaining(),
            Metering::Off => 0,
        };
        let base = match mode {
            Metering::On => initial,
            Metering::Off => u64::MAX,
        };
        Meter {
            mode,
            initial,
            base,
            due: 0,
        }
    }

    /// Charges one instruction (rule 1).
    #[inline(always)]
    pub fn charge(&mut self) {
        self.due = self.due.wrapping_add(1);
    }

    /// Whether the check after a completed instruction fails (rule 2).
    #[inline(always)]
    pub fn exhausted(&self) -> bool {
        self.due >= self.base
    }

    /// Charges what is due before a syscall (rule 3).
    pub fn before_syscall<C: ContextObject>(&mut self, context: &mut C) {
        if self.mode == Metering::On {
            context.consume(self.due);
        }
        self.due = 0;
    }

    /// Re-reads the budget after a syscall (rule 3).
    pub fn after_syscall<C: ContextObject>(&mut self, context: &C) {
        if self.mode == Metering::On {
            self.base = context.remaining();
        }
    }

    /// Charges the rest and returns the instruction count (rule 4).
    pub fn finish<C: ContextObject>(self, context: &mut C) -> u64 {
        match self.mode {
            Metering::On => {
                context.consume(self.due);
                self.initial.saturating_sub(context.remaining())
            }
            Metering::Off => 0,
        }
    }

    /// The budget the run started with (0 with metering off).
    pub fn initial(&self) -> u64 {
        self.initial
    }
}
