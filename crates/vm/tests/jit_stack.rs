//! The JIT's r10 fast path (fixed frames with gaps: `[r10 + off]` inside the current frame is
//! translated without a check) relies on the stack being the one the VM set up. A syscall
//! may replace the stack region; these tests replace it mid-run, with a stack of the same
//! layout and with a different one, and check that the JIT still gives the interpreter's
//! result, count and memory: it follows the new region, or hands the rest of the run to the
//! interpreter.

// These tests need the JIT: builds without it (`cfg(bpfvm_jit)` unset) compile them out.
#![cfg(bpfvm_jit)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod interp_common;

use bpfvm::{
    verify, Backend, Config, ContextObject, Executable, Loader, MemoryMapping, MemoryRegion,
    RuntimeError, SyscallRegistry, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
    MM_STACK_START,
};
use bpfvm_isa::{hash_symbol_name, AluOp, Dialect, MemSize, Width};
use interp_common::{alu, assemble, call, exit, ldx, reg, st, stx};
use std::sync::Arc;

/// The index of the stack in the aligned mapping.
const STACK_INDEX: usize = 2;

/// Replaces the stack with a zeroed one: gapped like the VM's when `args[0]` is 1, without
/// gaps otherwise. The new stack's first frame holds 0x5a at offset 4088 (r10 - 8). With
/// `args[0]` 2 it also spends the rest of the budget.
fn replace_stack(
    context: &mut TestContext,
    memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    if args[0] == 2 {
        context.consume(context.remaining());
    }
    let config = config();
    let gap = match args[0] {
        1 => config.stack_frame_size as u64,
        _ => 0,
    };
    let stack =
        MemoryRegion::owned_zeroed(config.stack_size(), MM_STACK_START, gap).expect("a stack");
    memory.replace_region(STACK_INDEX, stack)?;
    memory.write_bytes(MM_STACK_START + 4088, &0x5au64.to_le_bytes())?;
    Ok(0)
}

/// The default configuration with fixed frames and gaps (the stack the fast path is for).
fn config() -> Config {
    Config {
        dynamic_stack_frames: false,
        enable_stack_frame_gaps: true,
        ..Config::default()
    }
}

/// `st [r10-8], 0x11; r1 = mode; call replace_stack; r0 = [r10-8]; [r10-16] = r0;
/// r1 = [r10-16]; r0 += r1; exit`: 0x11 * 2 if the old stack were still used, 0x5a * 2 with
/// the new.
fn program() -> VerifiedProgram<TestContext> {
    let insns = [
        st(MemSize::DW, 10, -8, 0x11),
        ldx(MemSize::DW, 1, 1, 0),
        call(0, hash_symbol_name(b"replace_stack") as i32),
        ldx(MemSize::DW, 0, 10, -8),
        stx(MemSize::DW, 10, -16, 0),
        ldx(MemSize::DW, 1, 10, -16),
        alu(Width::W64, AluOp::Add, 0, reg(1)),
        exit(),
    ];
    let mut syscalls = SyscallRegistry::new();
    syscalls.register("replace_stack", replace_stack).unwrap();
    let loader = Arc::new(Loader::with_syscalls(config(), syscalls));
    let bytes = assemble(&insns, Dialect::Sbpf);
    let executable = Executable::from_raw_program(&bytes, loader, Dialect::Sbpf).unwrap();
    let mut verified = verify(executable).unwrap();
    verified.jit_compile().unwrap();
    verified
}

/// Runs the program with `mode` on `backend`: result, count and the new stack's bytes at
/// r10 - 16.
fn run(
    verified: &VerifiedProgram<TestContext>,
    backend: Backend,
    mode: u64,
) -> (Result<u64, RuntimeError>, u64, Vec<u8>) {
    let mut input = mode.to_le_bytes().to_vec();
    let mut context = TestContext::new(1_000);
    let mut heap = Vec::new();
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let mut vm = Vm::new(verified, &mut context, &mut heap, regions).unwrap();
    let run = vm.run(backend);
    let stored = vm
        .mapping_mut()
        .read_bytes(MM_STACK_START + 4080, 8)
        .expect("the new stack's first frame");
    (run.result, run.instruction_count, stored)
}

#[test]
fn a_stack_replaced_by_a_syscall_is_used_by_both_backends() {
    let verified = program();
    for mode in [0, 1] {
        let interpreted = run(&verified, Backend::Interpreter, mode);
        assert_eq!(
            interpreted.0,
            Ok(0xb4),
            "mode {mode}: the new stack is read"
        );
        assert_eq!(
            interpreted.2,
            0x5au64.to_le_bytes(),
            "mode {mode}: and written"
        );
        let compiled = run(&verified, Backend::Jit, mode);
        assert_eq!(compiled, interpreted, "mode {mode}");
    }
}

#[test]
fn a_syscall_that_replaces_the_stack_and_drains_the_budget_stops_at_the_next_pc() {
    // The syscall's own meter check comes before the JIT notices the new stack: both
    // backends stop with `ExceededMaxInstructions` at the instruction after the call.
    let verified = program();
    let interpreted = run(&verified, Backend::Interpreter, 2);
    assert_eq!(
        interpreted.0,
        Err(RuntimeError::ExceededMaxInstructions {
            pc: 3,
            budget: 1_000
        })
    );
    assert_eq!(interpreted.1, 1_000);
    assert_eq!(run(&verified, Backend::Jit, 2), interpreted);
}
