//! The C benchmark kernels (examples/c/kernels) compute the same result natively (the
//! `build.rs` build of the same source), in bpfvm's interpreter and JIT (from the raw `.text`
//! and from the object itself), and in the reference's interpreter and JIT on the same bytes;
//! bpfvm's two backends and the reference charge the same instruction count. Under the V0
//! and V3 profiles (the raw `.text`, and the object linked into a strict V3 file) both of
//! bpfvm's backends give the native result with that same count, and the V3 build's machine
//! code leaves no instruction to the interpreter.
// Needs the JIT: an x86-64 build with the `jit` feature.
#![cfg(all(feature = "jit", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;

use bpfvm::{Backend, SbpfVersion, TestContext, VerifiedProgram, Vm};
use kernels::{
    collatz_input, crc32_input, fib_input, histogram_input, kernels, our_region, sort_input, BUDGET,
};
use solana_rbpf::memory_region::MemoryRegion;
use solana_rbpf::vm::{EbpfVm, TestContextObject};

/// (r0, instruction count) of one bpfvm run on a fresh copy of `input`.
fn run_ours(program: &VerifiedProgram<TestContext>, input: &[u8], backend: Backend) -> (u64, u64) {
    let mut input = input.to_vec();
    let mut context = TestContext::new(BUDGET);
    let mut heap: Vec<u8> = Vec::new();
    let mut vm = Vm::new(
        program,
        &mut context,
        &mut heap,
        vec![our_region(&mut input)],
    )
    .unwrap();
    let run = vm.run(backend);
    (run.result.unwrap(), run.instruction_count)
}

/// (r0, instruction count) of one reference run (interpreter or JIT).
fn run_reference(kernel: &kernels::Kernel, input: &[u8], interpreted: bool) -> (u64, u64) {
    let mut executable = kernel.reference();
    if !interpreted {
        executable.jit_compile().unwrap();
    }
    let mut input = input.to_vec();
    let mut context = TestContextObject::new(BUDGET);
    let region = MemoryRegion::new_writable(&mut input, solana_rbpf::ebpf::MM_INPUT_START);
    let mut vm = EbpfVm::new(&executable, &mut context, &mut [], vec![region]).unwrap();
    let (count, result) = vm.execute_program(interpreted);
    (result.unwrap(), count)
}

/// Every engine agrees on `input`; returns the common r0.
fn agree(kernel: &kernels::Kernel, input: &[u8]) -> u64 {
    let native = kernel.run_native(&mut kernel.native_input(input));
    let mut raw = kernel.ours();
    let mut linked = kernel.ours_from_elf();
    let interpreted = run_ours(&raw, input, Backend::Interpreter);
    raw.jit_compile().unwrap();
    linked.jit_compile().unwrap();
    let name = kernel.name;
    assert_eq!(interpreted.0, native, "{name}: interpreter vs native");
    assert!(interpreted.1 > 0, "{name}: metering counted nothing");
    let runs = [
        ("jit", run_ours(&raw, input, Backend::Jit)),
        (
            "elf interpreter",
            run_ours(&linked, input, Backend::Interpreter),
        ),
        ("elf jit", run_ours(&linked, input, Backend::Jit)),
        ("reference interpreter", run_reference(kernel, input, true)),
        ("reference jit", run_reference(kernel, input, false)),
    ];
    for (engine, run) in runs {
        assert_eq!(run, interpreted, "{name}: {engine} vs bpfvm interpreter");
    }
    for version in [SbpfVersion::V0, SbpfVersion::V3] {
        let mut program = kernel.ours_sbpf(version);
        let on_interpreter = run_ours(&program, input, Backend::Interpreter);
        program.jit_compile().unwrap();
        let jit = program.jit_program().unwrap();
        assert_eq!(
            jit.interpreted_slots(),
            &[] as &[usize],
            "{name} {version:?}"
        );
        let on_jit = run_ours(&program, input, Backend::Jit);
        assert_eq!(
            on_interpreter, interpreted,
            "{name} {version:?} interpreter"
        );
        assert_eq!(on_jit, interpreted, "{name} {version:?} jit");
    }
    native
}

#[test]
fn kernels_agree_on_their_benchmark_inputs() {
    for kernel in &kernels() {
        agree(kernel, &(kernel.input)());
    }
}

#[test]
fn kernels_agree_on_small_inputs_and_known_answers() {
    let [histogram, checksum, crc32, sort, collatz, fib] = kernels();
    // (kernel, input, r0 if known)
    let cases: Vec<(&kernels::Kernel, Vec<u8>, Option<u64>)> = vec![
        (&crc32, crc32_input(b"123456789"), Some(0xcbf4_3926)),
        (&crc32, crc32_input(b""), Some(0)),
        (
            &crc32,
            crc32_input(b"The quick brown fox jumps over the lazy dog"),
            Some(0x414f_a339),
        ),
        // Empty data: every counter is 0.
        (&histogram, histogram_input(0), Some(0)),
        (&histogram, histogram_input(1), None),
        (&histogram, histogram_input(1000), None),
        (&checksum, kernels::checksum_input(0), Some(0)),
        (&checksum, kernels::checksum_input(3), None),
        (&sort, sort_input(0, 96), Some(0)),
        (&sort, sort_input(1, 1), None),
        (&sort, sort_input(3, 200), None),
        // 27 takes 111 steps; 1 and 2 take 0 and 1; no start values, no steps.
        (&collatz, collatz_input(27, 1), Some(111)),
        (&collatz, collatz_input(0, 3), Some(1)),
        (&collatz, collatz_input(5, 0), Some(0)),
        // One round: fib(n); two rounds: 31 * fib(n) + fib(n - 1).
        (&fib, fib_input(1, 16), Some(987)),
        (&fib, fib_input(2, 10), Some(31 * 55 + 34)),
        (&fib, fib_input(1, 0), Some(1)),
        (&fib, fib_input(1, 1000), Some(987)),
        (&fib, fib_input(0, 16), Some(0)),
    ];
    for (kernel, input, expected) in cases {
        let r0 = agree(kernel, &input);
        if let Some(expected) = expected {
            assert_eq!(r0, expected, "{}", kernel.name);
        }
    }
}

#[test]
fn sort_sorts() {
    // One round of 4 known values: key 0, sorted [1, 2, 3, 4], folded h = h * 1000003 + v.
    let mut input = 1u64.to_le_bytes().to_vec();
    input.extend(4u64.to_le_bytes());
    for value in [3u32, 1, 4, 2] {
        input.extend(value.to_le_bytes());
    }
    let expected = [1u64, 2, 3, 4]
        .iter()
        .fold(0u64, |h, v| h.wrapping_mul(1_000_003).wrapping_add(*v));
    assert_eq!(agree(&kernels()[3], &input), expected);
}

#[test]
fn fib_calls_itself_through_a_keyed_internal_function() {
    let fib = &kernels()[5];
    let keyed = fib.keyed_text();
    let mut names: Vec<&str> = keyed.functions.iter().map(|f| f.1.as_str()).collect();
    names.sort_unstable();
    // The entrypoint and the recursive function (unnamed: labels are off).
    assert_eq!(names, ["", "entrypoint"]);
    assert_ne!(keyed.bytes, fib.text(), "the relative calls were keyed");
}

#[test]
fn checksum_of_one_word() {
    // dst[0] = src[0] ^ 0 = src[0]; a = src[0], b = a.
    let mut input = 1u64.to_le_bytes().to_vec();
    input.extend(0x0102_0304_0506_0708u64.to_le_bytes());
    input.extend([0u8; 8]);
    let a = 0x0102_0304_0506_0708u64;
    assert_eq!(agree(&kernels()[1], &input), (a << 32) ^ a);
}

#[test]
fn histogram_of_known_bytes() {
    // Two 0xff bytes and one 0x00: h = 1 * 31^255 + 2 (wrapping).
    let mut input = 3u64.to_le_bytes().to_vec();
    input.extend([0u8; 1024]);
    input.extend([0xff, 0x00, 0xff]);
    let expected = 31u64.wrapping_pow(255).wrapping_add(2);
    assert_eq!(agree(&kernels()[0], &input), expected);
}

/// Rebuilds the objects with `examples/c/kernels/build.sh` (which also rejects relocations)
/// into a temporary directory and compares bytes. Needs clang 14, the committed objects'
/// compiler; without it this says so and checks only that the committed objects load.
#[test]
fn rebuilding_gives_the_committed_objects() {
    for kernel in &kernels() {
        assert!(!kernel.text().is_empty(), "{}", kernel.name);
    }
    let version = std::process::Command::new("clang")
        .arg("--version")
        .output();
    let version = match version {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        _ => {
            eprintln!("clang not found: rebuild NOT checked");
            return;
        }
    };
    if !version.contains("version 14.") {
        eprintln!("clang is not version 14 ({version:?}): rebuild NOT checked");
        return;
    }
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/kernels");
    let out = std::env::temp_dir().join(format!("bpfvm-c-kernels-{}", std::process::id()));
    let status = std::process::Command::new("sh")
        .arg(dir.join("build.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for kernel in &kernels() {
        let rebuilt = std::fs::read(out.join(format!("{}.o", kernel.name))).unwrap();
        assert!(
            rebuilt == kernel.object,
            "{}: the rebuild differs from the committed object",
            kernel.name
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
