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
//! Costs and caps: [`cost`] is the runtime's compute-cost table with its sources, [`log`] the
//! log cap, [`sysvars`] the values the sysvar getters serve. The richer Solana set (hashes,
//! secp256k1, program addresses, sysvar getters, `sol_log_data`, ...) lives in the crate
//! `bpfvm-solana`, which builds on the state defined here.
//!
//! Every guest access goes through [`MemoryMapping`](crate::MemoryMapping) with pc 0, as the
//! reference's syscalls do, so a bad pointer ends the run with an `AccessViolation` at pc 0.
//! Syscalls never touch host memory directly and never print: logs go to the context.

pub mod base58;
pub mod cost;
pub mod demo;
pub mod error;
pub mod guest;
pub mod helpers;
pub mod host;
pub mod log;
pub mod solana;
pub mod sysvars;

pub use demo::register_demo_syscalls;
pub use error::SyscallError;
pub use helpers::register_conformance_helpers;
pub use host::{
    charge, fail, BumpAllocator, ComputeCosts, ReturnData, SolanaContext, SolanaHost, SolanaState,
};
pub use log::{LogCap, LOG_BYTES_LIMIT, LOG_TRUNCATED};
pub use solana::{
    register_solana_syscalls, register_solana_syscalls_with, Implemented, SolanaSyscallOptions,
    Unsupported, SOLANA_SYSCALLS, UNSUPPORTED_SYSCALLS,
};
pub use sysvars::{Clock, EpochSchedule, Rent, Sysvars};

use crate::context::{ContextObject, TestContext};

/// A context that collects the lines programs log.
pub trait LogSink {
    /// Records one log line (the context applies its cap).
    fn log_line(&mut self, line: String);

    /// How many more bytes of log the context keeps before it truncates (no limit by
    /// default). Syscalls that build long lines stop building once they are past it.
    fn log_bytes_available(&self) -> usize {
        usize::MAX
    }
}

/// [`TestContext`] keeps no log: lines are dropped. Use [`SolanaContext`] to keep them.
impl LogSink for TestContext {
    fn log_line(&mut self, line: String) {
        drop(line);
    }
}

/// A context the demo syscalls can run against: a meter, a log and a cost policy.
pub trait DemoHost: ContextObject + LogSink {
    /// Whether the demo syscalls charge compute units.
    fn demo_costs(&self) -> ComputeCosts;

    /// Notes `units` charged by a demo syscall (contexts that count syscall units keep it).
    fn note_charge(&mut self, units: u64) {
        let _ = units;
    }

    /// Notes why a demo syscall failed (contexts that record failures keep it).
    fn note_failure(&mut self, error: &SyscallError) {
        let _ = error;
    }
}

/// The reference's test context: the demo syscalls are free, as its test ELFs were recorded.
impl DemoHost for TestContext {
    fn demo_costs(&self) -> ComputeCosts {
        ComputeCosts::Free
    }
}

/// The Solana context: the demo syscalls follow its cost policy (charged by default).
impl DemoHost for SolanaContext {
    fn demo_costs(&self) -> ComputeCosts {
        self.state.costs
    }

    fn note_charge(&mut self, units: u64) {
        self.state.syscall_units = self.state.syscall_units.saturating_add(units);
    }

    fn note_failure(&mut self, error: &SyscallError) {
        self.state.failure = Some(error.clone());
    }
}
