//! Host functions a program can call: the Solana syscall set, the reference's demo set and the
//! eBPF helpers.
//!
//! Three families live here, each with one registration function:
//! - [`register_solana_syscalls`] (module [`solana`]): the syscalls deployed Solana programs
//!   import, with their runtime's semantics, over any context implementing [`SolanaHost`]
//!   ([`SolanaContext`] is the ready-made one).
//! - [`register_demo_syscalls`] (module [`demo`]): the demonstration syscalls of the
//!   reference (`log`, `log_64`, `gather_bytes`, `mem_frob`, `str_cmp`, `trace_printf`),
//!   which its test ELFs call, over any context that can take log lines ([`LogSink`]).
//! - [`register_conformance_helpers`] (module [`helpers`]): eBPF helpers by number, the set
//!   bpf_conformance plugins offer (helper 5 is `unwind`); the module says how hosts register
//!   their own.
//!
//! Every guest access goes through [`MemoryMapping`](crate::MemoryMapping) with pc 0, as the
//! reference's syscalls do, so a bad pointer ends the run with an `AccessViolation` at pc 0.
//! Syscalls never touch host memory directly and never print: logs go to the context.

pub mod base58;
pub mod demo;
pub mod error;
mod guest;
pub mod helpers;
pub mod host;
pub mod solana;

pub use demo::register_demo_syscalls;
pub use error::SyscallError;
pub use helpers::register_conformance_helpers;
pub use host::{BumpAllocator, ComputeCosts, ReturnData, SolanaContext, SolanaHost, SolanaState};
pub use solana::{
    register_solana_syscalls, register_solana_syscalls_with, Implemented, SolanaSyscallOptions,
    Unsupported, SOLANA_SYSCALLS, UNSUPPORTED_SYSCALLS,
};

use crate::context::TestContext;

/// A context that collects the lines programs log.
pub trait LogSink {
    /// Records one log line.
    fn log_line(&mut self, line: String);
}

/// [`TestContext`] keeps no log: lines are dropped. Use [`SolanaContext`] to keep them.
impl LogSink for TestContext {
    fn log_line(&mut self, line: String) {
        drop(line);
    }
}
