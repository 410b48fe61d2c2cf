//! Time per unit of budget for the costliest syscalls, side by side: each benchmark calls one
//! syscall on a fixed workload and declares the units that call is charged as its throughput,
//! so criterion's "elem/s" is units per second and its inverse the time one unit of budget
//! buys. The slowest per unit bounds how long a budget can keep the host busy; a regression
//! shows as a drop here. For scale, an sBPF instruction is one unit and takes about a
//! nanosecond on the JIT.
//!
//! `cargo bench -p bpfvm-solana --bench syscall_units`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::{demo, solana, LogCap, SolanaContext};
use bpfvm::{
    Config, MemoryMapping, MemoryRegion, RuntimeError, MM_HEAP_START, MM_INPUT_START,
    MM_PROGRAM_START, MM_STACK_START,
};
use bpfvm_solana::syscalls::{hash, pda, secp256k1};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const I: u64 = MM_INPUT_START;
const MIB: u64 = 1 << 20;

type Call = fn(&mut SolanaContext, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;

/// (name, syscall, arguments, units one call is charged)
fn workloads() -> Vec<(&'static str, Call, [u64; 5], u64)> {
    let out = I + 3 * MIB;
    let table = I + 4 * MIB;
    let secp = I + 5 * MIB;
    let scratch = I + 6 * MIB;
    vec![
        (
            "sol_memmove_ 1 MiB",
            solana::sol_memmove,
            [scratch, scratch + 8, MIB, 0, 0],
            MIB / 250,
        ),
        (
            "sol_memset_ 1 MiB",
            solana::sol_memset,
            [scratch, 0, MIB, 0, 0],
            MIB / 250,
        ),
        (
            "sol_memcmp_ 1 MiB",
            solana::sol_memcmp,
            [I, I + 2 * MIB, MIB, out, 0],
            MIB / 250,
        ),
        (
            "str_cmp 1 MiB",
            demo::str_cmp,
            [I, I + 2 * MIB, 0, 0, 0],
            2 * MIB / 250,
        ),
        ("sol_log_ 8 KiB", solana::sol_log, [I, 8192, 0, 0, 0], 8192),
        (
            "sol_sha256 64 KiB",
            hash::sol_sha256,
            [table, 1, out + 64, 0, 0],
            85 + 32_768,
        ),
        (
            "sol_blake3 64 KiB",
            hash::sol_blake3,
            [table, 1, out + 64, 0, 0],
            85 + 32_768,
        ),
        (
            "sol_secp256k1_recover",
            secp256k1::sol_secp256k1_recover,
            [secp, 1, secp + 32, out + 128, 0],
            25_000,
        ),
        (
            "sol_create_program_address",
            pda::sol_create_program_address,
            [table + 16, 1, secp, out + 192, 0],
            1_500,
        ),
    ]
}

/// The input (8 MiB): 'a's with a NUL at 1 MiB - 1 and at 3 MiB - 1 (the strings str_cmp and
/// memcmp compare, never written), outputs from 3 MiB, a slice table at 4 MiB (one 64 KiB
/// slice at 4 MiB + 64, and a 5-byte seed), a secp256k1 vector at 5 MiB, and the 6 MiB area
/// memmove and memset write.
fn input() -> Vec<u8> {
    let mut input = vec![b'a'; 8 * MIB as usize];
    input[MIB as usize - 1] = 0;
    input[3 * MIB as usize - 1] = 0;
    let table = 4 * MIB as usize;
    input[table..table + 8].copy_from_slice(&(I + 4 * MIB + 64).to_le_bytes());
    input[table + 8..table + 16].copy_from_slice(&65_536u64.to_le_bytes());
    // A seed slice of 5 bytes at 4 MiB + 16 for the program address.
    input[table + 16..table + 24].copy_from_slice(&(I + 4 * MIB + 64).to_le_bytes());
    input[table + 24..table + 32].copy_from_slice(&5u64.to_le_bytes());
    let hex = |text: &str| -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or(0))
            .collect()
    };
    let vector = [
        hex("ce0677bb30baa8cf067c88db9811f4333d131bf8bcf12fe7065d211dce971008"),
        hex("90f27b8b488db00b00606796d2987f6a5f59ae62ea05effe84fef5b8b0e549984a691139ad57a3f0b906637673aa2f63d1f55cb1a69199d4009eea23ceaddc93"),
    ]
    .concat();
    let at = 5 * MIB as usize;
    input[at..at + vector.len()].copy_from_slice(&vector);
    input
}

fn syscall_units(c: &mut Criterion) {
    let mut memory = input();
    let ro = [0u8; 8];
    let mut stack = [0u8; 8];
    let regions = vec![
        MemoryRegion::readonly(&ro, MM_PROGRAM_START),
        MemoryRegion::writable(&mut stack, MM_STACK_START),
        MemoryRegion::writable(&mut [], MM_HEAP_START),
        MemoryRegion::writable(&mut memory, I),
    ];
    let Ok(mut mapping) = MemoryMapping::new(regions, &Config::default()) else {
        return;
    };
    let mut group = c.benchmark_group("syscall_units");
    for (name, call, args, units) in workloads() {
        group.throughput(Throughput::Elements(units));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut context = SolanaContext::new(10 * units, 0);
                context.log_cap = LogCap::new(None);
                let result = call(&mut context, &mut mapping, black_box(args));
                assert!(result.is_ok(), "{name}: {result:?}");
                assert_eq!(context.remaining, 9 * units, "{name}");
                black_box(result)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, syscall_units);
criterion_main!(benches);
