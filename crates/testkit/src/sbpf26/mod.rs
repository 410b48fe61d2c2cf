//! Today's sBPF as solana-sbpf 0.26 runs it, described without depending on that crate.
//!
//! The crate `solana-sbpf` 0.26.0 is only a dev-dependency (the oracle); its adapter lives in
//! `tests/reference26/mod.rs`, shared by tests and benches. Everything that adapter returns,
//! and everything a future bpfvm profile for V0-V4 must be compared with, is defined here in
//! neutral types, so the versions work can compare bpfvm with the oracle directly:
//!
//! - [`Version`]: the five SBPF versions (V0-V4) and how an ELF names them (`e_flags`).
//! - [`VersionedOutcome`]: what one run produced (result or named error, the faulting pc that
//!   0.26 leaves in register 11, the instruction count, every writable region's bytes).
//! - [`describe_debug`]: 0.26's errors, normalised from their `Debug` text into an
//!   [`ErrorDesc`](crate::ErrorDesc) whose kind is 0.26's variant name (see [`errors`] for
//!   where those names differ from 0.2.38's).
//! - [`opcodes`]: the per-version opcode tables of the spec (`sbpf-0.26.md` §1.3), as data.
//! - [`rawgen`]: a version-aware random program generator at the slot level, built on those
//!   tables.
//! - [`disagreements`]: the classes of programs on which 0.26's own interpreter and JIT
//!   disagree, each with a witness program (bpfvm follows the JIT there).
//! - [`ours`]: bpfvm's side, a case run under an SBPF version profile reduced to the same
//!   outcome.

pub mod disagreements;
pub mod errors;
pub mod opcodes;
pub mod ours;
pub mod outcome;
pub mod rawgen;
mod version;

pub use errors::describe_debug;
pub use outcome::{Engine, VersionedOutcome, WritableMemory};
pub use version::Version;
