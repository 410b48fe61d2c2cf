//! The step hook: a debugger's view of a run, one instruction at a time.
//!
//! [`Vm::run_with_hook`](crate::Vm::run_with_hook) runs the interpreter's exact stepping
//! loop (the one tracing uses) and calls [`StepHook::before_instruction`] before every
//! instruction, with the pc, r0-r10 (writable) and the budget left. The hook may also change
//! guest memory. Results, errors and instruction counts are those of `Vm::run`, because the
//! stepping loop applies the meter's exact per-instruction rule (see [`crate::runtime::meter`]).
//!
//! The hook is not called before the overrun sentinel (running past the last slot is not an
//! instruction), just as tracing does not record it. The fast loop of `Vm::run` never looks
//! at hooks, so having them costs `run` nothing.

use super::exec::Machine;
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::memory::MemoryMapping;

/// What the hook sees before an instruction.
#[derive(Debug)]
pub struct StepState<'r> {
    /// The slot about to execute.
    pub pc: usize,
    /// r0-r10; writes take effect before the instruction runs.
    pub registers: &'r mut [u64; 11],
    /// The budget left before this instruction (`u64::MAX` minus what ran, with metering
    /// off).
    pub remaining: u64,
}

/// Whether the run goes on after the hook returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepControl {
    /// Execute the instruction.
    Continue,
    /// End the run with `RuntimeError::UserError { message: "stopped by the debugger" }`.
    Stop,
}

/// Called by the interpreter before every instruction of a hooked run.
pub trait StepHook {
    /// Called before every instruction the interpreter executes. It may change registers
    /// and memory. `Stop` ends the run with
    /// `Err(RuntimeError::UserError { message: "stopped by the debugger".into() })`.
    fn before_instruction(
        &mut self,
        state: StepState<'_>,
        memory: &mut MemoryMapping<'_>,
    ) -> StepControl;
}

impl<C: ContextObject> Machine<'_, '_, C> {
    /// Runs from `pc` with `hook` called before every instruction (and tracing, if on,
    /// after the hook, so the trace shows what executes).
    pub(crate) fn run_hooked(
        &mut self,
        pc: usize,
        hook: &mut dyn StepHook,
    ) -> Result<u64, RuntimeError> {
        let tracing = self.settings.tracing;
        self.run_stepping(pc, |machine, pc| {
            let control = machine.call_hook(pc, hook);
            if control == StepControl::Continue && tracing == crate::runtime::Tracing::On {
                machine.trace(pc);
            }
            control
        })
    }

    fn call_hook(&mut self, pc: usize, hook: &mut dyn StepHook) -> StepControl {
        let mut registers = [0u64; 11];
        for (view, reg) in registers.iter_mut().zip(self.regs.iter()) {
            *view = *reg;
        }
        let state = StepState {
            pc,
            registers: &mut registers,
            remaining: self.meter.remaining(),
        };
        let control = hook.before_instruction(state, self.mapping);
        for (reg, view) in self.regs.iter_mut().zip(registers.iter()) {
            *reg = *view;
        }
        control
    }
}
