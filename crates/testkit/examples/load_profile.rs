//! Loads and verifies one ELF file N times (for profiling the loader under callgrind). The
//! decoded form is built on first use, so it is not part of what is profiled.
//!
//! Run: `cargo run --release -p bpfvm-testkit --example load_profile -- FILE [N]`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bpfvm::{verify, Config, Executable, Loader, TestContext};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: load_profile FILE [N]");
    let count: usize = args.next().map_or(100, |n| n.parse().expect("a count"));
    let bytes = std::fs::read(path).unwrap();
    let loader = Arc::new(Loader::<TestContext>::new(Config::legacy()));
    let start = std::time::Instant::now();
    let mut text_bytes = 0;
    for _ in 0..count {
        let executable = Executable::from_elf(&bytes, Arc::clone(&loader)).unwrap();
        text_bytes += verify(executable).unwrap().executable().text().len();
    }
    println!(
        "{} slots per load, {:?} per load",
        text_bytes / count.max(1) / 8,
        start.elapsed() / count as u32
    );
}
