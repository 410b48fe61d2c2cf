//! bpfvm's JIT against the reference's JIT (solana_rbpf 0.2.38 `jit_compile` +
//! `execute_program(false)`), side by side, on the same programs as `benches/interpreter.rs`
//! (reference §16): the empty for loop, address translation of the input and of the stack
//! (fixed and dynamic frames), and the call-depth chains (fixed and dynamic frames). Both
//! engines run the very same bytes and function registry; each run asserts the instruction
//! count of §16. After criterion's measurements, a direct timing prints the ratio reference
//! JIT time / bpfvm JIT time per program, and the compile time of each JIT.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench jit -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{
    verify, Backend, Executable as OurExecutable, FunctionRegistry as OurFunctions, Loader,
    MemoryRegion as OurRegion, TestContext, VerifiedProgram, Vm, MM_INPUT_START,
};
use bpfvm_isa::Dialect;
use criterion::{criterion_group, criterion_main, Criterion};
use solana_rbpf::memory_region::MemoryRegion;
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{BuiltInProgram, Config, EbpfVm, TestContextObject, VerifiedExecutable};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct BenchProgram {
    name: &'static str,
    assembly: &'static str,
    dynamic_stack_frames: bool,
    instructions: u64,
    input_len: usize,
}

const STACK_TRANSLATION: &str = "
    mov r1, r2
    and r1, 4095
    mov r3, r10
    sub r3, r1
    sub r3, 1
    ldxb r4, [r3]
    add r2, 1
    jlt r2, 0x10000, -8
    exit";

const PROGRAMS: [BenchProgram; 6] = [
    BenchProgram {
        name: "empty_for_loop",
        assembly: "
    mov r1, r2
    and r1, 1023
    add r2, 1
    jlt r2, 0x10000, -4
    exit",
        dynamic_stack_frames: true,
        instructions: 262_145,
        input_len: 0,
    },
    BenchProgram {
        name: "address_translation",
        assembly: "
    ldxb r0, [r1]
    add r1, 1
    mov r0, r1
    and r0, 0xFFFFFF
    jlt r0, 0x20000, -5
    exit",
        dynamic_stack_frames: true,
        instructions: 655_361,
        input_len: 0x20000,
    },
    BenchProgram {
        name: "address_translation_stack_fixed",
        assembly: STACK_TRANSLATION,
        dynamic_stack_frames: false,
        instructions: 524_289,
        input_len: 0,
    },
    BenchProgram {
        name: "address_translation_stack_dynamic",
        assembly: STACK_TRANSLATION,
        dynamic_stack_frames: true,
        instructions: 524_289,
        input_len: 0,
    },
    BenchProgram {
        name: "call_depth_fixed",
        assembly: "
    mov r6, 0
    add r6, 1
    mov r1, 18
    call function_foo
    jlt r6, 1024, -4
    exit
    function_foo:
    stw [r10-4], 0x11223344
    mov r6, r1
    jgt r6, 0, +1
    exit
    mov r1, r6
    sub r1, 1
    call function_foo
    exit",
        dynamic_stack_frames: false,
        instructions: 137_218,
        input_len: 0,
    },
    BenchProgram {
        name: "call_depth_dynamic",
        assembly: "
    mov r6, 0
    add r6, 1
    mov r1, 18
    call function_foo
    jlt r6, 1024, -4
    exit
    function_foo:
    sub r11, 4
    stw [r10-4], 0x11223344
    mov r6, r1
    jeq r6, 0, +3
    mov r1, r6
    sub r1, 1
    call function_foo
    add r11, 4
    exit",
        dynamic_stack_frames: true,
        instructions: 176_130,
        input_len: 0,
    },
];

fn reference_config(program: &BenchProgram) -> Config {
    Config {
        dynamic_stack_frames: program.dynamic_stack_frames,
        ..Config::default()
    }
}

fn our_config(program: &BenchProgram) -> bpfvm::Config {
    bpfvm::Config {
        dynamic_stack_frames: program.dynamic_stack_frames,
        ..bpfvm::Config::default()
    }
}

fn reference_program(
    program: &BenchProgram,
) -> VerifiedExecutable<RequisiteVerifier, TestContextObject> {
    let loader = Arc::new(BuiltInProgram::new_loader(reference_config(program)));
    let executable =
        solana_rbpf::assembler::assemble::<TestContextObject>(program.assembly, loader).unwrap();
    VerifiedExecutable::from_executable(executable).unwrap()
}

/// The same bytes and functions as the reference's executable, loaded into bpfvm.
fn our_program(
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

fn time<F: FnMut()>(mut run: F) -> Duration {
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

fn bench_program(c: &mut Criterion, program: &BenchProgram) {
    let mut reference = reference_program(program);
    let mut ours = our_program(program, &reference);
    let reference_compile = time(|| reference.jit_compile().unwrap());
    let our_compile = time(|| ours.jit_compile().unwrap());
    println!(
        "compile {}: reference jit_compile {:?}, bpfvm jit_compile {:?}, ratio {:.2}x",
        program.name,
        reference_compile,
        our_compile,
        reference_compile.as_secs_f64() / our_compile.as_secs_f64()
    );
    let count = program.instructions;

    let mut reference_input = vec![0u8; program.input_len];
    let mut reference_context = TestContextObject::default();
    let region =
        MemoryRegion::new_writable(&mut reference_input, solana_rbpf::ebpf::MM_INPUT_START);
    let mut reference_vm =
        EbpfVm::new(&reference, &mut reference_context, &mut [], vec![region]).unwrap();
    let mut run_reference = || {
        reference_vm.env.context_object_pointer.remaining = count;
        let (instructions, result) = reference_vm.execute_program(false);
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
        let run = our_vm.run(Backend::Jit);
        assert!(run.result.is_ok(), "{:?}", run.result);
        assert_eq!(run.instruction_count, count);
    };

    let mut group = c.benchmark_group(program.name);
    group.bench_function("reference", |b| b.iter(&mut run_reference));
    group.bench_function("bpfvm", |b| b.iter(&mut run_ours));
    group.finish();

    let reference_time = time(&mut run_reference);
    let our_time = time(&mut run_ours);
    println!(
        "ratio {}: reference jit {:?}, bpfvm jit {:?}, reference/bpfvm = {:.2}x",
        program.name,
        reference_time,
        our_time,
        reference_time.as_secs_f64() / our_time.as_secs_f64()
    );
}

/// Runs per second of one shared compiled program on 1, 2 and 4 threads (one VM each).
fn thread_scaling() {
    let program = &PROGRAMS[0];
    let reference = reference_program(program);
    let mut ours = our_program(program, &reference);
    ours.jit_compile().unwrap();
    let runs_per_thread = 2_000;
    for threads in [1, 2, 4] {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let ours = &ours;
                scope.spawn(move || {
                    let mut context = TestContext::default();
                    let mut heap: Vec<u8> = Vec::new();
                    let mut vm = Vm::new(ours, &mut context, &mut heap, Vec::new()).unwrap();
                    for _ in 0..runs_per_thread {
                        vm.context().remaining = program.instructions;
                        let run = vm.run(Backend::Jit);
                        assert_eq!(run.instruction_count, program.instructions);
                    }
                });
            }
        });
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "threads {threads}: {:.0} runs/s of {}",
            f64::from(threads * runs_per_thread) / elapsed,
            program.name
        );
    }
}

/// JIT compile time of ELF programs from the corpus: `jit_compile` alone, on both sides,
/// after loading and verifying once (legacy configuration for spl_token, default for the
/// reference's own test ELF).
fn compile_elfs() {
    let Ok(corpus) = bpfvm_testkit::corpus::corpus_dir() else {
        println!("compile: corpus not found, skipped");
        return;
    };
    let legacy_reference = Config {
        dynamic_stack_frames: false,
        enable_sdiv: false,
        static_syscalls: false,
        reject_callx_r10: false,
        ..Config::default()
    };
    let files = [
        (
            corpus.join("solana_programs/spl_token-3.5.0.so"),
            legacy_reference,
            bpfvm::Config::legacy(),
        ),
        (
            corpus.join("rbpf_elfs/pass_stack_reference.so"),
            Config::default(),
            bpfvm::Config::default(),
        ),
    ];
    for (path, reference_config, our_config) in files {
        let Ok(bytes) = std::fs::read(&path) else {
            println!("compile: cannot read {}", path.display());
            continue;
        };
        let loader = Arc::new(BuiltInProgram::new_loader(reference_config));
        let reference = solana_rbpf::elf::Executable::from_elf(&bytes, loader)
            .map_err(|e| format!("{e:?}"))
            .and_then(|executable| {
                VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(
                    executable,
                )
                .map_err(|e| format!("{e:?}"))
            });
        let ours =
            OurExecutable::from_elf(&bytes, Arc::new(Loader::<TestContext>::new(our_config)))
                .map_err(|e| e.to_string())
                .and_then(|executable| verify(executable).map_err(|e| e.to_string()));
        let (Ok(mut reference), Ok(mut ours)) = (reference, ours) else {
            println!("compile: {} does not load on both sides", path.display());
            continue;
        };
        let reference_time = time(|| reference.jit_compile().unwrap());
        let our_time = time(|| ours.jit_compile().unwrap());
        let slots = ours.decoded().len() as f64;
        println!(
            "compile {}: {} slots, reference jit_compile {:?} ({:.1} ns/slot), bpfvm jit_compile {:?} ({:.1} ns/slot), ratio {:.2}x",
            path.file_name().map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            slots,
            reference_time,
            reference_time.as_nanos() as f64 / slots,
            our_time,
            our_time.as_nanos() as f64 / slots,
            reference_time.as_secs_f64() / our_time.as_secs_f64()
        );
    }
}

fn jits(c: &mut Criterion) {
    compile_elfs();
    for program in &PROGRAMS {
        bench_program(c, program);
    }
    thread_scaling();
}

criterion_group!(benches, jits);
criterion_main!(benches);
