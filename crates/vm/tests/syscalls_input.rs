//! Program-input serialization (Solana's aligned bpf_loader format) checked against field
//! offsets worked out by hand from the format's description: four accounts (one a duplicate)
//! with data lengths 5, 0 and 9, then the instruction data and the program id.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use bpfvm::solana_input::{
    account_entry_len, serialize_aligned, Executable, InputAccount, InputError, Signer, Writable,
};

fn account(tag: u8, data_len: usize) -> InputAccount {
    InputAccount {
        key: [tag; 32],
        is_signer: Signer::No,
        is_writable: Writable::No,
        executable: Executable::No,
        owner: [tag + 100; 32],
        lamports: 1000 + u64::from(tag),
        data: (1..=data_len as u8).collect(),
        rent_epoch: 50 + u64::from(tag),
    }
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().unwrap())
}

#[test]
fn account_layout_matches_the_hand_derived_offsets() {
    let a = InputAccount {
        is_signer: Signer::Yes,
        is_writable: Writable::Yes,
        ..account(1, 5)
    };
    let b = InputAccount {
        executable: Executable::Yes,
        ..account(2, 0)
    };
    let c = account(3, 9);
    let out = serialize_aligned(&[a, b, account(1, 5), c], &[7, 8, 9], &[0x55; 32]).unwrap();

    assert_eq!(u64_at(&out, 0), 4);
    // Account A at 8: flags, 4 bytes of padding, key, owner, lamports, length, data.
    assert_eq!(out[8..16], [0xff, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(out[16..48], [1; 32]);
    assert_eq!(out[48..80], [101; 32]);
    assert_eq!(u64_at(&out, 80), 1001);
    assert_eq!(u64_at(&out, 88), 5);
    assert_eq!(out[96..101], [1, 2, 3, 4, 5]);
    // 10 KiB of growth room, then padding to 8: 96 + 5 + 10240 = 10341 -> 10344.
    assert!(out[101..10344].iter().all(|&byte| byte == 0));
    assert_eq!(u64_at(&out, 10344), 51);
    // Account B at 10352: executable, no data.
    assert_eq!(out[10352..10360], [0xff, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(u64_at(&out, 10352 + 80), 0);
    assert!(out[10440..20680].iter().all(|&byte| byte == 0));
    assert_eq!(u64_at(&out, 20680), 52);
    // The duplicate of A at 20688: its index and 7 zero bytes.
    assert_eq!(out[20688..20696], [0, 0, 0, 0, 0, 0, 0, 0]);
    // Account C at 20696: 9 bytes of data at 20784, rent epoch at 20784 + 9 + 10240 -> 31040.
    assert_eq!(out[20696], 0xff);
    assert_eq!(out[20704..20736], [3; 32]);
    assert_eq!(u64_at(&out, 20776), 9);
    assert_eq!(out[20784..20793], [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(u64_at(&out, 31040), 53);
    // Instruction data and program id.
    assert_eq!(u64_at(&out, 31048), 3);
    assert_eq!(out[31056..31059], [7, 8, 9]);
    assert_eq!(out[31059..], [0x55; 32]);

    assert_eq!(account_entry_len(5), 10352 - 8);
    assert_eq!(account_entry_len(0), 20680 + 8 - 10352);
}

#[test]
fn duplicates_point_at_the_first_occurrence() {
    let accounts = [account(1, 0), account(2, 0), account(2, 0), account(1, 0)];
    let out = serialize_aligned(&accounts, &[], &[0; 32]).unwrap();
    let entry = account_entry_len(0);
    assert_eq!(out[8 + 2 * entry], 1);
    assert_eq!(out[8 + 2 * entry + 8], 0);
    assert_eq!(out.len(), 8 + 2 * entry + 16 + 8 + 32);
}

#[test]
fn a_duplicate_past_index_255_is_an_error() {
    let mut accounts: Vec<InputAccount> = (0..=255u8)
        .map(|tag| InputAccount {
            key: [tag; 32],
            ..InputAccount::default()
        })
        .collect();
    accounts.push(InputAccount {
        key: [0; 32],
        ..InputAccount::default()
    });
    assert!(serialize_aligned(&accounts, &[], &[0; 32]).is_ok());
    let mut accounts: Vec<InputAccount> = (0..=256u16)
        .map(|i| InputAccount {
            key: [
                (i % 256) as u8,
                (i / 256) as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                1,
            ],
            ..InputAccount::default()
        })
        .collect();
    accounts.push(accounts[256].clone());
    assert_eq!(
        serialize_aligned(&accounts, &[], &[0; 32]),
        Err(InputError::DuplicateIndexTooLarge { index: 256 })
    );
}
