//! The C kernels of `examples/c/kernels` on every engine, in one criterion run: native code
//! (the same source built by `build.rs` with clang -O2, called through FFI), bpfvm's JIT and
//! interpreter (metering on, default checks, legacy configuration), the reference's
//! (solana_rbpf 0.2.38) JIT and interpreter on the very same bytes, and solana-sbpf 0.26's
//! JIT and interpreter on two builds of each kernel: V0 (the same keyed `.text`) and V3 (the
//! object linked by `bpfvm-link` into a strict-format file). Every run asserts the kernel's
//! result (the native one) and, for the VMs, the instruction count (bpfvm's interpreter's).
//!
//! Each column is benchmarked by criterion and then timed directly (`kernels::time`, the
//! median of 15 batches); the ratio lines give per kernel bpfvm JIT / native and 0.26 /
//! bpfvm for both engines, and the closing table lists every kernel's times with the
//! geometric means of the ratios (the targets of issue 14 are read from it).
//!
//! The bpfvm columns come from [`bench_bpfvm`] and the 0.26 columns from [`bench_sbpf26`], one
//! call per build: bpfvm runs the legacy profile (the unsuffixed columns) and the V0 and V3
//! profiles with Agave's settings (`_v0`, `_v3`: the builds 0.26 runs), so the V3 line
//! compares bpfvm's V3 JIT with its V0 JIT on the same kernel.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench native -- --warm-up-time 1 --measurement-time 3`
//! (`BPFVM_KERNELS=fib,collatz` runs only those kernels; the table then has their rows only).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod kernels;
#[path = "../tests/reference26/mod.rs"]
mod reference26;

use bpfvm::{Backend, SbpfVersion, TestContext, VerifiedProgram, Vm};
use bpfvm_testkit::sbpf26::{Engine as Engine26, Version};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use kernels::{kernels, our_region, time, Kernel, BUDGET, NATIVE_COMPILER};
use reference26::run::Session;
use reference26::{keyed_text_executable, loader, Case26, Context26, Program26};
use solana_rbpf::memory_region::MemoryRegion;
use solana_rbpf::vm::{EbpfVm, TestContextObject};
use solana_sbpf::elf::Executable as Executable26;
use solana_sbpf::error::ProgramResult;
use solana_sbpf::verifier::RequisiteVerifier as RequisiteVerifier26;
use std::cell::RefCell;
use std::time::Duration;

/// What every run of a kernel must give.
#[derive(Clone, Copy)]
struct Expected {
    r0: u64,
    count: u64,
}

/// The direct timings of a VM's two engines.
#[derive(Clone, Copy)]
struct Times {
    jit: Duration,
    interpreter: Duration,
}

/// One kernel's row of the closing table.
struct Row {
    kernel: &'static str,
    count: u64,
    native: Duration,
    bpfvm: Times,
    reference: Times,
    v0: Times,
    v3: Times,
}

thread_local! {
    /// The rows measured so far, printed as a table when the run ends.
    static ROWS: RefCell<Vec<Row>> = const { RefCell::new(Vec::new()) };
}

/// Benchmarks a bpfvm program's JIT and interpreter (one VM, created once) as the columns
/// `bpfvm_jit{label}` and `bpfvm_interpreter{label}`.
fn bench_bpfvm(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    program: &VerifiedProgram<TestContext>,
    input: &[u8],
    expected: Expected,
) -> Times {
    let mut our_input = input.to_vec();
    let mut our_context = TestContext::default();
    let mut heap: Vec<u8> = Vec::new();
    let regions = vec![our_region(&mut our_input)];
    let mut our_vm = Vm::new(program, &mut our_context, &mut heap, regions).unwrap();
    let mut run_ours = |backend| {
        our_vm.context().remaining = BUDGET;
        let run = our_vm.run(backend);
        assert_eq!(run.result, Ok(expected.r0));
        assert_eq!(run.instruction_count, expected.count);
    };
    group.bench_function(format!("bpfvm_jit{label}"), |b| {
        b.iter(|| run_ours(Backend::Jit))
    });
    group.bench_function(format!("bpfvm_interpreter{label}"), |b| {
        b.iter(|| run_ours(Backend::Interpreter))
    });
    Times {
        jit: time(|| run_ours(Backend::Jit)),
        interpreter: time(|| run_ours(Backend::Interpreter)),
    }
}

/// A kernel on 0.26, verified and compiled: V0 runs the keyed `.text` (the bytes the
/// reference runs), V3 the linked file.
fn sbpf26_executable(kernel: &Kernel, version: Version) -> Executable26<Context26> {
    let settings = loader(&Case26::new(Program26::Elf(&[])));
    let executable = match version {
        Version::V3 => Executable26::from_elf(&kernel.v3_elf(), settings).unwrap(),
        _ => {
            let keyed = kernel.keyed_text();
            keyed_text_executable(settings, &keyed.bytes, version, &keyed.functions).unwrap()
        }
    };
    executable.verify::<RequisiteVerifier26>().unwrap();
    executable.jit_compile().unwrap();
    executable
}

/// Benchmarks 0.26's JIT and interpreter on one build of a kernel (one VM, created once) as
/// the columns `sbpf26_jit_{label}` and `sbpf26_interpreter_{label}`.
fn bench_sbpf26(
    group: &mut BenchmarkGroup<'_, WallTime>,
    label: &str,
    executable: &Executable26<Context26>,
    input: &[u8],
    expected: Expected,
) -> Times {
    let mut session = Session::new(executable, 0, input).unwrap();
    let mut runner = session.runner(executable);
    let mut run = |engine| {
        let (count, result, _) = runner.run(engine, BUDGET);
        assert!(
            matches!(result, ProgramResult::Ok(r0) if r0 == expected.r0),
            "{result:?}"
        );
        assert_eq!(count, expected.count);
    };
    group.bench_function(format!("sbpf26_jit_{label}"), |b| {
        b.iter(|| run(Engine26::Jit))
    });
    group.bench_function(format!("sbpf26_interpreter_{label}"), |b| {
        b.iter(|| run(Engine26::Interpreter))
    });
    Times {
        jit: time(|| run(Engine26::Jit)),
        interpreter: time(|| run(Engine26::Interpreter)),
    }
}

/// Benchmarks the reference's JIT and interpreter on the kernel's keyed `.text` (one VM,
/// created once).
fn bench_reference(
    group: &mut BenchmarkGroup<'_, WallTime>,
    kernel: &Kernel,
    input: &[u8],
    expected: Expected,
) -> Times {
    let mut reference = kernel.reference();
    reference.jit_compile().unwrap();
    let mut reference_input = input.to_vec();
    let mut reference_context = TestContextObject::new(BUDGET);
    let region =
        MemoryRegion::new_writable(&mut reference_input, solana_rbpf::ebpf::MM_INPUT_START);
    let mut reference_vm =
        EbpfVm::new(&reference, &mut reference_context, &mut [], vec![region]).unwrap();
    let mut run_reference = |interpreted| {
        reference_vm.env.context_object_pointer.remaining = BUDGET;
        let (instructions, result) = reference_vm.execute_program(interpreted);
        assert_eq!(result.unwrap(), expected.r0);
        assert_eq!(instructions, expected.count);
    };
    group.bench_function("reference_jit", |b| b.iter(|| run_reference(false)));
    group.bench_function("reference_interpreter", |b| b.iter(|| run_reference(true)));
    Times {
        jit: time(|| run_reference(false)),
        interpreter: time(|| run_reference(true)),
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Benchmarks one kernel on every engine, prints its ratio lines and records its row.
fn bench_kernel(c: &mut Criterion, kernel: &Kernel) {
    let input = (kernel.input)();
    let mut native_input = kernel.native_input(&input);
    let r0 = kernel.run_native(&mut native_input);
    let mut run_native = || assert_eq!(kernel.run_native(&mut native_input), r0);

    let mut ours = kernel.ours();
    ours.jit_compile().unwrap();
    let count = {
        let mut first_input = input.clone();
        let mut context = TestContext::new(BUDGET);
        let mut heap: Vec<u8> = Vec::new();
        let regions = vec![our_region(&mut first_input)];
        let first = Vm::new(&ours, &mut context, &mut heap, regions)
            .unwrap()
            .run(Backend::Interpreter);
        assert_eq!(first.result, Ok(r0), "{}", kernel.name);
        first.instruction_count
    };
    let expected = Expected { r0, count };
    let sbpf26_v0 = sbpf26_executable(kernel, Version::V0);
    let sbpf26_v3 = sbpf26_executable(kernel, Version::V3);

    let mut group = c.benchmark_group(kernel.name);
    group.bench_function("native", |b| b.iter(&mut run_native));
    let native = time(&mut run_native);
    let bpfvm = bench_bpfvm(&mut group, "", &ours, &input, expected);
    let reference = bench_reference(&mut group, kernel, &input, expected);
    let v0 = bench_sbpf26(&mut group, "v0", &sbpf26_v0, &input, expected);
    let v3 = bench_sbpf26(&mut group, "v3", &sbpf26_v3, &input, expected);
    let ours_v0 = compiled(kernel.ours_sbpf(SbpfVersion::V0));
    let ours_v3 = compiled(kernel.ours_sbpf(SbpfVersion::V3));
    let bpfvm_v0 = bench_bpfvm(&mut group, "_v0", &ours_v0, &input, expected);
    let bpfvm_v3 = bench_bpfvm(&mut group, "_v3", &ours_v3, &input, expected);
    group.finish();

    println!(
        "kernel {}: {count} instructions; native {native:?}, bpfvm jit {:?}, bpfvm interpreter {:?}, reference jit {:?}, reference interpreter {:?}",
        kernel.name, bpfvm.jit, bpfvm.interpreter, reference.jit, reference.interpreter
    );
    println!(
        "kernel {} (0.26): jit V0 {:?}, V3 {:?}; interpreter V0 {:?}, V3 {:?}",
        kernel.name, v0.jit, v3.jit, v0.interpreter, v3.interpreter
    );
    println!(
        "ratio {}: bpfvm-jit/native = {:.2}x, sbpf26-jit/bpfvm-jit = {:.2}x (V0), {:.2}x (V3), sbpf26-interpreter/bpfvm-interpreter = {:.2}x (V0), {:.2}x (V3), reference-jit/bpfvm-jit = {:.2}x, bpfvm interpreter/jit = {:.2}x",
        kernel.name,
        ratio(bpfvm.jit, native),
        ratio(v0.jit, bpfvm.jit),
        ratio(v3.jit, bpfvm.jit),
        ratio(v0.interpreter, bpfvm.interpreter),
        ratio(v3.interpreter, bpfvm.interpreter),
        ratio(reference.jit, bpfvm.jit),
        ratio(bpfvm.interpreter, bpfvm.jit)
    );
    println!(
        "kernel {} (bpfvm versions): jit V0 {:?}, V3 {:?}; interpreter V0 {:?}, V3 {:?}",
        kernel.name, bpfvm_v0.jit, bpfvm_v3.jit, bpfvm_v0.interpreter, bpfvm_v3.interpreter
    );
    println!(
        "ratio {} (bpfvm versions): bpfvm-jit V3/V0 = {:.2}x; sbpf26-jit/bpfvm-jit = {:.2}x (V0), {:.2}x (V3)",
        kernel.name,
        ratio(bpfvm_v3.jit, bpfvm_v0.jit),
        ratio(v0.jit, bpfvm_v0.jit),
        ratio(v3.jit, bpfvm_v3.jit)
    );
    ROWS.with(|rows| {
        rows.borrow_mut().push(Row {
            kernel: kernel.name,
            count,
            native,
            bpfvm,
            reference,
            v0,
            v3,
        });
    });
}

/// The geometric mean of `values`.
fn geomean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0u32), |(sum, n), value| (sum + value.ln(), n + 1));
    (sum / f64::from(n.max(1))).exp()
}

/// Prints the closing table: every kernel's times in microseconds, the ratios the targets
/// are stated in, and their geometric means.
fn print_table(rows: &[Row]) {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("\nkernels (native: {NATIVE_COMPILER}); times in us, medians of direct timings");
    println!(
        "| kernel | instructions | native | bpfvm jit | bpfvm interp | 0.2.38 jit | 0.2.38 interp | 0.26 jit V0 | 0.26 interp V0 | 0.26 jit V3 | 0.26 interp V3 | 0.26 jit V0/bpfvm jit | 0.26 interp V0/bpfvm interp | bpfvm jit/native |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x | {:.2}x |",
            row.kernel,
            row.count,
            us(row.native),
            us(row.bpfvm.jit),
            us(row.bpfvm.interpreter),
            us(row.reference.jit),
            us(row.reference.interpreter),
            us(row.v0.jit),
            us(row.v0.interpreter),
            us(row.v3.jit),
            us(row.v3.interpreter),
            ratio(row.v0.jit, row.bpfvm.jit),
            ratio(row.v0.interpreter, row.bpfvm.interpreter),
            ratio(row.bpfvm.jit, row.native),
        );
    }
    let mean = |f: fn(&Row) -> f64| geomean(rows.iter().map(f));
    println!(
        "geomean over {} kernels: 0.26 jit V0/bpfvm jit = {:.2}x, 0.26 jit V3/bpfvm jit = {:.2}x, 0.26 interp V0/bpfvm interp = {:.2}x, bpfvm jit/native = {:.2}x, bpfvm interp/bpfvm jit = {:.2}x, 0.2.38 jit/bpfvm jit = {:.2}x",
        rows.len(),
        mean(|row| ratio(row.v0.jit, row.bpfvm.jit)),
        mean(|row| ratio(row.v3.jit, row.bpfvm.jit)),
        mean(|row| ratio(row.v0.interpreter, row.bpfvm.interpreter)),
        mean(|row| ratio(row.bpfvm.jit, row.native)),
        mean(|row| ratio(row.bpfvm.interpreter, row.bpfvm.jit)),
        mean(|row| ratio(row.reference.jit, row.bpfvm.jit)),
    );
}

/// `program` with its machine code.
fn compiled(mut program: VerifiedProgram<TestContext>) -> VerifiedProgram<TestContext> {
    program.jit_compile().unwrap();
    program
}

/// Whether the kernel is selected by `BPFVM_KERNELS` (a comma-separated list of names; all
/// kernels when it is unset).
fn selected(kernel: &Kernel) -> bool {
    std::env::var("BPFVM_KERNELS").map_or(true, |names| {
        names.split(',').any(|name| name.trim() == kernel.name)
    })
}

fn native_kernels(c: &mut Criterion) {
    for kernel in kernels().iter().filter(|kernel| selected(kernel)) {
        bench_kernel(c, kernel);
    }
    ROWS.with(|rows| print_table(&rows.borrow()));
}

criterion_group!(benches, native_kernels);
criterion_main!(benches);
