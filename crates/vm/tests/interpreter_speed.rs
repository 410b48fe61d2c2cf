#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
//! A rough speed check: `cargo test -p bpfvm --release --test interpreter_speed -- --ignored --nocapture`.

mod interp_common;

use bpfvm_isa::{AluOp, Cond, Dialect, Width};
use interp_common::*;

#[test]
#[ignore = "timing; run in release"]
fn one_million_iteration_loop() {
    // r1 = 1_000_000; loop: r0 += r1; r1 -= 1; if r1 != 0 goto loop; exit
    let program = vec![
        mov(1, 1_000_000),
        mov(0, 0),
        alu(Width::W64, AluOp::Add, 0, reg(1)),
        alu(Width::W64, AluOp::Sub, 1, k(1)),
        branch(Width::W64, Cond::Ne, 1, k(0), -3),
        exit(),
    ];
    let case = Case::new(
        "loop",
        Dialect::Sbpf,
        program,
        Ok(500_000_500_000),
        3_000_003,
    )
    .budget(10_000_000);
    let start = std::time::Instant::now();
    let outcome = run_case(&case);
    let elapsed = start.elapsed();
    assert_eq!(outcome.result, case.expect);
    assert_eq!(outcome.count, case.count);
    let rate = outcome.count as f64 / elapsed.as_secs_f64();
    println!(
        "{} instructions in {elapsed:?}: {:.0} M instructions/s",
        outcome.count,
        rate / 1e6
    );
}
