//! Pure arithmetic semantics: what each dialect computes, apart from dispatch.
//!
//! sBPF (reference §4.3): a zero divisor raises `DivideByZero`, signed `MIN / -1` raises
//! `DivideOverflow`, and `sdiv32` sign-extends its result. The SBPF versions of 0.26 divide
//! as sBPF does; V2's PQR class has its own function, [`pqr`]. eBPF (RFC 9669): division by zero
//! gives 0, remainder by zero leaves the dividend, `MIN / -1` gives `MIN` and `MIN % -1`
//! gives 0, and every 32-bit result is zero-extended.

use crate::code::Ext32;
use bpfvm_isa::{Dialect, MemSize, PqrOp, Width};

/// Why a division did not produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DivFault {
    /// The divisor was zero (sBPF).
    ByZero,
    /// Signed `MIN / -1` (sBPF).
    Overflow,
}

/// Widens a 32-bit result.
#[inline]
pub(super) fn extend32(value: u32, ext: Ext32) -> u64 {
    match ext {
        Ext32::Sign => value as i32 as i64 as u64,
        Ext32::Zero => u64::from(value),
    }
}

/// `movsx`: sign-extend from `size`, then (32-bit form) clear the upper half.
pub(super) fn mov_sx(value: u64, size: MemSize, width: Width) -> u64 {
    let extended = size.sign_extend(value);
    match width {
        Width::W64 => extended,
        Width::W32 => extended & u64::from(u32::MAX),
    }
}

/// Unsigned division.
pub(super) fn div(width: Width, dialect: Dialect, a: u64, b: u64) -> Result<u64, DivFault> {
    match width {
        Width::W64 => match a.checked_div(b) {
            Some(q) => Ok(q),
            None => by_zero(dialect, 0),
        },
        Width::W32 => match (a as u32).checked_div(b as u32) {
            Some(q) => Ok(u64::from(q)),
            None => by_zero(dialect, 0),
        },
    }
}

/// Unsigned remainder.
pub(super) fn rem(width: Width, dialect: Dialect, a: u64, b: u64) -> Result<u64, DivFault> {
    match width {
        Width::W64 => match a.checked_rem(b) {
            Some(r) => Ok(r),
            None => by_zero(dialect, a),
        },
        Width::W32 => match (a as u32).checked_rem(b as u32) {
            Some(r) => Ok(u64::from(r)),
            None => by_zero(dialect, u64::from(a as u32)),
        },
    }
}

fn by_zero(dialect: Dialect, ebpf_value: u64) -> Result<u64, DivFault> {
    match dialect {
        Dialect::Sbpf | Dialect::Sbpf26(_) => Err(DivFault::ByZero),
        Dialect::Ebpf => Ok(ebpf_value),
    }
}

/// Signed division.
pub(super) fn sdiv(width: Width, dialect: Dialect, a: u64, b: u64) -> Result<u64, DivFault> {
    // The SBPF versions share sBPF's rules (only V2's 64-bit form reaches here).
    let dialect = match dialect {
        Dialect::Sbpf26(_) => Dialect::Sbpf,
        Dialect::Sbpf | Dialect::Ebpf => dialect,
    };
    match width {
        Width::W64 => {
            let (a, b) = (a as i64, b as i64);
            match (dialect, b) {
                (Dialect::Sbpf, 0) => Err(DivFault::ByZero),
                (Dialect::Ebpf, 0) => Ok(0),
                (Dialect::Sbpf, -1) if a == i64::MIN => Err(DivFault::Overflow),
                _ => Ok(a.wrapping_div(b) as u64),
            }
        }
        Width::W32 => {
            let (a, b) = (a as i32, b as i32);
            let q = match (dialect, b) {
                (Dialect::Sbpf, 0) => return Err(DivFault::ByZero),
                (Dialect::Ebpf, 0) => 0,
                (Dialect::Sbpf, -1) if a == i32::MIN => return Err(DivFault::Overflow),
                _ => a.wrapping_div(b),
            };
            Ok(match dialect {
                Dialect::Sbpf | Dialect::Sbpf26(_) => q as i64 as u64,
                Dialect::Ebpf => u64::from(q as u32),
            })
        }
    }
}

/// The second operand of a PQR operation.
#[derive(Clone, Copy, Debug)]
pub(super) enum PqrOperand {
    /// A register's value.
    Reg(u64),
    /// The immediate, which `uhmul64`, `udiv64` and `urem64` zero-extend and the others
    /// sign-extend.
    Imm(i32),
}

/// An SBPF V2 PQR operation (spec `sbpf-0.26.md` §1.4). 32-bit results are zero-extended; a
/// zero divisor (its low half in 32 bits) is `ByZero`, a signed `MIN / -1` or `MIN % -1`
/// `Overflow`.
pub(super) fn pqr(op: PqrOp, width: Width, a: u64, b: PqrOperand) -> Result<u64, DivFault> {
    let (b, unsigned_b) = match b {
        PqrOperand::Reg(value) => (value, value),
        PqrOperand::Imm(imm) => (imm as i64 as u64, u64::from(imm as u32)),
    };
    match (op, width) {
        (PqrOp::Lmul, Width::W32) => Ok(u64::from((a as u32).wrapping_mul(b as u32))),
        (PqrOp::Lmul, Width::W64) => Ok(a.wrapping_mul(b)),
        (PqrOp::Uhmul, _) => Ok(((u128::from(a) * u128::from(unsigned_b)) >> 64) as u64),
        (PqrOp::Shmul, _) => {
            let product = i128::from(a as i64) * i128::from(b as i64);
            Ok((product >> 64) as u64)
        }
        (PqrOp::Udiv, Width::W32) => (a as u32)
            .checked_div(b as u32)
            .map(u64::from)
            .ok_or(DivFault::ByZero),
        (PqrOp::Udiv, Width::W64) => a.checked_div(unsigned_b).ok_or(DivFault::ByZero),
        (PqrOp::Urem, Width::W32) => (a as u32)
            .checked_rem(b as u32)
            .map(u64::from)
            .ok_or(DivFault::ByZero),
        (PqrOp::Urem, Width::W64) => a.checked_rem(unsigned_b).ok_or(DivFault::ByZero),
        (PqrOp::Sdiv | PqrOp::Srem, Width::W32) => {
            let (a, b) = (a as i32, b as i32);
            match (b, a == i32::MIN && b == -1) {
                (0, _) => Err(DivFault::ByZero),
                (_, true) => Err(DivFault::Overflow),
                _ if op == PqrOp::Sdiv => Ok(u64::from((a / b) as u32)),
                _ => Ok(u64::from((a % b) as u32)),
            }
        }
        (PqrOp::Sdiv | PqrOp::Srem, Width::W64) => {
            let (a, b) = (a as i64, b as i64);
            match (b, a == i64::MIN && b == -1) {
                (0, _) => Err(DivFault::ByZero),
                (_, true) => Err(DivFault::Overflow),
                _ if op == PqrOp::Sdiv => Ok((a / b) as u64),
                _ => Ok((a % b) as u64),
            }
        }
    }
}

/// Signed remainder (eBPF only; sBPF has no such instruction, so its rules are eBPF's).
pub(super) fn srem(width: Width, a: u64, b: u64) -> u64 {
    match width {
        Width::W64 => match b as i64 {
            0 => a,
            b => (a as i64).wrapping_rem(b) as u64,
        },
        Width::W32 => match b as i32 {
            0 => u64::from(a as u32),
            b => u64::from((a as i32).wrapping_rem(b) as u32),
        },
    }
}
