//! `EbpfVm::execute_program` on bpfvm: the engine's mapping and call-frame storage (boxed in
//! the host's mapping) are taken out for the run and lent, with a [`Bridge`] as the context
//! and the host's registers as the entry registers, to `bpfvm::run_lent`, which runs
//! the executable's published program (no lock: see `EngineProgram`) on the chosen backend
//! without making a `bpfvm::Vm`; the result, the count and the final pc come back in the real
//! crate's form. Nothing is allocated or copied per call.

use super::{access::mapping_of, errors, Bridge};
use crate::{
    elf::Executable,
    error::{EbpfError, ProgramResult},
    vm::{ContextObject, EbpfVm, ExecutionMode},
};
use bpfvm::Backend;

/// Runs `executable` in `vm` (see the module doc).
pub(crate) fn execute_program<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    executable: &Executable<C>,
    mode: &mut ExecutionMode,
) -> (u64, ProgramResult) {
    let config = executable.get_config();
    if !config.enable_address_translation {
        crate::unsupported::address_translation_off();
    }
    let entry = executable.get_entrypoint_instruction_offset();
    vm.registers[11] = entry as u64;
    vm.program_result = ProgramResult::Ok(0);
    let program = match executable.engine.for_run() {
        Ok(program) => program,
        Err(error) => {
            let error = EbpfError::VerifierError(errors::verify_error(error));
            return (0, ProgramResult::Err(error));
        }
    };
    let backend = match (&*mode, program.compiled()) {
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
    let mut registers = [0u64; 11];
    registers.copy_from_slice(&vm.registers[..11]);
    vm.previous_instruction_meter = vm.context().get_remaining();
    vm.due_insn_count = 0;
    let mut bridge = Bridge::new(vm);
    let lent = bpfvm::Lent {
        context: &mut bridge,
        mapping: &mut engine.mapping,
        stacks: &mut engine.stacks,
        registers,
    };
    let run = bpfvm::run_lent(program.program(), lent, backend);
    let stashed = bridge.take_stashed();
    let host = mapping_of(vm);
    host.handler_target().set(None);
    host.restore_engine(engine);
    let result = match run.result {
        Ok(value) => ProgramResult::Ok(value),
        Err(error) => {
            if let Some(pc) = error.pc() {
                vm.registers[11] = pc as u64;
            }
            ProgramResult::Err(errors::runtime_error(error, stashed))
        }
    };
    (run.instruction_count, result)
}
