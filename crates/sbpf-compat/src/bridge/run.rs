//! `EbpfVm::execute_program` on bpfvm: the engine's mapping and call-frame storage (kept in
//! the host's mapping) are used in place for the run, with a [`Bridge`] as the context and
//! the VM's own r0..r10 as the entry registers, by `bpfvm::run_lent`, which runs the
//! executable's published program (no lock: see `EngineProgram`) on the chosen backend
//! without making a `bpfvm::Vm` (`access::run_in_place`); the result, the count and the
//! final pc come back in the real crate's form. Nothing is allocated or moved per call.
//!
//! The common call (a published program, a run that ends in `exit`) is one straight path:
//! the program is read without a lock, through the route of the backend the mode asks for
//! (`EngineProgram::for_fast_run`: one pointer), `run_lent` is inlined, and what only a first run, a
//! program compiled again after its first run, a configuration bpfvm cannot run or a failed
//! run needs is kept out of it ([`execute_other`], [`failed`]).

use super::{access::run_in_place, errors, ok_result, Bridge};
use crate::{
    elf::Executable,
    error::{EbpfError, ProgramResult},
    vm::{ContextObject, EbpfVm, ExecutionMode},
};
use bpfvm::{Backend, RuntimeError, VerifiedProgram};

/// Runs `executable` in `vm` (see the module doc; inlined into the host's call).
#[inline(always)]
pub(crate) fn execute_program<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    executable: &Executable<C>,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    vm.registers[11] = executable.get_entrypoint_instruction_offset() as u64;
    vm.program_result = ProgramResult::Ok(0);
    match executable.engine.for_fast_run(mode) {
        Some((program, backend)) => run_on(vm, program, backend, mode),
        None => execute_other(vm, executable, mode),
    }
}

/// The run of a program that is not published yet, was refused by bpfvm's verifier, was
/// compiled again after its first run (see `EngineProgram::for_run`), or whose loader turns
/// address translation off (which bpfvm refuses loudly).
#[cold]
#[inline(never)]
fn execute_other<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    executable: &Executable<C>,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    if !executable.get_config().enable_address_translation {
        crate::unsupported::address_translation_off();
    }
    match executable.engine.for_run() {
        Ok(program) => run_program(vm, program.program(), program.compiled(), mode),
        Err(error) => {
            let error = EbpfError::VerifierError(errors::verify_error(error));
            (0, ProgramResult::Err(error))
        }
    }
}

/// Runs `program` in `vm` on the backend `mode` asks for (`compiled`: whether the run may
/// use the program's machine code).
fn run_program<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    program: &VerifiedProgram<Bridge<C>>,
    compiled: bool,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    let backend = match (&*mode, compiled) {
        (ExecutionMode::Interpreted, _) | (ExecutionMode::PreferJit, false) => Backend::Interpreter,
        (ExecutionMode::Jit | ExecutionMode::PreferJit, true) => Backend::Jit,
        (ExecutionMode::Jit, false) => return (0, ProgramResult::Err(EbpfError::JitNotCompiled)),
    };
    run_on(vm, program, backend, mode)
}

/// Runs `program` in `vm` on `backend`, which `mode` is set to.
#[inline(always)]
fn run_on<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    program: &VerifiedProgram<Bridge<C>>,
    backend: Backend,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    *mode = match backend {
        Backend::Interpreter => ExecutionMode::Interpreted,
        Backend::Jit => ExecutionMode::Jit,
    };
    vm.previous_instruction_meter = vm.context().get_remaining();
    vm.due_insn_count = 0;
    let run = run_in_place(vm, program, backend);
    match run.result {
        Ok(value) => (run.instruction_count, ok_result(value)),
        Err(error) => failed(vm, error, run.instruction_count),
    }
}

/// The result of a run that ended in `error`: the faulting pc in the VM's registers and the
/// error in the real crate's type (a failing builtin's own error, which it left in the VM's
/// `program_result`, when one ended the run).
#[cold]
#[inline(never)]
fn failed<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    error: RuntimeError,
    instruction_count: u64,
) -> (u64, ProgramResult) {
    if let Some(pc) = error.pc() {
        vm.registers[11] = pc as u64;
    }
    let stashed = match std::mem::replace(&mut vm.program_result, ProgramResult::Ok(0)) {
        ProgramResult::Err(error) => Some(error),
        ProgramResult::Ok(_) => None,
    };
    (
        instruction_count,
        ProgramResult::Err(errors::runtime_error(error, stashed)),
    )
}
