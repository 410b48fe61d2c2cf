//! Times bpfvm's JIT on the C kernels of `examples/c/kernels` against their native build,
//! with the instruction meter on and off (what metering costs), by `kernels::time` (the
//! median of 15 batches of the thread's CPU time). Every run checks the kernel's result.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example kernel_time [-- KERNEL]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;

use bpfvm::{verify, Backend, Executable, Loader, TestContext, Vm};
use bpfvm_isa::Dialect;
use kernels::{kernels, our_region, time, BUDGET};
use std::sync::Arc;

fn main() {
    let only = std::env::args().nth(1);
    for kernel in kernels()
        .iter()
        .filter(|kernel| only.as_deref().is_none_or(|name| name == kernel.name))
    {
        let input = (kernel.input)();
        let mut native_input = kernel.native_input(&input);
        let expected = kernel.run_native(&mut native_input);
        let native = time(|| assert_eq!(kernel.run_native(&mut native_input), expected));
        for meter in [true, false] {
            let config = bpfvm::Config {
                enable_instruction_meter: meter,
                ..bpfvm::Config::legacy()
            };
            let loader = Arc::new(Loader::new(config));
            let executable =
                Executable::from_raw_program(&kernel.text(), loader, Dialect::Sbpf).unwrap();
            let mut program = verify(executable).unwrap();
            program.jit_compile().unwrap();
            let mut our_input = input.clone();
            let mut context = TestContext::default();
            let mut heap: Vec<u8> = Vec::new();
            let regions = vec![our_region(&mut our_input)];
            let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
            let jit = time(|| {
                vm.context().remaining = BUDGET;
                assert_eq!(vm.run(Backend::Jit).result, Ok(expected));
            });
            println!(
                "{} meter {}: native {native:?}, bpfvm jit {jit:?}, jit/native {:.2}x",
                kernel.name,
                if meter { "on" } else { "off" },
                jit.as_secs_f64() / native.as_secs_f64()
            );
        }
    }
}
