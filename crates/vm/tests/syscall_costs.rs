//! Costs and caps of the engine's syscall sets: the demo syscalls charge by the stated rules
//! (and stay free over the reference's test context), `str_cmp` never reads past what the
//! budget pays for, the log cap truncates as the runtime's collector does, the return-data cap
//! can be changed by the host, and a failing charge records its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::{demo, solana, ComputeCosts, LogCap, SolanaContext, SyscallError};
use bpfvm::syscalls::{LOG_BYTES_LIMIT, LOG_TRUNCATED};
use bpfvm::{
    Config, MemoryMapping, MemoryRegion, RuntimeError, TestContext, MM_HEAP_START, MM_INPUT_START,
    MM_PROGRAM_START, MM_STACK_START,
};

const I: u64 = MM_INPUT_START;

/// Runs `f` over `size` writable input bytes filled with `fill`.
fn with_input<R>(size: usize, fill: u8, f: impl FnOnce(&mut MemoryMapping<'_>) -> R) -> R {
    let mut input = vec![fill; size];
    let ro = [0u8; 8];
    let mut stack = [0u8; 8];
    let regions = vec![
        MemoryRegion::readonly(&ro, MM_PROGRAM_START),
        MemoryRegion::writable(&mut stack, MM_STACK_START),
        MemoryRegion::writable(&mut [], MM_HEAP_START),
        MemoryRegion::writable(&mut input, I),
    ];
    let mut mapping = MemoryMapping::new(regions, &Config::default()).unwrap();
    f(&mut mapping)
}

fn exceeded(cost: u64, remaining: u64) -> RuntimeError {
    SyscallError::ComputeBudgetExceeded { cost, remaining }.into_runtime()
}

#[test]
fn demo_syscalls_charge_by_the_stated_rules() {
    // (name, call, expected units) over a 10,000-byte input of 'a' with a NUL at the end.
    type Call =
        fn(&mut SolanaContext, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;
    let cases: [(&str, Call, [u64; 5], u64); 6] = [
        ("log 300 bytes", demo::log, [I, 300, 0, 0, 0], 300),
        ("log_64", demo::log_64, [0; 5], 100),
        ("gather_bytes", demo::gather_bytes, [0; 5], 100),
        ("mem_frob 5000", demo::mem_frob, [I, 5_000, 0, 0, 0], 20),
        // 10,000 positions compared (the last is the NUL): 20,000 bytes read, 80 units.
        ("str_cmp 10000", demo::str_cmp, [I, I, 0, 0, 0], 80),
        ("trace_printf", demo::trace_printf, [0; 5], 100),
    ];
    for (name, call, args, units) in cases {
        let mut context = SolanaContext::new(100_000, 0);
        let result = with_input(10_000, b'a', |m| {
            m.write_bytes(I + 9_999, &[0]).unwrap();
            call(&mut context, m, args)
        });
        assert!(result.is_ok(), "{name}: {result:?}");
        assert_eq!(100_000 - context.remaining, units, "{name}");
        // Over the free policy and over the reference's test context nothing is charged.
        let mut free = SolanaContext::new(100_000, 0).free();
        with_input(10_000, b'a', |m| {
            m.write_bytes(I + 9_999, &[0]).unwrap();
            call(&mut free, m, args)
        })
        .unwrap();
        assert_eq!(free.remaining, 100_000, "{name} free");
    }
    let mut test_context = TestContext::new(50);
    let result = with_input(10_000, b'a', |m| {
        m.write_bytes(I + 9_999, &[0]).unwrap();
        demo::str_cmp(&mut test_context, m, [I, I, 0, 0, 0])
    });
    assert_eq!((result, test_context.remaining), (Ok(0), 50));
}

#[test]
fn str_cmp_stops_where_the_budget_ends() {
    // Equal strings with no NUL over 1 MiB: with 100 units, at most 12,624 positions are
    // paid for (max(10, 2n / 250) <= 100); the next one fails the charge, long before the
    // region's end, and the budget is drained.
    let mut context = SolanaContext::new(100, 0);
    let result = with_input(1 << 20, b'x', |m| {
        demo::str_cmp(&mut context, m, [I, I, 0, 0, 0])
    });
    assert_eq!(result, Err(exceeded(101, 100)));
    assert_eq!(context.remaining, 0);
    // Below the minimum charge nothing is read at all: an unmapped pointer is not touched.
    let mut context = SolanaContext::new(9, 0);
    let result = with_input(8, 0, |m| demo::str_cmp(&mut context, m, [8, 8, 0, 0, 0]));
    assert_eq!(result, Err(exceeded(10, 9)));
}

#[test]
fn the_log_cap_truncates_like_the_runtime() {
    // 1,000-byte messages framed as "Program log: " (1,013 bytes): nine fit under 10,000.
    let mut context = SolanaContext::new(1_000_000, 0);
    with_input(1_000, b'm', |m| {
        for _ in 0..20 {
            solana::sol_log(&mut context, m, [I, 1_000, 0, 0, 0]).unwrap();
        }
    });
    assert_eq!(context.logs.len(), 10);
    assert_eq!(context.logs[9], LOG_TRUNCATED);
    assert_eq!(context.log_cap.written, 9 * 1_013);
    assert!(context.log_cap.written < LOG_BYTES_LIMIT);
    // The work was still paid for: 20 calls of 1,000 units.
    assert_eq!(context.remaining, 1_000_000 - 20_000);
    // A host may lift the cap or set its own.
    for (limit, kept) in [(None, 20), (Some(3_000), 2)] {
        let mut context = SolanaContext::new(1_000_000, 0);
        context.log_cap = LogCap::new(limit);
        with_input(1_000, b'm', |m| {
            for _ in 0..20 {
                solana::sol_log(&mut context, m, [I, 1_000, 0, 0, 0]).unwrap();
            }
        });
        let lines = context.logs.iter().filter(|l| *l != LOG_TRUNCATED).count();
        assert_eq!(lines, kept, "{limit:?}");
    }
}

#[test]
fn the_return_data_cap_is_the_hosts_choice() {
    let mut context = SolanaContext::new(10_000, 0);
    let result = with_input(2_000, 7, |m| {
        solana::sol_set_return_data(&mut context, m, [I, 1_025, 0, 0, 0])
    });
    let too_large = SyscallError::ReturnDataTooLarge {
        len: 1_025,
        max: 1_024,
    };
    assert_eq!(result, Err(too_large.clone().into_runtime()));
    assert_eq!(context.state.failure, Some(too_large));
    context.state.max_return_data = 2_000;
    let result = with_input(2_000, 7, |m| {
        solana::sol_set_return_data(&mut context, m, [I, 1_025, 0, 0, 0])
    });
    assert_eq!(result, Ok(0));
    assert_eq!(context.state.return_data.data, vec![7; 1_025]);
}

#[test]
fn a_failed_charge_is_recorded_and_does_no_work() {
    let mut context = SolanaContext::new(50, 0);
    let result = with_input(64, 1, |m| {
        let result = solana::sol_memset(&mut context, m, [I, 0, 64 * 250, 0, 0]);
        (result, m.read_bytes(I, 64).unwrap())
    });
    assert_eq!(result.0, Err(exceeded(64, 50)));
    assert_eq!(result.1, vec![1; 64], "memset wrote before it was paid");
    assert_eq!(
        context.state.failure,
        Some(SyscallError::ComputeBudgetExceeded {
            cost: 64,
            remaining: 50
        })
    );
    assert_eq!(context.state.costs, ComputeCosts::Solana);
}
