//! Loads and verifies one ELF file once, then JIT-compiles it N times (for profiling the
//! JIT's compile time under callgrind). The first compile also builds the interpreter's
//! pre-decoded form; the time printed is per compile after that. Every compile uses one
//! `JitEngine`, as a host compiling many programs would, so its buffers are warm.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example jit_profile -- FILE [N] [legacy|default]`
//! (the configuration defaults to `Config::legacy()`, which production programs need).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bpfvm::jit::JitEngine;
use bpfvm::{verify, Config, Executable, Loader, TestContext};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: jit_profile FILE [N] [legacy|default]");
    let count: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let config = match args.next().as_deref() {
        Some("default") => Config::default(),
        _ => Config::legacy(),
    };
    let bytes = std::fs::read(path).unwrap();
    let loader = Arc::new(Loader::<TestContext>::new(config));
    let executable = Executable::from_elf(&bytes, loader).unwrap();
    let mut program = verify(executable).unwrap();
    let engine = JitEngine::new();
    let first = std::time::Instant::now();
    program.jit_compile_with(&engine).unwrap();
    let first = first.elapsed();
    let start = std::time::Instant::now();
    for _ in 0..count {
        program.jit_compile_with(&engine).unwrap();
    }
    let slots = program.code().slot_count();
    let code = program.jit_program().map_or(0, |jit| jit.code().len());
    println!(
        "{slots} slots, {code} code bytes, first compile {first:?}, then {:?} per compile",
        start.elapsed() / count.max(1) as u32
    );
}
