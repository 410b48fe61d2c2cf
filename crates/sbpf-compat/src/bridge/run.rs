//! `EbpfVm::execute_program` on bpfvm: the engine's mapping and call-frame storage (boxed in
//! the host's mapping) are taken out for the run and lent, with a [`Bridge`] as the context
//! and a copy of the host's registers as the entry registers, to `bpfvm::run_lent`, which runs
//! the executable's published program (no lock: see `EngineProgram`) on the chosen backend
//! without making a `bpfvm::Vm`; the result, the count and the final pc come back in the real
//! crate's form. Nothing is allocated per call.
//!
//! The common call (a published program, a run that ends in `exit`) is one straight path:
//! the program and whether it may use its machine code are read without a lock
//! (`EngineProgram::for_fast_run`), `run_lent` is inlined, and what only a first run, a
//! program compiled again after its first run, or a failed run needs is kept out of it
//! ([`execute_other`], [`failed`]).

use super::{access::mapping_of, errors, Bridge};
use crate::{
    elf::Executable,
    error::{EbpfError, ProgramResult},
    vm::{ContextObject, EbpfVm, ExecutionMode},
};
use bpfvm::{Backend, RuntimeError, VerifiedProgram};

/// Runs `executable` in `vm` (see the module doc).
#[inline]
pub(crate) fn execute_program<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    executable: &Executable<C>,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    if !executable.get_config().enable_address_translation {
        crate::unsupported::address_translation_off();
    }
    vm.registers[11] = executable.get_entrypoint_instruction_offset() as u64;
    vm.program_result = ProgramResult::Ok(0);
    match executable.engine.for_fast_run() {
        Some((program, compiled)) => run_program(vm, program, compiled, mode),
        None => execute_other(vm, executable, mode),
    }
}

/// The run of a program that is not published yet, was refused by bpfvm's verifier, or was
/// compiled again after its first run (see `EngineProgram::for_run`).
#[cold]
#[inline(never)]
fn execute_other<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    executable: &Executable<C>,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
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
#[inline(always)]
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
    *mode = match backend {
        Backend::Interpreter => ExecutionMode::Interpreted,
        Backend::Jit => ExecutionMode::Jit,
    };
    let Some(mut engine) = mapping_of(vm).take_engine() else {
        return (0, ProgramResult::Err(EbpfError::InvalidMemoryRegion(0)));
    };
    let host_mapping = vm.memory_mapping;
    mapping_of(vm).handler_target().set(Some(host_mapping));
    vm.previous_instruction_meter = vm.context().get_remaining();
    vm.due_insn_count = 0;
    // A copy: builtins may write the VM's registers while the run goes on.
    let mut registers = [0u64; 11];
    registers.copy_from_slice(&vm.registers[..11]);
    let mut bridge = Bridge::new(vm);
    let lent = bpfvm::Lent {
        context: &mut bridge,
        mapping: &mut engine.mapping,
        stacks: &mut engine.stacks,
        registers: &registers,
    };
    let run = bpfvm::run_lent(program, lent, backend);
    let host = mapping_of(vm);
    host.handler_target().set(None);
    host.restore_engine(engine);
    match run.result {
        Ok(value) => (run.instruction_count, ProgramResult::Ok(value)),
        Err(error) => failed(vm, bridge, error, run.instruction_count),
    }
}

/// The result of a run that ended in `error`: the faulting pc in the VM's registers and the
/// error in the real crate's type (a failing builtin's own error when one ended the run).
#[cold]
#[inline(never)]
fn failed<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    mut bridge: Bridge<C>,
    error: RuntimeError,
    instruction_count: u64,
) -> (u64, ProgramResult) {
    if let Some(pc) = error.pc() {
        vm.registers[11] = pc as u64;
    }
    let stashed = bridge.take_stashed();
    (
        instruction_count,
        ProgramResult::Err(errors::runtime_error(error, stashed)),
    )
}
