//! The reference adapter: runs a bpfvm-testkit test case on solana_rbpf 0.2.38's interpreter
//! and reduces the result to the same `Outcome` bpfvm's harness produces.
//!
//! The configuration is copied field by field, the program is loaded with the reference's
//! `from_text_bytes` and the same internal functions registered (`register_internal_function`,
//! so keys follow the reference's own rule), verified with `RequisiteVerifier`, and run in a
//! fresh `EbpfVm` per case (the reference VM is single-use after an error) with the input
//! mapped writable at `MM_INPUT_START`. Errors are converted through their Debug text into
//! `ErrorDesc`, which removes the reference's +29 from pcs.

#![allow(dead_code)]

use bpfvm_testkit::outcome::{ErrorDesc, Outcome, Stage};
use bpfvm_testkit::syscalls::{SyscallSet, ABORT, ABORT_MESSAGE, BURN, GATHER_BYTES, MEM_FROB};
use bpfvm_testkit::{Program, TestCase};
use solana_rbpf::ebpf;
use solana_rbpf::elf::{register_internal_function, Executable};
use solana_rbpf::error::EbpfError;
use solana_rbpf::memory_region::{MemoryMapping, MemoryRegion};
use solana_rbpf::syscalls::{bpf_gather_bytes, bpf_mem_frob};
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{
    BuiltInProgram, Config, ContextObject, EbpfVm, FunctionRegistry, ProgramResult,
    TestContextObject, VerifiedExecutable,
};
use std::sync::Arc;

/// The reference's configuration with the same value in every field.
pub fn config(ours: &bpfvm::Config) -> Config {
    Config {
        max_call_depth: ours.max_call_depth,
        stack_frame_size: ours.stack_frame_size,
        enable_stack_frame_gaps: ours.enable_stack_frame_gaps,
        instruction_meter_checkpoint_distance: ours.instruction_meter_checkpoint_distance,
        enable_instruction_meter: ours.enable_instruction_meter,
        enable_instruction_tracing: ours.enable_instruction_tracing,
        enable_symbol_and_section_labels: ours.enable_symbol_and_section_labels,
        reject_broken_elfs: ours.reject_broken_elfs,
        noop_instruction_rate: ours.noop_instruction_rate,
        sanitize_user_provided_values: ours.sanitize_user_provided_values,
        runtime_environment_key: ours.runtime_environment_key,
        external_internal_function_hash_collision: ours.external_internal_function_hash_collision,
        reject_callx_r10: ours.reject_callx_r10,
        dynamic_stack_frames: ours.dynamic_stack_frames,
        enable_sdiv: ours.enable_sdiv,
        optimize_rodata: ours.optimize_rodata,
        static_syscalls: ours.static_syscalls,
        enable_elf_vaddr: ours.enable_elf_vaddr,
        new_elf_parser: ours.new_elf_parser,
        reject_rodata_stack_overlap: ours.reject_rodata_stack_overlap,
        aligned_memory_mapping: ours.aligned_memory_mapping,
    }
}

#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ABORT_MESSAGE)
    }
}

impl std::error::Error for Aborted {}

#[allow(clippy::too_many_arguments)]
fn burn(
    context: &mut TestContextObject,
    amount: u64,
    _a2: u64,
    _a3: u64,
    _a4: u64,
    _a5: u64,
    _memory: &mut MemoryMapping,
    result: &mut ProgramResult,
) {
    let amount = (amount & 0x3f).min(context.get_remaining());
    context.consume(amount);
    *result = ProgramResult::Ok(context.get_remaining());
}

#[allow(clippy::too_many_arguments)]
fn abort(
    _context: &mut TestContextObject,
    _a1: u64,
    _a2: u64,
    _a3: u64,
    _a4: u64,
    _a5: u64,
    _memory: &mut MemoryMapping,
    result: &mut ProgramResult,
) {
    *result = ProgramResult::Err(EbpfError::UserError(Box::new(Aborted)));
}

/// The reference loader for a case: its config and syscalls.
pub fn loader(case: &TestCase<'_>) -> BuiltInProgram<TestContextObject> {
    let mut loader = BuiltInProgram::new_loader(config(&case.config));
    match case.syscalls {
        SyscallSet::None => {}
        SyscallSet::Standard => {
            loader
                .register_function_by_name(GATHER_BYTES, bpf_gather_bytes)
                .unwrap();
            loader
                .register_function_by_name(MEM_FROB, bpf_mem_frob)
                .unwrap();
            loader.register_function_by_name(BURN, burn).unwrap();
            loader.register_function_by_name(ABORT, abort).unwrap();
        }
        SyscallSet::Conformance => panic!("the reference has no eBPF helpers"),
        SyscallSet::Logging => panic!("the 0.2.38 adapter does not register the logging set"),
    }
    loader
}

/// Converts a reference error through its Debug text.
pub fn describe(error: &EbpfError) -> ErrorDesc {
    match error {
        EbpfError::UserError(inner) => ErrorDesc {
            stage: Stage::Runtime,
            kind: "UserError".to_owned(),
            fields: vec![bpfvm_testkit::Field::Value(inner.to_string())],
        },
        EbpfError::VerifierError(inner) => parse_debug(Stage::Verify, &format!("{inner:?}")),
        EbpfError::ElfError(inner) => parse_debug(Stage::Load, &format!("{inner:?}")),
        other => parse_debug(Stage::Runtime, &format!("{other:?}")),
    }
}

fn parse_debug(stage: Stage, text: &str) -> ErrorDesc {
    let (kind, fields) = match text.find('(') {
        Some(open) => {
            let inner = text[open + 1..]
                .strip_suffix(')')
                .unwrap_or(&text[open + 1..]);
            let fields = inner
                .split(", ")
                .map(|field| field.trim_matches('"').to_owned())
                .collect();
            (&text[..open], fields)
        }
        None => (text, Vec::new()),
    };
    ErrorDesc::from_reference(stage, kind, fields)
}

/// The reference's verifier verdict on raw text bytes.
pub fn verify(text: &[u8], ours: &bpfvm::Config) -> Result<(), ErrorDesc> {
    let loader = Arc::new(BuiltInProgram::new_loader(config(ours)));
    let executable =
        Executable::<TestContextObject>::from_text_bytes(text, loader, FunctionRegistry::new())
            .map_err(|error| describe(&error))?;
    VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(executable)
        .map(|_| ())
        .map_err(|error| describe(&error))
}

/// Runs a case (text bytes only) on the reference interpreter.
pub fn run(case: &TestCase<'_>) -> Outcome {
    let Program::Text(text) = case.program else {
        panic!("the reference adapter runs text bytes only");
    };
    let loader = Arc::new(loader(case));
    let mut functions = FunctionRegistry::new();
    for &pc in case.functions {
        let name = bpfvm_testkit::generator::function_name(pc);
        if let Err(error) = register_internal_function(&mut functions, &loader, pc, name) {
            return Outcome::not_run(describe(&EbpfError::ElfError(error)), case.input);
        }
    }
    let executable = match Executable::<TestContextObject>::from_text_bytes(text, loader, functions)
    {
        Ok(executable) => executable,
        Err(error) => return Outcome::not_run(describe(&error), case.input),
    };
    let verified = match VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(
        executable,
    ) {
        Ok(verified) => verified,
        Err(error) => return Outcome::not_run(describe(&error), case.input),
    };
    execute(&verified, case)
}

fn execute(
    verified: &VerifiedExecutable<RequisiteVerifier, TestContextObject>,
    case: &TestCase<'_>,
) -> Outcome {
    let mut context = TestContextObject::new(case.budget);
    let mut heap = vec![0u8; case.heap_size];
    let mut input = case.input.to_vec();
    let (count, result) = {
        let regions = vec![MemoryRegion::new_writable(&mut input, ebpf::MM_INPUT_START)];
        match EbpfVm::new(verified, &mut context, &mut heap, regions) {
            Ok(mut vm) => vm.execute_program(true),
            Err(error) => return Outcome::not_run(describe(&error), case.input),
        }
    };
    let result = match result {
        ProgramResult::Ok(r0) => Ok(r0),
        ProgramResult::Err(error) => Err(describe(&error)),
    };
    Outcome {
        result,
        instruction_count: count,
        memory_after: input,
        trace: context.trace_log,
    }
}
