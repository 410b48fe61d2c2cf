//! The cold first compile, in fresh processes: what `bpfvm run --backend jit` and a
//! validator's first use of a program pay. For spl_token-3.5.0 and spl_token_2022-1.0.0, this
//! bench spawns itself as a child process per sample, round robin over the three VMs (bpfvm,
//! solana-sbpf 0.26, solana_rbpf 0.2.38), so load drifts hit every column alike. The child
//! reads the file, loads and verifies it, JIT-compiles it once, and prints what its own clock
//! saw (load+verify, compile); the parent also times the whole process, from spawn to exit.
//! Nothing is warm: the child does nothing else before, so lazy statics, the first code
//! memory map and the page faults of fresh allocations all land in its figures.
//!
//! Settings: bpfvm's legacy configuration (what the programs need), 0.2.38's equivalent,
//! 0.26 with Agave's execution settings; no syscalls on any side (`reject_broken_elfs` is off,
//! so imports need not resolve), as in the `loader` bench.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench cold` (`BPFVM_COLD_SAMPLES=N`, default 21).
//! One child under callgrind (its instruction count is repeatable under load):
//! `valgrind --tool=callgrind target/release/deps/cold-<hash> child bpfvm FILE`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/reference26/mod.rs"]
mod reference26;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROGRAMS: [&str; 2] = ["spl_token-3.5.0.so", "spl_token_2022-1.0.0.so"];

/// The VMs, in the order of the columns.
const VMS: [&str; 3] = ["bpfvm", "sbpf26", "rbpf0238"];

/// What one child measured: load+verify and compile, by its own clock.
#[derive(Clone, Copy)]
struct Child {
    load_verify: Duration,
    compile: Duration,
}

/// Loads, verifies and compiles `bytes` on bpfvm (legacy configuration).
fn cold_bpfvm(bytes: &[u8]) -> Child {
    use bpfvm::{verify, Config, Executable, Loader, TestContext};
    let start = Instant::now();
    let loader = std::sync::Arc::new(Loader::<TestContext>::new(Config::legacy()));
    let mut program = verify(Executable::from_elf(bytes, loader).unwrap()).unwrap();
    let loaded = Instant::now();
    program.jit_compile().unwrap();
    Child {
        load_verify: loaded - start,
        compile: loaded.elapsed(),
    }
}

/// Loads, verifies and compiles `bytes` on solana-sbpf 0.26 (Agave's execution settings).
fn cold_sbpf26(bytes: &[u8]) -> Child {
    use reference26::{loader, Case26, Program26};
    use solana_sbpf::elf::Executable;
    use solana_sbpf::verifier::RequisiteVerifier;
    let start = Instant::now();
    let settings = loader(&Case26::new(Program26::Elf(&[])));
    let executable = Executable::from_elf(bytes, settings).unwrap();
    executable.verify::<RequisiteVerifier>().unwrap();
    let loaded = Instant::now();
    executable.jit_compile().unwrap();
    Child {
        load_verify: loaded - start,
        compile: loaded.elapsed(),
    }
}

/// Loads, verifies and compiles `bytes` on solana_rbpf 0.2.38 (the legacy settings).
fn cold_rbpf(bytes: &[u8]) -> Child {
    use solana_rbpf::elf::Executable;
    use solana_rbpf::verifier::RequisiteVerifier;
    use solana_rbpf::vm::{BuiltInProgram, Config, TestContextObject, VerifiedExecutable};
    let start = Instant::now();
    let config = Config {
        dynamic_stack_frames: false,
        enable_sdiv: false,
        static_syscalls: false,
        reject_callx_r10: false,
        ..Config::default()
    };
    let loader = std::sync::Arc::new(BuiltInProgram::new_loader(config));
    let executable = Executable::<TestContextObject>::from_elf(bytes, loader).unwrap();
    let mut verified =
        VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(executable)
            .unwrap();
    let loaded = Instant::now();
    verified.jit_compile().unwrap();
    Child {
        load_verify: loaded - start,
        compile: loaded.elapsed(),
    }
}

/// The child: one cold load, verify and compile; prints `load_verify_ns compile_ns`.
fn child(vm: &str, path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let measured = match vm {
        "bpfvm" => cold_bpfvm(&bytes),
        "sbpf26" => cold_sbpf26(&bytes),
        "rbpf0238" => cold_rbpf(&bytes),
        _ => panic!("unknown VM {vm}"),
    };
    println!(
        "{} {}",
        measured.load_verify.as_nanos(),
        measured.compile.as_nanos()
    );
}

/// One sample: a fresh child process; (what it measured, the process's wall time).
fn spawn(vm: &str, path: &Path) -> (Child, Duration) {
    let start = Instant::now();
    let output = Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(vm)
        .arg(path)
        .output()
        .unwrap();
    let wall = start.elapsed();
    assert!(output.status.success(), "{vm}: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<u64>().unwrap());
    let mut next = || Duration::from_nanos(fields.next().unwrap());
    let measured = Child {
        load_verify: next(),
        compile: next(),
    };
    (measured, wall)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The medians of one VM's samples: (load+verify, compile, process).
type Medians = (Duration, Duration, Duration);

fn parent(dir: &Path) {
    let samples: usize = std::env::var("BPFVM_COLD_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("cold compile in fresh processes, medians of {samples} samples, times in ms");
    println!("| program | VM | load+verify | compile | process (spawn to exit) |");
    println!("|---|---|---:|---:|---:|");
    let mut ratios = Vec::new();
    for name in PROGRAMS {
        let path: PathBuf = dir.join(name);
        let mut measured: Vec<Vec<(Child, Duration)>> = vec![Vec::new(); VMS.len()];
        for _ in 0..samples {
            for (index, vm) in VMS.iter().enumerate() {
                measured[index].push(spawn(vm, &path));
            }
        }
        let medians: Vec<Medians> = measured
            .iter()
            .map(|samples| {
                (
                    median(samples.iter().map(|s| s.0.load_verify).collect()),
                    median(samples.iter().map(|s| s.0.compile).collect()),
                    median(samples.iter().map(|s| s.1).collect()),
                )
            })
            .collect();
        for (vm, (load_verify, compile, process)) in VMS.iter().zip(&medians) {
            println!(
                "| {name} | {vm} | {:.2} | {:.2} | {:.2} |",
                ms(*load_verify),
                ms(*compile),
                ms(*process)
            );
        }
        ratios.push((name, medians));
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    for (name, medians) in ratios {
        let [ours, sbpf26, rbpf] = [medians[0], medians[1], medians[2]];
        println!(
            "ratio {name}: compile sbpf26/bpfvm = {:.2}x, rbpf0238/bpfvm = {:.2}x; load+verify+compile sbpf26/bpfvm = {:.2}x; process sbpf26/bpfvm = {:.2}x",
            ratio(sbpf26.1, ours.1),
            ratio(rbpf.1, ours.1),
            ratio(sbpf26.0 + sbpf26.1, ours.0 + ours.1),
            ratio(sbpf26.2, ours.2),
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, vm, path] = args.as_slice() {
        if mode == "child" {
            child(vm, Path::new(path));
            return;
        }
    }
    let Ok(corpus) = bpfvm_testkit::corpus::corpus_dir() else {
        println!("cold: corpus not found, skipped");
        return;
    };
    parent(&corpus.join("solana_programs"));
}
