//! bpfvm-solana: the Solana runtime model around the bpfvm engine.
//!
//! - [`syscalls`]: the syscalls that need cryptography or the runtime around the program
//!   (SHA-256, Keccak-256, BLAKE3, secp256k1 recovery, program addresses, the sysvar getters,
//!   `sol_log_data`, remaining compute units, stack height), registered together with the
//!   engine's base set by [`syscalls::register_syscalls`].
//! - [`pubkey`]: addresses and program-derived addresses.
//!
//! The engine crate `bpfvm` stays free of these dependencies; it owns the base set, the
//! compute-cost table ([`bpfvm::syscalls::cost`]) and the host state the syscalls share.

pub mod pubkey;
pub mod syscalls;

pub use pubkey::Pubkey;
