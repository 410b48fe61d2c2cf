//! Reusable VM memory (`VmMemory`, `Vm::new_in`): every stack and heap it lends is all zero,
//! whatever earlier runs wrote there. A guest program fills the whole stack (every frame,
//! gapped or not) and the whole heap with a pattern, and later VMs over the same memory read
//! every word back as zero, on both backends, for more invocations than the memory has
//! slots (so that its batched reset runs several times); the lending itself keeps its
//! promise across sizes that grow and shrink.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::memory::Layout;
use bpfvm::{
    verify, Backend, Config, Executable, Loader, MemoryRegion, SyscallRegistry, TestContext,
    VerifiedProgram, Vm, VmMemory, MM_HEAP_START, MM_INPUT_START, MM_STACK_START,
};
use bpfvm_isa::Dialect;
use std::sync::Arc;

/// The heap every VM of these tests gets.
const HEAP: usize = 32 * 1024;

/// The word the writer stores everywhere.
const PATTERN: u64 = 0x5a5a_5a5a_5a5a_5a5a;

/// Input byte 0 chooses: 1 stores `PATTERN` in every stack and heap word, 0 ORs every word
/// into r0. The stack is `frames` pieces of 4 KiB, `stride` bytes apart in guest space.
fn walker(frames: usize, stride: usize) -> String {
    let walk = |name: &str, setup: &str, tail: &str| {
        format!(
            "{setup}\n\
             {name}_word:\n\
             mov64 r3, r6\n\
             add64 r3, r8\n\
             jeq r9, 0, {name}_read\n\
             stxdw [r3+0], r5\n\
             ja {name}_next\n\
             {name}_read:\n\
             ldxdw r4, [r3+0]\n\
             or64 r0, r4\n\
             {name}_next:\n\
             add64 r8, 8\n\
             {tail}\n"
        )
    };
    let stack = walk(
        "stack",
        &format!("lddw r6, {MM_STACK_START:#x}\nmov64 r7, 0\nstack_frame:\nmov64 r8, 0"),
        &format!(
            "jlt r8, 4096, stack_word\nadd64 r6, {stride}\nadd64 r7, 1\njlt r7, {frames}, stack_frame"
        ),
    );
    let heap = walk(
        "heap",
        &format!("lddw r6, {MM_HEAP_START:#x}\nmov64 r8, 0"),
        &format!("jlt r8, {HEAP}, heap_word"),
    );
    format!("ldxb r9, [r1+0]\nmov64 r0, 0\nlddw r5, {PATTERN:#x}\n{stack}{heap}exit\n")
}

/// The walker for `config`'s stack, verified and compiled.
fn program(config: Config) -> VerifiedProgram<TestContext> {
    let stack = Layout::of(&config, Dialect::Sbpf).stack;
    let frames = stack.size() / 4096;
    let stride = 4096 + usize::try_from(stack.gap()).unwrap();
    let source = walker(frames, stride);
    let assembled = bpfvm_asm::assemble(&source, Dialect::Sbpf).unwrap();
    let loader = Arc::new(Loader::with_syscalls(config, SyscallRegistry::new()));
    let executable = Executable::from_raw_program(&assembled.bytes, loader, Dialect::Sbpf).unwrap();
    let mut program = verify(executable).unwrap();
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        program.jit_compile().unwrap();
    }
    program
}

/// One VM over `memory` that only reads: the OR of every stack and heap word.
fn read_all(
    program: &VerifiedProgram<TestContext>,
    memory: &mut VmMemory,
    backend: Backend,
) -> u64 {
    let mut input = [0u8];
    let mut context = TestContext::new(10_000_000);
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let mut vm = Vm::new_in(program, &mut context, memory, HEAP, regions).unwrap();
    vm.run(backend).result.unwrap()
}

/// The configurations: the legacy profile's gapped 4 KiB frames at Agave's depth (what
/// production programs get), and the default's dynamic frames (one contiguous stack).
fn configs() -> [Config; 2] {
    let gapped = Config {
        max_call_depth: 64,
        ..Config::legacy()
    };
    [gapped, Config::default()]
}

#[test]
fn every_lent_stack_and_heap_reads_as_zero_after_a_run_filled_them() {
    for config in configs() {
        let program = program(config);
        for &backend in Backend::AVAILABLE {
            let mut memory = VmMemory::new();
            assert_eq!(read_all(&program, &mut memory, backend), 0);
            for round in 0..12 {
                // One VM reads zeros, fills everything, and its next run reads the pattern
                // back: the pattern reached every word, so later zeros are a reset.
                let mut input = [0u8];
                let mut context = TestContext::new(10_000_000);
                let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
                let mut vm =
                    Vm::new_in(&program, &mut context, &mut memory, HEAP, regions).unwrap();
                let context = format!("{backend:?} round {round}");
                assert_eq!(
                    vm.run(backend).result,
                    Ok(0),
                    "{context}: not zero when lent"
                );
                vm.mapping_mut().write_bytes(MM_INPUT_START, &[1]).unwrap();
                assert_eq!(vm.run(backend).result, Ok(0), "{context}");
                vm.mapping_mut().write_bytes(MM_INPUT_START, &[0]).unwrap();
                assert_eq!(vm.run(backend).result, Ok(PATTERN), "{context}");
                drop(vm);
                for _ in 0..round % 3 {
                    assert_eq!(
                        read_all(&program, &mut memory, backend),
                        0,
                        "{context}: a later VM saw an earlier run's bytes"
                    );
                }
            }
        }
    }
}

/// Lends `(stack, heap)`, checks both are zero and 16-byte aligned, and fills them.
fn lend_and_fill(memory: &mut VmMemory, stack: usize, heap: usize) {
    let (lent_stack, lent_heap) = memory.lend(stack, heap).unwrap();
    assert_eq!((lent_stack.len(), lent_heap.len()), (stack, heap));
    for part in [lent_stack, lent_heap] {
        assert_eq!(part.as_ptr() as usize % 16, 0);
        assert!(part.iter().all(|&byte| byte == 0), "lent bytes not zero");
        part.fill(0xff);
    }
}

#[test]
fn lending_keeps_its_promise_across_sizes() {
    let mut memory = VmMemory::new();
    assert_eq!(memory.capacity(), 0);
    let sizes = [
        (256 * 1024, 32 * 1024),
        (80 * 1024, 32 * 1024),
        (100, 7),
        (0, 0),
        (256 * 1024, 256 * 1024),
        (4096, 4096),
        (256 * 1024 + 1, 3),
    ];
    for round in 0..3 {
        for &(stack, heap) in &sizes {
            for _ in 0..=round * 4 {
                lend_and_fill(&mut memory, stack, heap);
            }
        }
    }
    assert!(memory.capacity() >= 256 * 1024 + 256 * 1024);
}

#[test]
fn a_size_no_host_can_map_is_refused_and_the_memory_kept() {
    let mut memory = VmMemory::new();
    lend_and_fill(&mut memory, 4096, 4096);
    assert!(memory.lend(usize::MAX, 1).is_none());
    assert!(memory.lend(usize::MAX / 2, usize::MAX / 2).is_none());
    assert!(memory.lend(1 << 60, 0).is_none());
    lend_and_fill(&mut memory, 4096, 4096);
}
