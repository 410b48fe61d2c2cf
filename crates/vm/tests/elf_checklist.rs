#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! The reference's test ELFs (corpus `rbpf_elfs/checklist.tsv`) and the production programs
//! (corpus README §3.3): load outcomes, exact errors, header mutations and layouts, as tables.

mod elf_common;

use bpfvm::elf::{describe, preset_for};
use bpfvm::{Config, LoadError, Preset, MM_PROGRAM_START};
use elf_common::*;

const LOG: &[&str] = &["log"];
const BOTH: &[&str] = &["log", "log_64"];

/// Loadable reference ELFs under the default config: (file, entry pc, functions, text bytes,
/// read-only bytes, text address).
const LOADS: &[(&str, usize, usize, usize, usize, u64)] = &[
    ("relative_call.so", 8, 2, 128, 152, 0x1_0000_00e8),
    ("scratch_registers.so", 19, 3, 176, 176, 0x1_0000_00e8),
    ("scratch_registers_debug.so", 19, 3, 176, 176, 0x1_0000_1000),
    ("pass_stack_reference.so", 30, 5, 296, 296, 0x1_0000_00e8),
    ("multiple_file.so", 11, 3, 224, 250, 0x1_0000_00e8),
    ("noop.so", 0, 1, 96, 107, 0x1_0000_00e8),
    ("noro.so", 0, 1, 64, 64, 0x1_0000_00e8),
    ("empty_rodata.so", 0, 1, 64, 64, 0x1_0000_00e8),
    ("rodata.so", 0, 1, 32, 56, 0x1_0000_00e8),
    ("rodata_high_vaddr.so", 0, 1, 32, 56, 0x1_0000_0000),
    ("syscall_static.so", 0, 1, 48, 53, 0x1_0000_00e8),
    ("syscall_static_unknown.so", 0, 1, 24, 24, 0x1_0000_00e8),
    ("unresolved_syscall.so", 0, 1, 96, 107, 0x1_0000_00e8),
    ("reloc_64_64.so", 0, 1, 24, 24, 0x1_0000_00e8),
    ("reloc_64_64_high_vaddr.so", 0, 1, 24, 24, 0x1_0000_0000),
    ("reloc_64_relative.so", 0, 1, 24, 35, 0x1_0000_00e8),
    (
        "reloc_64_relative_high_vaddr.so",
        0,
        1,
        24,
        35,
        0x1_0000_0000,
    ),
    ("reloc_64_relative_data.so", 0, 1, 32, 280, 0x1_0000_00e8),
    (
        "reloc_64_relative_data_high_vaddr.so",
        0,
        1,
        32,
        280,
        0x1_0000_0000,
    ),
    (
        "reloc_64_relative_data_pre_sbfv2.so",
        0,
        1,
        32,
        280,
        0x1_0000_00e8,
    ),
];

#[test]
fn reference_elfs_load_with_the_checklist_layout() {
    for &(file, entry, functions, text, ro, text_vaddr) in LOADS {
        let bytes = read(&format!("rbpf_elfs/{file}"));
        let owned = Config {
            optimize_rodata: false,
            ..Config::default()
        };
        // Owned images map [0, end): files linked at MM_PROGRAM_START would need 4 GiB.
        let configs = if text_vaddr == MM_PROGRAM_START {
            vec![Config::default()]
        } else {
            vec![Config::default(), owned]
        };
        for config in configs {
            let exe = load(&bytes, config, BOTH).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(exe.entry_pc(), entry, "{file} entry");
            assert_eq!(exe.functions().len(), functions, "{file} functions");
            assert_eq!(exe.text().len(), text, "{file} text");
            assert_eq!(exe.text_vaddr(), text_vaddr, "{file} text address");
            if config.optimize_rodata {
                assert_eq!(exe.ro_data().len(), ro, "{file} ro");
            }
            // The text is the same bytes as the read-only image at its address.
            let at = (exe.text_vaddr() - exe.ro_vaddr()) as usize;
            assert_eq!(
                &exe.ro_data()[at..at + text],
                exe.text(),
                "{file} text in ro"
            );
            assert!(bpfvm::verify(exe).is_ok(), "{file} verifies");
        }
        // `--config auto` refuses the SBFv2 flag as solana-sbpf 0.26 does; `default` runs it.
        assert!(
            matches!(
                preset_for(&bytes),
                Err(bpfvm::LoadError::UnsupportedSBPFVersion { e_flags: 0x20, .. })
            ),
            "{file}"
        );
    }
}

#[test]
fn relocations_write_the_checklist_addresses() {
    // (file, slot of an lddw, the address it must load) from the checklist's expected r0.
    let cases: &[(&str, usize, u64)] = &[
        ("reloc_64_64.so", 0, MM_PROGRAM_START + 0xe8),
        ("reloc_64_64_high_vaddr.so", 0, MM_PROGRAM_START),
        ("reloc_64_relative.so", 0, MM_PROGRAM_START + 0x100),
        (
            "reloc_64_relative_high_vaddr.so",
            0,
            MM_PROGRAM_START + 0x18,
        ),
    ];
    for &(file, slot, address) in cases {
        let exe = load(&read(&format!("rbpf_elfs/{file}")), Config::default(), &[]).unwrap();
        let text = exe.text();
        let low = u32::from_le_bytes(text[slot * 8 + 4..slot * 8 + 8].try_into().unwrap());
        let high = u32::from_le_bytes(text[slot * 8 + 12..slot * 8 + 16].try_into().unwrap());
        assert_eq!((u64::from(high) << 32) | u64::from(low), address, "{file}");
    }
}

fn patched(file: &str, at: usize, value: &[u8]) -> Vec<u8> {
    let mut bytes = read(&format!("rbpf_elfs/{file}"));
    bytes[at..at + value.len()].copy_from_slice(value);
    bytes
}

/// (label, file bytes, config, syscalls, expected error).
type ErrorCase = (
    &'static str,
    Vec<u8>,
    Config,
    &'static [&'static str],
    LoadError,
);

#[test]
fn checklist_errors_are_exact() {
    let legacy = Config::legacy();
    let cases: Vec<ErrorCase> = vec![
        (
            "unresolved syscall, broken ELFs rejected",
            read("rbpf_elfs/unresolved_syscall.so"),
            Config {
                reject_broken_elfs: true,
                ..Config::default()
            },
            LOG,
            LoadError::UnresolvedSymbol {
                name: "log_64".into(),
                pc: 38,
                offset: 304,
            },
        ),
        (
            "unknown static syscall without static syscalls",
            read("rbpf_elfs/syscall_static_unknown.so"),
            Config {
                static_syscalls: false,
                ..Config::default()
            },
            BOTH,
            LoadError::RelativeJumpOutOfBounds { pc: 0 },
        ),
        (
            "writable .data",
            read("rbpf_elfs/writable_data_section.so"),
            Config::default(),
            BOTH,
            LoadError::WritableSectionNotSupported {
                name: ".data".into(),
            },
        ),
        (
            ".bss",
            read("rbpf_elfs/bss_section.so"),
            Config::default(),
            BOTH,
            LoadError::WritableSectionNotSupported {
                name: ".bss".into(),
            },
        ),
        (
            "program header overflow",
            read("rbpf_elfs/program_headers_overflow.so"),
            Config::default(),
            BOTH,
            LoadError::InvalidProgramHeader,
        ),
        (
            "program header overflow, legacy",
            read("rbpf_elfs/program_headers_overflow.so"),
            legacy,
            BOTH,
            LoadError::InvalidProgramHeader,
        ),
        (
            "SBFv2 file under legacy",
            read("rbpf_elfs/noop.so"),
            legacy,
            BOTH,
            LoadError::UnsupportedExecutableCapabilities,
        ),
        (
            "e_entry = 1",
            patched("noop.so", 24, &1u64.to_le_bytes()),
            Config::default(),
            BOTH,
            LoadError::EntrypointOutOfBounds,
        ),
        (
            "e_entry = u64::MAX",
            patched("noop.so", 24, &u64::MAX.to_le_bytes()),
            Config::default(),
            BOTH,
            LoadError::EntrypointOutOfBounds,
        ),
        (
            "e_entry + 9",
            patched("noop.so", 24, &(0xe8u64 + 9).to_le_bytes()),
            Config::default(),
            BOTH,
            LoadError::InvalidEntrypoint,
        ),
        (
            "32-bit class",
            patched("noop.so", 4, &[1]),
            Config::default(),
            BOTH,
            LoadError::FailedToParse {
                reason: "invalid file header".into(),
            },
        ),
        (
            "big-endian",
            patched("noop.so", 5, &[2]),
            Config::default(),
            BOTH,
            LoadError::FailedToParse {
                reason: "invalid file header".into(),
            },
        ),
        (
            "OS ABI 1",
            patched("noop.so", 7, &[1]),
            Config::default(),
            BOTH,
            LoadError::WrongAbi,
        ),
        (
            "machine 42",
            patched("noop.so", 18, &42u16.to_le_bytes()),
            Config::default(),
            BOTH,
            LoadError::WrongMachine,
        ),
        (
            "ET_REL with program headers",
            patched("noop.so", 16, &1u16.to_le_bytes()),
            Config::default(),
            BOTH,
            LoadError::WrongType,
        ),
    ];
    for (label, bytes, config, syscalls, expected) in cases {
        match load(&bytes, config, syscalls) {
            Ok(_) => panic!("{label}: loaded, expected {expected:?}"),
            Err(error) => assert_eq!(error, expected, "{label}"),
        }
    }
}

#[test]
fn entrypoint_and_machine_patches_that_load() {
    let cases: &[(&str, usize, &[u8], usize)] = &[
        ("original e_entry", 24, &0xe8u64.to_le_bytes(), 0),
        ("e_entry + 8", 24, &0xf0u64.to_le_bytes(), 1),
        ("EM_BPF", 18, &247u16.to_le_bytes(), 0),
    ];
    for &(label, at, value, entry) in cases {
        let exe = load(&patched("noop.so", at, value), Config::default(), BOTH)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(exe.entry_pc(), entry, "{label}");
    }
    // Loading from an odd address gives the same result (the reader does not need alignment).
    let bytes = read("rbpf_elfs/noop.so");
    let mut shifted = vec![0u8];
    shifted.extend_from_slice(&bytes);
    let exe = load(&shifted[1..], Config::default(), BOTH).unwrap();
    assert_eq!(
        exe.text(),
        load(&bytes, Config::default(), BOTH).unwrap().text()
    );
}

/// README §3.3: (file, entry insn, registered functions, text bytes, ro bytes, text address).
const PRODUCTION: &[(&str, usize, usize, usize, usize, u64)] = &[
    (
        "spl_token-3.5.0.so",
        7927,
        133,
        112736,
        121952,
        0x1_0000_0120,
    ),
    ("spl_memo-1.0.0.so", 0, 64, 13232, 14768, 0x1_0000_00e8),
    ("spl_memo-3.0.0.so", 282, 196, 57864, 67848, 0x1_0000_00e8),
    (
        "spl_associated_token_account-1.1.1.so",
        2677,
        129,
        92056,
        97928,
        0x1_0000_0120,
    ),
    (
        "spl_token_2022-0.6.0.so",
        22961,
        332,
        329184,
        363592,
        0x1_0000_0120,
    ),
    (
        "spl_token_2022-1.0.0.so",
        30997,
        456,
        448880,
        491216,
        0x1_0000_0120,
    ),
];

#[test]
fn production_programs_load_under_legacy() {
    for &(file, entry, functions, text, ro, text_vaddr) in PRODUCTION {
        let bytes = read(&format!("solana_programs/{file}"));
        // `--config auto` runs e_flags 0 as the network does today: V0 under 0.26.
        assert_eq!(
            preset_for(&bytes).unwrap(),
            Preset::Sbpf26(bpfvm::SbpfVersion::V0),
            "{file}"
        );
        let exe = load(&bytes, Preset::Legacy.config(), &[]).unwrap();
        assert_eq!(
            (
                exe.entry_pc(),
                exe.functions().len(),
                exe.text().len(),
                exe.ro_data().len()
            ),
            (entry, functions, text, ro),
            "{file}"
        );
        assert_eq!(exe.text_vaddr(), text_vaddr, "{file}");
        assert!(bpfvm::verify(exe).is_ok(), "{file} verifies");
        assert_eq!(
            load(&bytes, Config::default(), &[]).err(),
            Some(LoadError::UnsupportedExecutableCapabilities),
            "{file} under the default preset"
        );
    }
    for (file, text) in [
        ("callx-r10-sbfv1.so", 16),
        ("noop_aligned.so", 656),
        ("noop_unaligned.so", 640),
    ] {
        let bytes = read(&format!("solana_programs/bpf_loader_test_elfs/{file}"));
        let exe = load(&bytes, Preset::Legacy.config(), &[]).unwrap();
        assert_eq!((exe.entry_pc(), exe.text().len()), (0, text), "{file}");
    }
}

#[test]
fn describe_reports_relocations_and_imports() {
    let info = describe(&read("solana_programs/spl_token-3.5.0.so")).unwrap();
    let count = |kind| info.relocations.iter().filter(|r| r.kind == kind).count();
    assert_eq!(
        (count(8), count(10), info.relocations.len()),
        (464, 154, 618)
    );
    let imports: Vec<&str> = info
        .syscalls
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        imports,
        [
            "abort",
            "sol_get_rent_sysvar",
            "sol_log_",
            "sol_memcmp_",
            "sol_memcpy_",
            "sol_memmove_",
            "sol_memset_",
            "sol_set_return_data"
        ]
    );
    assert!(info.syscalls.contains(&("sol_log_".to_owned(), 0x207559bd)));
    let mut names: Vec<&str> = info.functions.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["custom_panic", "entrypoint"]);
    let text = info.to_string();
    for needle in [
        "R_BPF_64_RELATIVE  464",
        "R_BPF_64_32        154",
        "0x207559bd sol_log_",
        ".rel.dyn",
        "EM_BPF (247)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let sbf = describe(&read("rbpf_elfs/noop.so")).unwrap();
    assert_eq!((sbf.machine, sbf.flags, sbf.entry), (263, 0x20, 0xe8));
    assert!(describe(&patched("noop.so", 4, &[1])).is_err());
}
