#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! Relocatable objects from stock clang (crates/vm/tests/elf_rel/*.o, rebuilt by build.sh):
//! the linked image, the relocations, functions, syscalls and entry.

use bpfvm::elf::{describe, preset_for};
use bpfvm::{
    Config, Executable, LoadError, Loader, MemoryMapping, Preset, RuntimeError, SyscallRegistry,
    MM_PROGRAM_START,
};
use bpfvm_isa::{decode, hash_symbol_name, Dialect, Insn, Slot};
use std::path::PathBuf;
use std::sync::Arc;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/elf_rel")
}

fn object(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap()
}

fn nop(_: &mut (), _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

fn load(bytes: &[u8], config: Config, syscalls: &[&str]) -> Result<Executable<()>, LoadError> {
    let mut registry = SyscallRegistry::new();
    for name in syscalls {
        registry.register(name, nop).unwrap();
    }
    Executable::from_elf(bytes, Arc::new(Loader::with_syscalls(config, registry)))
}

fn insn(exe: &Executable<()>, pc: usize) -> Insn {
    decode(&Slot::slots_of(exe.text()), pc, Dialect::Sbpf).unwrap()
}

fn lddw(exe: &Executable<()>, pc: usize) -> u64 {
    match insn(exe, pc) {
        Insn::LoadImm64 { imm, .. } => imm,
        other => panic!("pc {pc} is {other:?}, not an lddw"),
    }
}

fn ro_at(exe: &Executable<()>, address: u64, len: usize) -> &[u8] {
    let at = (address - exe.ro_vaddr()) as usize;
    &exe.ro_data()[at..at + len]
}

fn u64_at(exe: &Executable<()>, address: u64) -> u64 {
    u64::from_le_bytes(ro_at(exe, address, 8).try_into().unwrap())
}

const SYSCALLS: &[&str] = &["sol_log_", "sol_log_64_"];

#[test]
fn basic_object_links_globals_strings_calls_and_syscalls() {
    let bytes = object("basic.o");
    assert_eq!(preset_for(&bytes).unwrap(), Preset::Legacy);
    let exe = load(&bytes, Preset::Legacy.config(), SYSCALLS).unwrap();
    // Layout: .text (0x1a0 bytes), then .rodata, .data and .bss, 8-aligned.
    assert_eq!(
        (exe.text_vaddr(), exe.text().len(), exe.entry_pc()),
        (MM_PROGRAM_START, 0x1a0, 21)
    );
    assert_eq!(exe.ro_data().len(), 0x1f8);
    let rodata = MM_PROGRAM_START + 0x1a0;
    // Globals through R_BPF_64_64: table (rodata), counter (.data), zeroed (.bss).
    assert_eq!(lddw(&exe, 5), rodata);
    let table: Vec<u64> = (0..4).map(|i| u64_at(&exe, rodata + 8 * i)).collect();
    assert_eq!(table, [10, 20, 30, 40]);
    assert_eq!(u64_at(&exe, lddw(&exe, 9)), 7);
    assert_eq!(u64_at(&exe, lddw(&exe, 13)), 0);
    // A string in .rodata, through the section symbol plus the addend 0x30.
    assert_eq!(lddw(&exe, 22), rodata + 0x30);
    assert_eq!(ro_at(&exe, rodata + 0x30, 17), b"hello from rodata");
    // Function pointers in .rodata through R_BPF_64_ABS64: square (pc 18), twice (pc 0).
    let ops = lddw(&exe, 37);
    assert_eq!(ops, rodata + 0x20);
    assert_eq!(
        [u64_at(&exe, ops), u64_at(&exe, ops + 8)],
        [MM_PROGRAM_START + 18 * 8, MM_PROGRAM_START]
    );
    // Calls: the static one (no relocation) and the global one (R_BPF_64_32) become keys of
    // registered functions; the undefined ones become syscalls by name.
    let call_target = |pc| match insn(&exe, pc) {
        Insn::Call { imm, .. } => exe.functions().get(imm as u32).map(|f| f.pc),
        other => panic!("pc {pc} is {other:?}"),
    };
    assert_eq!(call_target(28), Some(18));
    assert_eq!(call_target(31), Some(3));
    for (pc, name) in [(25, "sol_log_"), (49, "sol_log_64_")] {
        assert_eq!(
            insn(&exe, pc),
            Insn::Call {
                src: 0,
                imm: hash_symbol_name(name.as_bytes()) as i32
            }
        );
    }
    // Every function symbol is registered, and the entry is `entrypoint`.
    let mut pcs: Vec<usize> = exe.functions().iter().map(|(_, f)| f.pc).collect();
    pcs.sort();
    pcs.dedup();
    assert_eq!(pcs, [0, 3, 18, 21]);
    assert!(bpfvm::verify(exe).is_ok());
}

#[test]
fn static_syscalls_key_functions_by_pc() {
    let config = Config {
        static_syscalls: true,
        ..Config::legacy()
    };
    let exe = load(&object("basic.o"), config, SYSCALLS).unwrap();
    assert_eq!(insn(&exe, 31), Insn::Call { src: 1, imm: 3 });
    assert_eq!(insn(&exe, 28), Insn::Call { src: 1, imm: 18 });
    assert_eq!(
        exe.functions().get(21).map(|f| f.name.as_str()),
        Some("entrypoint")
    );
}

#[test]
fn object_errors() {
    let bytes = object("basic.o");
    let cases: Vec<(&str, Config, &[&str], LoadError)> = vec![
        (
            "default preset",
            Config::default(),
            SYSCALLS,
            LoadError::UnsupportedExecutableCapabilities,
        ),
        (
            "unregistered syscall, broken ELFs rejected",
            Config {
                reject_broken_elfs: true,
                ..Config::legacy()
            },
            &["sol_log_"],
            LoadError::UnresolvedSymbol {
                name: "sol_log_64_".into(),
                pc: 49,
                offset: 392,
            },
        ),
    ];
    for (label, config, syscalls, expected) in cases {
        assert_eq!(
            load(&bytes, config, syscalls).err(),
            Some(expected),
            "{label}"
        );
    }
    // Without reject_broken_elfs an unregistered syscall still loads (it fails when called).
    assert!(load(&bytes, Config::legacy(), &[]).is_ok());
}

#[test]
fn entry_is_the_first_function_without_an_entrypoint_symbol() {
    let exe = load(&object("first_function.o"), Config::legacy(), &[]).unwrap();
    assert_eq!(exe.entry_pc(), 0);
    assert_eq!(insn(&exe, 1), Insn::Exit);
    let mut pcs: Vec<usize> = exe.functions().iter().map(|(_, f)| f.pc).collect();
    pcs.sort();
    pcs.dedup();
    assert_eq!(pcs, [0, 2], "start (entry) and other");
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

/// Where clang is installed, rebuilding the objects gives the committed bytes.
#[test]
fn committed_objects_match_a_rebuild() {
    let clang = std::process::Command::new("clang")
        .arg("--version")
        .output();
    if !clang.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("version 14.")) {
        eprintln!("clang 14 not installed: skipping the rebuild check");
        return;
    }
    let out = std::env::temp_dir().join(format!("bpfvm-elf-rel-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    for name in ["basic", "first_function"] {
        let built = out.join(format!("{name}.o"));
        let status = std::process::Command::new("clang")
            .args(["-O2", "-target", "bpf", "-mcpu=v2", "-fno-builtin", "-c"])
            .arg(format!("{name}.c"))
            .arg("-o")
            .arg(&built)
            .current_dir(dir())
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            std::fs::read(&built).unwrap(),
            object(&format!("{name}.o")),
            "{name}.o"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
