//! The C kernels of `examples/c/kernels` on four engines: native code (the same source built
//! by `build.rs` with the system C compiler at -O2, called through FFI), bpfvm's JIT (metering
//! on, default checks, legacy configuration), bpfvm's interpreter, and the reference's JIT
//! (solana_rbpf 0.2.38) on the very same `.text` bytes. Every run asserts the kernel's result
//! (the native one) and, for the VMs, the instruction count (bpfvm's interpreter's). After
//! criterion's measurements, a direct timing prints per kernel the ratios bpfvm JIT / native,
//! reference JIT / bpfvm JIT and bpfvm interpreter / bpfvm JIT.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench native -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod kernels;

use bpfvm::{Backend, TestContext, Vm};
use criterion::{criterion_group, criterion_main, Criterion};
use kernels::{kernels, our_region, time, Kernel, BUDGET};
use solana_rbpf::memory_region::MemoryRegion;
use solana_rbpf::vm::{EbpfVm, TestContextObject};
use std::time::Duration;

/// Benchmarks one kernel on the four engines and prints its ratio line.
fn bench_kernel(c: &mut Criterion, kernel: &Kernel) {
    let input = (kernel.input)();
    let mut native_input = kernel.native_input(&input);
    let expected = kernel.run_native(&mut native_input);
    let mut run_native = || assert_eq!(kernel.run_native(&mut native_input), expected);

    let mut ours = kernel.ours();
    ours.jit_compile().unwrap();
    let mut our_input = input.clone();
    let mut our_context = TestContext::default();
    let mut heap: Vec<u8> = Vec::new();
    let regions = vec![our_region(&mut our_input)];
    let mut our_vm = Vm::new(&ours, &mut our_context, &mut heap, regions).unwrap();
    our_vm.context().remaining = BUDGET;
    let first = our_vm.run(Backend::Interpreter);
    assert_eq!(first.result, Ok(expected), "{}", kernel.name);
    let count = first.instruction_count;
    let mut run_ours = |backend| {
        our_vm.context().remaining = BUDGET;
        let run = our_vm.run(backend);
        assert_eq!(run.result, Ok(expected));
        assert_eq!(run.instruction_count, count);
    };

    let mut reference = kernel.reference();
    reference.jit_compile().unwrap();
    let mut reference_input = input.clone();
    let mut reference_context = TestContextObject::new(BUDGET);
    let region =
        MemoryRegion::new_writable(&mut reference_input, solana_rbpf::ebpf::MM_INPUT_START);
    let mut reference_vm =
        EbpfVm::new(&reference, &mut reference_context, &mut [], vec![region]).unwrap();
    let mut run_reference = || {
        reference_vm.env.context_object_pointer.remaining = BUDGET;
        let (instructions, result) = reference_vm.execute_program(false);
        assert_eq!(result.unwrap(), expected);
        assert_eq!(instructions, count);
    };

    let mut group = c.benchmark_group(kernel.name);
    group.bench_function("native", |b| b.iter(&mut run_native));
    group.bench_function("bpfvm_jit", |b| b.iter(|| run_ours(Backend::Jit)));
    group.bench_function("bpfvm_interpreter", |b| {
        b.iter(|| run_ours(Backend::Interpreter))
    });
    group.bench_function("reference_jit", |b| b.iter(&mut run_reference));
    group.finish();

    let native = time(&mut run_native);
    let jit = time(|| run_ours(Backend::Jit));
    let interpreter = time(|| run_ours(Backend::Interpreter));
    let reference_jit = time(&mut run_reference);
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "kernel {}: {count} instructions; native {native:?}, bpfvm jit {jit:?}, bpfvm interpreter {interpreter:?}, reference jit {reference_jit:?}",
        kernel.name
    );
    println!(
        "ratio {}: jit/native = {:.2}x, reference-jit/bpfvm-jit = {:.2}x, interpreter/jit = {:.2}x",
        kernel.name,
        ratio(jit, native),
        ratio(reference_jit, jit),
        ratio(interpreter, jit)
    );
}

fn native_kernels(c: &mut Criterion) {
    for kernel in &kernels() {
        bench_kernel(c, kernel);
    }
}

criterion_group!(benches, native_kernels);
criterion_main!(benches);
