//! The Solana and demo syscalls called directly against a small memory mapping: semantics,
//! error values (access violations carry pc 0), registration keys and the cost policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::demo;
use bpfvm::syscalls::host::{ComputeCosts, MAX_RETURN_DATA};
use bpfvm::syscalls::solana::{self, UNSUPPORTED_SYSCALLS};
use bpfvm::syscalls::{
    register_demo_syscalls, register_solana_syscalls, register_solana_syscalls_with, Implemented,
    SolanaContext, SolanaSyscallOptions, SyscallError, Unsupported, SOLANA_SYSCALLS,
};
use bpfvm::{
    AccessType, Config, MemoryMapping, MemoryRegion, RuntimeError, SyscallRegistry, TestContext,
    MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START,
};
use bpfvm_isa::hash_symbol_name;

const I: u64 = MM_INPUT_START;
const RO: u64 = MM_PROGRAM_START;

/// Runs `f` with 64 writable input bytes (0, 1, 2, ...), 16 read-only program bytes ("read
/// only data!"), an 8-byte stack and an empty heap, then returns the input bytes afterwards.
fn with_memory<R>(f: impl FnOnce(&mut MemoryMapping<'_>) -> R) -> (R, Vec<u8>) {
    let mut input: Vec<u8> = (0..64).collect();
    let ro = b"read only data!\0".to_vec();
    let mut stack = [0u8; 8];
    let result = {
        let regions = vec![
            MemoryRegion::readonly(&ro, RO),
            MemoryRegion::writable(&mut stack, MM_STACK_START),
            MemoryRegion::writable(&mut [], MM_HEAP_START),
            MemoryRegion::writable(&mut input, I),
        ];
        let mut mapping = MemoryMapping::new(regions, &Config::default()).unwrap();
        f(&mut mapping)
    };
    (result, input)
}

fn violation(access: AccessType, vaddr: u64, len: u64, region: &'static str) -> RuntimeError {
    RuntimeError::AccessViolation {
        pc: 0,
        access,
        vaddr,
        len,
        region,
    }
}

fn user(error: SyscallError) -> RuntimeError {
    error.into_runtime()
}

fn ctx() -> SolanaContext {
    SolanaContext::new(1_000, 64)
}

#[test]
fn memcpy_copies_and_rejects_overlap_before_translating() {
    // (dst, src, n, expected)
    let cases: [(u64, u64, u64, Result<u64, RuntimeError>); 8] = [
        (I + 32, I, 8, Ok(0)),
        (I + 8, I, 8, Ok(0)),
        (I, I + 8, 8, Ok(0)),
        (I, I, 0, Ok(0)),
        (I + 7, I, 8, Err(user(SyscallError::CopyOverlapping))),
        (I, I + 4, 8, Err(user(SyscallError::CopyOverlapping))),
        (I, I, 1, Err(user(SyscallError::CopyOverlapping))),
        // Overlap is reported even when neither range is mapped.
        (0x10, 0x14, 8, Err(user(SyscallError::CopyOverlapping))),
    ];
    for (dst, src, n, expected) in cases {
        let mut context = ctx();
        let (result, memory) =
            with_memory(|m| solana::sol_memcpy(&mut context, m, [dst, src, n, 0, 0]));
        assert_eq!(result, expected, "memcpy({dst:#x}, {src:#x}, {n})");
        if result.is_ok() && n > 0 {
            let (d, s) = ((dst - I) as usize, (src - I) as usize);
            let original: Vec<u8> = (0..64).collect();
            assert_eq!(memory[d..d + n as usize], original[s..s + n as usize]);
        }
    }
}

#[test]
fn memory_syscalls_report_access_violations_with_pc_0() {
    type Call =
        fn(&mut SolanaContext, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;
    let cases: [(&str, Call, [u64; 5], RuntimeError); 9] = [
        (
            "memcpy dst unmapped",
            solana::sol_memcpy,
            [0x10, I, 8, 0, 0],
            violation(AccessType::Store, 0x10, 8, "unknown"),
        ),
        (
            "memcpy dst read-only",
            solana::sol_memcpy,
            [RO, I, 8, 0, 0],
            violation(AccessType::Store, RO, 8, "program"),
        ),
        (
            "memcpy src past end",
            solana::sol_memcpy,
            [I, I + 60, 8, 0, 0],
            violation(AccessType::Load, I + 60, 8, "input"),
        ),
        (
            "memmove dst past end",
            solana::sol_memmove,
            [I + 60, I, 8, 0, 0],
            violation(AccessType::Store, I + 60, 8, "input"),
        ),
        (
            "memset read-only",
            solana::sol_memset,
            [RO, 0, 4, 0, 0],
            violation(AccessType::Store, RO, 4, "program"),
        ),
        (
            "memcmp first unmapped",
            solana::sol_memcmp,
            [MM_HEAP_START, I, 4, I + 48, 0],
            violation(AccessType::Load, MM_HEAP_START, 4, "heap"),
        ),
        (
            "memcmp result read-only",
            solana::sol_memcmp,
            [I, I, 4, RO, 0],
            violation(AccessType::Store, RO, 4, "program"),
        ),
        (
            "log past end",
            solana::sol_log,
            [I + 60, 5, 0, 0, 0],
            violation(AccessType::Load, I + 60, 5, "input"),
        ),
        (
            "log_pubkey short",
            solana::sol_log_pubkey,
            [I + 40, 0, 0, 0, 0],
            violation(AccessType::Load, I + 40, 32, "input"),
        ),
    ];
    for (name, call, args, expected) in cases {
        let mut context = ctx();
        let (result, _) = with_memory(|m| call(&mut context, m, args));
        assert_eq!(result, Err(expected), "{name}");
    }
}

#[test]
fn memmove_handles_overlap_in_both_directions() {
    let mut context = ctx();
    let (result, memory) =
        with_memory(|m| solana::sol_memmove(&mut context, m, [I + 2, I, 6, 0, 0]));
    assert_eq!(result, Ok(0));
    assert_eq!(memory[..8], [0, 1, 0, 1, 2, 3, 4, 5]);
    let (result, memory) =
        with_memory(|m| solana::sol_memmove(&mut context, m, [I, I + 2, 6, 0, 0]));
    assert_eq!(result, Ok(0));
    assert_eq!(memory[..8], [2, 3, 4, 5, 6, 7, 6, 7]);
}

#[test]
fn memset_fills_with_the_low_byte() {
    let mut context = ctx();
    let (result, memory) =
        with_memory(|m| solana::sol_memset(&mut context, m, [I + 1, 0x1ab, 3, 0, 0]));
    assert_eq!(result, Ok(0));
    assert_eq!(memory[..5], [0, 0xab, 0xab, 0xab, 4]);
}

#[test]
fn memcmp_writes_the_signed_difference() {
    // Input bytes are 0..64; the read-only bytes spell "read only data!".
    let cases: [(u64, u64, u64, i32); 6] = [
        (I, I, 16, 0),
        (I, I + 1, 4, -1),
        (I + 9, I + 2, 4, 7),
        (I, I + 1, 0, 0),
        (RO, RO + 5, 1, i32::from(b'r') - i32::from(b'o')),
        (I, RO, 1, -i32::from(b'r')),
    ];
    for (a, b, n, expected) in cases {
        let mut context = ctx();
        let out = I + 48;
        let (result, memory) =
            with_memory(|m| solana::sol_memcmp(&mut context, m, [a, b, n, out, 0]));
        assert_eq!(result, Ok(0));
        let written = i32::from_le_bytes(memory[48..52].try_into().unwrap());
        assert_eq!(written, expected, "memcmp({a:#x}, {b:#x}, {n})");
    }
    let mut context = ctx();
    let (result, _) = with_memory(|m| solana::sol_memcmp(&mut context, m, [I, I, 4, I + 49, 0]));
    assert_eq!(
        result,
        Err(user(SyscallError::UnalignedPointer {
            vaddr: I + 49,
            align: 4
        }))
    );
}

#[test]
fn log_syscalls_record_lines() {
    let mut context = ctx();
    let (results, _) = with_memory(|m| {
        [
            solana::sol_log(&mut context, m, [RO, 9, 0, 0, 0]),
            // Cut at the first NUL byte.
            solana::sol_log(&mut context, m, [RO, 16, 0, 0, 0]),
            solana::sol_log(&mut context, m, [0, 0, 0, 0, 0]),
            solana::sol_log_64(&mut context, m, [1, 0xff, 0, u64::MAX, 16]),
            solana::sol_log_pubkey(&mut context, m, [I, 0, 0, 0, 0]),
            solana::sol_log_compute_units(&mut context, m, [0; 5]),
        ]
    });
    assert!(results.iter().all(|r| *r == Ok(0)), "{results:?}");
    assert_eq!(
        context.logs,
        [
            "Program log: read only",
            "Program log: read only data!",
            "Program log: ",
            "Program log: 0x1, 0xff, 0x0, 0xffffffffffffffff, 0x10",
            "Program log: 1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE",
            // Six calls of 100 units each, the last charged before it reads the meter.
            "Program consumption: 400 units remaining",
        ]
    );
    let mut context = ctx();
    let (result, _) = with_memory(|m| {
        m.write_bytes(I, &[0xc3, 0x28]).unwrap();
        solana::sol_log(&mut context, m, [I, 2, 0, 0, 0])
    });
    assert_eq!(
        result,
        Err(user(SyscallError::InvalidString {
            bytes: vec![0xc3, 0x28]
        }))
    );
    assert!(context.logs.is_empty());
}

#[test]
fn abort_and_panic_fail_with_their_messages() {
    let mut context = ctx();
    let (results, _) = with_memory(|m| {
        [
            solana::abort(&mut context, m, [0; 5]),
            solana::sol_panic(&mut context, m, [RO, 4, 12, 7, 0]),
        ]
    });
    assert_eq!(results[0], Err(user(SyscallError::Abort)));
    let expected = SyscallError::Panic {
        file: "read".to_owned(),
        line: 12,
        column: 7,
    };
    assert_eq!(results[1], Err(user(expected)));
    let RuntimeError::UserError { message } = results[1].clone().unwrap_err() else {
        panic!()
    };
    assert_eq!(message, "the program panicked at read:12:7");
}

#[test]
fn alloc_is_an_aligned_bump_allocator() {
    let mut context = SolanaContext::new(0, 64);
    let mut mapping = MemoryMapping::new(vec![], &Config::default()).unwrap();
    let mut alloc = |size: u64, free: u64| {
        solana::sol_alloc_free(&mut context, &mut mapping, [size, free, 0, 0, 0]).unwrap()
    };
    let h = MM_HEAP_START;
    assert_eq!(alloc(1, 0), h);
    assert_eq!(alloc(8, 0), h + 8);
    assert_eq!(alloc(3, 0), h + 16);
    assert_eq!(alloc(0, 0), h + 24);
    // Freeing does nothing and returns 0.
    assert_eq!(alloc(8, h), 0);
    assert_eq!(alloc(40, 0), h + 24);
    // Full: 64 bytes used. Exhaustion returns 0 and does not move the cursor.
    assert_eq!(alloc(1, 0), 0);
    assert_eq!(alloc(u64::MAX, 0), 0);
    assert_eq!(alloc(0, 0), h + 64);
    assert_eq!(context.state.allocator.used(), 64);
}

#[test]
fn return_data_round_trip_and_limits() {
    let mut context = ctx();
    context.state.program_id = [7; 32];
    let max = MAX_RETURN_DATA;
    let ((set, get_short, get_none, get_all, overlap, too_large), memory) = with_memory(|m| {
        let set = solana::sol_set_return_data(&mut context, m, [I, 10, 0, 0, 0]);
        let get_short = solana::sol_get_return_data(&mut context, m, [I + 12, 3, I + 16, 0, 0]);
        let get_none = solana::sol_get_return_data(&mut context, m, [0, 0, 0, 0, 0]);
        let get_all = solana::sol_get_return_data(&mut context, m, [I + 50, 100, I + 16, 0, 0]);
        let overlap = solana::sol_get_return_data(&mut context, m, [I + 16, 10, I + 20, 0, 0]);
        let too_large = solana::sol_set_return_data(&mut context, m, [I, max + 1, 0, 0, 0]);
        (set, get_short, get_none, get_all, overlap, too_large)
    });
    assert_eq!(set, Ok(0));
    // The full size comes back whatever the requested length.
    assert_eq!(get_short, Ok(10));
    assert_eq!(get_none, Ok(10));
    assert_eq!(memory[12..15], [0, 1, 2]);
    assert_eq!(memory[16..48], [7; 32]);
    // 100 requested, 10 available: copied to [50, 60), then the id does not fit at... I + 16.
    assert_eq!(get_all, Ok(10));
    assert_eq!(memory[50..60], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(overlap, Err(user(SyscallError::CopyOverlapping)));
    assert_eq!(
        too_large,
        Err(user(SyscallError::ReturnDataTooLarge { len: max + 1, max }))
    );
    assert_eq!(context.state.return_data.data, (0..10).collect::<Vec<u8>>());
    assert_eq!(context.state.return_data.program_id, [7; 32]);

    // Exactly the maximum is accepted; zero clears.
    let mut big = vec![0u8; 2048];
    let unaligned = Config {
        aligned_memory_mapping: false,
        ..Config::default()
    };
    let mut mapping =
        MemoryMapping::new(vec![MemoryRegion::writable(&mut big, I)], &unaligned).unwrap();
    assert_eq!(
        solana::sol_set_return_data(&mut context, &mut mapping, [I, max, 0, 0, 0]),
        Ok(0)
    );
    assert_eq!(context.state.return_data.data.len() as u64, max);
    assert_eq!(
        solana::sol_set_return_data(&mut context, &mut mapping, [0, 0, 0, 0, 0]),
        Ok(0)
    );
    assert!(context.state.return_data.data.is_empty());
}

fn call_by_name(
    registry: &SyscallRegistry<SolanaContext>,
    context: &mut SolanaContext,
    name: &str,
    args: [u64; 5],
) -> (Result<u64, RuntimeError>, Vec<u8>) {
    let syscall = registry.get(hash_symbol_name(name.as_bytes())).unwrap();
    assert_eq!(syscall.name, name);
    with_memory(|m| (syscall.function)(context, m, args))
}

#[test]
fn registration_keys_are_the_corpus_hashes() {
    let mut registry = SyscallRegistry::<SolanaContext>::new();
    register_solana_syscalls(&mut registry).unwrap();
    assert_eq!(
        registry.len(),
        SOLANA_SYSCALLS.len() + UNSUPPORTED_SYSCALLS.len()
    );
    // From corpus README §3.2.
    let expected = [
        ("abort", 0xb6fc1a11),
        ("sol_alloc_free_", 0x83f00e8f),
        ("sol_get_clock_sysvar", 0xd56b5fe9),
        ("sol_get_processed_sibling_instruction", 0xadb8efc8),
        ("sol_get_rent_sysvar", 0xbf7188f6),
        ("sol_get_return_data", 0x5d2245e4),
        ("sol_get_stack_height", 0x85532d94),
        ("sol_invoke_signed_rust", 0xd7449092),
        ("sol_log_", 0x207559bd),
        ("sol_memcmp_", 0x5fdcde31),
        ("sol_memcpy_", 0x717cc4a3),
        ("sol_memmove_", 0x434371f8),
        ("sol_memset_", 0x3770fb22),
        ("sol_panic_", 0x686093bb),
        ("sol_set_return_data", 0xa226d3eb),
        ("sol_try_find_program_address", 0x48504a38),
    ];
    for (name, key) in expected {
        assert_eq!(registry.get(key).map(|s| s.name.as_str()), Some(name));
    }
    // Registering twice is a named error, not a panic.
    assert!(register_solana_syscalls(&mut registry).is_err());
}

#[test]
fn unsupported_syscalls_error_or_return_zero() {
    for unsupported in [Unsupported::Error, Unsupported::ReturnZero] {
        let mut registry = SyscallRegistry::<SolanaContext>::new();
        let options = SolanaSyscallOptions {
            implemented: Implemented::Real,
            unsupported,
        };
        register_solana_syscalls_with(&mut registry, options).unwrap();
        for name in UNSUPPORTED_SYSCALLS {
            let (result, _) = call_by_name(&registry, &mut ctx(), name, [I, I, I, I, I]);
            match unsupported {
                Unsupported::Error => {
                    let message = format!("unsupported syscall {name}");
                    assert_eq!(result, Err(RuntimeError::UserError { message }));
                }
                Unsupported::ReturnZero => assert_eq!(result, Ok(0)),
            }
        }
    }
}

#[test]
fn stub_mode_reproduces_the_vector_harness() {
    let mut registry = SyscallRegistry::<SolanaContext>::new();
    register_solana_syscalls_with(&mut registry, SolanaSyscallOptions::REFERENCE_VECTORS).unwrap();
    let mut context = ctx();
    let original: Vec<u8> = (0..64).collect();
    // memcpy (even overlapping), memset, memcmp and alloc return 0 and touch nothing.
    for (name, args) in [
        ("sol_memcpy_", [I, I + 1, 8, 0, 0]),
        ("sol_memset_", [I, 0xff, 8, 0, 0]),
        ("sol_memcmp_", [I, I + 1, 8, I + 48, 0]),
        ("sol_alloc_free_", [8, 0, 0, 0, 0]),
        ("sol_get_clock_sysvar", [I, 0, 0, 0, 0]),
    ] {
        let (result, memory) = call_by_name(&registry, &mut context, name, args);
        assert_eq!((name, result), (name, Ok(0)));
        assert_eq!(memory, original, "{name}");
    }
    let (result, _) = call_by_name(&registry, &mut context, "sol_log_", [RO, 4, 0, 0, 0]);
    assert_eq!(result, Ok(0));
    assert_eq!(context.logs, ["Program log: read"]);
    let (result, _) = call_by_name(&registry, &mut context, "abort", [0; 5]);
    assert_eq!(result, Err(user(SyscallError::Abort)));
}

#[test]
fn solana_costs_are_on_by_default_and_free_is_a_choice() {
    assert_eq!(ctx().state.costs, ComputeCosts::Solana);
    // (syscall, args, units charged with ComputeCosts::Solana)
    type Call =
        fn(&mut SolanaContext, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;
    let cases: [(&str, Call, [u64; 5], u64); 5] = [
        ("log 5 bytes", solana::sol_log, [RO, 5, 0, 0, 0], 100),
        ("log_64", solana::sol_log_64, [0; 5], 100),
        ("memcpy 8", solana::sol_memcpy, [I + 8, I, 8, 0, 0], 10),
        ("memset 0", solana::sol_memset, [I, 0, 0, 0, 0], 10),
        (
            "set_return_data 10",
            solana::sol_set_return_data,
            [I, 10, 0, 0, 0],
            100,
        ),
    ];
    for (name, call, args, cost) in cases {
        for costs in [ComputeCosts::Free, ComputeCosts::Solana] {
            let mut context = ctx();
            context.state.costs = costs;
            let (result, _) = with_memory(|m| call(&mut context, m, args));
            assert_eq!(result, Ok(0), "{name}");
            let charged = if costs == ComputeCosts::Free { 0 } else { cost };
            assert_eq!(context.remaining, 1_000 - charged, "{name} {costs:?}");
        }
    }
    let mut context = SolanaContext::new(50, 0);
    context.state.costs = ComputeCosts::Solana;
    let (result, _) = with_memory(|m| solana::sol_log_64(&mut context, m, [0; 5]));
    assert_eq!(
        result,
        Err(user(SyscallError::ComputeBudgetExceeded {
            cost: 100,
            remaining: 50
        }))
    );
    assert_eq!(context.remaining, 0);
    assert!(context.logs.is_empty());
}

#[test]
fn demo_syscalls_match_the_reference() {
    let mut context = ctx();
    let (results, memory) = with_memory(|m| {
        m.write_bytes(I + 32, b"abc\0abd\0").unwrap();
        [
            demo::gather_bytes(&mut context, m, [0x11, 0x22, 0x33, 0x44, 0x55]),
            demo::mem_frob(&mut context, m, [I, 4, 0, 0, 0]),
            demo::str_cmp(&mut context, m, [I + 32, I + 36, 0, 0, 0]),
            demo::str_cmp(&mut context, m, [I + 32, I + 32, 0, 0, 0]),
            demo::str_cmp(&mut context, m, [0, I, 0, 0, 0]),
            demo::log(&mut context, m, [RO, 4, 0, 0, 0]),
            demo::log_64(&mut context, m, [1, 2, 3, 4, 5]),
            demo::trace_printf(&mut context, m, [0, 0, 1, 15, 32]),
        ]
    });
    assert_eq!(
        results,
        [
            Ok(0x11_2233_4455),
            Ok(0),
            Ok(1),
            Ok(0),
            Ok(u64::MAX),
            Ok(0),
            Ok(0),
            Ok(33)
        ]
    );
    assert_eq!(memory[..4], [0x2a, 0x2b, 0x28, 0x29]);
    assert_eq!(
        context.logs,
        [
            "read",
            "0x1, 0x2, 0x3, 0x4, 0x5",
            "bpf_trace_printf: 0x1, 0xf, 0x20"
        ]
    );
    // trace_printf returns the printed length, newline included.
    assert_eq!(results[7], Ok(context.logs[2].len() as u64 + 1));
    let (result, _) = with_memory(|m| demo::mem_frob(&mut context, m, [RO, 4, 0, 0, 0]));
    assert_eq!(result, Err(violation(AccessType::Store, RO, 4, "program")));
    // A string running off its region is an access violation, never a host read.
    let (result, _) = with_memory(|m| {
        m.write_bytes(I + 56, &[b'x'; 8]).unwrap();
        demo::str_cmp(&mut context, m, [I + 56, I + 56, 0, 0, 0])
    });
    assert_eq!(result, Err(violation(AccessType::Load, I + 64, 1, "input")));
}

/// The reference computes `(x as f64).log(16.0).floor() + 1`; the library reproduces it with
/// integers. Compare on every power of 16 and its neighbourhood, and a pseudo-random sweep.
#[test]
fn trace_printf_digit_count_matches_the_float_formula() {
    let float = |x: u64| {
        if x == 0 {
            1
        } else {
            (x as f64).log(16.0).floor() as u64 + 1
        }
    };
    let mut values = vec![0, 1, u64::MAX, u64::MAX - 1];
    for k in 1..16u32 {
        let p = 16u64.pow(k);
        values.extend((p.saturating_sub(10_000)..=p.saturating_add(10_000)).step_by(1));
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        values.push(state >> (state % 64));
    }
    for x in values {
        assert_eq!(demo::hex_digits_like_reference(x), float(x), "{x:#x}");
    }
}

#[test]
fn demo_registration_covers_names_and_aliases() {
    let mut registry = SyscallRegistry::<TestContext>::new();
    register_demo_syscalls(&mut registry).unwrap();
    for name in [
        "log",
        "log_64",
        "gather_bytes",
        "bpf_gather_bytes",
        "mem_frob",
        "bpf_mem_frob",
        "str_cmp",
        "bpf_str_cmp",
        "trace_printf",
        "bpf_trace_printf",
    ] {
        let syscall = registry.get(hash_symbol_name(name.as_bytes())).unwrap();
        assert_eq!(syscall.name, name);
    }
    assert_eq!(registry.len(), 10);
}
