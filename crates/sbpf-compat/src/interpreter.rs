//! The interpreter (solana-sbpf 0.26's `interpreter` module). Programs are interpreted by
//! bpfvm's interpreter through `EbpfVm::execute_program` with `ExecutionMode::Interpreted`.
//!
//! The real crate's `Interpreter`, which a debugger drives one `step` at a time from outside,
//! is not offered: bpfvm's interpreter calls a step hook from inside its loop instead
//! (`bpfvm::StepHook`), so code that drives `Interpreter::step` does not build against this
//! crate.

/// What a debugger asked the interpreter to do next.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum DebugState {
    /// Run one instruction.
    Step,
    /// Run to the next breakpoint.
    Continue,
}
