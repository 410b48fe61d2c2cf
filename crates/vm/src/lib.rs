//! bpfvm: a virtual machine for sBPF and eBPF programs, with an interpreter and an x86-64 JIT
//! that give the same results.
//!
//! A host loads a program, verifies it, and runs it in a [`Vm`] over its own memory:
//!
//! ```
//! use bpfvm::{
//!     verify, Backend, Dialect, Executable, Loader, MemoryRegion, Preset, TestContext, Vm,
//!     MM_INPUT_START,
//! };
//! use std::sync::Arc;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // ldxb r0, [r1+0]; add64 r0, 1; exit (eBPF bytecode: the first input byte plus one).
//! let text = [
//!     0x71, 0x10, 0, 0, 0, 0, 0, 0, //
//!     0x07, 0x00, 0, 0, 1, 0, 0, 0, //
//!     0x95, 0x00, 0, 0, 0, 0, 0, 0,
//! ];
//! let loader = Arc::new(Loader::<TestContext>::new(Preset::Ebpf.config()));
//! let executable = Executable::from_raw_program(&text, loader, Dialect::Ebpf)?;
//! let mut program = verify(executable)?;
//! if bpfvm::jit::AVAILABLE {
//!     // This build has the JIT (the `jit` feature on an x86-64 host).
//!     program.jit_compile()?;
//! }
//! for &backend in Backend::AVAILABLE {
//!     let mut input = [41u8];
//!     let mut heap = [0u8; 0];
//!     let mut context = TestContext::new(1_000); // the instruction budget
//!     let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
//!     let mut vm = Vm::new(&program, &mut context, &mut heap, regions)?;
//!     let run = vm.run(backend);
//!     assert_eq!(run.result, Ok(42));
//!     assert_eq!(run.instruction_count, 3);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Solana programs are ELF files: [`Executable::from_elf`] with [`elf::preset_for`] choosing
//! the configuration, and [`syscalls::register_solana_syscalls`] serving their imports.
//!
//! The pipeline, stage by stage: bytes ([`Executable`], from raw text or an ELF file) ->
//! [`verify`] -> [`VerifiedProgram`] (the verified text, its decoded instructions and the
//! backend-neutral program form of [`code`]) -> a backend ([`Backend::Interpreter`], or
//! [`Backend::Jit`] after [`VerifiedProgram::jit_compile`]) running in a [`Vm`] against a
//! [`MemoryMapping`] laid out by [`memory::Layout`], syscalls and a [`ContextObject`] that
//! meters instructions. Each stage has its own error type: [`LoadError`], [`VerifyError`],
//! [`jit::JitError`], [`RuntimeError`]. [`limits`] names the budgets and sizes a host should
//! default to.
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
pub mod limits;
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

pub use bpfvm_isa::{Dialect, SbpfVersion};
pub use config::{Config, Preset, VersionRange};
pub use context::{ContextObject, TestContext};
pub use error::{
    AccessType, ErrorField, RuntimeError, Sbpf26Field, VerifyError, REFERENCE_PC_OFFSET,
};
pub use interpreter::{StepControl, StepHook, StepState};
pub use load_error::LoadError;
pub use memory::{MemoryMapping, MemoryRegion, VmMemory};
pub use program::{
    fixup_relative_calls, Executable, ExecutableParts, Function, FunctionRegistry, Loader,
    ProgramRegion, Syscall, SyscallFn, SyscallRegistry, TextPlacement, MM_HEAP_START,
    MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START,
};
pub use verified::{verify, verify_keeping, Refusal, VerifiedProgram};
pub use vm::{run_lent, run_prepared, Backend, CallStacks, Lent, Prepared, Run, Vm};
