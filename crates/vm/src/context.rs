//! The host's context object: the instruction meter and the trace sink of one run.
//!
//! The VM charges instructions to the context and asks it for the remaining budget at the
//! start, after every syscall and at the end (reference §9.3), so a syscall can charge compute
//! of its own by consuming from the same object. The context is also what syscalls receive as
//! their first argument, so hosts put their own state (logs, return data, an allocator) in it.

/// The meter and trace sink a VM runs against.
pub trait ContextObject {
    /// Called before every instruction when tracing is on: r0..r10 and the pc.
    fn trace(&mut self, state: [u64; 12]);
    /// Charges `amount` instructions.
    fn consume(&mut self, amount: u64);
    /// The instructions left in the budget.
    fn remaining(&self) -> u64;
}

/// A plain context: a budget and a trace log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestContext {
    /// Instructions left.
    pub remaining: u64,
    /// Every traced state, in order, when tracing is on.
    pub trace_log: Vec<[u64; 12]>,
}

impl TestContext {
    /// A context with the given budget.
    pub fn new(budget: u64) -> Self {
        TestContext {
            remaining: budget,
            trace_log: Vec::new(),
        }
    }
}

impl ContextObject for TestContext {
    fn trace(&mut self, state: [u64; 12]) {
        self.trace_log.push(state);
    }

    fn consume(&mut self, amount: u64) {
        // Saturating, as the reference's test context does.
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}
