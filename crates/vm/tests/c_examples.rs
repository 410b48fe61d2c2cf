//! The example C programs (examples/c): each committed object loads through the ELF loader
//! (ET_REL linking), verifies and gives its documented result; and where Debian's clang 14
//! is installed, rebuilding the sources gives the committed bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::elf::preset_for;
use bpfvm::syscalls::{register_solana_syscalls, SolanaContext};
use bpfvm::{
    verify, Backend, Executable, Loader, MemoryRegion, SyscallRegistry, Vm, MM_INPUT_START,
};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

const OBJECTS: [&str; 4] = ["fib.o", "primes.o", "hash.o", "hello.o"];

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/c")
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs an example with the Solana syscalls and returns (r0, instruction count, logs).
fn run(object: &str, input_hex: &str) -> (u64, u64, Vec<String>) {
    let bytes = std::fs::read(examples().join(object)).unwrap();
    let config = preset_for(&bytes).unwrap().config();
    let mut registry = SyscallRegistry::new();
    register_solana_syscalls(&mut registry).unwrap();
    let executable =
        Executable::from_elf(&bytes, Arc::new(Loader::with_syscalls(config, registry))).unwrap();
    let program = verify(executable).unwrap();
    // Syscalls free: the documented counts are instruction counts.
    let mut context = SolanaContext::new(1_000_000, 32 * 1024).free();
    let mut heap = vec![0u8; 32 * 1024];
    let mut input = hex(input_hex);
    let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
    let mut vm = Vm::new(&program, &mut context, &mut heap, regions).unwrap();
    let run = vm.run(Backend::Interpreter);
    drop(vm);
    (run.result.unwrap(), run.instruction_count, context.logs)
}

#[test]
fn examples_give_their_documented_results() {
    // (object, input hex, r0, instruction count, logs); r0 and logs as documented in each
    // source file.
    let cases: &[(&str, &str, u64, u64, &[&str])] = &[
        ("fib.o", "0a00000000000000", 55, 84, &[]),
        ("fib.o", "3200000000000000", 12_586_269_025, 364, &[]),
        (
            "fib.o",
            "ff00000000000000",
            12_200_160_415_121_876_738,
            666,
            &[],
        ),
        ("fib.o", "0000000000000000", 0, 11, &[]),
        ("primes.o", "6400000000000000", 25, 3126, &[]),
        ("primes.o", "e803000000000000", 168, 35604, &[]),
        ("primes.o", "ffffffff00000000", 309, 75295, &[]),
        ("hash.o", "00", 0xcbf2_9ce4_8422_2325, 10, &[]),
        ("hash.o", "0100", 0xb51e_2ca8_e40d_d7d8, 55, &[]),
        ("hash.o", "03010203", 0xbc87_f788_1955_dbfb, 136, &[]),
        ("hash.o", "020302", 0x8bf3_a344_cbf5_fb6c, 98, &[]),
        (
            "hello.o",
            "0500000000000000776f726c64",
            5,
            33,
            &["hello from C", "world", "0x5, 0x77, 0x64, 0x0, 0x0"],
        ),
        (
            "hello.o",
            "0000000000000000",
            0,
            27,
            &["hello from C", "", "0x0, 0x0, 0x0, 0x0, 0x0"],
        ),
    ];
    for (object, input, r0, count, logs) in cases {
        let (result, got_count, got_logs) = run(object, input);
        assert_eq!(result, *r0, "{object} {input}");
        assert_eq!(got_count, *count, "{object} {input}");
        let framed: Vec<String> = logs
            .iter()
            .map(|line| format!("Program log: {line}"))
            .collect();
        assert_eq!(got_logs, framed, "{object} {input}");
    }
}

/// Rebuilds the objects with `examples/c/build.sh` into a temporary directory and compares
/// bytes. Needs clang 14 (the committed objects' compiler); without it this checks only that
/// the committed objects exist and are ELF files, and says so.
#[test]
fn rebuilding_gives_the_committed_objects() {
    for object in OBJECTS {
        let bytes = std::fs::read(examples().join(object)).unwrap();
        assert_eq!(bytes[..4], *b"\x7fELF", "{object}");
    }
    let version = Command::new("clang").arg("--version").output();
    let version = match version {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        _ => {
            eprintln!(
                "clang not found: rebuild NOT checked; only the committed objects' presence was"
            );
            return;
        }
    };
    if !version.contains("version 14.") {
        eprintln!("clang is not version 14 ({version:?}): rebuild NOT checked");
        return;
    }
    let out = std::env::temp_dir().join(format!("bpfvm-c-examples-{}", std::process::id()));
    let status = Command::new("sh")
        .arg(examples().join("build.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for object in OBJECTS {
        let committed = std::fs::read(examples().join(object)).unwrap();
        let rebuilt = std::fs::read(out.join(object)).unwrap();
        assert!(
            committed == rebuilt,
            "{object}: the rebuild differs from the committed object"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}
