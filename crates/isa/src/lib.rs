//! The instruction set of bpfvm, defined once.
//!
//! This crate owns everything that knows how an eBPF or sBPF instruction is laid out in bytes:
//! the 8-byte [`Slot`], the typed [`Insn`] that every other stage matches on, and the two-way
//! mapping between them in [`codec`]. No other crate in the workspace looks at an opcode byte;
//! they decode once, here, and then match exhaustively on [`Insn`] so that a new instruction
//! breaks the build everywhere it must be handled. Scans too hot to build an [`Insn`] per slot
//! (the verifier's fast path) read the opcode table instead ([`opcode_shape`]): what each
//! opcode byte means, as an [`OpcodeShape`] they match on exhaustively.
//!
//! Three dialects share the encoding space but not its meaning ([`Dialect`]): sBPF as the
//! Solana reference of 2022 (solana_rbpf 0.2.38) runs it, the SBPF versions V0 to V4 as
//! solana-sbpf 0.26 runs them ([`SbpfVersion`], whose feature table [`FEATURE_TABLE`] says
//! what each version changes), and standard eBPF as RFC 9669 defines it. Where they differ
//! (the `callx` register field, the offset of signed division and `movsx`, the sBPF-only
//! signed-division opcodes, JMP32, atomics, V2's moved memory classes, PQR class and
//! `hor64`) the decoder and the encoder take the dialect.
//!
//! The engine's pre-decoded operations are defined here too, once: [`op::Op`] and every
//! fact about an op (what it reads and writes, where control goes, which memory it touches)
//! come from one table, [`for_each_op!`], so the instruction set and what the engine knows
//! about it stay in one crate.
//!
//! The crate also holds the symbol hash (Murmur3-32) that keys syscalls and functions, because
//! those keys are part of the encoding of `call` instructions.

mod codec;
mod hash;
mod insn;
pub mod op;
mod slot;
mod version;

pub use codec::{
    call_operands, decode, decode_program, decode_slot, encode, opcode_shape, DecodeError, Decoded,
    EncodeError, OpcodeShape, SourceKind,
};
pub use hash::{hash_symbol_name, murmur3_32};
pub use insn::{
    AluOp, AtomicOp, Cond, Dialect, EndianOp, Extend, Insn, MemSize, PacketMode, PqrOp, Reg,
    Source, Width,
};
pub use slot::{Slot, SLOT_SIZE};
pub use version::{CallxField, Feature, SbpfVersion, FEATURE_TABLE};
