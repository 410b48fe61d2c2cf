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
//! The child also counts its minor page faults (`/proc/self/stat`, Linux; a fresh page of a
//! fresh mapping costs a fault each, which is much of a cold compile's wall time) per phase,
//! and prints a second line with its phases one by one (bpfvm's neutral form apart from the
//! compile that builds it on first use).
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

/// What one child measured: load+verify and compile, by its own clock, and the minor page
/// faults of each and of the whole process.
#[derive(Clone, Copy)]
struct Child {
    load_verify: Duration,
    compile: Duration,
    load_verify_faults: u64,
    compile_faults: u64,
    process_faults: u64,
}

/// The minor page faults of this process so far (field 10 of `/proc/self/stat`); 0 where
/// there is no such file.
fn minor_faults() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // The command name (field 2) is in parentheses and may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    after_name
        .split_whitespace()
        .nth(7)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0)
}

/// The phases of one child, each with its wall time and minor faults, in order.
#[derive(Default)]
struct Phases {
    marks: Vec<(&'static str, Duration, u64)>,
    last: Option<(Instant, u64)>,
}

impl Phases {
    /// Starts the clock and the fault count.
    fn start() -> Phases {
        Phases {
            marks: Vec::with_capacity(8),
            last: Some((Instant::now(), minor_faults())),
        }
    }

    /// Ends the phase `name` here (the next starts).
    fn mark(&mut self, name: &'static str) {
        let (now, faults) = (Instant::now(), minor_faults());
        if let Some((then, before)) = self.last {
            self.marks.push((name, now - then, faults - before));
        }
        // The fault count is read after the clock, so its own cost lands in no phase.
        self.last = Some((Instant::now(), minor_faults()));
    }

    /// The sum of the phases `names` (time, faults).
    fn sum(&self, names: &[&str]) -> (Duration, u64) {
        self.marks
            .iter()
            .filter(|(name, ..)| names.contains(name))
            .fold((Duration::ZERO, 0), |(time, faults), (_, t, f)| {
                (time + *t, faults + f)
            })
    }

    /// What the child reports: the phases `load_verify` and `compile` summed.
    fn child(&self, load_verify: &[&str], compile: &[&str]) -> Child {
        let (load_verify, load_verify_faults) = self.sum(load_verify);
        let (compile, compile_faults) = self.sum(compile);
        Child {
            load_verify,
            compile,
            load_verify_faults,
            compile_faults,
            process_faults: minor_faults(),
        }
    }

    /// One line: `name=microseconds/faults` per phase.
    fn line(&self) -> String {
        self.marks
            .iter()
            .map(|(name, time, faults)| {
                format!("{name}={:.1}us/{faults}", time.as_secs_f64() * 1e6)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Loads, verifies and compiles `bytes` on bpfvm (legacy configuration); the compile
/// includes the neutral form, which a first compile builds.
fn cold_bpfvm(bytes: &[u8], phases: &mut Phases) {
    use bpfvm::{verify, Config, Executable, Loader, TestContext};
    let loader = std::sync::Arc::new(Loader::<TestContext>::new(Config::legacy()));
    let executable = Executable::from_elf(bytes, loader).unwrap();
    phases.mark("load");
    let mut program = verify(executable).unwrap();
    phases.mark("verify");
    program.code();
    phases.mark("neutral");
    program.jit_compile().unwrap();
    phases.mark("jit");
}

/// Loads, verifies and compiles `bytes` on solana-sbpf 0.26 (Agave's execution settings).
fn cold_sbpf26(bytes: &[u8], phases: &mut Phases) {
    use reference26::{loader, Case26, Program26};
    use solana_sbpf::elf::Executable;
    use solana_sbpf::verifier::RequisiteVerifier;
    let settings = loader(&Case26::new(Program26::Elf(&[])));
    let executable = Executable::from_elf(bytes, settings).unwrap();
    phases.mark("load");
    executable.verify::<RequisiteVerifier>().unwrap();
    phases.mark("verify");
    executable.jit_compile().unwrap();
    phases.mark("jit");
}

/// Loads, verifies and compiles `bytes` on solana_rbpf 0.2.38 (the legacy settings).
fn cold_rbpf(bytes: &[u8], phases: &mut Phases) {
    use solana_rbpf::elf::Executable;
    use solana_rbpf::verifier::RequisiteVerifier;
    use solana_rbpf::vm::{BuiltInProgram, Config, TestContextObject, VerifiedExecutable};
    let config = Config {
        dynamic_stack_frames: false,
        enable_sdiv: false,
        static_syscalls: false,
        reject_callx_r10: false,
        ..Config::default()
    };
    let loader = std::sync::Arc::new(BuiltInProgram::new_loader(config));
    let executable = Executable::<TestContextObject>::from_elf(bytes, loader).unwrap();
    phases.mark("load");
    let mut verified =
        VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(executable)
            .unwrap();
    phases.mark("verify");
    verified.jit_compile().unwrap();
    phases.mark("jit");
}

/// The phases load+verify is made of (reading the file is not).
const LOAD_VERIFY: [&str; 2] = ["load", "verify"];

/// The phases a compile is made of (bpfvm builds its neutral form on the first compile).
const COMPILE: [&str; 2] = ["neutral", "jit"];

/// The child: one cold load, verify and compile; prints `load_verify_ns compile_ns
/// load_verify_faults compile_faults process_faults`, then its phases one by one.
fn child(vm: &str, path: &Path) {
    let mut phases = Phases::start();
    let bytes = std::fs::read(path).unwrap();
    phases.mark("read");
    match vm {
        "bpfvm" => cold_bpfvm(&bytes, &mut phases),
        "sbpf26" => cold_sbpf26(&bytes, &mut phases),
        "rbpf0238" => cold_rbpf(&bytes, &mut phases),
        _ => panic!("unknown VM {vm}"),
    }
    let measured = phases.child(&LOAD_VERIFY, &COMPILE);
    println!(
        "{} {} {} {} {}",
        measured.load_verify.as_nanos(),
        measured.compile.as_nanos(),
        measured.load_verify_faults,
        measured.compile_faults,
        measured.process_faults,
    );
    println!("{}", phases.line());
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
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|field| field.parse::<u64>().unwrap());
    let mut next = || fields.next().unwrap();
    let measured = Child {
        load_verify: Duration::from_nanos(next()),
        compile: Duration::from_nanos(next()),
        load_verify_faults: next(),
        compile_faults: next(),
        process_faults: next(),
    };
    (measured, wall)
}

fn median<T: Ord + Copy>(mut samples: Vec<T>) -> T {
    samples.sort();
    samples[samples.len() / 2]
}

/// The medians of one VM's samples: (load+verify, compile, process) and their minor faults.
type Medians = (Duration, Duration, Duration, [u64; 3]);

fn medians(samples: &[(Child, Duration)]) -> Medians {
    let of = |field: fn(&Child) -> u64| median(samples.iter().map(|s| field(&s.0)).collect());
    (
        median(samples.iter().map(|s| s.0.load_verify).collect()),
        median(samples.iter().map(|s| s.0.compile).collect()),
        median(samples.iter().map(|s| s.1).collect()),
        [
            of(|c| c.load_verify_faults),
            of(|c| c.compile_faults),
            of(|c| c.process_faults),
        ],
    )
}

fn parent(dir: &Path) {
    let samples: usize = std::env::var("BPFVM_COLD_SAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("cold compile in fresh processes, medians of {samples} samples, times in ms, minor page faults");
    println!("| program | VM | load+verify | compile | process (spawn to exit) | faults: load+verify | compile | process |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for name in PROGRAMS {
        let path: PathBuf = dir.join(name);
        let mut measured: Vec<Vec<(Child, Duration)>> = vec![Vec::new(); VMS.len()];
        for _ in 0..samples {
            for (index, vm) in VMS.iter().enumerate() {
                measured[index].push(spawn(vm, &path));
            }
        }
        let medians: Vec<Medians> = measured.iter().map(|samples| medians(samples)).collect();
        for (vm, (load_verify, compile, process, faults)) in VMS.iter().zip(&medians) {
            println!(
                "| {name} | {vm} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
                ms(*load_verify),
                ms(*compile),
                ms(*process),
                faults[0],
                faults[1],
                faults[2],
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
