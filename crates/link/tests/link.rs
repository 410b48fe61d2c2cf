//! The linker on real clang objects (`tests/c/calls.o`, the examples and the benchmark
//! kernels): the V3 file has exactly the strict layout, its text carries the re-encoded calls
//! and final addresses, the V0 file is a shared object whose loaded sections sit at their
//! file offsets, and the output is deterministic. Running the outputs is tested against
//! solana-sbpf 0.26 in `crates/testkit/tests/link_oracle.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm_isa::{decode_program, hash_symbol_name, Dialect, Insn, Reg, Slot};
use bpfvm_link::{link, LinkError, Target, BYTECODE_START};
use object::elf::{FileHeader64, PF_R, PF_X, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::LittleEndian as LE;

const CALLS: &[u8] = include_bytes!("c/calls.o");

fn objects() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("calls", CALLS),
        ("fib", include_bytes!("../../../examples/c/fib.o")),
        ("primes", include_bytes!("../../../examples/c/primes.o")),
        ("hash", include_bytes!("../../../examples/c/hash.o")),
        ("hello", include_bytes!("../../../examples/c/hello.o")),
        (
            "crc32",
            include_bytes!("../../../examples/c/kernels/crc32.o"),
        ),
        ("sort", include_bytes!("../../../examples/c/kernels/sort.o")),
        (
            "histogram",
            include_bytes!("../../../examples/c/kernels/histogram.o"),
        ),
        (
            "checksum",
            include_bytes!("../../../examples/c/kernels/checksum.o"),
        ),
    ]
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// The bytecode and read-only data of a V3 file, checked against the strict loader's rules.
fn strict_segments(file: &[u8]) -> (Vec<u8>, Vec<u8>, u64) {
    let header = FileHeader64::<LE>::parse(file).unwrap();
    assert_eq!(header.e_machine(LE), 247);
    assert_eq!(header.e_flags(LE), 3);
    assert_eq!(header.e_phoff(LE), 64);
    assert_eq!(header.e_ehsize(LE), 64);
    assert_eq!(header.e_phentsize(LE), 56);
    assert_eq!(&header.e_ident().padding, &[0; 7]);
    let segments = header.program_headers(LE, file).unwrap();
    let mut expected_offset = 64 + 56 * segments.len() as u64;
    let mut data = Vec::new();
    let mut text = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        let is_data = index == 0 && segments.len() == 2;
        assert_eq!(segment.p_type(LE), PT_LOAD);
        assert_eq!(segment.p_flags(LE), if is_data { PF_R } else { PF_X });
        assert_eq!(segment.p_offset(LE), expected_offset);
        assert_eq!(segment.p_offset(LE) % 8, 0);
        assert_eq!(segment.p_filesz(LE) % 8, 0);
        assert_eq!(segment.p_filesz(LE), segment.p_memsz(LE));
        let vaddr = if is_data { 0 } else { BYTECODE_START };
        assert_eq!((segment.p_vaddr(LE), segment.p_paddr(LE)), (vaddr, vaddr));
        let bytes = segment.data(LE, file).unwrap().to_vec();
        expected_offset += bytes.len() as u64;
        if is_data {
            data = bytes;
        } else {
            text = bytes;
        }
    }
    let entry = header.e_entry(LE);
    assert_eq!(entry % 8, 0);
    assert!(entry >= BYTECODE_START && entry + 7 < BYTECODE_START + text.len() as u64);
    (text, data, (entry - BYTECODE_START) / 8)
}

fn slots(text: &[u8]) -> Vec<Slot> {
    (0..text.len() / 8)
        .map(|at| Slot::at(text, at).unwrap())
        .collect()
}

#[test]
fn every_object_links_for_both_targets_deterministically() {
    for (name, object) in objects() {
        for target in [Target::V0, Target::V3] {
            let first = link(object, target).unwrap_or_else(|error| panic!("{name}: {error}"));
            assert_eq!(first, link(object, target).unwrap(), "{name}");
        }
        strict_segments(&link(object, Target::V3).unwrap());
    }
}

#[test]
fn v3_calls_are_re_encoded_and_addresses_final() {
    let file = link(CALLS, Target::V3).unwrap();
    let (text, data, _) = strict_segments(&file);
    let listing = decode_program(&slots(&text), Dialect::Sbpf);
    let mut imports = Vec::new();
    let mut internal = 0;
    for decoded in &listing {
        match decoded.slot.opcode {
            // callx: the register is in dst now (the eBPF reading), the immediate is clear.
            0x8d => {
                assert_eq!(decoded.slot.imm, 0);
                assert_eq!(decoded.slot.dst, 2);
            }
            0x85 if decoded.slot.src == 0 => imports.push(decoded.slot.imm as u32),
            0x85 => {
                assert_eq!(decoded.slot.src, 1);
                let target = decoded.pc as i64 + 1 + i64::from(decoded.slot.imm);
                assert!((0..text.len() as i64 / 8).contains(&target));
                internal += 1;
            }
            _ => {}
        }
    }
    assert_eq!(
        imports,
        [
            hash_symbol_name(b"sol_log_"),
            hash_symbol_name(b"sol_log_64_")
        ]
    );
    assert_eq!(internal, 2, "fold and depth");
    // OPS holds three function addresses, 1 << 32 based, each the start of a function.
    let header = FileHeader64::<LE>::parse(&file[..]).unwrap();
    let sections = header.sections(LE, &file[..]).unwrap();
    let symbols = sections
        .symbols(LE, &file[..], object::elf::SHT_SYMTAB)
        .unwrap();
    let starts: Vec<u64> = symbols.iter().map(|symbol| symbol.st_value(LE)).collect();
    for entry in 0..3 {
        let pointer = u64_at(&data, 8 * entry);
        assert!(starts.contains(&pointer), "OPS[{entry}] = {pointer:#x}");
    }
    // The lddw of NAMES has its 0-based address: inside the data, past OPS.
    let names = listing.iter().find_map(|decoded| match decoded.insn {
        Ok(Insn::LoadImm64 { dst: Reg::R1, imm }) if imm != 0 && imm < data.len() as u64 => {
            Some(imm)
        }
        _ => None,
    });
    let names = names.expect("an lddw of the names string") as usize;
    assert!(data[names..].starts_with(b"add_one twice square"));
}

#[test]
fn v0_is_a_shared_object_linked_at_its_file_offsets() {
    let file = link(CALLS, Target::V0).unwrap();
    let header = FileHeader64::<LE>::parse(&file[..]).unwrap();
    assert_eq!(
        (header.e_type(LE), header.e_machine(LE), header.e_flags(LE)),
        (3, 247, 0)
    );
    let sections = header.sections(LE, &file[..]).unwrap();
    let mut names = Vec::new();
    for section in sections.iter() {
        let name = String::from_utf8(sections.section_name(LE, section).unwrap().to_vec()).unwrap();
        if section.sh_flags(LE) & u64::from(object::elf::SHF_ALLOC) != 0 {
            assert_eq!(section.sh_addr(LE), section.sh_offset(LE), "{name}");
            assert_eq!(section.sh_offset(LE) % 8, 0, "{name}");
        }
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "",
            ".text",
            ".rodata",
            ".dynamic",
            ".dynsym",
            ".dynstr",
            ".rel.dyn",
            ".symtab",
            ".strtab",
            ".shstrtab"
        ]
    );
    // Two imports and five addresses (two lddw, three pointers in OPS) left to the loader;
    // the call of the global `fold` is resolved pc-relative.
    let rel = sections
        .iter()
        .find(|section| section.sh_type(LE) == object::elf::SHT_REL);
    let (relocations, _) = rel.unwrap().rel(LE, &file[..]).unwrap().unwrap();
    let mut kinds: Vec<u32> = relocations.iter().map(|r| r.r_type(LE)).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, [8, 8, 8, 8, 8, 10, 10]);
}

#[test]
fn inputs_that_are_not_bpf_objects_are_named_errors() {
    let v3 = link(CALLS, Target::V3).unwrap();
    assert_eq!(
        link(&v3, Target::V3),
        Err(LinkError::NotRelocatable { e_type: 3 })
    );
    let mut other_machine = CALLS.to_vec();
    other_machine[18] = 62;
    assert_eq!(
        link(&other_machine, Target::V0),
        Err(LinkError::WrongMachine { machine: 62 })
    );
    assert!(matches!(
        link(b"not an elf", Target::V3),
        Err(LinkError::Parse { .. })
    ));
    assert!(matches!(
        link(&CALLS[..100], Target::V3),
        Err(LinkError::Parse { .. })
    ));
    for error in [
        LinkError::NoEntrypoint,
        LinkError::HelperCall { pc: 3, imm: 5 },
    ] {
        assert!(!error.to_string().is_empty());
    }
}

/// Rebuilds `tests/c/calls.o` with `tests/c/build.sh` into a temporary directory and compares
/// bytes. Needs clang 14, the committed object's compiler; without it this says so.
#[test]
fn rebuilding_gives_the_committed_object() {
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
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/c");
    let out = std::env::temp_dir().join(format!("bpfvm-link-c-{}", std::process::id()));
    let status = std::process::Command::new("sh")
        .arg(dir.join("build.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let rebuilt = std::fs::read(out.join("calls.o")).unwrap();
    assert!(
        rebuilt == CALLS,
        "the rebuild differs from the committed calls.o"
    );
    std::fs::remove_dir_all(&out).unwrap();
}
