//! The loader's input and its reading back: the aligned form agrees with the engine's
//! serializer, the unaligned form has the hand-derived offsets, duplicates are markers, the
//! runtime's account rules reject each illegal change by name, the bpf_loader's noop
//! programs run under both layouts, and account JSON reads as `solana account` writes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::solana_input::{self, InputAccount, Signer, Writable};
use bpfvm::Backend;
use bpfvm_solana::account::{account_to_json, accounts_from_json, AccountJsonError};
use bpfvm_solana::instruction::InstructionAccounts;
use bpfvm_solana::serialization::{deserialize, serialize, Loader};
use bpfvm_solana::{
    invoke, load_program, Account, AccountMeta, Instruction, InstructionError, InvokeOptions,
    KeyedAccount, Pubkey,
};
use std::path::PathBuf;

const PROGRAM: Pubkey = Pubkey([9; 32]);
const OTHER: Pubkey = Pubkey([8; 32]);

fn keyed(key: u8, owner: Pubkey, lamports: u64, data: &[u8]) -> KeyedAccount {
    KeyedAccount {
        pubkey: Pubkey([key; 32]),
        account: Account {
            lamports,
            data: data.to_vec(),
            owner,
            executable: false,
            rent_epoch: 7,
        },
    }
}

fn meta(key: u8, is_signer: bool, is_writable: bool) -> AccountMeta {
    AccountMeta {
        pubkey: Pubkey([key; 32]),
        is_signer,
        is_writable,
    }
}

#[test]
fn aligned_input_agrees_with_the_engine_serializer() {
    let states = [keyed(1, PROGRAM, 5, &[1, 2, 3]), keyed(2, OTHER, 6, &[])];
    let metas = [
        meta(1, true, true),
        meta(2, false, false),
        meta(1, false, true),
    ];
    let accounts = InstructionAccounts::resolve(&metas, &states);
    let ours = serialize(Loader::V2, &accounts, b"data", &PROGRAM).unwrap();
    let engine_accounts: Vec<InputAccount> = metas
        .iter()
        .map(|m| {
            let state = &states
                .iter()
                .find(|s| s.pubkey == m.pubkey)
                .unwrap()
                .account;
            let entry = accounts
                .unique
                .iter()
                .find(|u| u.keyed.pubkey == m.pubkey)
                .unwrap();
            InputAccount {
                key: m.pubkey.0,
                is_signer: if entry.is_signer {
                    Signer::Yes
                } else {
                    Signer::No
                },
                is_writable: if entry.is_writable {
                    Writable::Yes
                } else {
                    Writable::No
                },
                executable: solana_input::Executable::No,
                owner: state.owner.0,
                lamports: state.lamports,
                data: state.data.clone(),
                rent_epoch: state.rent_epoch,
            }
        })
        .collect();
    let engine = solana_input::serialize_aligned(&engine_accounts, b"data", &PROGRAM.0).unwrap();
    assert_eq!(ours.bytes, engine);
    // The duplicate (third meta) is the marker 0 and seven zero bytes.
    let dup_at = ours.bytes.len() - (8 + 4 + 32) - 8;
    assert_eq!(ours.bytes[dup_at..dup_at + 8], [0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn unaligned_input_has_the_packed_layout() {
    let states = [keyed(1, OTHER, 0x0102, &[0xaa, 0xbb, 0xcc])];
    let metas = [meta(1, false, true), meta(1, false, true)];
    let accounts = InstructionAccounts::resolve(&metas, &states);
    let input = serialize(Loader::Deprecated, &accounts, &[0x55], &PROGRAM).unwrap();
    let mut expected = 2u64.to_le_bytes().to_vec();
    expected.extend_from_slice(&[0xff, 0, 1]);
    expected.extend_from_slice(&[1; 32]);
    expected.extend_from_slice(&0x0102u64.to_le_bytes());
    expected.extend_from_slice(&3u64.to_le_bytes());
    expected.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
    expected.extend_from_slice(&OTHER.0);
    expected.push(0);
    expected.extend_from_slice(&7u64.to_le_bytes());
    expected.push(0); // the duplicate: index of its first occurrence
    expected.extend_from_slice(&1u64.to_le_bytes());
    expected.push(0x55);
    expected.extend_from_slice(&PROGRAM.0);
    assert_eq!(input.bytes, expected);
}

/// Serializes one account (aligned), lets `change` edit the bytes, reads back.
fn read_back(
    state: KeyedAccount,
    writable: bool,
    change: impl FnOnce(&mut Vec<u8>),
) -> Result<Account, InstructionError> {
    let metas = [AccountMeta {
        pubkey: state.pubkey,
        is_signer: false,
        is_writable: writable,
    }];
    let accounts = InstructionAccounts::resolve(&metas, &[state]);
    let input = serialize(Loader::Upgradeable, &accounts, &[], &PROGRAM).unwrap();
    let mut bytes = input.bytes.clone();
    change(&mut bytes);
    deserialize(&input, &bytes, &accounts, &PROGRAM).map(|mut post| post.remove(0))
}

// Offsets in the aligned input of the only account: owner 48, lamports 80, length 88, data 96.
const OWNER: usize = 48;
const LAMPORTS: usize = 80;
const LEN: usize = 88;
const DATA: usize = 96;

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn reading_back_enforces_the_account_rules() {
    type Change = fn(&mut Vec<u8>);
    let lower: Change = |b| put_u64(b, LAMPORTS, 99);
    let raise: Change = |b| put_u64(b, LAMPORTS, 101);
    let poke: Change = |b| b[DATA] = 7;
    let grow: Change = |b| put_u64(b, LEN, 4 + 16);
    let grow_too_much: Change = |b| put_u64(b, LEN, 4 + 10 * 1024 + 1);
    let new_owner: Change = |b| b[OWNER..OWNER + 32].copy_from_slice(&[3; 32]);
    let executable = |mut k: KeyedAccount| {
        k.account.executable = true;
        k
    };
    // (case, account, writable, change, expected)
    type Case = (
        &'static str,
        KeyedAccount,
        bool,
        Change,
        Result<(), InstructionError>,
    );
    let cases: Vec<Case> = vec![
        (
            "owned data",
            keyed(1, PROGRAM, 100, &[0; 4]),
            true,
            poke,
            Ok(()),
        ),
        (
            "owned growth",
            keyed(1, PROGRAM, 100, &[0; 4]),
            true,
            grow,
            Ok(()),
        ),
        (
            "external spend",
            keyed(1, OTHER, 100, &[0; 4]),
            true,
            lower,
            Err(InstructionError::ExternalAccountLamportSpend),
        ),
        (
            "read-only lamports",
            keyed(1, PROGRAM, 100, &[0; 4]),
            false,
            lower,
            Err(InstructionError::ReadonlyLamportChange),
        ),
        (
            "executable lamports",
            executable(keyed(1, PROGRAM, 100, &[0; 4])),
            true,
            lower,
            Err(InstructionError::ExecutableLamportChange),
        ),
        (
            "unbalanced",
            keyed(1, PROGRAM, 100, &[0; 4]),
            true,
            raise,
            Err(InstructionError::UnbalancedInstruction),
        ),
        (
            "external data",
            keyed(1, OTHER, 100, &[0; 4]),
            true,
            poke,
            Err(InstructionError::ExternalAccountDataModified),
        ),
        (
            "read-only data",
            keyed(1, PROGRAM, 100, &[0; 4]),
            false,
            poke,
            Err(InstructionError::ReadonlyDataModified),
        ),
        (
            "executable data",
            executable(keyed(1, PROGRAM, 100, &[0; 4])),
            true,
            poke,
            Err(InstructionError::ExecutableDataModified),
        ),
        (
            "external resize",
            keyed(1, OTHER, 100, &[0; 4]),
            true,
            grow,
            Err(InstructionError::AccountDataSizeChanged),
        ),
        (
            "realloc limit",
            keyed(1, PROGRAM, 100, &[0; 4]),
            true,
            grow_too_much,
            Err(InstructionError::InvalidRealloc),
        ),
        (
            "owner of zeroed data",
            keyed(1, PROGRAM, 100, &[0; 4]),
            true,
            new_owner,
            Ok(()),
        ),
        (
            "owner of live data",
            keyed(1, PROGRAM, 100, &[1; 4]),
            true,
            new_owner,
            Err(InstructionError::ModifiedProgramId),
        ),
        (
            "owner of external",
            keyed(1, OTHER, 100, &[0; 4]),
            true,
            new_owner,
            Err(InstructionError::ModifiedProgramId),
        ),
    ];
    for (name, state, writable, change, expected) in cases {
        let result = read_back(state, writable, change);
        assert_eq!(result.clone().map(|_| ()), expected, "{name}");
        if let Ok(account) = result {
            match name {
                "owned data" => assert_eq!(account.data, [7, 0, 0, 0]),
                "owned growth" => assert_eq!(account.data, vec![0; 20]),
                "owner of zeroed data" => assert_eq!(account.owner, Pubkey([3; 32])),
                _ => unreachable!(),
            }
        }
    }
}

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/solana_programs/bpf_loader_test_elfs")
        .join(name)
}

#[test]
fn noop_programs_run_under_both_layouts_and_backends() {
    let states = [keyed(1, PROGRAM, 10, &[1, 2, 3]), keyed(2, OTHER, 20, &[])];
    let instruction = Instruction {
        program_id: PROGRAM,
        accounts: vec![
            meta(1, true, true),
            meta(2, false, false),
            meta(1, false, false),
        ],
        data: vec![1, 2, 3],
    };
    for (file, loader) in [
        ("noop_aligned.so", Loader::Upgradeable),
        ("noop_unaligned.so", Loader::Deprecated),
    ] {
        let mut loaded = load_program(&std::fs::read(corpus(file)).unwrap()).unwrap();
        loaded.program.jit_compile().unwrap();
        let mut seen = Vec::new();
        for backend in [Backend::Interpreter, Backend::Jit] {
            let options = InvokeOptions {
                loader,
                backend,
                ..InvokeOptions::default()
            };
            let outcome = invoke(&loaded.program, &instruction, &states, &options).unwrap();
            assert_eq!(outcome.result, Ok(()), "{file}");
            assert_eq!(outcome.accounts.len(), 2);
            assert!(outcome.accounts.iter().all(|a| a.before == a.after));
            assert_eq!(
                outcome.logs.last().unwrap(),
                &format!("Program {PROGRAM} success")
            );
            seen.push((outcome.compute_units, outcome.logs));
        }
        assert_eq!(seen[0], seen[1], "{file}");
    }
}

#[test]
fn account_json_reads_what_solana_account_writes() {
    let text = r#"{
      "pubkey": "SysvarRent111111111111111111111111111111111",
      "account": {
        "lamports": 1009200,
        "data": ["mA0AAAAAAAAAAAAAAAAAQDI=", "base64"],
        "owner": "Sysvar1111111111111111111111111111111111111",
        "executable": false,
        "rentEpoch": 18446744073709551615,
        "space": 17
      }
    }"#;
    let accounts = accounts_from_json(text).unwrap();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0].account;
    assert_eq!(account.lamports, 1_009_200);
    assert_eq!(account.rent_epoch, u64::MAX);
    assert_eq!(account.data.len(), 17);
    assert_eq!(account.data[..8], 3_480u64.to_le_bytes());
    // Round trip, and the array form.
    let again = serde_json::to_string(&vec![account_to_json(&accounts[0]); 2]).unwrap();
    assert_eq!(
        accounts_from_json(&again).unwrap(),
        vec![accounts[0].clone(); 2]
    );
    // base58 data; refused encodings and inconsistent space.
    let base58 = text
        .replace(
            r#"["mA0AAAAAAAAAAAAAAAAAQDI=", "base64"]"#,
            r#"["2", "base58"]"#,
        )
        .replace("17", "1");
    assert_eq!(accounts_from_json(&base58).unwrap()[0].account.data, [1]);
    let zstd = text.replace("\"base64\"]", "\"base64+zstd\"]");
    assert!(matches!(
        accounts_from_json(&zstd),
        Err(AccountJsonError::UnsupportedEncoding { .. })
    ));
    let space = text.replace("\"space\": 17", "\"space\": 18");
    assert!(matches!(
        accounts_from_json(&space),
        Err(AccountJsonError::SpaceMismatch {
            space: 18,
            len: 17,
            ..
        })
    ));
    assert!(matches!(
        accounts_from_json("{\"pubkey\": 1}"),
        Err(AccountJsonError::Json { .. })
    ));
}
