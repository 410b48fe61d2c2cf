//! Running one test program: the bpf_conformance execution contract on bpfvm.
//!
//! The program loads in the eBPF dialect under [`Preset::Ebpf`]: raw instructions as a text
//! whose entry is slot 0, or an ELF object through the object linker. The helpers are the
//! bpf_conformance set (`bpfvm::syscalls::helpers`). The memory is mapped writable at
//! `MM_INPUT_START`; r1 holds its address and r2 its length. The result is r0, or the stage
//! and error that stopped the test.

use crate::protocol::{BackendChoice, ProgramFormat};
use bpfvm::syscalls::register_conformance_helpers;
use bpfvm::{
    verify, Backend, Executable, Loader, MemoryRegion, Preset, SyscallRegistry, TestContext, Vm,
    MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use std::fmt;
use std::sync::Arc;

/// Why a test did not return r0.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The program did not load.
    Load(bpfvm::LoadError),
    /// The verifier refused it.
    Verify(bpfvm::VerifyError),
    /// The JIT could not compile it.
    Compile(String),
    /// The VM could not map its memory.
    Memory(bpfvm::RuntimeError),
    /// It ran and raised an error.
    Run(bpfvm::RuntimeError),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Load(error) => write!(f, "cannot load the program: {error}"),
            Failure::Verify(error) => write!(f, "verification failed: {error}"),
            Failure::Compile(error) => write!(f, "the JIT cannot compile the program: {error}"),
            Failure::Memory(error) => write!(f, "cannot map the memory: {error}"),
            Failure::Run(error) => write!(f, "{error}"),
        }
    }
}

/// What one test runs: the program, its format, the memory, the backend and the budget.
pub struct Test<'a> {
    /// The program's bytes.
    pub program: &'a [u8],
    /// Raw instructions or an ELF object.
    pub format: ProgramFormat,
    /// The input memory (written by the program in place).
    pub memory: &'a mut [u8],
    /// The backend.
    pub backend: BackendChoice,
    /// The instruction budget.
    pub budget: u64,
}

/// Loads, verifies and runs a test; returns r0.
pub fn run(test: Test<'_>) -> Result<u64, Failure> {
    let mut helpers = SyscallRegistry::new();
    register_conformance_helpers(&mut helpers).map_err(Failure::Load)?;
    let loader = Arc::new(Loader::with_syscalls(Preset::Ebpf.config(), helpers));
    let executable = match test.format {
        ProgramFormat::Raw => Executable::from_raw_program(test.program, loader, Dialect::Ebpf),
        ProgramFormat::Elf => Executable::from_elf_in(test.program, loader, Dialect::Ebpf),
    }
    .map_err(Failure::Load)?;
    let mut program = verify(executable).map_err(Failure::Verify)?;
    let backend = match test.backend {
        BackendChoice::Interpreter => Backend::Interpreter,
        BackendChoice::Jit => {
            program
                .jit_compile()
                .map_err(|error| Failure::Compile(error.to_string()))?;
            Backend::Jit
        }
    };
    let mut context = TestContext::new(test.budget);
    let regions = vec![MemoryRegion::writable(test.memory, MM_INPUT_START)];
    let mut vm = Vm::new(&program, &mut context, &mut [], regions).map_err(Failure::Memory)?;
    vm.run(backend).result.map_err(Failure::Run)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// `mov r0, r2; exit` and `ldxb r0, [r1]; exit` as raw slots.
    const LENGTH: &str = "bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00";
    const FIRST_BYTE: &str = "71 10 00 00 00 00 00 00 95 00 00 00 00 00 00 00";

    fn raw(program: &str, memory: &mut [u8], backend: BackendChoice) -> Result<u64, Failure> {
        let program = crate::protocol::decode_hex(program).unwrap();
        run(Test {
            program: &program,
            format: ProgramFormat::Raw,
            memory,
            backend,
            budget: 100,
        })
    }

    #[test]
    fn r1_and_r2_describe_the_memory() {
        for backend in [BackendChoice::Interpreter, BackendChoice::Jit] {
            assert_eq!(raw(LENGTH, &mut [1, 2, 3], backend), Ok(3));
            assert_eq!(raw(FIRST_BYTE, &mut [7, 2, 3], backend), Ok(7));
        }
    }

    #[test]
    fn failures_name_their_stage() {
        let memory = &mut [];
        let load = raw("95 00 00", memory, BackendChoice::Interpreter);
        assert!(matches!(
            load,
            Err(Failure::Verify(_)) | Err(Failure::Load(_))
        ));
        let run = raw(FIRST_BYTE, memory, BackendChoice::Interpreter);
        assert!(matches!(run, Err(Failure::Run(_))), "{run:?}");
        let elf = super::run(Test {
            program: b"not an ELF",
            format: ProgramFormat::Elf,
            memory,
            backend: BackendChoice::Interpreter,
            budget: 100,
        });
        assert!(matches!(elf, Err(Failure::Load(_))), "{elf:?}");
    }
}
