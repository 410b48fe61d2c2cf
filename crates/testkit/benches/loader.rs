//! Loading plus verification of production programs, bpfvm against the reference, side by
//! side in one criterion run (issue 3's benchmark): spl_token-3.5.0 and spl_token_2022-1.0.0
//! under the legacy configuration both need, with no syscalls registered on either side
//! (`reject_broken_elfs` is off, so imports need not resolve). solana-sbpf 0.26 is the third
//! column (`sbpf26`: the files are V0, loaded with Agave's execution settings and verified by
//! its `RequisiteVerifier`). Ratio lines per program (medians of direct timings) follow
//! criterion's output.
//!
//! Run: `cargo bench -p bpfvm-testkit --bench loader -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::{verify, Executable, Loader, TestContext};
use bpfvm_testkit::corpus::corpus_dir;
use criterion::{criterion_group, criterion_main, Criterion};
use reference26::{loader as sbpf26_loader, Case26, Context26, Program26};
use solana_rbpf::elf::Executable as RefExecutable;
use solana_rbpf::verifier::RequisiteVerifier;
use solana_rbpf::vm::{BuiltInProgram, Config, TestContextObject, VerifiedExecutable};
use solana_sbpf::elf::Executable as Executable26;
use solana_sbpf::program::BuiltinProgram as BuiltinProgram26;
use solana_sbpf::verifier::RequisiteVerifier as RequisiteVerifier26;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

#[path = "../tests/reference26/mod.rs"]
mod reference26;

const PROGRAMS: [&str; 2] = ["spl_token-3.5.0.so", "spl_token_2022-1.0.0.so"];

fn reference_config() -> Config {
    Config {
        dynamic_stack_frames: false,
        enable_sdiv: false,
        static_syscalls: false,
        reject_callx_r10: false,
        ..Config::default()
    }
}

/// Load plus verify; the text length in bytes, as the reference side returns (the decoded
/// form is built on first use, so it is not part of what is measured).
fn load_ours(bytes: &[u8], loader: &Arc<Loader<TestContext>>) -> usize {
    let executable = Executable::from_elf(bytes, Arc::clone(loader)).unwrap();
    verify(executable).unwrap().executable().text().len()
}

fn load_reference(bytes: &[u8], loader: &Arc<BuiltInProgram<TestContextObject>>) -> usize {
    let executable = RefExecutable::from_elf(bytes, Arc::clone(loader)).unwrap();
    let verified =
        VerifiedExecutable::<RequisiteVerifier, TestContextObject>::from_executable(executable)
            .unwrap();
    verified.get_executable().get_text_bytes().1.len()
}

/// Load plus verify on 0.26; the text length in bytes.
fn load_sbpf26(bytes: &[u8], loader: &Arc<BuiltinProgram26<Context26>>) -> usize {
    let executable = Executable26::from_elf(bytes, Arc::clone(loader)).unwrap();
    executable.verify::<RequisiteVerifier26>().unwrap();
    executable.get_text_bytes().1.len()
}

fn median_ns(mut run: impl FnMut()) -> f64 {
    let mut times: Vec<u128> = (0..31)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_nanos()
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2] as f64
}

fn bench(c: &mut Criterion) {
    let ours = Arc::new(Loader::new(bpfvm::Config::legacy()));
    let theirs = Arc::new(BuiltInProgram::new_loader(reference_config()));
    // Agave's execution settings, no syscalls (imports need not resolve, as above).
    let sbpf26 = sbpf26_loader(&Case26::new(Program26::Elf(&[])));
    let dir = corpus_dir()
        .expect("the corpus at ../shared/corpus")
        .join("solana_programs");
    let mut ratios = Vec::new();
    for name in PROGRAMS {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert_eq!(load_ours(&bytes, &ours), load_reference(&bytes, &theirs));
        assert_eq!(
            load_sbpf26(&bytes, &sbpf26),
            load_reference(&bytes, &theirs)
        );
        let mut group = c.benchmark_group(format!("load_verify/{name}"));
        group.bench_function("bpfvm", |b| b.iter(|| load_ours(black_box(&bytes), &ours)));
        group.bench_function("reference", |b| {
            b.iter(|| load_reference(black_box(&bytes), &theirs))
        });
        group.bench_function("sbpf26", |b| {
            b.iter(|| load_sbpf26(black_box(&bytes), &sbpf26))
        });
        group.finish();
        let ours_ns = median_ns(|| {
            black_box(load_ours(&bytes, &ours));
        });
        let theirs_ns = median_ns(|| {
            black_box(load_reference(&bytes, &theirs));
        });
        let sbpf26_ns = median_ns(|| {
            black_box(load_sbpf26(&bytes, &sbpf26));
        });
        ratios.push((name, theirs_ns / ours_ns, ours_ns, theirs_ns, sbpf26_ns));
    }
    for (name, ratio, ours_ns, theirs_ns, sbpf26_ns) in ratios {
        println!(
            "ratio {name}: {ratio:.2}x (bpfvm {:.0} us, reference {:.0} us)",
            ours_ns / 1000.0,
            theirs_ns / 1000.0
        );
        println!(
            "ratio {name} (0.26): sbpf26 {:.0} us, sbpf26/bpfvm = {:.2}x",
            sbpf26_ns / 1000.0,
            sbpf26_ns / ours_ns
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
