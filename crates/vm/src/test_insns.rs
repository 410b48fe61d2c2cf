//! Instruction builders for the crate's own unit tests (the integration tests have theirs in
//! `tests/interp_common`): registers by number, 64-bit ALU, zero-extending loads, stores, the
//! encoding of a program to sBPF text bytes, and a seeded pseudo-random source for tests that
//! generate programs.
#![allow(clippy::unwrap_used)]

use bpfvm_isa::{encode, AluOp, Dialect, Extend, Insn, MemSize, Reg, Source, Width};

/// Register `n` (0..=10).
pub(crate) fn r(n: u8) -> Reg {
    Reg::new(n).unwrap()
}

/// A 64-bit ALU operation.
pub(crate) fn alu(op: AluOp, dst: u8, src: Source) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst: r(dst),
        src,
    }
}

/// `ldx` of `size` bytes, zero-extended.
pub(crate) fn load(size: MemSize, dst: u8, base: u8, off: i16) -> Insn {
    Insn::Load {
        size,
        extend: Extend::Zero,
        dst: r(dst),
        base: r(base),
        off,
    }
}

/// `st`/`stx` of `size` bytes of `src` (a register or the immediate).
pub(crate) fn store(size: MemSize, base: u8, off: i16, src: Source) -> Insn {
    Insn::Store {
        size,
        base: r(base),
        off,
        src,
    }
}

/// The sBPF text bytes of `program`.
pub(crate) fn sbpf_bytes(program: &[Insn]) -> Vec<u8> {
    program
        .iter()
        .flat_map(|insn| encode(insn, Dialect::Sbpf).unwrap())
        .flat_map(|slot| slot.to_bytes())
        .collect()
}

/// A xorshift64 sequence from `seed` (non-zero): the same numbers on every run and host, so a
/// failing generated case can be found again.
pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}
