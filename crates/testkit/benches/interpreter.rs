//! bpfvm's interpreter against the reference's, side by side, on the reference's own
//! benchmark programs (reference §16, `benches/vm_execution.rs`): the empty for loop, address
//! translation of the input and of the stack (fixed and dynamic frames), and the call-depth
//! chains (fixed and dynamic frames). Each program is assembled once by the reference's
//! assembler, so both engines run the very same bytes and function registry; each run asserts
//! the instruction count of §16. After criterion's measurements, a direct timing prints the
//! ratio reference time / bpfvm time per program. solana-sbpf 0.26's interpreter is the third
//! column (`sbpf26`; V0, or V1 for the dynamic-frame programs, see `common`).
//!
//! Run: `cargo bench -p bpfvm-testkit --bench interpreter -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;
#[path = "../tests/reference26/mod.rs"]
mod reference26;

use common::{bench_program, programs, Engine};
use criterion::{criterion_group, criterion_main, Criterion};

fn interpreters(c: &mut Criterion) {
    for program in &programs() {
        bench_program(c, program, Engine::Interpreter);
    }
}

criterion_group!(benches, interpreters);
criterion_main!(benches);
