//! bpfvm: a virtual machine for sBPF and eBPF programs, with an interpreter and an x86-64 JIT
//! that give the same results.
//!
//! The pipeline, stage by stage: bytes ([`Executable`], from raw text or an ELF file) ->
//! [`verify`] -> [`VerifiedProgram`] (the verified text, its decoded instructions and the
//! backend-neutral program form of [`code`]) -> a backend ([`Backend::Interpreter`], or
//! [`Backend::Jit`] after [`VerifiedProgram::jit_compile`]) running in a [`Vm`] against a
//! [`MemoryMapping`] laid out by [`memory::Layout`], syscalls and a [`ContextObject`] that
//! meters instructions. Each stage has its own error type: [`LoadError`], [`VerifyError`],
//! [`jit::JitError`], [`RuntimeError`].
//!
//! The JIT is compiled only with the `jit` feature (on by default) on an x86-64 target; in
//! any other build the same API interprets, [`Backend::AVAILABLE`] lists what the build
//! has, and compiling gives a [`jit::JitError`] that says why. Compile state (code memory,
//! reused buffers, the hardening seed) belongs to a [`jit::JitEngine`] the host owns; the
//! library keeps no process-wide mutable state.

pub mod code;
pub mod config;
pub mod context;
pub mod elf;
pub mod error;
pub mod interpreter;
pub mod jit;
pub mod load_error;
pub mod memory;
pub mod program;
mod runtime;
pub mod solana_input;
pub mod syscalls;
pub mod verified;
pub mod verifier;
pub mod vm;

#[cfg(test)]
mod test_insns;

pub use config::{Config, Preset};
pub use context::{ContextObject, TestContext};
pub use error::{AccessType, ErrorField, RuntimeError, VerifyError, REFERENCE_PC_OFFSET};
pub use interpreter::{StepControl, StepHook, StepState};
pub use load_error::LoadError;
pub use memory::{MemoryMapping, MemoryRegion};
pub use program::{
    fixup_relative_calls, Executable, ExecutableParts, Function, FunctionRegistry, Loader,
    ProgramRegion, Syscall, SyscallFn, SyscallRegistry, MM_HEAP_START, MM_INPUT_START,
    MM_PROGRAM_START, MM_STACK_START,
};
pub use verified::{verify, VerifiedProgram};
pub use vm::{Backend, Run, Vm};
