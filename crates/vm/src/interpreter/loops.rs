//! The interpreter's two loops over [`Machine::execute`]: the fast loop, which meters a
//! straight-line run at a time, and the stepping loop, which takes one exact step at a time
//! for tracing, the step hook and the end of the budget (see `exec`'s module doc and the
//! meter's essay for why the fast loop is exact).

use super::access::InPlace;
use super::exec::{Halt, Machine, Next};
use super::hook::StepControl;
use super::thread::{Thread, CHAIN};
use crate::code::{Code, Inst, Op, Semantics};
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::runtime::Tracing;

impl<C: ContextObject> Machine<'_, '_, C> {
    /// Runs from `pc` until the root `exit` or an error: run by run (see
    /// [`crate::runtime::meter`]), or one exact step at a time when tracing is on.
    pub fn run(&mut self, pc: usize) -> Result<u64, RuntimeError> {
        match self.settings.tracing {
            Tracing::On => self.run_stepping(pc, |machine, pc| {
                machine.trace(pc);
                StepControl::Continue
            }),
            Tracing::Off => self.run_by_runs(pc),
        }
    }

    /// The fast loop. At the head of each straight-line run the meter either charges the
    /// whole run at once (no check inside it can fail) and the run executes without
    /// per-instruction metering, or one exact step is taken instead. A charged run starts a
    /// chain of handlers ([`super::thread`]), which goes on through the run heads it can
    /// charge itself and comes back here with the first one it cannot. Inside a run nothing is
    /// counted: the ops that end runs ([`Op::ends_run`]) are exactly the ones that answer
    /// [`Next::Head`], so the run's end is found by the op itself, and an op that fails gives
    /// back the rest of its run from the run length of its own slot.
    fn run_by_runs(&mut self, mut pc: usize) -> Result<u64, RuntimeError> {
        let code = self.code;
        let runs = code.run_lengths();
        let Some(thread) = Thread::new(code.insts(), runs) else {
            // Not a stream `Code` makes (see `Thread::new`): exact steps, which need none.
            return self.run_stepping(pc, |_, _| StepControl::Continue);
        };
        loop {
            // 0 for a pc past the sentinel, where nothing runs: only an `lddw` in the last
            // slot, which the verifier rejects, could lead there.
            let length = runs.get(pc).copied().unwrap_or(0);
            if !self.meter.enter_run(length) {
                pc = match self.step(pc) {
                    Ok(next) => next,
                    Err(stop) => return stop.into_result(self.regs[0]),
                };
                continue;
            }
            // A run of length 0 starts past the sentinel: the fetch fails first.
            let chained = match CHAIN.checked_sub(length) {
                Some(fuel) => self.run_chain(&thread, pc, fuel),
                None => self.run_long(&thread, pc),
            };
            pc = match chained {
                Ok(head) => head,
                Err(halt) => return halt.into_result(self.regs[0]),
            };
            // Rule 2's check after the run's last op can only fail after a syscall, which
            // makes it itself (`Machine::syscall`).
        }
    }

    /// Runs one charged run longer than a chain may be (see [`super::thread`]) through the
    /// `match`, to the next run head.
    #[inline(never)]
    fn run_long(&mut self, thread: &Thread<'_>, mut pc: usize) -> Result<usize, Halt> {
        loop {
            let Some(inst) = thread.insts().get(pc) else {
                return Err(overrun(self.code).into());
            };
            match self.execute::<InPlace>(inst, pc) {
                Ok(Next::Within(next)) => pc = next,
                Ok(Next::Head(next) | Next::Jump(next, _) | Next::Fall(next, _)) => {
                    return Ok(next)
                }
                Err(halt) => {
                    // The run was charged up to its end; the ops after this one did not
                    // run.
                    let rest = thread.runs().get(pc).copied().unwrap_or(1);
                    self.meter.refund(rest.saturating_sub(1));
                    return Err(halt);
                }
            }
        }
    }

    /// Runs one exact step at a time, calling `observe` before every instruction (not before
    /// the overrun sentinel); `StepControl::Stop` ends the run with the debugger's error.
    pub(super) fn run_stepping(
        &mut self,
        mut pc: usize,
        mut observe: impl FnMut(&mut Self, usize) -> StepControl,
    ) -> Result<u64, RuntimeError> {
        loop {
            let is_instruction = self.code.ops().get(pc).is_some_and(|op| *op != Op::Overrun);
            if is_instruction && observe(self, pc) == StepControl::Stop {
                return Err(RuntimeError::UserError {
                    message: STOPPED_BY_DEBUGGER.into(),
                });
            }
            pc = match self.step(pc) {
                Ok(next) => next,
                Err(stop) => return stop.into_result(self.regs[0]),
            };
        }
    }

    /// One instruction under the exact meter rule: charge, execute, check. Out of line: the
    /// fast loop needs it only near the end of the budget.
    #[inline(never)]
    fn step(&mut self, pc: usize) -> Result<usize, Halt> {
        let code = self.code;
        let Some(op) = code.ops().get(pc) else {
            return Err(overrun(code).into());
        };
        self.meter.charge();
        let next = match self.execute::<InPlace>(&Inst::from(*op), pc)? {
            Next::Within(next) | Next::Head(next) | Next::Jump(next, _) | Next::Fall(next, _) => {
                next
            }
        };
        if self.meter.exhausted() {
            return Err(exceeded(pc, next, code).into());
        }
        Ok(next)
    }

    pub(super) fn trace(&mut self, pc: usize) {
        let mut state = [0u64; 12];
        state[..11].copy_from_slice(&self.regs[..11]);
        state[11] = pc as u64;
        self.context.trace(state);
    }
}

/// The message of a run the step hook stopped.
pub(super) const STOPPED_BY_DEBUGGER: &str = "stopped by the debugger";

/// Running past the last slot (no instruction is there, so nothing is charged).
#[cold]
pub(super) fn overrun(code: &Code) -> RuntimeError {
    RuntimeError::ExecutionOverrun {
        pc: code.slot_count(),
    }
}

/// The budget ran out after the instruction at `pc`, whose successor is `next`: the error
/// names the fall-through pc under 0.2.38's rule (checked after the instruction) and `next`
/// under 0.26's (checked before the next one, which is where control went). The VM fills in
/// the budget.
#[cold]
fn exceeded(pc: usize, next: usize, code: &Code) -> RuntimeError {
    let pc = match code.semantics() {
        Semantics::Reference2022 => pc + code.ops().get(pc).map_or(1, Op::width),
        Semantics::Sbpf26 => next,
    };
    RuntimeError::ExceededMaxInstructions { pc, budget: 0 }
}
