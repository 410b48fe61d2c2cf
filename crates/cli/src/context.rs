//! The context every CLI run uses: the library's [`SolanaContext`] (meter, logs, return data,
//! heap allocator) plus what watches the run: the streamed trace and the live profile.
//!
//! The VM calls [`ContextObject::trace`] before every instruction when tracing is on. The
//! library's context keeps those states in a vector (96 bytes per instruction); this one hands
//! each to its [`Observer`] instead, which writes the trace line at once through a buffered
//! writer and feeds the pc to a [`ProfileBuilder`], and keeps nothing per instruction. So a
//! traced or profiled run's memory does not grow with its length. Everything else is the
//! library's context, reached through `Deref` (`context.logs`, `context.state`).

use crate::trace::TraceWriter;
use bpfvm::syscalls::{
    ComputeCosts, DemoHost, LogSink, SolanaContext, SolanaHost, SolanaState, SyscallError,
};
use bpfvm::ContextObject;
use bpfvm_analysis::{Analysis, ProfileBuilder};
use std::ops::{Deref, DerefMut};

/// What watches a traced run: a trace writer, a profile, or both.
pub struct Observer {
    /// Writes one line per instruction.
    pub trace: Option<TraceWriter>,
    /// Counts edges and stacks, with the analysis it needs.
    pub profile: Option<(Analysis, ProfileBuilder)>,
}

impl Observer {
    fn observe(&mut self, state: &[u64; 12]) {
        if let Some(trace) = &mut self.trace {
            trace.line(state);
        }
        if let Some((analysis, builder)) = &mut self.profile {
            builder.step(analysis, usize::try_from(state[11]).unwrap_or(usize::MAX));
        }
    }
}

/// The CLI's context (see the module docs).
pub struct CliContext {
    inner: SolanaContext,
    /// What watches the run, when tracing is on.
    pub observer: Option<Observer>,
}

impl CliContext {
    /// A context with this budget and heap size, watched by nothing.
    pub fn new(budget: u64, heap_size: u64) -> Self {
        CliContext {
            inner: SolanaContext::new(budget, heap_size),
            observer: None,
        }
    }

    /// A context watched by `observer`.
    pub fn observed(budget: u64, heap_size: u64, observer: Observer) -> Self {
        CliContext {
            inner: SolanaContext::new(budget, heap_size),
            observer: Some(observer),
        }
    }
}

impl Deref for CliContext {
    type Target = SolanaContext;

    fn deref(&self) -> &SolanaContext {
        &self.inner
    }
}

impl DerefMut for CliContext {
    fn deref_mut(&mut self) -> &mut SolanaContext {
        &mut self.inner
    }
}

impl ContextObject for CliContext {
    fn trace(&mut self, state: [u64; 12]) {
        if let Some(observer) = &mut self.observer {
            observer.observe(&state);
        }
    }

    fn consume(&mut self, amount: u64) {
        self.inner.consume(amount);
    }

    fn remaining(&self) -> u64 {
        self.inner.remaining()
    }
}

impl LogSink for CliContext {
    fn log_line(&mut self, line: String) {
        self.inner.log_line(line);
    }

    fn log_bytes_available(&self) -> usize {
        self.inner.log_bytes_available()
    }
}

impl DemoHost for CliContext {
    fn demo_costs(&self) -> ComputeCosts {
        self.inner.demo_costs()
    }

    fn note_charge(&mut self, units: u64) {
        self.inner.note_charge(units);
    }

    fn note_failure(&mut self, error: &SyscallError) {
        self.inner.note_failure(error);
    }
}

impl SolanaHost for CliContext {
    fn solana(&mut self) -> &mut SolanaState {
        self.inner.solana()
    }
}
