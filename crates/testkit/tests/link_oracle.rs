//! `bpfvm-link`'s outputs on solana-sbpf 0.26 (the oracle adapter, `tests/reference26`).
//!
//! - The V0 and V3 builds of the linker's test program (`crates/link/tests/c/calls.o`), of
//!   the C examples and of the benchmark kernels load and run on 0.26's interpreter and JIT
//!   and give the same outcome (r0, count, pc, every writable byte) in all four runs; r0
//!   equals a model (the kernels' native build, the examples' documented answers, a Rust
//!   model of `calls.c`). The V0 build also runs on bpfvm's legacy preset with the same r0
//!   and count: it is a valid shared object for the 2022 loader too.
//! - A V3 output corrupted in each way the strict loader checks (file header, program
//!   headers, entry point, version) is refused with the loader's error; fields it ignores
//!   change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;
mod reference26;

use bpfvm_link::{link, Target};
use bpfvm_testkit::outcome::{ErrorDesc, Field, Stage};
use bpfvm_testkit::sbpf26::VersionedOutcome;
use bpfvm_testkit::syscalls::SyscallSet;
use reference26::{run_both, Case26, Program26};

const CALLS: &[u8] = include_bytes!("../../link/tests/c/calls.o");

/// `calls.c` in Rust.
fn calls_model(input: &[u8]) -> u64 {
    let n = usize::from(input[0].min(8));
    let mut x = 3u64;
    for &op in &input[1..=n] {
        x = match op % 3 {
            0 => x.wrapping_add(1),
            1 => x.wrapping_mul(2),
            _ => x.wrapping_mul(x),
        };
    }
    x + u64::from(input[0] & 15)
}

/// Runs an ELF on 0.26's two engines with the logging syscalls.
fn run_elf(file: &[u8], input: &[u8]) -> (VersionedOutcome, VersionedOutcome) {
    let mut case = Case26::new(Program26::Elf(file));
    case.input = input;
    case.syscalls = SyscallSet::Logging;
    case.budget = 10_000_000;
    run_both(&case)
}

/// The V0 build on bpfvm's legacy preset: (r0, count).
fn run_on_bpfvm(file: &[u8], input: &[u8]) -> (Result<u64, String>, u64) {
    use bpfvm::{verify, Backend, Executable, Loader, MemoryRegion, TestContext, Vm};
    let loader = Loader::with_syscalls(
        bpfvm::Config::legacy(),
        bpfvm_testkit::syscalls::registry(SyscallSet::Logging),
    );
    let program = verify(Executable::from_elf(file, std::sync::Arc::new(loader)).unwrap()).unwrap();
    let mut input = input.to_vec();
    let mut context = TestContext::new(10_000_000);
    let mut heap = vec![0u8; 32 * 1024];
    let regions = vec![MemoryRegion::writable(&mut input, bpfvm::MM_INPUT_START)];
    let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
    let run = vm.run(Backend::Interpreter);
    (
        run.result.map_err(|error| error.to_string()),
        run.instruction_count,
    )
}

/// Links `object` both ways and checks the four 0.26 runs agree; returns the outcome.
fn same_everywhere(name: &str, object: &[u8], input: &[u8]) -> VersionedOutcome {
    let v0 = link(object, Target::V0).unwrap_or_else(|error| panic!("{name}: {error}"));
    let v3 = link(object, Target::V3).unwrap_or_else(|error| panic!("{name}: {error}"));
    let (v0_interpreter, v0_jit) = run_elf(&v0, input);
    let (v3_interpreter, v3_jit) = run_elf(&v3, input);
    for (engine, outcome) in [
        ("V0 JIT", &v0_jit),
        ("V3 interpreter", &v3_interpreter),
        ("V3 JIT", &v3_jit),
    ] {
        let differences = outcome.differences(&v0_interpreter);
        assert!(
            differences.is_empty(),
            "{name}: {engine} differs from the V0 interpreter: {differences:?}"
        );
    }
    if let Ok(r0) = v0_interpreter.result {
        let (ours, count) = run_on_bpfvm(&v0, input);
        assert_eq!(
            ours,
            Ok(r0),
            "{name}: bpfvm's legacy preset on the V0 build"
        );
        assert_eq!(
            count, v0_interpreter.instruction_count,
            "{name}: bpfvm's count"
        );
    }
    v0_interpreter
}

#[test]
fn the_linkers_test_program_runs_the_same_as_v0_and_v3() {
    let inputs: [&[u8]; 4] = [
        &[3, 0, 1, 2],
        &[0],
        &[9, 2, 2, 2, 0, 1, 2, 0, 1, 2],
        &[15, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
    ];
    for input in inputs {
        let outcome = same_everywhere("calls", CALLS, input);
        assert_eq!(outcome.result, Ok(calls_model(input)), "{input:?}");
    }
    assert_eq!(calls_model(&[3, 0, 1, 2]), 67);
}

#[test]
fn the_c_examples_run_the_same_as_v0_and_v3() {
    let fib: &[u8] = include_bytes!("../../../examples/c/fib.o");
    let primes: &[u8] = include_bytes!("../../../examples/c/primes.o");
    let hash: &[u8] = include_bytes!("../../../examples/c/hash.o");
    let cases: [(&str, &[u8], Vec<u8>, u64); 6] = [
        ("fib", fib, 10u64.to_le_bytes().to_vec(), 55),
        (
            "fib",
            fib,
            0xffu64.to_le_bytes().to_vec(),
            12_200_160_415_121_876_738,
        ),
        ("primes", primes, 100u64.to_le_bytes().to_vec(), 25),
        ("primes", primes, 2048u64.to_le_bytes().to_vec(), 309),
        ("hash", hash, vec![1, 0], 0xb51e_2ca8_e40d_d7d8),
        ("hash", hash, vec![3, 1, 2, 3], 0xbc87_f788_1955_dbfb),
    ];
    for (name, object, input, expected) in cases {
        let outcome = same_everywhere(name, object, &input);
        assert_eq!(outcome.result, Ok(expected), "{name} {input:?}");
    }
}

#[test]
fn an_unregistered_import_fails_the_same_in_both_builds() {
    // hello.c calls sol_memcpy_, which the logging set does not register.
    let hello: &[u8] = include_bytes!("../../../examples/c/hello.o");
    let outcome = same_everywhere("hello", hello, &[2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i']);
    let error = outcome.result.unwrap_err();
    assert_eq!(
        (error.stage, error.kind.as_str()),
        (Stage::Runtime, "UnsupportedInstruction")
    );
}

#[test]
fn the_kernels_run_the_same_as_v0_and_v3_and_natively() {
    for kernel in &kernels::kernels() {
        let input = (kernel.input)();
        let native = kernel.run_native(&mut kernel.native_input(&input));
        let outcome = same_everywhere(kernel.name, kernel.object, &input);
        assert_eq!(outcome.result, Ok(native), "{}", kernel.name);
    }
}

/// A corruption of a V3 file: what it changes and what 0.26 then says.
struct Corruption {
    what: &'static str,
    apply: fn(&mut Vec<u8>),
    /// The load error, or `None` when the loader ignores the change.
    refused_with: Option<(&'static str, &'static str)>,
}

fn put_u16(file: &mut [u8], at: usize, value: u16) {
    file[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(file: &mut [u8], at: usize, value: u32) {
    file[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn add_u64(file: &mut [u8], at: usize, delta: u64) {
    let value = u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
    file[at..at + 8].copy_from_slice(&value.wrapping_add(delta).to_le_bytes());
}

/// Program header fields of the bytecode segment, the second header of a file with data.
const BYTECODE: usize = 64 + 56;

const HEADER: (&str, &str) = ("FailedToParse", "invalid file header");
const PROGRAM_HEADER: (&str, &str) = ("InvalidProgramHeader", "");

const CORRUPTIONS: [Corruption; 24] = [
    Corruption {
        what: "class 32",
        apply: |f| f[4] = 1,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "big-endian",
        apply: |f| f[5] = 2,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "ident version",
        apply: |f| f[6] = 2,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "OS ABI",
        apply: |f| f[7] = 3,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "ABI version",
        apply: |f| f[8] = 1,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "ident padding",
        apply: |f| f[12] = 1,
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "e_machine 263 (old V3)",
        apply: |f| put_u16(f, 18, 263),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "e_version",
        apply: |f| put_u32(f, 20, 2),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "unaligned entry",
        apply: |f| add_u64(f, 24, 1),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "entry past the bytecode",
        apply: |f| add_u64(f, 24, 1 << 20),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "e_phoff",
        apply: |f| add_u64(f, 32, 8),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "e_flags 0x20",
        apply: |f| put_u32(f, 48, 0x20),
        refused_with: Some(("UnsupportedSBPFVersion", "")),
    },
    Corruption {
        what: "e_ehsize",
        apply: |f| put_u16(f, 52, 65),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "e_phentsize",
        apply: |f| put_u16(f, 54, 57),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "no program headers",
        apply: |f| put_u16(f, 56, 0),
        refused_with: Some(HEADER),
    },
    Corruption {
        what: "data segment not loadable",
        apply: |f| put_u32(f, 64, 0),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "bytecode readable too",
        apply: |f| put_u32(f, BYTECODE + 4, 5),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "bytecode offset",
        apply: |f| add_u64(f, BYTECODE + 8, 8),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "bytecode vaddr",
        apply: |f| add_u64(f, BYTECODE + 16, 8),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "bytecode paddr",
        apply: |f| add_u64(f, BYTECODE + 24, 8),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "file size below memory size",
        apply: |f| add_u64(f, BYTECODE + 32, 0u64.wrapping_sub(8)),
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "data size not a multiple of 8",
        apply: |f| {
            add_u64(f, 64 + 32, 4);
            add_u64(f, 64 + 40, 4)
        },
        refused_with: Some(PROGRAM_HEADER),
    },
    Corruption {
        what: "p_align (ignored)",
        apply: |f| add_u64(f, BYTECODE + 48, 0x1000),
        refused_with: None,
    },
    Corruption {
        what: "e_type and section headers (ignored)",
        apply: |f| {
            put_u16(f, 16, 2);
            add_u64(f, 40, 1 << 30)
        },
        refused_with: None,
    },
];

#[test]
fn corrupted_v3_files_are_refused_as_the_strict_loader_checks() {
    let file = link(CALLS, Target::V3).unwrap();
    let input = [3u8, 0, 1, 2];
    let (clean, _) = run_elf(&file, &input);
    assert_eq!(clean.result, Ok(67));
    let mut failures = Vec::new();
    for corruption in &CORRUPTIONS {
        let mut corrupted = file.clone();
        (corruption.apply)(&mut corrupted);
        assert_ne!(corrupted, file, "{}: no change", corruption.what);
        let (outcome, jit) = run_elf(&corrupted, &input);
        assert_eq!(outcome, jit, "{}", corruption.what);
        let expected = match corruption.refused_with {
            Some((kind, text)) => Err(ErrorDesc {
                stage: Stage::Load,
                kind: kind.to_owned(),
                fields: if text.is_empty() {
                    Vec::new()
                } else {
                    vec![Field::Value(text.to_owned())]
                },
            }),
            None => Ok(67),
        };
        if outcome.result != expected {
            failures.push(format!(
                "{}: got {outcome}, expected {expected:?}",
                corruption.what
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_file_without_data_has_one_program_header_which_must_be_the_bytecode() {
    let fib: &[u8] = include_bytes!("../../../examples/c/fib.o");
    let file = link(fib, Target::V3).unwrap();
    assert_eq!(u16::from_le_bytes([file[56], file[57]]), 1);
    let input = 10u64.to_le_bytes();
    assert_eq!(run_elf(&file, &input).0.result, Ok(55));
    // Marked readable, the only header is taken for the data segment, and the bytecode
    // header the loader then expects is missing.
    let mut corrupted = file.clone();
    put_u32(&mut corrupted, 64 + 4, 4);
    let error = run_elf(&corrupted, &input).0.result.unwrap_err();
    assert_eq!(error.kind, "FailedToParse");
}
