//! Times bpfvm's interpreter against solana-sbpf 0.26's (V0, the same keyed text) on the C
//! kernels of `examples/c/kernels`, alternating the engines in one process: bpfvm's legacy
//! profile, bpfvm under Agave's configuration on the V0 program (`Config::agave()`, as the
//! network runs it) and 0.26. Each round times a few runs of each, and the table keeps each
//! engine's fastest round. On a shared,
//! loaded machine the fastest of many alternating rounds is the least disturbed figure of
//! each engine, which criterion's separate, minutes-apart measurements are not. Every run
//! checks the kernel's result.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example interp_time [-- KERNEL]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;
#[path = "../tests/reference26/mod.rs"]
mod reference26;

use bpfvm::{Backend, SbpfVersion, TestContext, Vm};
use bpfvm_testkit::sbpf26::{Engine as Engine26, Version};
use kernels::{kernels, our_region, BUDGET};
use reference26::run::Session;
use reference26::{keyed_text_executable, loader, Case26, Program26};
use solana_sbpf::error::ProgramResult;
use solana_sbpf::verifier::RequisiteVerifier;
use std::time::{Duration, Instant};

/// Alternating rounds per kernel, and runs per engine in a round.
const ROUNDS: usize = 100;
const RUNS: u32 = 2;

fn main() {
    let only = std::env::args().nth(1);
    println!(
        "kernel | bpfvm interpreter us | bpfvm V0 interpreter us | 0.26 interpreter V0 us \
         | 0.26 / bpfvm | 0.26 / bpfvm V0"
    );
    for kernel in kernels()
        .iter()
        .filter(|kernel| only.as_deref().is_none_or(|name| name == kernel.name))
    {
        let input = (kernel.input)();
        let expected = kernel.run_native(&mut kernel.native_input(&input));

        let program = kernel.ours();
        let mut our_input = input.clone();
        let mut context = TestContext::default();
        let mut heap: Vec<u8> = Vec::new();
        let regions = vec![our_region(&mut our_input)];
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();

        let program_v0 = kernel.ours_sbpf(SbpfVersion::V0);
        let mut input_v0 = input.clone();
        let mut context_v0 = TestContext::default();
        let mut heap_v0: Vec<u8> = Vec::new();
        let regions_v0 = vec![our_region(&mut input_v0)];
        let mut vm_v0 = Vm::new(&program_v0, &mut context_v0, &mut heap_v0, regions_v0).unwrap();

        let keyed = kernel.keyed_text();
        let settings = loader(&Case26::new(Program26::Elf(&[])));
        let executable =
            keyed_text_executable(settings, &keyed.bytes, Version::V0, &keyed.functions).unwrap();
        executable.verify::<RequisiteVerifier>().unwrap();
        let mut session = Session::new(&executable, 0, &input).unwrap();
        let mut runner = session.runner(&executable);

        let mut ours = Duration::MAX;
        let mut ours_v0 = Duration::MAX;
        let mut theirs = Duration::MAX;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for _ in 0..RUNS {
                vm.context().remaining = BUDGET;
                assert_eq!(vm.run(Backend::Interpreter).result, Ok(expected));
            }
            ours = ours.min(start.elapsed() / RUNS);
            let start = Instant::now();
            for _ in 0..RUNS {
                vm_v0.context().remaining = BUDGET;
                assert_eq!(vm_v0.run(Backend::Interpreter).result, Ok(expected));
            }
            ours_v0 = ours_v0.min(start.elapsed() / RUNS);
            let start = Instant::now();
            for _ in 0..RUNS {
                let (_, result, _) = runner.run(Engine26::Interpreter, BUDGET);
                assert!(matches!(result, ProgramResult::Ok(r0) if r0 == expected));
            }
            theirs = theirs.min(start.elapsed() / RUNS);
        }
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x",
            kernel.name,
            micros(ours),
            micros(ours_v0),
            micros(theirs),
            micros(theirs) / micros(ours),
            micros(theirs) / micros(ours_v0)
        );
    }
}
