//! Real SPL Token instructions end to end, on spl_token-3.5.0 and spl_token_2022-1.0.0, on
//! both backends: InitializeMint, InitializeAccount (twice), MintTo, Transfer and a Transfer
//! of more than the balance (`Custom(1)`, InsufficientFunds). The expected account states
//! are written out from the public layouts (Mint 82 bytes, Account 165 bytes); each step's
//! log must carry the runtime's framing, and both backends must agree on everything, over
//! fresh memory (`invoke`) and over one stack and heap reused by every step (`invoke_in`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::syscalls::Sysvars;
use bpfvm::{Backend, VmMemory};
use bpfvm_solana::{
    invoke, invoke_in, load_program, Account, AccountMeta, Instruction, InstructionError,
    InvokeOptions, KeyedAccount, Pubkey,
};
use std::path::PathBuf;

const MINT: Pubkey = Pubkey([1; 32]);
const ALICE: Pubkey = Pubkey([2; 32]);
const BOB: Pubkey = Pubkey([3; 32]);
const AUTHORITY: Pubkey = Pubkey([4; 32]);

/// Rent-exempt minimums for 82 and 165 bytes at the default rent: (128 + len) * 3480 * 2.
const MINT_LAMPORTS: u64 = 1_461_600;
const ACCOUNT_LAMPORTS: u64 = 2_039_280;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/solana_programs")
        .join(name)
}

fn rent_sysvar() -> KeyedAccount {
    KeyedAccount {
        pubkey: "SysvarRent111111111111111111111111111111111"
            .parse()
            .unwrap(),
        account: Account {
            lamports: 1_009_200,
            data: Sysvars::default().rent.to_account_data(),
            owner: "Sysvar1111111111111111111111111111111111111"
                .parse()
                .unwrap(),
            executable: false,
            rent_epoch: 0,
        },
    }
}

fn meta(pubkey: Pubkey, is_signer: bool, is_writable: bool) -> AccountMeta {
    AccountMeta {
        pubkey,
        is_signer,
        is_writable,
    }
}

/// A COption<Pubkey>: u32 tag then the key (zeros when absent).
fn coption(key: Option<Pubkey>) -> Vec<u8> {
    let mut out = u32::from(key.is_some()).to_le_bytes().to_vec();
    out.extend_from_slice(&key.unwrap_or_default().0);
    out
}

/// The Mint layout: authority, supply, decimals, initialized, freeze authority.
fn mint_data(supply: u64) -> Vec<u8> {
    let mut out = coption(Some(AUTHORITY));
    out.extend_from_slice(&supply.to_le_bytes());
    out.push(6);
    out.push(1);
    out.extend(coption(None));
    assert_eq!(out.len(), 82);
    out
}

/// The Account layout: mint, owner, amount, delegate, state, is_native, delegated amount,
/// close authority.
fn account_data(amount: u64) -> Vec<u8> {
    let mut out = MINT.0.to_vec();
    out.extend_from_slice(&AUTHORITY.0);
    out.extend_from_slice(&amount.to_le_bytes());
    out.extend(coption(None));
    out.push(1);
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend(coption(None));
    assert_eq!(out.len(), 165);
    out
}

struct Step {
    name: &'static str,
    data: Vec<u8>,
    metas: Vec<AccountMeta>,
    result: Result<(), InstructionError>,
    /// The log line the program writes for this instruction.
    log: &'static str,
    /// (account, expected data afterwards)
    after: Vec<(Pubkey, Vec<u8>)>,
}

fn steps() -> Vec<Step> {
    let rent = rent_sysvar().pubkey;
    let amount = |tag: u8, n: u64| {
        let mut data = vec![tag];
        data.extend_from_slice(&n.to_le_bytes());
        data
    };
    let mut initialize_mint = vec![0, 6];
    initialize_mint.extend_from_slice(&AUTHORITY.0);
    initialize_mint.push(0);
    vec![
        Step {
            name: "InitializeMint",
            data: initialize_mint,
            metas: vec![meta(MINT, false, true), meta(rent, false, false)],
            result: Ok(()),
            log: "Program log: Instruction: InitializeMint",
            after: vec![(MINT, mint_data(0))],
        },
        Step {
            name: "InitializeAccount alice",
            data: vec![1],
            metas: vec![
                meta(ALICE, false, true),
                meta(MINT, false, false),
                meta(AUTHORITY, false, false),
                meta(rent, false, false),
            ],
            result: Ok(()),
            log: "Program log: Instruction: InitializeAccount",
            after: vec![(ALICE, account_data(0))],
        },
        Step {
            name: "InitializeAccount bob",
            data: vec![1],
            metas: vec![
                meta(BOB, false, true),
                meta(MINT, false, false),
                meta(AUTHORITY, false, false),
                meta(rent, false, false),
            ],
            result: Ok(()),
            log: "Program log: Instruction: InitializeAccount",
            after: vec![(BOB, account_data(0))],
        },
        Step {
            name: "MintTo",
            data: amount(7, 1_000),
            metas: vec![
                meta(MINT, false, true),
                meta(ALICE, false, true),
                meta(AUTHORITY, true, false),
            ],
            result: Ok(()),
            log: "Program log: Instruction: MintTo",
            after: vec![(MINT, mint_data(1_000)), (ALICE, account_data(1_000))],
        },
        Step {
            name: "Transfer",
            data: amount(3, 400),
            metas: vec![
                meta(ALICE, false, true),
                meta(BOB, false, true),
                meta(AUTHORITY, true, false),
            ],
            result: Ok(()),
            log: "Program log: Instruction: Transfer",
            after: vec![(ALICE, account_data(600)), (BOB, account_data(400))],
        },
        Step {
            name: "Transfer too much",
            data: amount(3, 10_000),
            metas: vec![
                meta(BOB, false, true),
                meta(ALICE, false, true),
                meta(AUTHORITY, true, false),
            ],
            result: Err(InstructionError::Custom(1)),
            log: "Program log: Error: insufficient funds",
            after: vec![(ALICE, account_data(600)), (BOB, account_data(400))],
        },
    ]
}

fn initial_states(program_id: Pubkey) -> Vec<KeyedAccount> {
    let token_account = |lamports, len| Account {
        lamports,
        data: vec![0; len],
        owner: program_id,
        executable: false,
        rent_epoch: 0,
    };
    vec![
        KeyedAccount {
            pubkey: MINT,
            account: token_account(MINT_LAMPORTS, 82),
        },
        KeyedAccount {
            pubkey: ALICE,
            account: token_account(ACCOUNT_LAMPORTS, 165),
        },
        KeyedAccount {
            pubkey: BOB,
            account: token_account(ACCOUNT_LAMPORTS, 165),
        },
        rent_sysvar(),
    ]
}

/// Runs every step on one backend, over fresh memory or the stack and heap `memory` lends;
/// returns (result, units, logs) per step for comparison.
fn run_steps(
    file: &str,
    program_id: Pubkey,
    backend: Backend,
    mut memory: Option<&mut VmMemory>,
) -> Vec<(Result<(), InstructionError>, u64, Vec<String>)> {
    let elf = std::fs::read(corpus(file)).unwrap();
    let mut loaded = load_program(&elf).unwrap();
    if backend == Backend::Jit {
        loaded.program.jit_compile().unwrap();
    }
    let mut states = initial_states(program_id);
    let options = InvokeOptions {
        backend,
        ..InvokeOptions::default()
    };
    let mut observed = Vec::new();
    for step in steps() {
        let instruction = Instruction {
            program_id,
            accounts: step.metas.clone(),
            data: step.data.clone(),
        };
        let outcome = match memory.as_deref_mut() {
            Some(memory) => invoke_in(&loaded.program, &instruction, &states, &options, memory),
            None => invoke(&loaded.program, &instruction, &states, &options),
        }
        .unwrap();
        let context = format!("{file} {backend:?} {}: {:#?}", step.name, outcome.logs);
        assert_eq!(outcome.result, step.result, "{context}");
        let logs = &outcome.logs;
        assert_eq!(
            logs[0],
            format!("Program {program_id} invoke [1]"),
            "{context}"
        );
        assert!(logs.iter().any(|line| line == step.log), "{context}");
        let consumed = format!(
            "Program {program_id} consumed {} of 200000 compute units",
            outcome.compute_units
        );
        assert!(logs.contains(&consumed), "{context}");
        let last = match &step.result {
            Ok(()) => format!("Program {program_id} success"),
            Err(error) => format!("Program {program_id} failed: {error}"),
        };
        assert_eq!(logs.last(), Some(&last), "{context}");
        assert!(outcome.compute_units > outcome.instructions, "{context}");
        assert!(outcome.compute_units < 200_000, "{context}");
        for (key, data) in &step.after {
            let account = outcome.accounts.iter().find(|a| a.pubkey == *key).unwrap();
            assert_eq!(&account.after.data, data, "{context} {key}");
            assert_eq!(account.after.lamports, account.before.lamports, "{context}");
            assert_eq!(account.after.owner, program_id, "{context}");
        }
        for account in &outcome.accounts {
            let state = states.iter_mut().find(|s| s.pubkey == account.pubkey);
            if let Some(state) = state {
                state.account = account.after.clone();
            }
        }
        observed.push((outcome.result, outcome.compute_units, outcome.logs));
    }
    observed
}

/// The steps on both backends over fresh memory, then over one reused `VmMemory` (the whole
/// sequence six times, so that every slot of it serves many times after runs dirtied it):
/// all agree.
fn both_backends_both_memories(file: &str, id: Pubkey) {
    let interpreter = run_steps(file, id, Backend::Interpreter, None);
    let jit = run_steps(file, id, Backend::Jit, None);
    assert_eq!(interpreter, jit);
    let mut memory = VmMemory::new();
    for backend in [Backend::Interpreter, Backend::Jit, Backend::Interpreter] {
        for _ in 0..2 {
            let reused = run_steps(file, id, backend, Some(&mut memory));
            assert_eq!(reused, interpreter, "{file} {backend:?} over reused memory");
        }
    }
}

#[test]
fn spl_token_3_5_0_instructions_on_both_backends() {
    let id: Pubkey = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
        .parse()
        .unwrap();
    both_backends_both_memories("spl_token-3.5.0.so", id);
}

#[test]
fn spl_token_2022_1_0_0_instructions_on_both_backends() {
    let id: Pubkey = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
        .parse()
        .unwrap();
    both_backends_both_memories("spl_token_2022-1.0.0.so", id);
}

/// GetAccountDataSize (21) sets return data: the size of a token account for the mint, a
/// u64 (165 for a mint without extensions), logged as the runtime logs return data.
#[test]
fn return_data_is_reported_and_logged() {
    for (file, id) in [
        (
            "spl_token-3.5.0.so",
            "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        ),
        (
            "spl_token_2022-1.0.0.so",
            "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
        ),
    ] {
        let program_id: Pubkey = id.parse().unwrap();
        let mut loaded = load_program(&std::fs::read(corpus(file)).unwrap()).unwrap();
        loaded.program.jit_compile().unwrap();
        let mint = KeyedAccount {
            pubkey: MINT,
            account: Account {
                lamports: MINT_LAMPORTS,
                data: mint_data(0),
                owner: program_id,
                executable: false,
                rent_epoch: 0,
            },
        };
        let instruction = Instruction {
            program_id,
            accounts: vec![meta(MINT, false, false)],
            data: vec![21],
        };
        for backend in [Backend::Interpreter, Backend::Jit] {
            let options = InvokeOptions {
                backend,
                ..InvokeOptions::default()
            };
            let outcome = invoke(
                &loaded.program,
                &instruction,
                std::slice::from_ref(&mint),
                &options,
            )
            .unwrap();
            assert_eq!(outcome.result, Ok(()), "{file} {:#?}", outcome.logs);
            assert_eq!(
                outcome.return_data,
                Some((program_id, 165u64.to_le_bytes().to_vec()))
            );
            // base64 of 165 as a little-endian u64.
            let line = format!("Program return: {program_id} pQAAAAAAAAA=");
            let at = outcome.logs.iter().position(|l| *l == line).unwrap();
            assert!(outcome.logs[at - 1].contains(" consumed "), "{file}");
        }
    }
}
