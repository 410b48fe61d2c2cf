//! Program input in Solana's aligned bpf_loader format: what r1 points to when a deployed
//! program starts.
//!
//! Layout (all integers little-endian; every field offset below is relative to the account's
//! first byte, which is always 8-byte aligned):
//!
//! ```text
//! u64 number of accounts
//! per account, either a duplicate:
//!     u8 index of the first occurrence | 7 zero bytes
//! or a full entry (NON_DUP_MARKER = 0xff):
//!     0  u8 0xff        1  u8 is_signer    2  u8 is_writable    3  u8 executable
//!     4  4 zero bytes (padding)
//!     8  [u8; 32] key   40 [u8; 32] owner  72 u64 lamports      80 u64 data length
//!     88 data | 10 KiB of zeros (room to grow) | zeros up to an 8-byte boundary
//!     .. u64 rent_epoch
//! u64 instruction data length | instruction data | [u8; 32] program id
//! ```
//!
//! An account is a duplicate when an earlier entry has the same key; the marker is that
//! entry's index (so at most 255 distinct positions can be named, as in Solana).

/// The marker byte of a full (non-duplicate) account entry.
pub const NON_DUP_MARKER: u8 = 0xff;
/// The zero bytes after each account's data, room for it to grow during the call.
pub const MAX_PERMITTED_DATA_INCREASE: usize = 10 * 1024;
/// The alignment the data region is padded to.
pub const ACCOUNT_DATA_ALIGN: usize = 8;
/// Offset of the data inside a full account entry.
pub const ACCOUNT_DATA_OFFSET: usize = 88;

/// One account passed to a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputAccount {
    /// The account's address.
    pub key: [u8; 32],
    /// Whether it signed the transaction.
    pub is_signer: Signer,
    /// Whether the program may write it.
    pub is_writable: Writable,
    /// Whether it holds a program.
    pub executable: Executable,
    /// The program that owns it.
    pub owner: [u8; 32],
    /// Its balance.
    pub lamports: u64,
    /// Its data.
    pub data: Vec<u8>,
    /// Its rent epoch.
    pub rent_epoch: u64,
}

/// Whether an account signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signer {
    /// It did not sign.
    #[default]
    No,
    /// It signed.
    Yes,
}

/// Whether an account is writable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Writable {
    /// Read-only.
    #[default]
    No,
    /// Writable.
    Yes,
}

/// Whether an account is executable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Executable {
    /// A data account.
    #[default]
    No,
    /// A program account.
    Yes,
}

/// Why an input could not be serialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputError {
    /// A duplicate's first occurrence is past index 255, which the format cannot name.
    DuplicateIndexTooLarge {
        /// The index of the first occurrence.
        index: usize,
    },
}

impl core::fmt::Display for InputError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InputError::DuplicateIndexTooLarge { index } => {
                write!(f, "duplicate account refers to index {index}, above 255")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// The serialized input for `accounts`, `instruction_data` and `program_id`.
pub fn serialize_aligned(
    accounts: &[InputAccount],
    instruction_data: &[u8],
    program_id: &[u8; 32],
) -> Result<Vec<u8>, InputError> {
    let mut out = Vec::with_capacity(serialized_len(accounts, instruction_data));
    out.extend_from_slice(&(accounts.len() as u64).to_le_bytes());
    for (index, account) in accounts.iter().enumerate() {
        let first = accounts
            .iter()
            .position(|other| other.key == account.key)
            .unwrap_or(index);
        if first < index {
            let marker = u8::try_from(first)
                .map_err(|_| InputError::DuplicateIndexTooLarge { index: first })?;
            out.push(marker);
            out.extend_from_slice(&[0; 7]);
        } else {
            write_account(&mut out, account);
        }
    }
    out.extend_from_slice(&(instruction_data.len() as u64).to_le_bytes());
    out.extend_from_slice(instruction_data);
    out.extend_from_slice(program_id);
    Ok(out)
}

/// The zero-account input the reference vectors use: `0 | len | data | program id`.
pub fn serialize_instruction_only(instruction_data: &[u8], program_id: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + instruction_data.len());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(instruction_data.len() as u64).to_le_bytes());
    out.extend_from_slice(instruction_data);
    out.extend_from_slice(program_id);
    out
}

fn write_account(out: &mut Vec<u8>, account: &InputAccount) {
    out.push(NON_DUP_MARKER);
    out.push(u8::from(account.is_signer == Signer::Yes));
    out.push(u8::from(account.is_writable == Writable::Yes));
    out.push(u8::from(account.executable == Executable::Yes));
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&account.key);
    out.extend_from_slice(&account.owner);
    out.extend_from_slice(&account.lamports.to_le_bytes());
    out.extend_from_slice(&(account.data.len() as u64).to_le_bytes());
    out.extend_from_slice(&account.data);
    let padded = out.len() + MAX_PERMITTED_DATA_INCREASE;
    out.resize(padded.next_multiple_of(ACCOUNT_DATA_ALIGN), 0);
    out.extend_from_slice(&account.rent_epoch.to_le_bytes());
}

/// The size of a full account entry with `data_len` bytes of data.
pub fn account_entry_len(data_len: usize) -> usize {
    ACCOUNT_DATA_OFFSET
        + (data_len + MAX_PERMITTED_DATA_INCREASE).next_multiple_of(ACCOUNT_DATA_ALIGN)
        + 8
}

fn serialized_len(accounts: &[InputAccount], instruction_data: &[u8]) -> usize {
    let accounts_len: usize = accounts
        .iter()
        .map(|account| account_entry_len(account.data.len()))
        .sum();
    8 + accounts_len + 8 + instruction_data.len() + 32
}
