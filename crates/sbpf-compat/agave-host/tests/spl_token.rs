//! SPL Token 3.5.0 through Agave's own invoke path (`mock_process_instruction_with_feature_set`,
//! the BPF loader's `Entrypoint`, programs loaded by the runtime's `ProgramCacheEntry::load`,
//! which verifies and JIT-compiles them), on whichever solana-sbpf this package is built with.
//!
//! Six instructions with accounts (InitializeMint, two InitializeAccount, MintTo, Transfer and
//! a Transfer of more than the balance, `Custom(1)`), each after the last one's account
//! states, under two feature sets: every feature on (the unaligned mapping, account data
//! mapped directly, copy-on-write through the access violation handler) and every feature off
//! (the aligned mapping, serialized account data). The report (results, the runtime's log
//! lines with their compute units, and every account's lamports, owner and data) must equal
//! `expected/spl_token.txt`, which `run-reference.sh` records with the real solana-sbpf 0.26.0
//! (`RECORD=1`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use solana_account::{
    state_traits::StateMutWincode, AccountSharedData, ReadableAccount, WritableAccount,
};
use solana_bpf_loader_program::{test_utils::load_all_invoked_programs, Entrypoint};
use solana_instruction::AccountMeta;
use solana_instruction_error::InstructionError;
use solana_program_runtime::invoke_context::mock_process_instruction_with_feature_set;
use solana_pubkey::Pubkey;
use solana_rent::Rent;
use solana_sbpf::program::BuiltinFunctionDefinition;
use solana_sdk_ids::{bpf_loader, sysvar};
use solana_svm_feature_set::SVMFeatureSet;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::PathBuf;

const MINT: Pubkey = Pubkey::new_from_array([1; 32]);
const ALICE: Pubkey = Pubkey::new_from_array([2; 32]);
const BOB: Pubkey = Pubkey::new_from_array([3; 32]);
const AUTHORITY: Pubkey = Pubkey::new_from_array([4; 32]);
const TOKEN: Pubkey = Pubkey::new_from_array([9; 32]);

fn manifest(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// One instruction: its name, data, accounts and the result SPL Token gives it.
struct Step {
    name: &'static str,
    data: Vec<u8>,
    metas: Vec<AccountMeta>,
    result: Result<(), InstructionError>,
}

fn meta(pubkey: Pubkey, is_signer: bool, is_writable: bool) -> AccountMeta {
    AccountMeta {
        pubkey,
        is_signer,
        is_writable,
    }
}

fn steps() -> Vec<Step> {
    let amount = |tag: u8, n: u64| {
        let mut data = vec![tag];
        data.extend_from_slice(&n.to_le_bytes());
        data
    };
    let mut initialize_mint = vec![0, 6];
    initialize_mint.extend_from_slice(AUTHORITY.as_ref());
    initialize_mint.push(0);
    let initialize_account = |account| Step {
        name: "InitializeAccount",
        data: vec![1],
        metas: vec![
            meta(account, false, true),
            meta(MINT, false, false),
            meta(AUTHORITY, false, false),
            meta(sysvar::rent::id(), false, false),
        ],
        result: Ok(()),
    };
    let transfer = |name, from, to, n| Step {
        name,
        data: amount(3, n),
        metas: vec![
            meta(from, false, true),
            meta(to, false, true),
            meta(AUTHORITY, true, false),
        ],
        result: match n {
            400 => Ok(()),
            _ => Err(InstructionError::Custom(1)),
        },
    };
    vec![
        Step {
            name: "InitializeMint",
            data: initialize_mint,
            metas: vec![
                meta(MINT, false, true),
                meta(sysvar::rent::id(), false, false),
            ],
            result: Ok(()),
        },
        initialize_account(ALICE),
        initialize_account(BOB),
        Step {
            name: "MintTo",
            data: amount(7, 1_000),
            metas: vec![
                meta(MINT, false, true),
                meta(ALICE, false, true),
                meta(AUTHORITY, true, false),
            ],
            result: Ok(()),
        },
        transfer("Transfer", ALICE, BOB, 400),
        transfer("Transfer too much", BOB, ALICE, 10_000),
    ]
}

/// The accounts before the first instruction: the program, the rent sysvar, the mint and two
/// token accounts (zeroed, rent-exempt, owned by the program) and the authority.
fn initial_accounts() -> Vec<(Pubkey, AccountSharedData)> {
    let rent = Rent::default();
    // `run-reference.sh` builds a copy elsewhere and names the corpus file itself.
    let path = std::env::var_os("SPL_TOKEN_ELF").map_or_else(
        || manifest("../../../../shared/corpus/solana_programs/spl_token-3.5.0.so"),
        PathBuf::from,
    );
    let elf = std::fs::read(path).expect("the corpus's SPL Token program");
    let mut program =
        AccountSharedData::new_with_data(rent.minimum_balance(elf.len()), elf, &bpf_loader::id());
    program.set_executable(true);
    let rent_account =
        AccountSharedData::new_data_with_space(1, &rent, solana_rent::SIZE.max(17), &sysvar::id())
            .expect("the rent sysvar");
    let token_account = |len: usize| AccountSharedData::new_with_data(rent.minimum_balance(len), vec![0; len], &TOKEN);
    vec![
        (TOKEN, program),
        (sysvar::rent::id(), rent_account),
        (MINT, token_account(82)),
        (ALICE, token_account(165)),
        (BOB, token_account(165)),
        (
            AUTHORITY,
            AccountSharedData::new_with_data(1_000_000, Vec::new(), &Pubkey::default()),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// Runs every step under `features`, appending to `report`.
fn run(features_name: &str, features: &SVMFeatureSet, report: &mut String) {
    let mut accounts = initial_accounts();
    writeln!(report, "features: {features_name}").unwrap();
    for step in steps() {
        let logs = RefCell::new(Vec::new());
        let after = mock_process_instruction_with_feature_set(
            &TOKEN,
            &step.data,
            accounts.clone(),
            step.metas.clone(),
            step.result.clone(),
            Entrypoint::register,
            |invoke_context| load_all_invoked_programs(invoke_context),
            |invoke_context| {
                if let Some(collector) = invoke_context.get_log_collector() {
                    logs.borrow_mut()
                        .extend(collector.borrow().get_recorded_content().iter().cloned());
                }
            },
            features,
        );
        writeln!(report, "  {}: {:?}", step.name, step.result).unwrap();
        for line in logs.borrow().iter() {
            writeln!(report, "    log: {line}").unwrap();
        }
        for ((pubkey, _), account) in accounts.iter().zip(&after) {
            if *pubkey == TOKEN {
                continue;
            }
            writeln!(
                report,
                "    {}: lamports {} owner {} data {}",
                pubkey,
                account.lamports(),
                account.owner(),
                hex(account.data())
            )
            .unwrap();
        }
        accounts = accounts
            .into_iter()
            .zip(after)
            .map(|((pubkey, _), account)| (pubkey, account))
            .collect();
    }
}

#[test]
fn spl_token_through_the_runtime() {
    let mut report = String::new();
    run("all enabled", &SVMFeatureSet::all_enabled(), &mut report);
    run("default", &SVMFeatureSet::default(), &mut report);
    let expected_path = manifest("expected/spl_token.txt");
    if std::env::var_os("RECORD").is_some() {
        std::fs::write(&expected_path, &report).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .expect("expected/spl_token.txt (recorded by run-reference.sh)");
    assert!(
        report == expected,
        "the run differs from the real crate's\n--- expected\n{expected}\n--- got\n{report}"
    );
}
