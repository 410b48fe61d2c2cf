//! The extended Solana syscalls called directly against a small memory mapping: known
//! vectors (SHA-256, Keccak-256 and BLAKE3 of "abc", the SDK's program-address vectors, a
//! go-ethereum secp256k1 recovery vector), their costs, bad pointers and budget exhaustion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::{Clock, SolanaContext, SyscallError};
use bpfvm::{
    AccessType, Config, MemoryMapping, MemoryRegion, RuntimeError, SyscallRegistry, MM_HEAP_START,
    MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START,
};
use bpfvm_isa::hash_symbol_name;
use bpfvm_solana::pubkey::{create_program_address, find_program_address, Pubkey};
use bpfvm_solana::syscalls::{hash, pda, register_syscalls, runtime, secp256k1, EXTENDED_SYSCALLS};

const I: u64 = MM_INPUT_START;
const RO: u64 = MM_PROGRAM_START;

type Call = fn(&mut SolanaContext, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;

/// Runs `call` with `input` (padded to 4 KiB) writable at the input address and returns the
/// result and the input afterwards.
fn run(
    context: &mut SolanaContext,
    input: &[u8],
    call: Call,
    args: [u64; 5],
) -> (Result<u64, RuntimeError>, Vec<u8>) {
    let mut memory = input.to_vec();
    memory.resize(4096, 0);
    let ro = [0u8; 64];
    let mut stack = [0u8; 8];
    let result = {
        let regions = vec![
            MemoryRegion::readonly(&ro, RO),
            MemoryRegion::writable(&mut stack, MM_STACK_START),
            MemoryRegion::writable(&mut [], MM_HEAP_START),
            MemoryRegion::writable(&mut memory, I),
        ];
        let mut mapping = MemoryMapping::new(regions, &Config::default()).unwrap();
        call(context, &mut mapping, args)
    };
    (result, memory)
}

/// Input bytes with a slice table at offset 0 (16 bytes per entry) and the slices' bytes
/// from offset 256.
fn with_slices(slices: &[&[u8]]) -> Vec<u8> {
    let mut input = vec![0u8; 256];
    let mut table = Vec::new();
    for slice in slices {
        table.extend_from_slice(&(I + input.len() as u64).to_le_bytes());
        table.extend_from_slice(&(slice.len() as u64).to_le_bytes());
        input.extend_from_slice(slice);
    }
    input[..table.len()].copy_from_slice(&table);
    input
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn exceeded(cost: u64, remaining: u64) -> RuntimeError {
    SyscallError::ComputeBudgetExceeded { cost, remaining }.into_runtime()
}

const OUT: u64 = I + 2048;

#[test]
fn hashes_of_abc_match_the_published_digests() {
    let cases: [(&str, Call, &str); 3] = [
        (
            "sha256",
            hash::sol_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "keccak256",
            hash::sol_keccak256,
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
        ),
        (
            "blake3",
            hash::sol_blake3,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
    ];
    for (name, call, digest) in cases {
        let mut context = SolanaContext::new(1_000, 0);
        // "abc" in two slices: 85 + 10 + 10 units.
        let (result, memory) = run(
            &mut context,
            &with_slices(&[b"a", b"bc"]),
            call,
            [I, 2, OUT, 0, 0],
        );
        assert_eq!(result, Ok(0), "{name}");
        assert_eq!(memory[2048..2080], hex(digest)[..], "{name}");
        assert_eq!(context.remaining, 1_000 - 105, "{name}");
        // No slices: the digest of nothing, 85 units.
        let mut context = SolanaContext::new(1_000, 0);
        let (result, _) = run(&mut context, &[], call, [0, 0, OUT, 0, 0]);
        assert_eq!((result, context.remaining), (Ok(0), 915), "{name}");
    }
}

#[test]
fn hash_limits_pointers_and_budget() {
    // Too many slices fails before anything is charged.
    let mut context = SolanaContext::new(1_000, 0);
    let (result, _) = run(&mut context, &[], hash::sol_sha256, [I, 20_001, OUT, 0, 0]);
    assert_eq!(
        result,
        Err(SyscallError::TooManySlices {
            count: 20_001,
            max: 20_000
        }
        .into_runtime())
    );
    assert_eq!(context.remaining, 1_000);
    // A read-only result is an access violation at pc 0.
    let (result, _) = run(
        &mut context,
        &with_slices(&[b"abc"]),
        hash::sol_sha256,
        [I, 1, RO, 0, 0],
    );
    assert_eq!(
        result,
        Err(RuntimeError::AccessViolation {
            pc: 0,
            access: AccessType::Store,
            vaddr: RO,
            len: 32,
            region: "program"
        })
    );
    // A slice the budget cannot pay for is refused before it is read: 3,000 bytes cost 1,500.
    let big = vec![7u8; 3_000];
    let mut context = SolanaContext::new(1_000, 0);
    let (result, _) = run(
        &mut context,
        &with_slices(&[&big]),
        hash::sol_sha256,
        [I, 1, OUT, 0, 0],
    );
    assert_eq!(result, Err(exceeded(1_500, 915)));
    assert_eq!(context.remaining, 0);
}

#[test]
fn secp256k1_recovers_the_go_ethereum_vector() {
    let message = hex("ce0677bb30baa8cf067c88db9811f4333d131bf8bcf12fe7065d211dce971008");
    let signature = hex("90f27b8b488db00b00606796d2987f6a5f59ae62ea05effe84fef5b8b0e549984a691139ad57a3f0b906637673aa2f63d1f55cb1a69199d4009eea23ceaddc93");
    let expected = hex("e32df42865e97135acfb65f3bae71bdc86f4d49150ad6a440b6f15878109880a0a2b2667f7e725ceea70c673093bf67663e0312623c8e091b13cf2c0f11ef652");
    let mut input = message.clone();
    input.extend_from_slice(&signature);
    let call = secp256k1::sol_secp256k1_recover as Call;
    let mut context = SolanaContext::new(30_000, 0);
    let (result, memory) = run(&mut context, &input, call, [I, 1, I + 32, OUT, 0]);
    assert_eq!(result, Ok(0));
    assert_eq!(memory[2048..2112], expected[..]);
    assert_eq!(context.remaining, 5_000);
    // Bad recovery ids return 2, an unparseable signature 3 (r = 0 is not a valid scalar).
    for (id, code) in [(4, 2), (u64::MAX, 2)] {
        let mut context = SolanaContext::new(30_000, 0);
        assert_eq!(
            run(&mut context, &input, call, [I, id, I + 32, OUT, 0]).0,
            Ok(code)
        );
    }
    let mut zero_r = input.clone();
    zero_r[32..64].fill(0);
    let mut context = SolanaContext::new(30_000, 0);
    assert_eq!(
        run(&mut context, &zero_r, call, [I, 1, I + 32, OUT, 0]).0,
        Ok(3)
    );
    // 25,000 units first: with less, nothing is read or written.
    let mut context = SolanaContext::new(24_999, 0);
    let (result, memory) = run(&mut context, &input, call, [I, 1, I + 32, OUT, 0]);
    assert_eq!(result, Err(exceeded(25_000, 24_999)));
    assert_eq!(memory[2048..2112], [0; 64]);
}

#[test]
fn program_addresses_match_the_sdk_vectors() {
    let loader: Pubkey = "BPFLoaderUpgradeab1e11111111111111111111111"
        .parse()
        .unwrap();
    let seed_key: Pubkey = "SeedPubey1111111111111111111111111111111111"
        .parse()
        .unwrap();
    let cases: [(&[&[u8]], &str); 4] = [
        (&[b"", &[1]], "BwqrghZA2htAcqq8dzP1WDAhTXYTYWj7CHxF5j7TDBAe"),
        (
            &["☉".as_bytes(), &[0]],
            "13yWmRpaTR4r5nAktwLqMpRNr28tnVUZw26rTvPSSB19",
        ),
        (
            &[b"Talking", b"Squirrels"],
            "2fnQrngrQT4SeLcdToJAD96phoEjNL2man2kfRLCASVk",
        ),
        (
            &[&seed_key.0, &[1]],
            "976ymqVnfE32QFe6NfGDctSvVa36LWnvYxhU6G2232YL",
        ),
    ];
    for (seeds, expected) in cases {
        assert_eq!(
            create_program_address(seeds, &loader).unwrap().to_string(),
            expected
        );
        // The same through the syscall, program id at offset 1024.
        let mut input = with_slices(seeds);
        input.resize(1024, 0);
        input.extend_from_slice(&loader.0);
        let mut context = SolanaContext::new(2_000, 0);
        let (result, memory) = run(
            &mut context,
            &input,
            pda::sol_create_program_address,
            [I, seeds.len() as u64, I + 1024, OUT, 0],
        );
        assert_eq!(result, Ok(0), "{expected}");
        assert_eq!(memory[2048..2080], address_bytes(expected)[..]);
        assert_eq!(context.remaining, 500);
    }
}

fn address_bytes(address: &str) -> [u8; 32] {
    address.parse::<Pubkey>().unwrap().0
}

#[test]
fn program_address_limits_and_try_find() {
    let loader: Pubkey = "BPFLoaderUpgradeab1e11111111111111111111111"
        .parse()
        .unwrap();
    // 17 seeds or a 33-byte seed abort the program.
    for seeds in [vec![&[1u8][..]; 17], vec![&[0u8; 33][..]]] {
        let mut input = with_slices(&seeds);
        input.resize(1024, 0);
        input.extend_from_slice(&loader.0);
        let mut context = SolanaContext::new(2_000, 0);
        let (result, _) = run(
            &mut context,
            &input,
            pda::sol_create_program_address,
            [I, seeds.len() as u64, I + 1024, OUT, 0],
        );
        assert_eq!(
            result,
            Err(SyscallError::MaxSeedLengthExceeded.into_runtime())
        );
    }
    // try_find returns the first off-curve bump from 255 down, 1,500 units per try.
    let seeds: [&[u8]; 1] = [b"vault"];
    let (address, bump) = find_program_address(&seeds, &loader).unwrap();
    assert_eq!(
        create_program_address(&[b"vault", &[bump]], &loader),
        Ok(address)
    );
    let mut input = with_slices(&seeds);
    input.resize(1024, 0);
    input.extend_from_slice(&loader.0);
    let tries = u64::from(256 - u32::from(bump));
    let mut context = SolanaContext::new(1_500 * tries, 0);
    let (result, memory) = run(
        &mut context,
        &input,
        pda::sol_try_find_program_address,
        [I, 1, I + 1024, OUT, OUT + 40],
    );
    assert_eq!(result, Ok(0));
    assert_eq!(
        (memory[2048..2080].to_vec(), memory[2088]),
        (address.0.to_vec(), bump)
    );
    assert_eq!(context.remaining, 0);
    // The bump byte inside the address is an overlap.
    let mut context = SolanaContext::new(1_500 * tries, 0);
    let (result, _) = run(
        &mut context,
        &input,
        pda::sol_try_find_program_address,
        [I, 1, I + 1024, OUT, OUT + 8],
    );
    assert_eq!(result, Err(SyscallError::CopyOverlapping.into_runtime()));
}

#[test]
fn sysvar_getters_write_their_in_memory_form() {
    let mut context = SolanaContext::new(1_000, 0);
    context.state.sysvars.clock = Clock {
        slot: 7,
        epoch_start_timestamp: -1,
        epoch: 2,
        leader_schedule_epoch: 3,
        unix_timestamp: 1_700_000_000,
    };
    let (result, memory) = run(
        &mut context,
        &[],
        runtime::sol_get_clock_sysvar,
        [OUT, 0, 0, 0, 0],
    );
    assert_eq!(result, Ok(0));
    assert_eq!(
        memory[2048..2088],
        context.state.sysvars.clock.to_bytes()[..]
    );
    assert_eq!(memory[2048..2056], 7u64.to_le_bytes());
    assert_eq!(context.remaining, 1_000 - 140);
    let (result, memory) = run(
        &mut context,
        &[],
        runtime::sol_get_rent_sysvar,
        [OUT, 0, 0, 0, 0],
    );
    assert_eq!(result, Ok(0));
    assert_eq!(memory[2048..2056], 3_480u64.to_le_bytes());
    assert_eq!(memory[2064], 50);
    assert_eq!(context.remaining, 1_000 - 140 - 124);
    let (result, memory) = run(
        &mut context,
        &[],
        runtime::sol_get_epoch_schedule_sysvar,
        [OUT, 0, 0, 0, 0],
    );
    assert_eq!(result, Ok(0));
    assert_eq!(memory[2048..2056], 432_000u64.to_le_bytes());
    assert_eq!(context.remaining, 1_000 - 140 - 124 - 140);
    // The output must be 8-aligned and writable.
    let (result, _) = run(
        &mut context,
        &[],
        runtime::sol_get_clock_sysvar,
        [OUT + 4, 0, 0, 0, 0],
    );
    assert_eq!(
        result,
        Err(SyscallError::UnalignedPointer {
            vaddr: OUT + 4,
            align: 8
        }
        .into_runtime())
    );
    let (result, _) = run(
        &mut context,
        &[],
        runtime::sol_get_clock_sysvar,
        [RO, 0, 0, 0, 0],
    );
    assert!(
        matches!(result, Err(RuntimeError::AccessViolation { pc: 0, .. })),
        "{result:?}"
    );
}

#[test]
fn log_data_remaining_units_and_stack_height() {
    let mut context = SolanaContext::new(1_000, 0);
    let (result, _) = run(
        &mut context,
        &with_slices(&[b"abc", b"def"]),
        runtime::sol_log_data,
        [I, 2, 0, 0, 0],
    );
    assert_eq!(result, Ok(0));
    assert_eq!(context.logs, ["Program data: YWJj ZGVm"]);
    assert_eq!(context.remaining, 1_000 - 100 - 200 - 6);
    let (result, _) = run(
        &mut context,
        &[],
        runtime::sol_remaining_compute_units,
        [0; 5],
    );
    assert_eq!(result, Ok(1_000 - 306 - 100));
    let (result, _) = run(&mut context, &[], runtime::sol_get_stack_height, [0; 5]);
    assert_eq!(result, Ok(1));
    assert_eq!(context.remaining, 1_000 - 306 - 200);
    let mut context = SolanaContext::new(99, 0);
    let (result, _) = run(&mut context, &[], runtime::sol_get_stack_height, [0; 5]);
    assert_eq!(result, Err(exceeded(100, 99)));
}

#[test]
fn registration_covers_both_sets_once() {
    let mut registry = SyscallRegistry::<SolanaContext>::new();
    register_syscalls(&mut registry).unwrap();
    for name in EXTENDED_SYSCALLS
        .iter()
        .chain(bpfvm::syscalls::SOLANA_SYSCALLS.iter())
    {
        let syscall = registry.get(hash_symbol_name(name.as_bytes())).unwrap();
        assert_eq!(syscall.name, *name);
    }
    // The two unsupported names nobody implements stay registered as errors.
    for name in [
        "sol_invoke_signed_rust",
        "sol_get_processed_sibling_instruction",
    ] {
        assert!(
            registry.contains(hash_symbol_name(name.as_bytes())),
            "{name}"
        );
    }
    assert_eq!(registry.len(), EXTENDED_SYSCALLS.len() + 13 + 2);
}
