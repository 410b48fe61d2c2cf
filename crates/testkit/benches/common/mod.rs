//! The side-by-side benchmark programs and their runner, shared by `interpreter.rs` and
//! `jit.rs`: each program is assembled once by the reference's assembler, so the VMs run the
//! very same bytes and function registry, and every run asserts the instruction count of
//! reference §16. Three VMs run each program: the reference (solana_rbpf 0.2.38), its
//! successor solana-sbpf 0.26 (the column `sbpf26`, through `tests/reference26`) and bpfvm.
//!
//! 0.26 runs the fixed-frame programs as V0 and the dynamic-frame ones as V1 (manual frames,
//! SIMD-0166). 0.26 has no r11, so `call_depth_dynamic`'s frame moves (`sub r11, 4` ...
//! `add r11, 4`) become V1's `add r10, -64` ... `add r10, 64`: the same instruction count.

#![allow(dead_code, reason = "each bench binary uses part of this module")]

use crate::reference26::{keyed_text_executable, loader, Case26, Context26, Program26};
use bpfvm::{
    verify, Backend, Executable as OurExecutable, FunctionRegistry as OurFunctions, Loader,
    MemoryRegion as OurRegion, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use bpfvm_testkit::sbpf26::{Engine as Engine26, Version};
use criterion::Criterion;
use solana_rbpf::memory_region::MemoryRegion;
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{BuiltInProgram, Config, EbpfVm, TestContextObject, VerifiedExecutable};
use solana_sbpf::elf::Executable as Executable26;
use solana_sbpf::verifier::RequisiteVerifier as RequisiteVerifier26;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct BenchProgram {
    pub name: &'static str,
    pub assembly: String,
    pub dynamic_stack_frames: bool,
    pub instructions: u64,
    pub input_len: usize,
}

/// The reference's assembler takes no comments: keep only the instruction and label lines.
fn strip_comments(text: &'static str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The reference's benchmark programs (reference §16), from `examples/bench/`.
pub fn programs() -> [BenchProgram; 6] {
    let program =
        |name, file: &'static str, dynamic_stack_frames, instructions, input_len| BenchProgram {
            name,
            assembly: strip_comments(file),
            dynamic_stack_frames,
            instructions,
            input_len,
        };
    let stack = include_str!("../../../../examples/bench/stack_translation.s");
    [
        program(
            "empty_for_loop",
            include_str!("../../../../examples/bench/empty_for_loop.s"),
            true,
            262_145,
            0,
        ),
        program(
            "address_translation",
            include_str!("../../../../examples/bench/address_translation.s"),
            true,
            655_361,
            0x20000,
        ),
        program("address_translation_stack_fixed", stack, false, 524_289, 0),
        program("address_translation_stack_dynamic", stack, true, 524_289, 0),
        program(
            "call_depth_fixed",
            include_str!("../../../../examples/bench/call_depth_fixed.s"),
            false,
            137_218,
            0,
        ),
        program(
            "call_depth_dynamic",
            include_str!("../../../../examples/bench/call_depth_dynamic.s"),
            true,
            176_130,
            0,
        ),
    ]
}

pub fn reference_config(program: &BenchProgram) -> Config {
    Config {
        dynamic_stack_frames: program.dynamic_stack_frames,
        ..Config::default()
    }
}

pub fn our_config(program: &BenchProgram) -> bpfvm::Config {
    bpfvm::Config {
        dynamic_stack_frames: program.dynamic_stack_frames,
        ..bpfvm::Config::default()
    }
}

pub fn reference_program(
    program: &BenchProgram,
) -> VerifiedExecutable<RequisiteVerifier, TestContextObject> {
    let loader = Arc::new(BuiltInProgram::new_loader(reference_config(program)));
    let executable =
        solana_rbpf::assembler::assemble::<TestContextObject>(&program.assembly, loader).unwrap();
    VerifiedExecutable::from_executable(executable).unwrap()
}

/// The same bytes and functions as the reference's executable, loaded into bpfvm.
pub fn our_program(
    program: &BenchProgram,
    reference: &VerifiedExecutable<RequisiteVerifier, TestContextObject>,
) -> VerifiedProgram<TestContext> {
    let executable = reference.get_executable();
    let loader = Arc::new(Loader::new(our_config(program)));
    let mut functions = OurFunctions::new();
    for (pc, name) in executable.get_function_registry().values() {
        functions
            .register(&loader, Dialect::Sbpf, *pc, name)
            .unwrap();
    }
    let text = executable.get_text_bytes().1;
    let ours = OurExecutable::from_text_bytes(text, loader, Dialect::Sbpf, functions).unwrap();
    verify(ours).unwrap()
}

/// The SBPF version 0.26 runs a program as: V1 for the dynamic-frame programs, else V0.
pub fn sbpf26_version(program: &BenchProgram) -> Version {
    if program.dynamic_stack_frames {
        Version::V1
    } else {
        Version::V0
    }
}

/// The program 0.26 runs: 0.2.38's r11 frame moves become V1's moves of r10.
pub fn sbpf26_assembly(program: &BenchProgram) -> String {
    program
        .assembly
        .replace("sub r11, 4", "add r10, -64")
        .replace("add r11, 4", "add r10, 64")
}

/// The program on 0.26: the reference's assembler's bytes and function keys, loaded as raw
/// text of [`sbpf26_version`] and verified.
pub fn sbpf26_program(program: &BenchProgram) -> Executable26<Context26> {
    let assembler_loader = Arc::new(BuiltInProgram::new_loader(reference_config(program)));
    let assembled = solana_rbpf::assembler::assemble::<TestContextObject>(
        &sbpf26_assembly(program),
        assembler_loader,
    )
    .unwrap();
    let functions: Vec<(u32, String, usize)> = assembled
        .get_function_registry()
        .iter()
        .map(|(key, (pc, name))| (*key, name.clone(), *pc))
        .collect();
    let text = assembled.get_text_bytes().1;
    let version = sbpf26_version(program);
    let case = Case26::new(Program26::Text {
        bytes: text,
        version,
        functions: &[],
    });
    let executable = keyed_text_executable(loader(&case), text, version, &functions).unwrap();
    executable.verify::<RequisiteVerifier26>().unwrap();
    executable
}

pub fn time<F: FnMut()>(mut run: F) -> Duration {
    let mut samples: Vec<Duration> = (0..15)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// Which engine of both VMs a benchmark runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreters.
    Interpreter,
    /// The JIT compilers (compile time is printed too).
    Jit,
}

/// Benchmarks one program on both VMs' `engine` and prints the ratio line.
pub fn bench_program(c: &mut Criterion, program: &BenchProgram, engine: Engine) {
    let mut reference = reference_program(program);
    let mut ours = our_program(program, &reference);
    let sbpf26 = sbpf26_program(program);
    if engine == Engine::Jit {
        let reference_compile = time(|| reference.jit_compile().unwrap());
        let engine = bpfvm::jit::JitEngine::new();
        let our_compile = time(|| ours.jit_compile_with(&engine).unwrap());
        let sbpf26_compile = time(|| sbpf26.jit_compile().unwrap());
        println!(
            "compile {}: reference jit_compile {:?}, bpfvm jit_compile {:?}, ratio {:.2}x",
            program.name,
            reference_compile,
            our_compile,
            reference_compile.as_secs_f64() / our_compile.as_secs_f64()
        );
        println!(
            "compile {} (0.26): sbpf26 jit_compile {:?}, sbpf26/bpfvm = {:.2}x",
            program.name,
            sbpf26_compile,
            sbpf26_compile.as_secs_f64() / our_compile.as_secs_f64()
        );
    }
    let count = program.instructions;

    let mut reference_input = vec![0u8; program.input_len];
    let mut reference_context = TestContextObject::default();
    let region =
        MemoryRegion::new_writable(&mut reference_input, solana_rbpf::ebpf::MM_INPUT_START);
    let mut reference_vm =
        EbpfVm::new(&reference, &mut reference_context, &mut [], vec![region]).unwrap();
    let mut run_reference = || {
        reference_vm.env.context_object_pointer.remaining = count;
        let (instructions, result) = reference_vm.execute_program(engine == Engine::Interpreter);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(instructions, count);
    };

    let mut our_input = vec![0u8; program.input_len];
    let mut our_context = TestContext::default();
    let mut heap: Vec<u8> = Vec::new();
    let regions = vec![OurRegion::writable(&mut our_input, MM_INPUT_START)];
    let mut our_vm = Vm::new(&ours, &mut our_context, &mut heap, regions).unwrap();
    let mut run_ours = || {
        our_vm.context().remaining = count;
        let run = our_vm.run(match engine {
            Engine::Interpreter => Backend::Interpreter,
            Engine::Jit => Backend::Jit,
        });
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(run.instruction_count, count);
    };

    let engine26 = match engine {
        Engine::Interpreter => Engine26::Interpreter,
        Engine::Jit => Engine26::Jit,
    };
    let mut sbpf26_session =
        crate::reference26::run::Session::new(&sbpf26, 0, &vec![0u8; program.input_len]).unwrap();
    let mut sbpf26_runner = sbpf26_session.runner(&sbpf26);
    let mut run_sbpf26 = || {
        let (instructions, result, _) = sbpf26_runner.run(engine26, count);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(instructions, count);
    };

    let mut group = c.benchmark_group(program.name);
    group.bench_function("reference", |b| b.iter(&mut run_reference));
    group.bench_function("bpfvm", |b| b.iter(&mut run_ours));
    group.bench_function("sbpf26", |b| b.iter(&mut run_sbpf26));
    group.finish();

    let reference_time = time(&mut run_reference);
    let our_time = time(&mut run_ours);
    let sbpf26_time = time(&mut run_sbpf26);
    println!(
        "ratio {} ({engine:?}): reference {:?}, bpfvm {:?}, reference/bpfvm = {:.2}x",
        program.name,
        reference_time,
        our_time,
        reference_time.as_secs_f64() / our_time.as_secs_f64()
    );
    println!(
        "ratio {} ({engine:?}) 0.26 {}: sbpf26 {:?}, sbpf26/bpfvm = {:.2}x, reference/sbpf26 = {:.2}x",
        program.name,
        sbpf26_version(program),
        sbpf26_time,
        sbpf26_time.as_secs_f64() / our_time.as_secs_f64(),
        reference_time.as_secs_f64() / sbpf26_time.as_secs_f64()
    );
}
