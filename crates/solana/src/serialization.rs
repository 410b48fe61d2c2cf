//! The loader's input: how the accounts, the instruction data and the program id are laid out
//! at the input address, and how the accounts are read back after the program ran.
//!
//! **Aligned** (BPF Loader 2 and the upgradeable loader; integers little-endian):
//!
//! ```text
//! u64 number of accounts
//! per account, a duplicate:  u8 index of its first occurrence | 7 zero bytes
//!           or a full entry: u8 0xff | u8 signer | u8 writable | u8 executable | 4 zero bytes
//!                            | key 32 | owner 32 | u64 lamports | u64 data length
//!                            | data | 10 KiB of zeros (room to grow) | zeros to a multiple of 8
//!                            | u64 rent epoch
//! u64 data length | instruction data | program id 32
//! ```
//!
//! **Unaligned** (the deprecated loader): a duplicate is its one index byte; a full entry is
//! `u8 0xff | u8 signer | u8 writable | key | u64 lamports | u64 data length | data | owner |
//! u8 executable | u64 rent epoch`, with no room to grow.
//!
//! **Reading back** follows the runtime's `deserialize_parameters` and its account rules
//! (`BorrowedAccount`), in its order, for every full entry (duplicates are skipped):
//! 1. lamports: lowering the balance of an account the program does not own is
//!    `ExternalAccountLamportSpend`; any change to a read-only account
//!    `ReadonlyLamportChange`, to an executable one `ExecutableLamportChange`;
//! 2. data (aligned: the new length may grow by at most 10 KiB and stay within 10 MiB, else
//!    `InvalidRealloc`; unaligned: the length is fixed): a new size needs the owner
//!    (`AccountDataSizeChanged`); changed bytes need a writable (`ReadonlyDataModified`),
//!    non-executable (`ExecutableDataModified`) account the program owns
//!    (`ExternalAccountDataModified`);
//! 3. owner (aligned only): a change needs an account the program owns, writable, not
//!    executable, whose data is all zeros (`ModifiedProgramId`).
//!
//! Then the sum of all lamports must be what it was (`UnbalancedInstruction`). Changes to the
//! signer, writable and executable bytes, the key and the rent epoch are ignored, as the
//! runtime ignores them.

use crate::account::{Account, MAX_PERMITTED_DATA_LENGTH};
use crate::error::InstructionError;
use crate::instruction::{InstructionAccounts, MAX_INSTRUCTION_ACCOUNTS};
use crate::pubkey::Pubkey;
use core::fmt;

/// The room an account's data has to grow in the aligned layout.
pub const MAX_PERMITTED_DATA_INCREASE: usize = 10 * 1024;
/// The marker byte of a full entry.
pub const NON_DUP_MARKER: u8 = 0xff;

/// The loader that owns the program, which decides the layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loader {
    /// The upgradeable loader (`BPFLoaderUpgradeab1e11111111111111111111111`): aligned.
    #[default]
    Upgradeable,
    /// BPF Loader 2 (`BPFLoader2111111111111111111111111111111111`): aligned.
    V2,
    /// The deprecated loader (`BPFLoader1111111111111111111111111111111111`): unaligned.
    Deprecated,
}

/// The two layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// 8-byte aligned entries with room to grow.
    Aligned,
    /// Packed entries of fixed size.
    Unaligned,
}

impl Loader {
    /// The loader's layout.
    pub fn layout(self) -> Layout {
        match self {
            Loader::Upgradeable | Loader::V2 => Layout::Aligned,
            Loader::Deprecated => Layout::Unaligned,
        }
    }
}

/// Why an input could not be laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SerializeError {
    /// More metas than a duplicate marker can name.
    TooManyAccounts {
        /// The metas given.
        count: usize,
    },
}

impl fmt::Display for SerializeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SerializeError::TooManyAccounts { count } => write!(
                f,
                "{count} accounts, above the {MAX_INSTRUCTION_ACCOUNTS} an instruction may name"
            ),
        }
    }
}

impl std::error::Error for SerializeError {}

/// Where one full entry's fields are, for reading back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FullEntry {
    unique: usize,
    owner_at: Option<usize>,
    lamports_at: usize,
    len_at: usize,
    data_at: usize,
    pre_len: usize,
}

/// A laid-out input: the bytes to map and where each account's fields are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerializedInput {
    /// The bytes (mapped writable at the input address).
    pub bytes: Vec<u8>,
    layout: Layout,
    entries: Vec<FullEntry>,
}

/// Lays out the input for `accounts`, `data` and `program_id` as `loader` does.
pub fn serialize(
    loader: Loader,
    accounts: &InstructionAccounts,
    data: &[u8],
    program_id: &Pubkey,
) -> Result<SerializedInput, SerializeError> {
    let count = accounts.positions.len();
    if count > MAX_INSTRUCTION_ACCOUNTS {
        return Err(SerializeError::TooManyAccounts { count });
    }
    let layout = loader.layout();
    let mut out = Vec::new();
    out.extend_from_slice(&(count as u64).to_le_bytes());
    let mut entries = Vec::new();
    for &(unique, first) in &accounts.positions {
        match (first, layout) {
            // The marker fits: `count` is at most 255, so a first index is below 255.
            (Some(index), Layout::Aligned) => {
                out.push(index as u8);
                out.extend_from_slice(&[0; 7]);
            }
            (Some(index), Layout::Unaligned) => out.push(index as u8),
            (None, _) => entries.push(write_entry(&mut out, layout, accounts, unique)),
        }
    }
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&program_id.0);
    Ok(SerializedInput {
        bytes: out,
        layout,
        entries,
    })
}

fn write_entry(
    out: &mut Vec<u8>,
    layout: Layout,
    accounts: &InstructionAccounts,
    unique: usize,
) -> FullEntry {
    let entry = &accounts.unique[unique];
    let account = &entry.keyed.account;
    out.push(NON_DUP_MARKER);
    out.push(u8::from(entry.is_signer));
    out.push(u8::from(entry.is_writable));
    let mut owner_at = None;
    if layout == Layout::Aligned {
        out.push(u8::from(account.executable));
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&entry.keyed.pubkey.0);
        owner_at = Some(out.len());
        out.extend_from_slice(&account.owner.0);
    } else {
        out.extend_from_slice(&entry.keyed.pubkey.0);
    }
    let lamports_at = out.len();
    out.extend_from_slice(&account.lamports.to_le_bytes());
    let len_at = out.len();
    out.extend_from_slice(&(account.data.len() as u64).to_le_bytes());
    let data_at = out.len();
    out.extend_from_slice(&account.data);
    match layout {
        Layout::Aligned => {
            let padded = out.len() + MAX_PERMITTED_DATA_INCREASE;
            out.resize(padded.next_multiple_of(8), 0);
        }
        Layout::Unaligned => {
            out.extend_from_slice(&account.owner.0);
            out.push(u8::from(account.executable));
        }
    }
    out.extend_from_slice(&account.rent_epoch.to_le_bytes());
    FullEntry {
        unique,
        owner_at,
        lamports_at,
        len_at,
        data_at,
        pre_len: account.data.len(),
    }
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, InstructionError> {
    let field = bytes
        .get(at..at + 8)
        .ok_or(InstructionError::InvalidArgument)?;
    let mut value = [0u8; 8];
    value.copy_from_slice(field);
    Ok(u64::from_le_bytes(value))
}

/// Reads the accounts back from `bytes` (the input region after the run), enforcing the
/// runtime's rules for a program `program_id`; returns every distinct account's new state.
pub fn deserialize(
    input: &SerializedInput,
    bytes: &[u8],
    accounts: &InstructionAccounts,
    program_id: &Pubkey,
) -> Result<Vec<Account>, InstructionError> {
    let mut post: Vec<Account> = accounts
        .unique
        .iter()
        .map(|entry| entry.keyed.account.clone())
        .collect();
    for entry in &input.entries {
        let rules = Rules {
            owned: accounts.unique[entry.unique].keyed.account.owner == *program_id,
            writable: accounts.unique[entry.unique].is_writable,
        };
        let account = &mut post[entry.unique];
        let lamports = read_u64(bytes, entry.lamports_at)?;
        rules.set_lamports(account, lamports)?;
        let post_len = match input.layout {
            Layout::Aligned => checked_len(read_u64(bytes, entry.len_at)?, entry.pre_len)?,
            Layout::Unaligned => entry.pre_len,
        };
        let data = bytes
            .get(entry.data_at..entry.data_at + post_len)
            .ok_or(InstructionError::InvalidArgument)?;
        rules.set_data(account, data)?;
        if let Some(owner_at) = entry.owner_at {
            let owner = bytes
                .get(owner_at..owner_at + 32)
                .ok_or(InstructionError::InvalidArgument)?;
            let mut key = [0u8; 32];
            key.copy_from_slice(owner);
            rules.set_owner(account, Pubkey(key))?;
        }
    }
    let before: u128 = accounts
        .unique
        .iter()
        .map(|entry| u128::from(entry.keyed.account.lamports))
        .sum();
    let after: u128 = post
        .iter()
        .map(|account| u128::from(account.lamports))
        .sum();
    if before != after {
        return Err(InstructionError::UnbalancedInstruction);
    }
    Ok(post)
}

/// The aligned layout's length rule.
fn checked_len(post_len: u64, pre_len: usize) -> Result<usize, InstructionError> {
    let post_len = usize::try_from(post_len).map_err(|_| InstructionError::InvalidRealloc)?;
    if post_len.saturating_sub(pre_len) > MAX_PERMITTED_DATA_INCREASE
        || post_len > MAX_PERMITTED_DATA_LENGTH
    {
        return Err(InstructionError::InvalidRealloc);
    }
    Ok(post_len)
}

/// What the program may do to one account.
struct Rules {
    owned: bool,
    writable: bool,
}

impl Rules {
    fn set_lamports(&self, account: &mut Account, lamports: u64) -> Result<(), InstructionError> {
        if lamports == account.lamports {
            return Ok(());
        }
        if !self.owned && lamports < account.lamports {
            return Err(InstructionError::ExternalAccountLamportSpend);
        }
        if !self.writable {
            return Err(InstructionError::ReadonlyLamportChange);
        }
        if account.executable {
            return Err(InstructionError::ExecutableLamportChange);
        }
        account.lamports = lamports;
        Ok(())
    }

    fn set_data(&self, account: &mut Account, data: &[u8]) -> Result<(), InstructionError> {
        let allowed = self
            .can_resize(account, data.len())
            .and_then(|()| self.can_change(account));
        match allowed {
            Ok(()) => {
                account.data = data.to_vec();
                Ok(())
            }
            Err(error) if account.data != data => Err(error),
            Err(_) => Ok(()),
        }
    }

    fn can_change(&self, account: &Account) -> Result<(), InstructionError> {
        if account.executable {
            Err(InstructionError::ExecutableDataModified)
        } else if !self.writable {
            Err(InstructionError::ReadonlyDataModified)
        } else if !self.owned {
            Err(InstructionError::ExternalAccountDataModified)
        } else {
            Ok(())
        }
    }

    fn can_resize(&self, account: &Account, len: usize) -> Result<(), InstructionError> {
        if len != account.data.len() && !self.owned {
            return Err(InstructionError::AccountDataSizeChanged);
        }
        Ok(())
    }

    fn set_owner(&self, account: &mut Account, owner: Pubkey) -> Result<(), InstructionError> {
        if owner == account.owner {
            return Ok(());
        }
        let zeroed = account.data.iter().all(|&byte| byte == 0);
        if !self.owned || !self.writable || account.executable || !zeroed {
            return Err(InstructionError::ModifiedProgramId);
        }
        account.owner = owner;
        Ok(())
    }
}
