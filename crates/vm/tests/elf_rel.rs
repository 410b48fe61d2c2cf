#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Relocatable objects from stock clang (crates/vm/tests/elf_rel/*.o, rebuilt by build.sh):
//! the linked image, the relocations, functions, syscalls and entry, in both dialects.

use bpfvm::elf::{describe, preset_for};
use bpfvm::{
    verify, Backend, Config, Executable, LoadError, Loader, MemoryMapping, MemoryRegion, Preset,
    ProgramRegion, RuntimeError, SyscallRegistry, TestContext, Vm, MM_INPUT_START,
    MM_PROGRAM_START,
};
use bpfvm_isa::{decode, hash_symbol_name, Dialect, Insn, Reg, Slot};
use std::path::PathBuf;
use std::sync::Arc;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/elf_rel")
}

fn object(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap()
}

fn nop(_: &mut TestContext, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

fn load_in(
    bytes: &[u8],
    config: Config,
    syscalls: &[&str],
    dialect: Dialect,
) -> Result<Executable<TestContext>, LoadError> {
    let mut registry = SyscallRegistry::new();
    for name in syscalls {
        registry.register(name, nop).unwrap();
    }
    Executable::from_elf_in(
        bytes,
        Arc::new(Loader::with_syscalls(config, registry)),
        dialect,
    )
}

fn load(
    bytes: &[u8],
    config: Config,
    syscalls: &[&str],
) -> Result<Executable<TestContext>, LoadError> {
    load_in(bytes, config, syscalls, Dialect::Sbpf)
}

fn insn(exe: &Executable<TestContext>, pc: usize) -> Insn {
    decode(&Slot::slots_of(exe.text()), pc, exe.dialect()).unwrap()
}

fn lddw(exe: &Executable<TestContext>, pc: usize) -> u64 {
    match insn(exe, pc) {
        Insn::LoadImm64 { imm, .. } => imm,
        other => panic!("pc {pc} is {other:?}, not an lddw"),
    }
}

fn ro_at(exe: &Executable<TestContext>, address: u64, len: usize) -> &[u8] {
    let at = (address - exe.ro_vaddr()) as usize;
    &exe.ro_data()[at..at + len]
}

fn u64_at(exe: &Executable<TestContext>, address: u64) -> u64 {
    u64::from_le_bytes(ro_at(exe, address, 8).try_into().unwrap())
}

fn function_pcs(exe: &Executable<TestContext>) -> Vec<usize> {
    let mut pcs: Vec<usize> = exe.functions().iter().map(|(_, f)| f.pc).collect();
    pcs.sort();
    pcs.dedup();
    pcs
}

/// Runs a loaded object on every backend of the build with `input` and returns r0 (they must
/// agree).
fn run(exe: Executable<TestContext>, input: &[u8]) -> u64 {
    let mut program = verify(exe).unwrap();
    if Backend::AVAILABLE.contains(&Backend::Jit) {
        program.jit_compile().unwrap();
    }
    let results: Vec<u64> = Backend::AVAILABLE
        .iter()
        .map(|&backend| {
            let mut context = TestContext::new(10_000);
            let mut input = input.to_vec();
            let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
            let mut vm = Vm::new(&program, &mut context, &mut [], regions).unwrap();
            vm.run(backend).result.unwrap()
        })
        .collect();
    assert!(
        results.iter().all(|r0| *r0 == results[0]),
        "interpreter and JIT disagree: {results:?}"
    );
    results[0]
}

const SYSCALLS: &[&str] = &["sol_log_", "sol_log_64_"];

#[test]
fn calls_object_links_strings_calls_and_syscalls_in_sbpf() {
    let bytes = object("calls.o");
    assert_eq!(
        preset_for(&bytes).unwrap(),
        Preset::Sbpf26(bpfvm::SbpfVersion::V0)
    );
    let exe = load(&bytes, Preset::Legacy.config(), SYSCALLS).unwrap();
    // Layout: .text (0x160 bytes), then .rodata, 8-aligned; read-only.
    assert_eq!(
        (exe.text_vaddr(), exe.text().len(), exe.entry_pc()),
        (MM_PROGRAM_START, 0x160, 13)
    );
    assert_eq!(exe.ro_data().len(), 0x1a2);
    assert_eq!(exe.program_region(), ProgramRegion::ReadOnly);
    let rodata = MM_PROGRAM_START + 0x160;
    // A global through R_BPF_64_64.
    assert_eq!(lddw(&exe, 5), rodata);
    let table: Vec<u64> = (0..4).map(|i| u64_at(&exe, rodata + 8 * i)).collect();
    assert_eq!(table, [10, 20, 30, 40]);
    // A string in .rodata, through the section symbol plus the addend 0x30.
    assert_eq!(lddw(&exe, 14), rodata + 0x30);
    assert_eq!(ro_at(&exe, rodata + 0x30, 17), b"hello from rodata");
    // Function pointers in .rodata through R_BPF_64_ABS64: square (pc 10), twice (pc 0).
    let ops = lddw(&exe, 29);
    assert_eq!(ops, rodata + 0x20);
    assert_eq!(
        [u64_at(&exe, ops), u64_at(&exe, ops + 8)],
        [MM_PROGRAM_START + 10 * 8, MM_PROGRAM_START]
    );
    // Calls: the static one (no relocation) and the global one (R_BPF_64_32) become keys of
    // registered functions; the undefined ones become syscalls by name.
    let call_target = |pc| match insn(&exe, pc) {
        Insn::Call { imm, .. } => exe.functions().get(imm as u32).map(|f| f.pc),
        other => panic!("pc {pc} is {other:?}"),
    };
    assert_eq!(call_target(20), Some(10));
    assert_eq!(call_target(23), Some(3));
    for (pc, name) in [(17, "sol_log_"), (41, "sol_log_64_")] {
        assert_eq!(
            insn(&exe, pc),
            Insn::Call {
                src: 0,
                imm: hash_symbol_name(name.as_bytes()) as i32
            }
        );
    }
    // callx keeps its register in the immediate, as sBPF reads it.
    assert_eq!(
        insn(&exe, 34),
        Insn::CallReg {
            reg: Reg::new(2).unwrap()
        }
    );
    // Every function symbol is registered, and the entry is `entrypoint`.
    assert_eq!(function_pcs(&exe), [0, 3, 10, 13]);
    // square(3) + table[1] + ops[in[2] & 1](3).
    assert_eq!(run(exe, &[3, 1, 0]), 9 + 20 + 9);
    let exe = load(&bytes, Preset::Legacy.config(), SYSCALLS).unwrap();
    assert_eq!(run(exe, &[3, 1, 1]), 9 + 20 + 6);
}

#[test]
fn basic_object_maps_its_globals_writable_in_ebpf() {
    let bytes = object("basic.o");
    assert_eq!(preset_for(&bytes).unwrap(), Preset::Ebpf, "writable data");
    let exe = load_in(&bytes, Preset::Ebpf.config(), SYSCALLS, Dialect::Ebpf).unwrap();
    // Layout: .text (0x1a0 bytes), .rodata, then .data and .bss, 8-aligned, all writable.
    assert_eq!(
        (exe.text_vaddr(), exe.text().len(), exe.entry_pc()),
        (MM_PROGRAM_START, 0x1a0, 21)
    );
    assert_eq!(exe.ro_data().len(), 0x1f8);
    assert_eq!(exe.program_region(), ProgramRegion::Writable);
    let rodata = MM_PROGRAM_START + 0x1a0;
    // Globals through R_BPF_64_64: table (rodata), counter (.data), zeroed (.bss).
    assert_eq!(lddw(&exe, 5), rodata);
    assert_eq!(lddw(&exe, 9), MM_PROGRAM_START + 0x1e8);
    assert_eq!(u64_at(&exe, lddw(&exe, 9)), 7);
    assert_eq!(lddw(&exe, 13), MM_PROGRAM_START + 0x1f0);
    assert_eq!(u64_at(&exe, lddw(&exe, 13)), 0);
    assert_eq!(lddw(&exe, 22), rodata + 0x30);
    // Calls stay pc-relative (src 1); imports call the helper registered under that name.
    assert_eq!(insn(&exe, 28), Insn::Call { src: 1, imm: -11 });
    assert_eq!(
        insn(&exe, 31),
        Insn::Call {
            src: 1,
            imm: 3 - 31 - 1
        }
    );
    for (pc, name) in [(25, "sol_log_"), (49, "sol_log_64_")] {
        assert_eq!(
            insn(&exe, pc),
            Insn::Call {
                src: 0,
                imm: hash_symbol_name(name.as_bytes()) as i32
            }
        );
    }
    // clang 14 wrote `callx r2` with the register in the immediate; eBPF reads dst.
    assert_eq!(
        insn(&exe, 42),
        Insn::CallReg {
            reg: Reg::new(2).unwrap()
        }
    );
    // Functions are keyed by pc.
    assert_eq!(function_pcs(&exe), [0, 3, 18, 21]);
    assert!(exe.functions().iter().all(|(key, f)| key as usize == f.pc));
    // square(3) + table[1] + counter + zeroed + ops[0](3).
    assert_eq!(run(exe, &[3, 1, 0]), 9 + 20 + 7 + 9);
}

#[test]
fn static_syscalls_key_functions_by_pc() {
    let config = Config {
        static_syscalls: true,
        ..Config::legacy()
    };
    let exe = load(&object("calls.o"), config, SYSCALLS).unwrap();
    assert_eq!(insn(&exe, 23), Insn::Call { src: 1, imm: 3 });
    assert_eq!(insn(&exe, 20), Insn::Call { src: 1, imm: 10 });
    assert_eq!(
        exe.functions().get(13).map(|f| f.name.as_str()),
        Some("entrypoint")
    );
}

#[test]
fn object_errors() {
    let calls = object("calls.o");
    let basic = object("basic.o");
    type Row<'a> = (&'a str, &'a [u8], Config, &'a [&'a str], Dialect, LoadError);
    let cases: Vec<Row<'_>> = vec![
        (
            "default preset",
            &calls,
            Config::default(),
            SYSCALLS,
            Dialect::Sbpf,
            LoadError::UnsupportedExecutableCapabilities,
        ),
        (
            "unregistered syscall, broken ELFs rejected",
            &calls,
            Config {
                reject_broken_elfs: true,
                ..Config::legacy()
            },
            &["sol_log_"],
            Dialect::Sbpf,
            LoadError::UnresolvedSymbol {
                name: "sol_log_64_".into(),
                pc: 41,
                offset: 328,
            },
        ),
        (
            "writable data in sBPF",
            &basic,
            Config::legacy(),
            SYSCALLS,
            Dialect::Sbpf,
            LoadError::WritableSectionNotSupported {
                name: ".data".into(),
            },
        ),
        (
            "an import no helper is named after, in eBPF",
            &basic,
            Preset::Ebpf.config(),
            &["sol_log_64_"],
            Dialect::Ebpf,
            LoadError::UnresolvedSymbol {
                name: "sol_log_".into(),
                pc: 25,
                offset: 200,
            },
        ),
    ];
    for (label, bytes, config, syscalls, dialect, expected) in cases {
        assert_eq!(
            load_in(bytes, config, syscalls, dialect).err(),
            Some(expected),
            "{label}"
        );
    }
    // Without reject_broken_elfs an unregistered syscall still loads (it fails when called).
    assert!(load(&calls, Config::legacy(), &[]).is_ok());
}

#[test]
fn ebpf_loads_objects_only() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    let shared = std::fs::read(corpus.join("rbpf_elfs/relative_call.so")).unwrap();
    assert!(load(&shared, Config::default(), &["log"]).is_ok());
    assert_eq!(
        load_in(&shared, Preset::Ebpf.config(), &[], Dialect::Ebpf).err(),
        Some(LoadError::WrongType)
    );
}

#[test]
fn entry_is_the_first_function_without_an_entrypoint_symbol() {
    for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
        let exe = load_in(&object("first_function.o"), Config::legacy(), &[], dialect).unwrap();
        assert_eq!(exe.entry_pc(), 0);
        assert_eq!(insn(&exe, 1), Insn::Exit);
        assert_eq!(function_pcs(&exe), [0, 2], "start (entry) and other");
    }
}

#[test]
fn entry_is_the_program_section_before_dot_text_helpers() {
    let bytes = object("program_section.o");
    for (dialect, config) in [
        (Dialect::Sbpf, Config::legacy()),
        (Dialect::Ebpf, Preset::Ebpf.config()),
    ] {
        let exe = load_in(&bytes, config, &[], dialect).unwrap();
        // .text (helper, pc 0..3), then the section "socket" (program, pc 3..6).
        assert_eq!(exe.entry_pc(), 3, "{dialect:?}");
        assert_eq!(function_pcs(&exe), [0, 3]);
        assert_eq!(run(exe, &[40]), 42, "{dialect:?}");
    }
}

#[test]
fn describe_lists_object_relocations_and_imports() {
    let info = describe(&object("basic.o")).unwrap();
    let count = |kind| info.relocations.iter().filter(|r| r.kind == kind).count();
    // R_BPF_64_64, R_BPF_64_32, R_BPF_64_ABS64.
    assert_eq!((count(1), count(10), count(2)), (5, 3, 2));
    assert_eq!(
        info.syscalls,
        [
            ("sol_log_".to_owned(), hash_symbol_name(b"sol_log_")),
            ("sol_log_64_".to_owned(), hash_symbol_name(b"sol_log_64_"))
        ]
    );
    let mut names: Vec<&str> = info.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["entrypoint", "lookup", "square", "twice"]);
    assert!(info.to_string().contains("REL (relocatable object)"));
}

/// Where clang 14 is installed, rebuilding the objects with build.sh gives the committed
/// bytes.
#[test]
fn committed_objects_match_a_rebuild() {
    let clang = std::process::Command::new("clang")
        .arg("--version")
        .output();
    if !clang.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("version 14.")) {
        eprintln!("clang 14 not installed: rebuild NOT checked");
        return;
    }
    let out = std::env::temp_dir().join(format!("bpfvm-elf-rel-{}", std::process::id()));
    let status = std::process::Command::new("sh")
        .arg(dir().join("build.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for name in ["basic", "calls", "first_function", "program_section"] {
        let name = format!("{name}.o");
        assert!(
            std::fs::read(out.join(&name)).unwrap() == object(&name),
            "{name}: the rebuild differs from the committed object"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
