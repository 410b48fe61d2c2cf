//! Accounts: their state, and reading them from the JSON `solana account ADDRESS --output
//! json` writes, so real accounts dumped from a cluster can be replayed.
//!
//! That JSON is one object per account:
//!
//! ```json
//! {"pubkey": "<base58>",
//!  "account": {"lamports": 1461600, "data": ["<base64>", "base64"],
//!              "owner": "<base58>", "executable": false,
//!              "rentEpoch": 18446744073709551615, "space": 82}}
//! ```
//!
//! `data` may also be `["<base58>", "base58"]`; compressed and parsed encodings
//! (`base64+zstd`, `jsonParsed`) are refused with a named error, as is a `space` that
//! disagrees with the data. A file may hold one such object or an array of them.

use crate::pubkey::{ParsePubkeyError, Pubkey};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use core::fmt;
use serde::Deserialize;

/// The most account data the runtime allows (10 MiB).
pub const MAX_PERMITTED_DATA_LENGTH: usize = 10 * 1024 * 1024;

/// An account's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Its balance.
    pub lamports: u64,
    /// Its data.
    pub data: Vec<u8>,
    /// The program that owns it.
    pub owner: Pubkey,
    /// Whether it holds a program.
    pub executable: bool,
    /// Its rent epoch.
    pub rent_epoch: u64,
}

/// An account with its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedAccount {
    /// The address.
    pub pubkey: Pubkey,
    /// The state.
    pub account: Account,
}

/// Why account JSON could not be read.
#[derive(Debug)]
pub enum AccountJsonError {
    /// Not JSON of the expected shape.
    Json {
        /// What serde_json said.
        message: String,
    },
    /// An address field is not a base58 address.
    Pubkey(ParsePubkeyError),
    /// The data encoding is not `base64` or `base58`.
    UnsupportedEncoding {
        /// The encoding named.
        encoding: String,
    },
    /// The data does not decode in its encoding.
    BadData {
        /// The account.
        pubkey: String,
    },
    /// `space` disagrees with the decoded data's length.
    SpaceMismatch {
        /// The account.
        pubkey: String,
        /// The declared space.
        space: u64,
        /// The data's length.
        len: usize,
    },
    /// More data than an account may hold.
    TooLarge {
        /// The account.
        pubkey: String,
        /// The data's length.
        len: usize,
    },
}

impl fmt::Display for AccountJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountJsonError::Json { message } => write!(f, "not account JSON: {message}"),
            AccountJsonError::Pubkey(error) => error.fmt(f),
            AccountJsonError::UnsupportedEncoding { encoding } => write!(
                f,
                "account data encoding {encoding:?} is not supported (use base64 or base58)"
            ),
            AccountJsonError::BadData { pubkey } => {
                write!(f, "the data of account {pubkey} does not decode")
            }
            AccountJsonError::SpaceMismatch { pubkey, space, len } => write!(
                f,
                "account {pubkey} declares space {space} but holds {len} bytes of data"
            ),
            AccountJsonError::TooLarge { pubkey, len } => write!(
                f,
                "account {pubkey} holds {len} bytes, above the runtime's 10 MiB"
            ),
        }
    }
}

impl std::error::Error for AccountJsonError {}

#[derive(Deserialize)]
struct JsonKeyed {
    pubkey: String,
    account: JsonAccount,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonAccount {
    lamports: u64,
    data: (String, String),
    owner: String,
    executable: bool,
    rent_epoch: u64,
    space: Option<u64>,
}

/// Reads one account object or an array of them.
pub fn accounts_from_json(text: &str) -> Result<Vec<KeyedAccount>, AccountJsonError> {
    let json = |error: serde_json::Error| AccountJsonError::Json {
        message: error.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(json)?;
    let entries = match value {
        serde_json::Value::Array(entries) => entries,
        other => vec![other],
    };
    entries
        .into_iter()
        .map(|entry| keyed(serde_json::from_value(entry).map_err(json)?))
        .collect()
}

fn keyed(entry: JsonKeyed) -> Result<KeyedAccount, AccountJsonError> {
    let pubkey: Pubkey = entry.pubkey.parse().map_err(AccountJsonError::Pubkey)?;
    let json = entry.account;
    let (text, encoding) = json.data;
    let name = || entry.pubkey.clone();
    let data = match encoding.as_str() {
        "base64" => STANDARD
            .decode(text.as_bytes())
            .map_err(|_| AccountJsonError::BadData { pubkey: name() })?,
        "base58" => bs58::decode(&text)
            .into_vec()
            .map_err(|_| AccountJsonError::BadData { pubkey: name() })?,
        _ => return Err(AccountJsonError::UnsupportedEncoding { encoding }),
    };
    if data.len() > MAX_PERMITTED_DATA_LENGTH {
        let len = data.len();
        return Err(AccountJsonError::TooLarge {
            pubkey: name(),
            len,
        });
    }
    if let Some(space) = json.space {
        if space != data.len() as u64 {
            let len = data.len();
            return Err(AccountJsonError::SpaceMismatch {
                pubkey: name(),
                space,
                len,
            });
        }
    }
    Ok(KeyedAccount {
        pubkey,
        account: Account {
            lamports: json.lamports,
            data,
            owner: json.owner.parse().map_err(AccountJsonError::Pubkey)?,
            executable: json.executable,
            rent_epoch: json.rent_epoch,
        },
    })
}

/// The JSON form of an account, as `solana account --output json` writes it (base64 data).
pub fn account_to_json(keyed: &KeyedAccount) -> serde_json::Value {
    let account = &keyed.account;
    serde_json::json!({
        "pubkey": keyed.pubkey.to_string(),
        "account": {
            "lamports": account.lamports,
            "data": [STANDARD.encode(&account.data), "base64"],
            "owner": account.owner.to_string(),
            "executable": account.executable,
            "rentEpoch": account.rent_epoch,
            "space": account.data.len(),
        }
    })
}
