//! The production programs of the corpus (corpus README §3.4) run end to end: ELF loader,
//! verifier, interpreter and the Solana syscall set, on the legacy preset with a 32 KiB heap
//! and a budget of 1_000_000. Every row of `vm-vectors.tsv` must give the recorded r0, the
//! exact instruction count and the log lines; plus the no-heap fault of spl_memo-3.0.0 and
//! the bpf_loader noop programs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::solana_input::{serialize_aligned, serialize_instruction_only};
use bpfvm::syscalls::{
    register_solana_syscalls_with, Implemented, SolanaContext, SolanaSyscallOptions, Unsupported,
};
use bpfvm::{
    verify, AccessType, Backend, Executable, Loader, MemoryRegion, Preset, RuntimeError,
    SyscallRegistry, Vm, MM_INPUT_START,
};
use std::path::PathBuf;
use std::sync::Arc;

const HEAP: usize = 32 * 1024;
const BUDGET: u64 = 1_000_000;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/solana_programs")
}

struct Outcome {
    result: Result<u64, RuntimeError>,
    count: u64,
    logs: Vec<String>,
}

fn run(elf: &[u8], input: &[u8], heap_size: usize, options: SolanaSyscallOptions) -> Outcome {
    run_in(
        elf,
        input,
        heap_size,
        options,
        Preset::Legacy,
        Backend::Interpreter,
    )
}

fn run_in(
    elf: &[u8],
    input: &[u8],
    heap_size: usize,
    options: SolanaSyscallOptions,
    preset: Preset,
    backend: Backend,
) -> Outcome {
    let mut registry = SyscallRegistry::new();
    register_solana_syscalls_with(&mut registry, options).unwrap();
    let loader = Arc::new(Loader::with_syscalls(preset.config(), registry));
    let executable = Executable::from_elf_in(elf, loader, preset.dialect()).unwrap();
    let mut program = verify(executable).unwrap();
    if backend == Backend::Jit {
        program.jit_compile().unwrap();
    }
    // The vectors were recorded with syscalls that charge nothing.
    let mut context = SolanaContext::new(BUDGET, heap_size as u64).free();
    let mut heap = vec![0u8; heap_size];
    let mut input = input.to_vec();
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
    let run = vm.run(backend);
    drop(vm);
    Outcome {
        result: run.result,
        count: run.instruction_count,
        logs: context.logs,
    }
}

struct Row {
    program: String,
    input: Vec<u8>,
    r0: u64,
    count: u64,
    logs: Vec<String>,
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn rows() -> Vec<Row> {
    let table = std::fs::read_to_string(corpus().join("vm-vectors.tsv")).unwrap();
    let mut lines = table.lines().filter(|line| !line.starts_with('#'));
    assert_eq!(
        lines.next().unwrap().split('\t').collect::<Vec<_>>(),
        ["program", "input_hex", "result", "insn_count", "logs"]
    );
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let r0 = fields[2]
                .strip_prefix("Ok(0x")
                .unwrap()
                .strip_suffix(')')
                .unwrap();
            let logs = fields.get(4).copied().unwrap_or("");
            Row {
                program: fields[0].to_owned(),
                input: hex(fields[1]),
                r0: u64::from_str_radix(r0, 16).unwrap(),
                count: fields[3].parse().unwrap(),
                // The table has the messages; the context records them framed.
                logs: if logs.is_empty() {
                    Vec::new()
                } else {
                    logs.split(" | ")
                        .map(|line| format!("Program log: {line}"))
                        .collect()
                },
            }
        })
        .collect()
}

#[test]
fn all_vector_rows_reproduce_on_the_stub_harness() {
    let rows = rows();
    assert_eq!(rows.len(), 18);
    for row in &rows {
        let elf = std::fs::read(corpus().join(&row.program)).unwrap();
        let outcome = run(
            &elf,
            &row.input,
            HEAP,
            SolanaSyscallOptions::REFERENCE_VECTORS,
        );
        let name = format!("{} {}", row.program, hex_string(&row.input));
        assert_eq!(outcome.result, Ok(row.r0), "{name}");
        assert_eq!(outcome.count, row.count, "{name}");
        assert_eq!(outcome.logs, row.logs, "{name}");
    }
}

/// Under SBPF V0 as solana-sbpf 0.26 runs it (what `--config auto` now picks for these
/// files) every row gives the same r0, count and logs on every backend: none of them meets
/// a rule 0.26 changed (the budget is never reached, no sdiv, no `callx r10`, no return past
/// the end).
#[test]
fn all_vector_rows_reproduce_under_v0() {
    let v0 = Preset::Sbpf26(bpfvm::SbpfVersion::V0);
    for row in rows() {
        let elf = std::fs::read(corpus().join(&row.program)).unwrap();
        for &backend in Backend::AVAILABLE {
            let outcome = run_in(
                &elf,
                &row.input,
                HEAP,
                SolanaSyscallOptions::REFERENCE_VECTORS,
                v0,
                backend,
            );
            let name = format!("{} {} {backend:?}", row.program, hex_string(&row.input));
            assert_eq!(outcome.result, Ok(row.r0), "{name}");
            assert_eq!(outcome.count, row.count, "{name}");
            assert_eq!(outcome.logs, row.logs, "{name}");
        }
    }
}

/// With the real syscalls (memcpy copies, memcmp compares, ...) the programs take the same
/// paths on these inputs: the recorded results hold too.
#[test]
fn all_vector_rows_reproduce_with_real_syscalls() {
    let options = SolanaSyscallOptions {
        implemented: Implemented::Real,
        unsupported: Unsupported::Error,
    };
    for row in rows() {
        let elf = std::fs::read(corpus().join(&row.program)).unwrap();
        let outcome = run(&elf, &row.input, HEAP, options);
        let name = format!("{} {}", row.program, hex_string(&row.input));
        assert_eq!(
            (outcome.result, outcome.count, outcome.logs),
            (Ok(row.r0), row.count, row.logs),
            "{name}"
        );
    }
}

#[test]
fn vector_inputs_are_the_zero_account_serialization() {
    for row in rows() {
        let len = u64::from_le_bytes(row.input[8..16].try_into().unwrap()) as usize;
        let data = &row.input[16..16 + len];
        assert_eq!(serialize_instruction_only(data, &[0; 32]), row.input);
        assert_eq!(serialize_aligned(&[], data, &[0; 32]).unwrap(), row.input);
    }
}

/// The corpus gives the outcome but not the instruction data of this run. For ASCII memos
/// the count depends only on the length (371 + 9 per byte from the second on, measured
/// here), and 478 is the count of every 10-byte ASCII memo, so two of those are checked.
#[test]
fn spl_memo_3_without_heap_faults_on_the_heap() {
    let elf = std::fs::read(corpus().join("spl_memo-3.0.0.so")).unwrap();
    let expected = RuntimeError::AccessViolation {
        pc: 354 - 29,
        access: AccessType::Load,
        vaddr: 0x3_0000_0000,
        len: 8,
        region: "heap",
    };
    for data in [&b"0123456789"[..], b"hello memo"] {
        let input = serialize_instruction_only(data, &[0; 32]);
        let outcome = run(&elf, &input, 0, SolanaSyscallOptions::REFERENCE_VECTORS);
        assert_eq!(outcome.result, Err(expected.clone()));
        assert_eq!(outcome.count, 478);
    }
}

#[test]
fn bpf_loader_noop_programs_return_zero() {
    let input = serialize_instruction_only(b"", &[0; 32]);
    for name in ["noop_aligned.so", "noop_unaligned.so"] {
        let elf = std::fs::read(corpus().join("bpf_loader_test_elfs").join(name)).unwrap();
        let outcome = run(&elf, &input, HEAP, SolanaSyscallOptions::REFERENCE_VECTORS);
        assert_eq!((outcome.result, outcome.count), (Ok(0), 6), "{name}");
        assert!(outcome.logs.is_empty());
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
