//! solana-sbpf 0.26.0's API on bpfvm: a drop-in replacement a host switches to with one
//! `[patch.crates-io]` line.
//!
//! The modules, types, traits, functions, constants and macros are the real crate's, with
//! the same signatures and behaviour; loading, verifying, memory translation, interpreting and
//! JIT compilation are bpfvm's (`bpfvm::elf`, `bpfvm::verify`, `bpfvm::MemoryMapping`, the
//! interpreter and the JIT). The seam between the two is `bridge` (private).
//!
//! # What bpfvm does not honour
//!
//! Where the real API exposes its own internals, this crate either offers the part hosts use
//! or leaves the item out, so code that needs it does not build:
//! - `Config::enable_address_translation = false` (guest addresses as raw host pointers):
//!   `execute_program` and `MemoryMapping::map` panic with a message saying so.
//! - Builtins' `codegen` hooks and the x86 emitters of `JitCompiler` (and the `x86` and
//!   `insn_builder` modules): bpfvm's JIT calls every builtin through its `vm` wrapper.
//! - `UnsealedJitProgram` and the real JIT's sections: `JitProgram` reports only the length
//!   of bpfvm's machine code.
//! - A custom `Verifier` that accepts what bpfvm's verifier refuses: the program is not run
//!   (`execute_program` and `jit_compile` return bpfvm's verdict), since bpfvm's backends run
//!   only verified programs.
//! - `EbpfVm::call_depth` is not updated during a run, and `registers[11]` after a successful
//!   run holds the entry pc (after an error, the faulting pc as in the real crate).
//! - `execute_program`'s `call_frames` are not used: bpfvm keeps its own frames, bounded by
//!   `Config::max_call_depth` as the real crate's are.
//! - With the `tracer` feature, bpfvm records `EbpfVm::register_trace` on both backends (its
//!   JIT hands traced runs to its interpreter), where the real crate's JIT records none.

#![warn(missing_docs)]

pub mod aligned_memory;
pub mod assembler;
mod bridge;
pub mod disassembler;
pub mod ebpf;
pub mod elf;
pub mod elf_parser;
pub mod error;
pub mod interpreter;
#[cfg(all(feature = "jit", not(target_os = "windows"), target_arch = "x86_64"))]
pub mod jit;
pub mod memory_region;
pub mod program;
pub mod static_analysis;
mod unsupported;
pub mod verifier;
pub mod vm;
