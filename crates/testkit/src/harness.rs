//! One way to run a test case on bpfvm: load, verify, map memory, run, observe.
//!
//! A [`TestCase`] is data: the program (text bytes, a raw `.bin` program, assembly, or an ELF
//! file), the dialect, the configuration, the input bytes, the heap size, the syscall set and
//! the budget. [`run`] executes it on one backend and reduces what happened to an [`Outcome`];
//! [`run_on_all`] does so on every backend in [`BACKENDS`] (the interpreter and the JIT, or
//! only the interpreter in a build without the JIT) and checks they agree, so every
//! data-driven test runs on both backends.

use crate::generator::function_name;
use crate::outcome::{ErrorDesc, Outcome};
use crate::syscalls::{registry, SyscallSet};
use bpfvm::{
    verify, Backend, Config, Executable, FunctionRegistry, Loader, MemoryRegion, TestContext,
    VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use std::sync::Arc;

/// The backends every case runs on: those of this build (`Backend::AVAILABLE`).
pub const BACKENDS: &[Backend] = Backend::AVAILABLE;

/// Compiles `program` for the JIT when `backend` needs it.
pub fn prepare(program: &mut VerifiedProgram<TestContext>, backend: Backend) -> Result<(), String> {
    match backend {
        Backend::Interpreter => Ok(()),
        Backend::Jit if program.jit_program().is_some() => Ok(()),
        Backend::Jit => program
            .jit_compile()
            .map_err(|error| format!("jit_compile failed: {error}")),
    }
}

/// The program of a case.
#[derive(Clone, Copy, Debug)]
pub enum Program<'a> {
    /// Text bytes loaded like the reference's `from_text_bytes` (no fixups); the case's
    /// `functions` are registered as internal functions.
    Text(&'a [u8]),
    /// A raw `.bin` program: relative calls are fixed up as the loader does.
    Raw(&'a [u8]),
    /// Assembly text in the case's dialect; its function labels are registered.
    Assembly(&'a str),
    /// An ELF file (a shared object, or a relocatable object from clang) loaded in the
    /// case's dialect.
    Elf(&'a [u8]),
}

/// Everything one run needs.
#[derive(Clone, Copy, Debug)]
pub struct TestCase<'a> {
    /// The program.
    pub program: Program<'a>,
    /// Extra internal function pcs to register (for [`Program::Text`]).
    pub functions: &'a [usize],
    /// The dialect.
    pub dialect: Dialect,
    /// The configuration.
    pub config: Config,
    /// The input region's bytes, mapped writable at `MM_INPUT_START`.
    pub input: &'a [u8],
    /// The heap size.
    pub heap_size: usize,
    /// The syscalls registered.
    pub syscalls: SyscallSet,
    /// The instruction budget.
    pub budget: u64,
}

impl<'a> TestCase<'a> {
    /// A case with the default memory (no input, no heap), no syscalls and a budget of 10^6.
    pub fn new(program: Program<'a>, dialect: Dialect, config: Config) -> Self {
        TestCase {
            program,
            functions: &[],
            dialect,
            config,
            input: &[],
            heap_size: 0,
            syscalls: SyscallSet::None,
            budget: 1_000_000,
        }
    }
}

/// Loads the case's program into an executable.
pub fn load(case: &TestCase<'_>) -> Result<Executable<TestContext>, ErrorDesc> {
    let loader = Arc::new(Loader::with_syscalls(case.config, registry(case.syscalls)));
    let load_error = |error| ErrorDesc::from_load(&error);
    match case.program {
        Program::Text(bytes) => {
            let mut functions = FunctionRegistry::new();
            for &pc in case.functions {
                functions
                    .register(&loader, case.dialect, pc, &function_name(pc))
                    .map_err(load_error)?;
            }
            Executable::from_text_bytes(bytes, loader, case.dialect, functions).map_err(load_error)
        }
        Program::Raw(bytes) => {
            Executable::from_raw_program(bytes, loader, case.dialect).map_err(load_error)
        }
        Program::Assembly(source) => {
            let assembled = bpfvm_asm::assemble(source, case.dialect)
                .map_err(|error| ErrorDesc::load_message("AssemblerError", error))?;
            let mut functions = FunctionRegistry::new();
            for label in &assembled.functions {
                functions
                    .register(&loader, case.dialect, label.pc, &label.name)
                    .map_err(load_error)?;
            }
            Executable::from_text_bytes(&assembled.bytes, loader, case.dialect, functions)
                .map_err(load_error)
        }
        Program::Elf(bytes) => {
            Executable::from_elf_in(bytes, loader, case.dialect).map_err(load_error)
        }
    }
}

/// Loads and verifies the case's program.
pub fn load_verified(case: &TestCase<'_>) -> Result<VerifiedProgram<TestContext>, ErrorDesc> {
    verify(load(case)?).map_err(|error| ErrorDesc::from_verify(&error))
}

/// Runs the case on one backend.
pub fn run(case: &TestCase<'_>, backend: Backend) -> Outcome {
    match load_verified(case) {
        Ok(mut program) => {
            if let Err(message) = prepare(&mut program, backend) {
                return Outcome::not_run(ErrorDesc::load_message("JitError", message), case.input);
            }
            run_verified(&program, case, backend)
        }
        Err(error) => Outcome::not_run(error, case.input),
    }
}

/// Runs an already verified program with the case's memory, budget and backend.
pub fn run_verified(
    program: &VerifiedProgram<TestContext>,
    case: &TestCase<'_>,
    backend: Backend,
) -> Outcome {
    let mut context = TestContext::new(case.budget);
    let mut heap = vec![0u8; case.heap_size];
    let mut input = case.input.to_vec();
    let run = {
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        match Vm::new(program, &mut context, &mut heap, regions) {
            Ok(mut vm) => vm.run(backend),
            Err(error) => {
                return Outcome::not_run(ErrorDesc::from_runtime(&error), case.input);
            }
        }
    };
    Outcome {
        result: run.result.map_err(|error| ErrorDesc::from_runtime(&error)),
        instruction_count: run.instruction_count,
        memory_after: input,
        trace: context.trace_log,
    }
}

/// Runs the case on every backend of [`BACKENDS`]. Returns the first backend's outcome, or
/// a description of how the backends disagree.
pub fn run_on_all(case: &TestCase<'_>) -> Result<Outcome, String> {
    let mut program = match load_verified(case) {
        Ok(program) => program,
        Err(error) => return Ok(Outcome::not_run(error, case.input)),
    };
    for &backend in BACKENDS {
        prepare(&mut program, backend)?;
    }
    let mut first: Option<Outcome> = None;
    for &backend in BACKENDS {
        let outcome = run_verified(&program, case, backend);
        match &first {
            None => first = Some(outcome),
            Some(expected) => {
                let differences = outcome.differences(expected);
                if !differences.is_empty() {
                    return Err(format!(
                        "backend {backend:?} disagrees with {:?}: {}",
                        BACKENDS.first(),
                        differences.join("; ")
                    ));
                }
            }
        }
    }
    first.ok_or_else(|| "no backends configured".to_owned())
}
