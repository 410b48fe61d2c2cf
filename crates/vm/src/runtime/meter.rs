//! The instruction meter (reference §9.1): the rule both backends count by. The interpreter
//! applies it directly and is its specification; the JIT charges whole runs and hands the
//! last instructions of a budget to the interpreter.
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
//!
//! ## Metering a run at a time, exactly
//!
//! Applying rules 1 and 2 to every instruction costs an add and a compare each. The fast
//! loop instead meters *straight-line runs*. [`Code`](crate::code::Code) records for every slot
//! its run length `L`: the instructions from that slot up to and including the next op that
//! ends a run (a jump, call, syscall, `exit`, trap or the overrun sentinel; `lddw` counts
//! once). Within a run the instructions are known in advance, whatever the registers hold.
//! At the head of a run, with `due = d`:
//!
//! - If `d + L < base` ([`Meter::enter_run`]), the run is charged at once (`due = d + L`) and
//!   executes with no per-instruction metering. Rule 2's checks would have seen
//!   `d + 1, ..., d + L`, all below `base`, so none can fail, and nothing inside a run
//!   changes `base` (only syscalls do, and a syscall is always a run's last op). If the k-th
//!   instruction faults, rule 1 wants `due = d + k`: the loop gives back the `L - k`
//!   instructions that did not run ([`Meter::refund`]). The run's last op needs rule 2's
//!   check only when it is a syscall (nothing else moves `due` or `base` past the run's
//!   charge), so the syscall makes that check itself; it charged the exact `due` before
//!   calling out (rule 3), since it is the last op of its run. An unregistered `callx` target's
//!   extra charge (rule 1) likewise happens at a run's end, on the way to an error.
//! - Otherwise the budget may end inside the run, and the loop takes one exact step (rules
//!   1 and 2 for a single instruction) and asks again at the next pc. Near the end of the
//!   budget the VM thus steps exactly, and the error's pc and count are the per-instruction
//!   ones.
//!
//! Jumping into the middle of a run is fine: the length is recorded per slot, not per block.
//! Tracing and the step hook always take exact steps.

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

    /// A meter in the middle of a run (the JIT hands its meter over when it bails out to the
    /// interpreter, or when it ends).
    #[cfg_attr(not(bpfvm_jit), allow(dead_code, reason = "only the JIT uses it"))]
    pub(crate) fn resume(mode: Metering, initial: u64, base: u64, due: u64) -> Self {
        Meter {
            mode,
            initial,
            base,
            due,
        }
    }

    /// Whether this run counts instructions against the budget.
    #[cfg_attr(not(bpfvm_jit), allow(dead_code, reason = "only the JIT uses it"))]
    pub(crate) fn mode(&self) -> Metering {
        self.mode
    }

    /// The budget base and the instructions due since it was read (for the JIT).
    #[cfg_attr(not(bpfvm_jit), allow(dead_code, reason = "only the JIT uses it"))]
    pub(crate) fn parts(&self) -> (u64, u64) {
        (self.base, self.due)
    }

    /// Charges one instruction (rule 1).
    #[inline(always)]
    pub fn charge(&mut self) {
        self.due = self.due.wrapping_add(1);
    }

    /// Charges a whole run of `length` instructions if no check inside it can fail, and says
    /// whether it did; otherwise the caller must step exactly (see the module doc).
    #[inline(always)]
    pub fn enter_run(&mut self, length: u64) -> bool {
        // `due + length < base`, the sum kept as the new charge when it fits (with metering
        // off `base` is `u64::MAX`, which only an overflowing sum could pass, and an
        // overflow does not fit).
        match self.due.checked_add(length) {
            Some(due) if due < self.base => {
                self.due = due;
                true
            }
            Some(_) | None => false,
        }
    }

    /// The longest run [`Self::enter_run`] would charge now (0 when it charges none).
    #[inline(always)]
    pub fn headroom(&self) -> u64 {
        self.base.saturating_sub(self.due).saturating_sub(1)
    }

    /// Charges `count` instructions of runs already checked against [`Self::headroom`].
    #[inline(always)]
    pub fn charge_runs(&mut self, count: u64) {
        self.due = self.due.wrapping_add(count);
    }

    /// Gives back the charge for `unexecuted` instructions of a run that ended in an error.
    #[cold]
    pub fn refund(&mut self, unexecuted: u64) {
        self.due = self.due.wrapping_sub(unexecuted);
    }

    /// The budget left before the next instruction: `base - due` (near `u64::MAX` with
    /// metering off).
    pub fn remaining(&self) -> u64 {
        self.base.saturating_sub(self.due)
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
