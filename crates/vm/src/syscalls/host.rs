//! The host state the Solana syscalls work on, and a ready-made context that carries it.
//!
//! [`SolanaHost`] is what a context must offer: the instruction meter ([`ContextObject`]), a
//! place for log lines ([`LogSink`]) and a [`SolanaState`] (the program id, the return data,
//! the heap allocator and the compute-cost policy). Hosts with their own context implement the
//! trait; everyone else uses [`SolanaContext`].
//!
//! Compute costs are on by default ([`ComputeCosts::Solana`], the table and its sources are in
//! [`super::cost`]) and come from the same budget the VM meters instructions with.
//! [`ComputeCosts::Free`] is the explicit choice of the hosts that replay the reference's
//! recorded vectors, which were recorded with syscalls that charge nothing.
//!
//! The caps a host may change: the log's byte limit ([`SolanaContext::log_cap`], the
//! runtime's 10,000 bytes by default) and the return data's size
//! ([`SolanaState::max_return_data`], 1,024 bytes by default).

use super::error::SyscallError;
use super::log::LogCap;
use super::sysvars::Sysvars;
use super::LogSink;
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::program::MM_HEAP_START;

/// The most bytes `sol_set_return_data` accepts.
pub const MAX_RETURN_DATA: u64 = 1024;
/// The alignment of every `sol_alloc_free_` allocation (Solana's `BPF_ALIGN_OF_U128`).
pub const ALLOC_ALIGN: u64 = 8;
/// The heap size the runtime gives a program by default.
pub const DEFAULT_HEAP_SIZE: u64 = 32 * 1024;

/// Whether syscalls charge compute units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ComputeCosts {
    /// Syscalls cost nothing beyond the `call` instruction (as the reference vectors ran).
    Free,
    /// The Solana runtime's default syscall costs ([`super::cost`]).
    #[default]
    Solana,
}

/// A bump allocator over the heap region, as Solana's BPF allocator: allocations are
/// aligned, never reused, and `free` does nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BumpAllocator {
    start: u64,
    len: u64,
    pos: u64,
}

impl BumpAllocator {
    /// An allocator over `len` bytes at the heap's guest address.
    pub fn new(len: u64) -> Self {
        BumpAllocator {
            start: MM_HEAP_START,
            len,
            pos: 0,
        }
    }

    /// Allocates `size` bytes aligned to `align` (a power of two); `None` when the heap
    /// cannot hold them.
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        let misalignment = self.pos % align.max(1);
        let padding = if misalignment == 0 {
            0
        } else {
            align - misalignment
        };
        let end = self.pos.checked_add(padding)?.checked_add(size)?;
        if end > self.len {
            return None;
        }
        let address = self.start.checked_add(self.pos + padding)?;
        self.pos = end;
        Some(address)
    }

    /// The bytes handed out so far, including alignment padding.
    pub fn used(&self) -> u64 {
        self.pos
    }

    /// The heap size.
    pub fn capacity(&self) -> u64 {
        self.len
    }
}

/// The return data of the current instruction: who set it and the bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReturnData {
    /// The program that set it.
    pub program_id: [u8; 32],
    /// The bytes (at most [`MAX_RETURN_DATA`]).
    pub data: Vec<u8>,
}

/// What the Solana syscalls read and change besides guest memory.
#[derive(Clone, Debug, PartialEq)]
pub struct SolanaState {
    /// The running program's id (the return data's owner).
    pub program_id: [u8; 32],
    /// Set by `sol_set_return_data`, read by `sol_get_return_data`.
    pub return_data: ReturnData,
    /// Serves `sol_alloc_free_`; sized like the heap the VM maps.
    pub allocator: BumpAllocator,
    /// Whether syscalls charge compute units.
    pub costs: ComputeCosts,
    /// The most bytes `sol_set_return_data` accepts ([`MAX_RETURN_DATA`] by default).
    pub max_return_data: u64,
    /// The instruction stack height `sol_get_stack_height` reports (1 for a transaction's
    /// own instruction).
    pub stack_height: u64,
    /// The sysvars the getter syscalls serve.
    pub sysvars: Sysvars,
    /// The compute units syscalls charged so far (the rest of a run's units are
    /// instructions).
    pub syscall_units: u64,
    /// Why the last failing syscall failed, when it failed for a reason of its own (not a bad
    /// pointer): lets a host tell a budget overrun from a panic without parsing messages.
    pub failure: Option<SyscallError>,
}

impl SolanaState {
    /// State for a program with this id and heap size, charging the runtime's costs.
    pub fn new(program_id: [u8; 32], heap_size: u64) -> Self {
        SolanaState {
            program_id,
            return_data: ReturnData::default(),
            allocator: BumpAllocator::new(heap_size),
            costs: ComputeCosts::Solana,
            max_return_data: MAX_RETURN_DATA,
            stack_height: 1,
            sysvars: Sysvars::default(),
            syscall_units: 0,
            failure: None,
        }
    }
}

/// A context the Solana syscalls can run against.
pub trait SolanaHost: ContextObject + LogSink {
    /// The syscalls' state.
    fn solana(&mut self) -> &mut SolanaState;
}

/// Charges `cost` units when costs are on: fails (after draining the budget, as the runtime
/// does) when fewer remain. Syscalls call this before they do the work the units pay for.
pub fn charge<C: SolanaHost>(context: &mut C, cost: u64) -> Result<(), RuntimeError> {
    let costs = context.solana().costs;
    let before = context.remaining();
    let result = charge_with(context, costs, cost);
    // What the charge took (all that remained when it failed) counts as syscall units.
    let taken = before.saturating_sub(context.remaining());
    let state = context.solana();
    state.syscall_units = state.syscall_units.saturating_add(taken);
    result.map_err(|error| fail(context, error))
}

/// Charges `cost` units from any meter under the policy `costs`.
pub fn charge_with<C: ContextObject>(
    context: &mut C,
    costs: ComputeCosts,
    cost: u64,
) -> Result<(), SyscallError> {
    if costs == ComputeCosts::Free {
        return Ok(());
    }
    let remaining = context.remaining();
    if remaining < cost {
        context.consume(remaining);
        return Err(SyscallError::ComputeBudgetExceeded { cost, remaining });
    }
    context.consume(cost);
    Ok(())
}

/// Records `error` as the context's last syscall failure and returns the engine error that
/// carries it.
pub fn fail<C: SolanaHost>(context: &mut C, error: SyscallError) -> RuntimeError {
    context.solana().failure = Some(error.clone());
    error.into()
}

/// A ready-made context: instruction budget, trace, log lines and the Solana state.
#[derive(Clone, Debug, PartialEq)]
pub struct SolanaContext {
    /// Compute units left (instructions and, with costs on, syscall costs).
    pub remaining: u64,
    /// Every traced state when tracing is on.
    pub trace_log: Vec<[u64; 12]>,
    /// Every line logged, in order, as the runtime records it ("Program log: hello"), under
    /// the log cap.
    pub logs: Vec<String>,
    /// The log cap (the runtime's 10,000 bytes unless the host sets another).
    pub log_cap: LogCap,
    /// The syscalls' state.
    pub state: SolanaState,
}

impl SolanaContext {
    /// A context with this budget and heap size, a zero program id, the runtime's syscall
    /// costs and log cap.
    pub fn new(budget: u64, heap_size: u64) -> Self {
        SolanaContext {
            remaining: budget,
            trace_log: Vec::new(),
            logs: Vec::new(),
            log_cap: LogCap::default(),
            state: SolanaState::new([0; 32], heap_size),
        }
    }

    /// The same context with syscalls that charge nothing (the reference vectors' harness).
    pub fn free(mut self) -> Self {
        self.state.costs = ComputeCosts::Free;
        self
    }
}

impl ContextObject for SolanaContext {
    fn trace(&mut self, state: [u64; 12]) {
        self.trace_log.push(state);
    }

    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl LogSink for SolanaContext {
    fn log_line(&mut self, line: String) {
        self.log_cap.record(&mut self.logs, line);
    }

    fn log_bytes_available(&self) -> usize {
        self.log_cap.available()
    }
}

impl SolanaHost for SolanaContext {
    fn solana(&mut self) -> &mut SolanaState {
        &mut self.state
    }
}
