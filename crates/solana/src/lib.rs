//! bpfvm-solana: the Solana runtime model around the bpfvm engine.
//!
//! - [`syscalls`]: the syscalls that need cryptography or the runtime around the program
//!   (SHA-256, Keccak-256, BLAKE3, secp256k1 recovery, program addresses, the sysvar getters,
//!   `sol_log_data`, remaining compute units, stack height), registered together with the
//!   engine's base set by [`syscalls::register_syscalls`].
//! - [`pubkey`]: addresses and program-derived addresses.
//! - [`account`]: account states and the JSON `solana account --output json` writes.
//! - [`instruction`]: instructions, account metas and their command-line forms.
//! - [`serialization`]: the loader's input, aligned and unaligned, and reading the accounts
//!   back under the runtime's rules.
//! - [`error`]: `InstructionError` and the decoding of a program's return value.
//! - [`mod@invoke`]: running one instruction end to end, with compute units, return data and the
//!   runtime's log framing; [`changes`] describes what it did to the accounts.
//! - [`program`], [`imports`]: loading a program with the whole set, and naming the imports
//!   nothing serves.
//!
//! The engine crate `bpfvm` stays free of these dependencies; it owns the base set, the
//! compute-cost table ([`bpfvm::syscalls::cost`]) and the host state the syscalls share.

pub mod account;
pub mod changes;
pub mod error;
pub mod imports;
pub mod instruction;
pub mod invoke;
pub mod program;
pub mod pubkey;
pub mod serialization;
pub mod syscalls;

pub use account::{Account, KeyedAccount};
pub use error::InstructionError;
pub use instruction::{AccountMeta, Instruction};
pub use invoke::{invoke, invoke_in, InvokeOptions, InvokeOutcome};
pub use program::{load_program, SolanaProgram};
pub use pubkey::Pubkey;
pub use serialization::Loader;
