//! Test material for bpfvm, as a library so that tests, benchmarks and fuzz targets share it.
//!
//! - [`corpus`]: finds the shared corpus and reads its bpf_conformance vectors, the
//!   assembled bytecode and the reference's recorded outcomes.
//! - [`outcome`]: what a run produced ([`Outcome`]), with errors described so that bpfvm and
//!   the reference compare field by field ([`ErrorDesc`]).
//! - [`harness`]: runs one [`TestCase`] (data) on a backend.
//! - [`generator`]: random verifier-passing programs from a seed, under many configurations.
//! - [`compare`]: one generated program against an expected outcome, with a full report.
//! - [`mutate`]: the byte-level mutator and the bad-input runners.
//! - [`syscalls`]: the syscalls test programs call.
//!
//! The reference (solana_rbpf 0.2.38) is only a dev-dependency: its adapter lives in the
//! differential test, and everything here speaks bpfvm's types.

pub mod compare;
pub mod corpus;
pub mod fuzzing;
pub mod generator;
pub mod harness;
pub mod mutate;
pub mod outcome;
pub mod sbpf26;
pub mod syscalls;

pub use harness::{Program, TestCase, BACKENDS};
pub use outcome::{ErrorDesc, Field, Outcome, Stage};
