//! Runs one C kernel of `examples/c/kernels` N times on one backend, for profiling run time
//! under callgrind (profile N and 1 runs and subtract, which cancels loading, compiling and
//! the native reference run). Every run checks the kernel's result.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example run_profile -- KERNEL [interpreter|jit] [N] [legacy|v0|v3]`
//! (KERNEL is `histogram`, `checksum`, `crc32` or `sort`; the profile is `legacy` by default,
//! `Config::legacy()` with the meter on, or an SBPF version with `Config::agave()`: `v0` runs
//! the raw `.text`, `v3` the object linked into a strict V3 file, as in `benches/native.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;

use bpfvm::{
    verify, Backend, Config, Executable, FunctionRegistry, Loader, SbpfVersion, TestContext, Vm,
};
use bpfvm_isa::Dialect;
use kernels::{kernels, our_region, BUDGET};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .expect("usage: run_profile KERNEL [interpreter|jit] [N]");
    let backend = match args.next().as_deref() {
        Some("jit") => Backend::Jit,
        _ => Backend::Interpreter,
    };
    let count: usize = args.next().map_or(10, |n| n.parse().expect("a count"));
    let kernel = kernels()
        .into_iter()
        .find(|kernel| kernel.name == name)
        .expect("a kernel name");
    let input = (kernel.input)();
    let expected = kernel.run_native(&mut kernel.native_input(&input));
    let mut program = match args.next().as_deref() {
        Some("v0") => kernel.ours_sbpf(SbpfVersion::V0),
        Some("v3") => kernel.ours_sbpf(SbpfVersion::V3),
        _ => {
            let loader = Arc::new(Loader::new(Config::legacy()));
            let executable = Executable::from_text_bytes(
                &kernel.text(),
                loader,
                Dialect::Sbpf,
                FunctionRegistry::new(),
            )
            .unwrap();
            verify(executable).unwrap()
        }
    };
    if backend == Backend::Jit {
        program.jit_compile().unwrap();
    }
    let mut our_input = input.clone();
    let mut context = TestContext::default();
    let mut heap: Vec<u8> = Vec::new();
    let regions = vec![our_region(&mut our_input)];
    let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
    for _ in 0..count {
        vm.context().remaining = BUDGET;
        assert_eq!(vm.run(backend).result, Ok(expected));
    }
    println!("{name}: {count} runs on {backend:?}, r0 = {expected}");
}
