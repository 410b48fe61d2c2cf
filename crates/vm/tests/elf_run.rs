#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The runnable rows of the checklist (corpus `rbpf_elfs/checklist.tsv`): load, verify and run
//! on the interpreter with the demo syscalls `log`/`log_64` as no-ops; r0 (or the error kind)
//! and the exact instruction count.

use bpfvm::elf::preset_for;
use bpfvm::{
    Backend, Config, Executable, Loader, MemoryMapping, MemoryRegion, Preset, RuntimeError,
    SyscallRegistry, TestContext, Vm, MM_INPUT_START,
};
use std::path::PathBuf;
use std::sync::Arc;

fn nop(_: &mut TestContext, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

/// (file, input, expected r0 or error kind, instruction count).
type Row = (&'static str, &'static [u8], Result<u64, &'static str>, u64);

const ROWS: &[Row] = &[
    ("relative_call.so", &[1], Ok(2), 14),
    ("scratch_registers.so", &[1], Ok(112), 40),
    ("scratch_registers_debug.so", &[1], Ok(112), 40),
    ("pass_stack_reference.so", &[], Ok(42), 37),
    ("multiple_file.so", &[0], Ok(0), 4),
    ("multiple_file.so", &[5], Ok(0), 53),
    ("multiple_file.so", &[19], Ok(0), 193),
    ("multiple_file.so", &[20], Err("CallDepthExceeded"), 176),
    ("noop.so", &[], Ok(0), 11),
    ("noro.so", &[], Ok(0), 8),
    ("empty_rodata.so", &[], Ok(0), 8),
    ("rodata.so", &[], Ok(42), 3),
    ("rodata_high_vaddr.so", &[1], Ok(42), 3),
    (
        "unresolved_syscall.so",
        &[],
        Err("UnsupportedInstruction"),
        3,
    ),
    ("syscall_static.so", &[], Ok(0), 5),
    (
        "syscall_static_unknown.so",
        &[],
        Err("UnsupportedInstruction"),
        1,
    ),
    ("reloc_64_64.so", &[], Ok(0x1_0000_00e8), 2),
    ("reloc_64_64_high_vaddr.so", &[], Ok(0x1_0000_0000), 2),
    ("reloc_64_relative.so", &[], Ok(0x1_0000_0100), 2),
    ("reloc_64_relative_high_vaddr.so", &[], Ok(0x1_0000_0018), 2),
    ("reloc_64_relative_data.so", &[], Ok(0x1_0000_0108), 3),
    (
        "reloc_64_relative_data_high_vaddr.so",
        &[],
        Ok(0x1_0000_0020),
        3,
    ),
    (
        "reloc_64_relative_data_pre_sbfv2.so",
        &[],
        Ok(0x1_0000_0108),
        3,
    ),
];

#[test]
fn checklist_programs_run() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    assert!(
        corpus.is_dir(),
        "the test corpus is missing at {}",
        corpus.display()
    );
    for &(file, input, expected, count) in ROWS {
        let bytes = std::fs::read(corpus.join("rbpf_elfs").join(file)).unwrap();
        let mut syscalls = SyscallRegistry::new();
        syscalls.register("log", nop).unwrap();
        syscalls.register("log_64", nop).unwrap();
        let loader = Arc::new(Loader::with_syscalls(Config::default(), syscalls));
        let program = bpfvm::verify(Executable::from_elf(&bytes, loader).unwrap()).unwrap();
        let mut context = TestContext::new(count);
        let mut memory = input.to_vec();
        let mut heap = vec![];
        let regions = vec![MemoryRegion::writable(&mut memory, MM_INPUT_START)];
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
        let run = vm.run(Backend::Interpreter);
        let result = run.result.map_err(|e| format!("{e:?}"));
        match (expected, &result) {
            (Ok(r0), Ok(actual)) => assert_eq!(*actual, r0, "{file} {input:?}"),
            (Err(kind), Err(actual)) => assert!(actual.starts_with(kind), "{file}: {actual}"),
            _ => panic!("{file} {input:?}: expected {expected:?}, got {result:?}"),
        }
        assert_eq!(
            run.instruction_count, count,
            "{file} {input:?} instruction count"
        );
    }
}

/// Relocatable objects from clang run end to end, each in the dialect `--config auto` picks:
/// globals (writable, so eBPF), rodata, calls, a function-pointer `callx` and two syscalls by
/// name. basic.o, in = [3, 2, 1]: 3*3 + (30 + 7 + 0) + twice(3) = 52; calls.o is basic.o
/// without the writable globals (sBPF): 3*3 + 30 + twice(3) = 45.
#[test]
fn clang_object_runs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/elf_rel");
    let cases: &[(&str, &[u8], Preset, u64)] = &[
        ("basic.o", &[3, 2, 1], Preset::Ebpf, 52),
        ("basic.o", &[2, 0, 0], Preset::Ebpf, 25),
        ("calls.o", &[3, 2, 1], Preset::Legacy, 45),
        ("calls.o", &[2, 0, 0], Preset::Legacy, 18),
        ("first_function.o", &[], Preset::Legacy, 42),
    ];
    for &(file, input, preset, expected) in cases {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        // `--config auto` picks V0 where the case runs the 2022 `legacy` profile.
        let auto = match preset {
            Preset::Legacy => Preset::Sbpf26(bpfvm::SbpfVersion::V0),
            other => other,
        };
        assert_eq!(preset_for(&bytes).unwrap(), auto, "{file}");
        let mut syscalls = SyscallRegistry::new();
        syscalls.register("sol_log_", nop).unwrap();
        syscalls.register("sol_log_64_", nop).unwrap();
        let loader = Arc::new(Loader::with_syscalls(preset.config(), syscalls));
        let executable = Executable::from_elf_in(&bytes, loader, preset.dialect()).unwrap();
        let program = bpfvm::verify(executable).unwrap();
        let mut context = TestContext::new(1000);
        let mut memory = input.to_vec();
        let mut heap = vec![];
        let regions = vec![MemoryRegion::writable(&mut memory, MM_INPUT_START)];
        let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
        assert_eq!(
            vm.run(Backend::Interpreter).result,
            Ok(expected),
            "{file} {input:?}"
        );
    }
}
