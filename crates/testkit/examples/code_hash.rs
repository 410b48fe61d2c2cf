//! Prints a hash of the machine code (and of every slot's code offset) that bpfvm's JIT
//! generates for ELF files and for the C benchmark kernels, for proving that a change to
//! how the JIT emits its code leaves the code itself byte-identical: run it before and
//! after and compare the output. Each program is compiled three times with one engine in
//! both 2022 configurations (the first compile searches, the later ones reuse what it
//! found; the hardening seed differs from compile to compile).
//!
//! The code holds the addresses of two host functions (the syscall and translation shims),
//! which move with the binary's layout; every 8 bytes whose value lies in this binary's
//! executable mappings are hashed as a marker instead.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example code_hash -- [ELF ...]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../benches/kernels/mod.rs"]
mod kernels;

use bpfvm::jit::JitEngine;
use bpfvm::{verify, Config, Executable, Loader, TestContext, VerifiedProgram};
use std::sync::Arc;

/// FNV-1a over the bytes, 64 bits.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The address ranges of this binary's executable mappings.
fn text_ranges() -> Vec<(u64, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_string_lossy();
    maps.lines()
        .filter(|line| line.contains("r-xp") && line.ends_with(exe.as_ref()))
        .filter_map(|line| {
            let (start, end) = line.split_whitespace().next()?.split_once('-')?;
            Some((
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            ))
        })
        .collect()
}

/// Hashes `code`, with every host text address in it replaced by a marker.
fn hash_code(code: &[u8], ranges: &[(u64, u64)]) -> u64 {
    let mut hash = 0xCBF2_9CE4_8422_2325;
    let mut at = 0;
    while at < code.len() {
        let word = code
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        match word {
            Some(word) if ranges.iter().any(|(s, e)| (*s..*e).contains(&word)) => {
                hash = fnv(hash, b"<host>");
                at += 8;
            }
            _ => {
                hash = fnv(hash, &code[at..=at]);
                at += 1;
            }
        }
    }
    hash
}

/// Compiles `program` three times with one engine and hashes each compile's code and
/// slot offsets.
fn hashes(program: &mut VerifiedProgram<TestContext>) -> Vec<String> {
    let engine = JitEngine::new();
    let ranges = text_ranges();
    assert!(
        !ranges.is_empty(),
        "this binary's text is found in /proc/self/maps"
    );
    (0..3)
        .map(|_| match program.jit_compile_with(&engine) {
            Ok(()) => {
                let jit = program.jit_program().expect("compiled");
                let mut hash = hash_code(jit.code(), &ranges);
                for offset in jit.pc_offsets().iter() {
                    let word = offset.map_or(u64::MAX, |o| o as u64);
                    hash = fnv(hash, &word.to_le_bytes());
                }
                format!("{:6}:{hash:016x}", jit.code().len())
            }
            Err(error) => format!("error {error}"),
        })
        .collect()
}

fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        for (name, config) in [("legacy", Config::legacy()), ("default", Config::default())] {
            let loader = Arc::new(Loader::<TestContext>::new(config));
            let line = match Executable::from_elf(&bytes, loader).map(verify) {
                Ok(Ok(mut program)) => hashes(&mut program).join(" "),
                Ok(Err(error)) => format!("verify error {error}"),
                Err(error) => format!("load error {error}"),
            };
            println!("{path} {name} {line}");
        }
    }
    for kernel in kernels::kernels().iter() {
        let mut program = kernel.ours();
        println!("kernel {} {}", kernel.name, hashes(&mut program).join(" "));
    }
}
