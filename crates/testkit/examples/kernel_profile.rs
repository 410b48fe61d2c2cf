//! Runs one C kernel of `examples/c/kernels` N times on one engine, for callgrind: the
//! instruction counts of bpfvm's JIT and of solana-sbpf 0.26's JIT (V0, the keyed `.text`)
//! on the same kernel, with the same input, are repeatable under load. Every run checks the
//! native result and the instruction count.
//!
//! Run: `valgrind --tool=callgrind target/release/examples/kernel_profile KERNEL ENGINE [N]`
//! with ENGINE one of `bpfvm-jit`, `bpfvm-interpreter`, `sbpf26-jit`, `sbpf26-interpreter`
//! (N defaults to 10; compare two N to take the set-up out).

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

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: kernel_profile KERNEL bpfvm-jit|bpfvm-interpreter|bpfvm-v0-jit|bpfvm-v0-interpreter|bpfvm-v3-jit|bpfvm-v3-interpreter|sbpf26-jit|sbpf26-interpreter [N]";
    let name = args.next().expect(usage);
    let engine = args.next().expect(usage);
    let runs: usize = args.next().map_or(10, |n| n.parse().expect("a count"));
    let all = kernels();
    let kernel = all.iter().find(|k| k.name == name).expect("a kernel name");
    let input = (kernel.input)();
    let expected = kernel.run_native(&mut kernel.native_input(&input));
    match engine.as_str() {
        "bpfvm-jit"
        | "bpfvm-interpreter"
        | "bpfvm-v0-jit"
        | "bpfvm-v0-interpreter"
        | "bpfvm-v3-jit"
        | "bpfvm-v3-interpreter" => {
            let backend = if engine.ends_with("-jit") {
                Backend::Jit
            } else {
                Backend::Interpreter
            };
            // The legacy profile, or bpfvm under Agave's configuration as 0.26 runs V0 or V3.
            let mut program = if engine.starts_with("bpfvm-v0") {
                kernel.ours_sbpf(SbpfVersion::V0)
            } else if engine.starts_with("bpfvm-v3") {
                kernel.ours_sbpf(SbpfVersion::V3)
            } else {
                kernel.ours()
            };
            program.jit_compile().unwrap();
            let mut our_input = input.clone();
            let mut context = TestContext::default();
            let mut heap: Vec<u8> = Vec::new();
            let regions = vec![our_region(&mut our_input)];
            let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
            for _ in 0..runs {
                vm.context().remaining = BUDGET;
                assert_eq!(vm.run(backend).result, Ok(expected));
            }
        }
        "sbpf26-jit" | "sbpf26-interpreter" => {
            let engine = match engine.as_str() {
                "sbpf26-jit" => Engine26::Jit,
                _ => Engine26::Interpreter,
            };
            let keyed = kernel.keyed_text();
            let settings = loader(&Case26::new(Program26::Elf(&[])));
            let executable =
                keyed_text_executable(settings, &keyed.bytes, Version::V0, &keyed.functions)
                    .unwrap();
            executable.verify::<RequisiteVerifier>().unwrap();
            executable.jit_compile().unwrap();
            let mut session = Session::new(&executable, 0, &input).unwrap();
            let mut runner = session.runner(&executable);
            for _ in 0..runs {
                let (_, result, _) = runner.run(engine, BUDGET);
                assert!(matches!(result, ProgramResult::Ok(r0) if r0 == expected));
            }
        }
        _ => panic!("{usage}"),
    }
}
