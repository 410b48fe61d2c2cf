//! The host state the Solana syscalls work on, and a ready-made context that carries it.
//!
//! [`SolanaHost`] is what a context must offer: the instruction meter ([`ContextObject`]), a
//! place for log lines ([`LogSink`]) and a [`SolanaState`] (the program id, the return data,
//! the heap allocator and the compute-cost policy). Hosts with their own context implement the
//! trait; everyone else uses [`SolanaContext`].
//!
//! Compute costs: the reference's test vectors were recorded with syscalls that charge
//! nothing, so [`ComputeCosts::Free`] is the default. [`ComputeCosts::Solana`] charges the
//! runtime's default costs (base 100 units, memory operations max(10, n / 250), logs max(100,
//! len), ...) from the same budget the VM meters instructions with.

use super::error::SyscallError;
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
    #[default]
    Free,
    /// The Solana runtime's default syscall costs.
    Solana,
}

/// The Solana runtime's default cost parameters, used with [`ComputeCosts::Solana`].
pub mod cost {
    /// The base cost of most syscalls.
    pub const SYSCALL_BASE: u64 = 100;
    /// `sol_log_64_`.
    pub const LOG_64: u64 = 100;
    /// `sol_log_pubkey`.
    pub const LOG_PUBKEY: u64 = 100;
    /// The minimum cost of a memory operation.
    pub const MEM_OP_BASE: u64 = 10;
    /// Bytes per unit for memory operations and return data.
    pub const BYTES_PER_UNIT: u64 = 250;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaState {
    /// The running program's id (the return data's owner).
    pub program_id: [u8; 32],
    /// Set by `sol_set_return_data`, read by `sol_get_return_data`.
    pub return_data: ReturnData,
    /// Serves `sol_alloc_free_`; sized like the heap the VM maps.
    pub allocator: BumpAllocator,
    /// Whether syscalls charge compute units.
    pub costs: ComputeCosts,
}

impl SolanaState {
    /// State for a program with this id and heap size, charging nothing.
    pub fn new(program_id: [u8; 32], heap_size: u64) -> Self {
        SolanaState {
            program_id,
            return_data: ReturnData::default(),
            allocator: BumpAllocator::new(heap_size),
            costs: ComputeCosts::Free,
        }
    }
}

/// A context the Solana syscalls can run against.
pub trait SolanaHost: ContextObject + LogSink {
    /// The syscalls' state.
    fn solana(&mut self) -> &mut SolanaState;
}

/// Charges `cost` units when costs are on: fails (after draining the budget, as the runtime
/// does) when fewer remain.
pub(crate) fn charge<C: SolanaHost>(context: &mut C, cost: u64) -> Result<(), RuntimeError> {
    if context.solana().costs == ComputeCosts::Free {
        return Ok(());
    }
    let remaining = context.remaining();
    if remaining < cost {
        context.consume(remaining);
        return Err(SyscallError::ComputeBudgetExceeded { cost, remaining }.into());
    }
    context.consume(cost);
    Ok(())
}

/// The cost of a memory operation over `n` bytes.
pub(crate) fn mem_op_cost(n: u64) -> u64 {
    cost::MEM_OP_BASE.max(n / cost::BYTES_PER_UNIT)
}

/// A ready-made context: instruction budget, trace, log lines and the Solana state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaContext {
    /// Instructions (and, with costs on, compute units) left.
    pub remaining: u64,
    /// Every traced state when tracing is on.
    pub trace_log: Vec<[u64; 12]>,
    /// Every line logged, in order, without Solana's "Program log: " prefix.
    pub logs: Vec<String>,
    /// The syscalls' state.
    pub state: SolanaState,
}

impl SolanaContext {
    /// A context with this budget and heap size, a zero program id, and free syscalls.
    pub fn new(budget: u64, heap_size: u64) -> Self {
        SolanaContext {
            remaining: budget,
            trace_log: Vec::new(),
            logs: Vec::new(),
            state: SolanaState::new([0; 32], heap_size),
        }
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
        self.logs.push(line);
    }
}

impl SolanaHost for SolanaContext {
    fn solana(&mut self) -> &mut SolanaState {
        &mut self.state
    }
}
