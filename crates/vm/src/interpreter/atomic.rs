//! eBPF atomic read-modify-write instructions: the check (a fault reports a store, as the
//! access writes), the old value, the new one and where the old value goes.

use super::exec::{Halt, Machine};
use crate::code::GuestReg;
use crate::context::ContextObject;
use bpfvm_isa::{AtomicOp, MemSize, Width};

/// Atomic read-modify-write (eBPF): returns the new memory value and what the fetch
/// destination receives.
fn atomic_result(op: AtomicOp, old: u64, operand: u64, r0: u64, width: Width) -> (u64, Fetch) {
    match op {
        AtomicOp::Add => (old.wrapping_add(operand), Fetch::None),
        AtomicOp::Or => (old | operand, Fetch::None),
        AtomicOp::And => (old & operand, Fetch::None),
        AtomicOp::Xor => (old ^ operand, Fetch::None),
        AtomicOp::FetchAdd => (old.wrapping_add(operand), Fetch::Src(old)),
        AtomicOp::FetchOr => (old | operand, Fetch::Src(old)),
        AtomicOp::FetchAnd => (old & operand, Fetch::Src(old)),
        AtomicOp::FetchXor => (old ^ operand, Fetch::Src(old)),
        AtomicOp::Xchg => (operand, Fetch::Src(old)),
        AtomicOp::CmpXchg => {
            let expected = match width {
                Width::W32 => r0 & u64::from(u32::MAX),
                Width::W64 => r0,
            };
            let new = if old == expected { operand } else { old };
            (new, Fetch::R0(old))
        }
    }
}

/// Where an atomic's old value goes.
enum Fetch {
    None,
    Src(u64),
    R0(u64),
}

impl<C: ContextObject> Machine<'_, '_, C> {
    pub(super) fn atomic(
        &mut self,
        pc: usize,
        size: MemSize,
        op: AtomicOp,
        base: GuestReg,
        src: GuestReg,
        off: i16,
    ) -> Result<(), Halt> {
        let vaddr = self.addr(base, off);
        let width = match size {
            MemSize::DW => Width::W64,
            MemSize::B | MemSize::H | MemSize::W => Width::W32,
        };
        // The reference has no atomics; a fault reports a store, as the access writes.
        let check = crate::error::AccessType::Store;
        self.mapping.map(check, vaddr, size.bytes(), pc)?;
        let old = self.mapping.load(size, vaddr, pc)?;
        let operand = match width {
            Width::W32 => self.reg(src) & u64::from(u32::MAX),
            Width::W64 => self.reg(src),
        };
        let (new, fetch) = atomic_result(op, old, operand, self.reg(GuestReg::R0), width);
        self.mapping.store(size, vaddr, new, pc)?;
        match fetch {
            Fetch::None => {}
            Fetch::Src(value) => self.set(src, value),
            Fetch::R0(value) => self.set(GuestReg::R0, value),
        }
        Ok(())
    }
}
