//! An instruction: the program it calls, the accounts it names (with their signer and
//! writable flags) and its data, plus the parsers the command line uses for them.
//!
//! A meta is written `PUBKEY[:FLAGS]` with FLAGS a comma-separated subset of `signer`,
//! `writable` (also `s`, `w`), e.g. `9xQe...:signer,writable`. Data is hex, base58 or base64
//! ([`InstructionData`] names which).

use crate::account::{Account, KeyedAccount};
use crate::pubkey::{ParsePubkeyError, Pubkey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use core::fmt;
use core::str::FromStr;

/// The most accounts an instruction may name (a duplicate marker is one byte).
pub const MAX_INSTRUCTION_ACCOUNTS: usize = 255;

/// The system program, owner of accounts that do not exist yet.
pub const SYSTEM_PROGRAM: Pubkey = Pubkey([0; 32]);

/// One account an instruction names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountMeta {
    /// The account's address.
    pub pubkey: Pubkey,
    /// Whether it signed the transaction.
    pub is_signer: bool,
    /// Whether the program may change it.
    pub is_writable: bool,
}

/// An instruction to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// The program to run.
    pub program_id: Pubkey,
    /// The accounts, in order.
    pub accounts: Vec<AccountMeta>,
    /// The instruction data.
    pub data: Vec<u8>,
}

/// Why a command-line value is not a meta or instruction data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The address part is not an address.
    Pubkey(ParsePubkeyError),
    /// A flag other than signer/writable.
    UnknownFlag {
        /// The flag.
        flag: String,
    },
    /// Data that does not decode in the named encoding.
    BadData {
        /// The encoding.
        encoding: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Pubkey(error) => error.fmt(f),
            ParseError::UnknownFlag { flag } => write!(
                f,
                "unknown account flag {flag:?} (expected signer or writable)"
            ),
            ParseError::BadData { encoding } => write!(f, "instruction data is not {encoding}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl FromStr for AccountMeta {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (key, flags) = text.split_once(':').unwrap_or((text, ""));
        let mut meta = AccountMeta {
            pubkey: key.parse().map_err(ParseError::Pubkey)?,
            is_signer: false,
            is_writable: false,
        };
        for flag in flags.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            match flag {
                "signer" | "s" => meta.is_signer = true,
                "writable" | "w" => meta.is_writable = true,
                _ => {
                    return Err(ParseError::UnknownFlag {
                        flag: flag.to_owned(),
                    })
                }
            }
        }
        Ok(meta)
    }
}

/// How instruction data is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionData {
    /// Hexadecimal.
    Hex,
    /// Base58.
    Base58,
    /// Base64 (standard alphabet, padded).
    Base64,
}

impl InstructionData {
    /// Decodes `text` in this encoding.
    pub fn decode(self, text: &str) -> Result<Vec<u8>, ParseError> {
        let bad = |encoding| ParseError::BadData { encoding };
        match self {
            InstructionData::Hex => decode_hex(text).ok_or(bad("hex")),
            InstructionData::Base58 => bs58::decode(text).into_vec().map_err(|_| bad("base58")),
            InstructionData::Base64 => STANDARD.decode(text).map_err(|_| bad("base64")),
        }
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One distinct account of an instruction, with its flags (a key named twice takes the
/// union of its metas' flags, as a compiled transaction gives it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionAccount {
    /// The account and its state before the instruction.
    pub keyed: KeyedAccount,
    /// Whether it signed.
    pub is_signer: bool,
    /// Whether it is writable.
    pub is_writable: bool,
}

/// The accounts of an instruction: each distinct account once, and for every meta the index
/// of its account and, for a repeated key, the meta index of its first occurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstructionAccounts {
    /// The distinct accounts in order of first appearance.
    pub unique: Vec<InstructionAccount>,
    /// Per meta: (index into `unique`, first meta index when it repeats an earlier one).
    pub positions: Vec<(usize, Option<usize>)>,
}

impl InstructionAccounts {
    /// Resolves the metas against the given states; a key with no state is an account that
    /// does not exist yet (no lamports, no data, owned by the system program).
    pub fn resolve(metas: &[AccountMeta], states: &[KeyedAccount]) -> Self {
        let mut unique: Vec<InstructionAccount> = Vec::new();
        let mut positions = Vec::with_capacity(metas.len());
        for (index, meta) in metas.iter().enumerate() {
            let first = metas[..index].iter().position(|m| m.pubkey == meta.pubkey);
            match unique.iter().position(|u| u.keyed.pubkey == meta.pubkey) {
                Some(at) => {
                    let entry = &mut unique[at];
                    entry.is_signer |= meta.is_signer;
                    entry.is_writable |= meta.is_writable;
                    positions.push((at, first));
                }
                None => {
                    let account = states
                        .iter()
                        .find(|state| state.pubkey == meta.pubkey)
                        .map(|state| state.account.clone())
                        .unwrap_or(Account {
                            owner: SYSTEM_PROGRAM,
                            ..Account::default()
                        });
                    positions.push((unique.len(), None));
                    unique.push(InstructionAccount {
                        keyed: KeyedAccount {
                            pubkey: meta.pubkey,
                            account,
                        },
                        is_signer: meta.is_signer,
                        is_writable: meta.is_writable,
                    });
                }
            }
        }
        InstructionAccounts { unique, positions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_and_data_parse() {
        let key = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
        let meta: AccountMeta = format!("{key}:signer,writable").parse().unwrap();
        assert!(meta.is_signer && meta.is_writable);
        let meta: AccountMeta = key.parse().unwrap();
        assert!(!meta.is_signer && !meta.is_writable);
        assert_eq!(
            format!("{key}:owner").parse::<AccountMeta>(),
            Err(ParseError::UnknownFlag {
                flag: "owner".to_owned()
            })
        );
        assert_eq!(InstructionData::Hex.decode("0a0B"), Ok(vec![10, 11]));
        assert_eq!(InstructionData::Base58.decode("2"), Ok(vec![1]));
        assert_eq!(InstructionData::Base64.decode("AQI="), Ok(vec![1, 2]));
        assert!(InstructionData::Hex.decode("abc").is_err());
        assert!(InstructionData::Hex.decode("zz").is_err());
    }
}
