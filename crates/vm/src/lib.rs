//! bpfvm: a virtual machine for sBPF and eBPF programs.
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
//! if cfg!(target_arch = "x86_64") {
//!     program.jit_compile()?;
//! }
//! for backend in [Backend::Interpreter, Backend::Jit] {
//!     if backend == Backend::Jit && program.jit_program().is_none() {
//!         continue;
//!     }
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
//! [`verify`] -> [`VerifiedProgram`] -> a backend ([`Backend::Interpreter`]) running in a
//! [`Vm`] against a [`MemoryMapping`], syscalls and a [`ContextObject`] that meters
//! instructions. Each stage has its own error type: [`LoadError`], [`VerifyError`],
//! [`RuntimeError`]. [`limits`] names the budgets and sizes a host should default to.

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
pub mod solana_input;
pub mod syscalls;
pub mod verifier;
pub mod vm;

#[cfg(test)]
mod test_insns;

pub use bpfvm_isa::Dialect;
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
pub use verifier::{verify, VerifiedProgram};
pub use vm::{Backend, Run, Vm};
