//! Loads and stores of the interpreter, and what an access the aligned mapping's inlined
//! lookup does not make turns into ([`Access`]).
//!
//! The inlined lookup (the mapping's direct rows) makes every valid access of the aligned
//! mapping to a region that starts at its slot's first address, in the first eight slots
//! (every region of the standard layouts). Anything else (an access of the unaligned
//! mapping, one that fails, one the violation handler may rescue) takes the memory
//! mapping's general path, out of line. How it gets there depends on the
//! loop: the `match` loops call it in place ([`InPlace`]); a threaded handler instead stops
//! the instruction before it has done anything ([`Interrupt::Retry`]) and runs it again
//! through the handler for any kind, so that no hot handler makes a call that returns into
//! it (such a call would make it save registers at every entry, and keep the general path's
//! result in its frame, which rules out its tail call: see `thread`). A call that finds the
//! frame stack full (growing it is such a call) is retried the same way.

use super::exec::{Halt, Machine, Next};
use crate::code::{GuestReg, LoadImm};
use crate::context::ContextObject;
use bpfvm_isa::MemSize;

/// What an access the inlined lookup did not make becomes.
pub(super) trait Access {
    /// Why an instruction stopped before its end.
    type Halt: From<Halt>;

    /// A load the inlined lookup did not make.
    fn load_missed<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        size: MemSize,
        vaddr: u64,
        pc: usize,
    ) -> Result<u64, Self::Halt>;

    /// A store the inlined lookup did not make.
    fn store_missed<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), Self::Halt>;

    /// A call found the frame stack at its capacity, before it changed anything: growing
    /// it is a call that returns into the handler (see the module doc).
    fn frames_full<C: ContextObject>(machine: &mut Machine<'_, '_, C>) -> Result<(), Self::Halt>;

    /// The counter step's one lookup did not give its store, before anything was read or
    /// written: its three ops, each with its own lookup, follow (see
    /// `Machine::counter_step`).
    fn step_missed<C: ContextObject>(machine: &mut Machine<'_, '_, C>) -> Result<(), Self::Halt>;

    /// A fused instruction stopped `further` slots past its own, after the ops before
    /// them ran: the meter charges them, since the run's refund counts from the fused
    /// instruction's slot. (A retry charges nothing: the instruction runs again.)
    fn failed_further<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        halt: Self::Halt,
        further: u64,
    ) -> Self::Halt;
}

/// The general path, taken in place: the `match` loops.
pub(super) enum InPlace {}

impl Access for InPlace {
    type Halt = Halt;

    #[inline(always)]
    fn load_missed<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        size: MemSize,
        vaddr: u64,
        pc: usize,
    ) -> Result<u64, Halt> {
        machine.load_general(size, vaddr, pc)
    }

    #[inline(always)]
    fn store_missed<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), Halt> {
        machine.store_general(size, vaddr, value, pc)
    }

    /// The push grows the stack in place.
    #[inline(always)]
    fn frames_full<C: ContextObject>(_: &mut Machine<'_, '_, C>) -> Result<(), Halt> {
        Ok(())
    }

    /// The three ops run here, in place.
    #[inline(always)]
    fn step_missed<C: ContextObject>(_: &mut Machine<'_, '_, C>) -> Result<(), Halt> {
        Ok(())
    }

    #[cold]
    fn failed_further<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        halt: Halt,
        further: u64,
    ) -> Halt {
        machine.meter.charge_runs(further);
        halt
    }
}

/// The general path, taken by running the instruction again: the threaded handlers.
pub(super) enum Retried {}

/// Why a threaded handler's instruction stopped before its end.
pub(super) enum Interrupt {
    /// The run ends.
    Halt(Halt),
    /// An access missed the inlined lookup before the instruction changed anything: run it
    /// again with the general path in place.
    Retry,
}

impl From<Halt> for Interrupt {
    #[inline(always)]
    fn from(halt: Halt) -> Self {
        Interrupt::Halt(halt)
    }
}

impl Access for Retried {
    type Halt = Interrupt;

    #[inline(always)]
    fn load_missed<C: ContextObject>(
        _: &mut Machine<'_, '_, C>,
        _: MemSize,
        _: u64,
        _: usize,
    ) -> Result<u64, Interrupt> {
        Err(Interrupt::Retry)
    }

    #[inline(always)]
    fn store_missed<C: ContextObject>(
        _: &mut Machine<'_, '_, C>,
        _: MemSize,
        _: u64,
        _: u64,
        _: usize,
    ) -> Result<(), Interrupt> {
        Err(Interrupt::Retry)
    }

    #[inline(always)]
    fn frames_full<C: ContextObject>(_: &mut Machine<'_, '_, C>) -> Result<(), Interrupt> {
        Err(Interrupt::Retry)
    }

    /// The three ops run in the handler for any kind: the threaded handler keeps only the
    /// one lookup, so it holds few values and saves no register (phase J).
    #[inline(always)]
    fn step_missed<C: ContextObject>(_: &mut Machine<'_, '_, C>) -> Result<(), Interrupt> {
        Err(Interrupt::Retry)
    }

    #[inline(always)]
    fn failed_further<C: ContextObject>(
        machine: &mut Machine<'_, '_, C>,
        interrupt: Interrupt,
        further: u64,
    ) -> Interrupt {
        match interrupt {
            Interrupt::Halt(halt) => {
                Interrupt::Halt(InPlace::failed_further(machine, halt, further))
            }
            Interrupt::Retry => Interrupt::Retry,
        }
    }
}

impl<C: ContextObject> Machine<'_, '_, C> {
    /// `dst = [base + off]`, `size` bytes zero-extended.
    #[inline(always)]
    pub(super) fn load<A: Access>(
        &mut self,
        pc: usize,
        size: MemSize,
        dst: GuestReg,
        base: GuestReg,
        off: i16,
    ) -> Result<(), A::Halt> {
        let vaddr = self.addr(base, off);
        let value = match self.mapping.load_aligned(size, vaddr) {
            Some(value) => value,
            None => A::load_missed(self, size, vaddr, pc)?,
        };
        self.set(dst, value);
        Ok(())
    }

    /// The fused counter step `ldx dst, [base + off]; add64 dst, imm; stx [base + off], dst`
    /// (`dst` is not `base`, see `code::fuse`), falling through past its three slots: both
    /// accesses through one lookup of the direct rows when they give the store; otherwise
    /// (after [`Access::step_missed`]: a threaded handler hands the instruction on before
    /// anything changed) the three ops in order, the store's failure named at its own slot,
    /// `pc + 2`, after the load and the add ran. One kind per size, so `size` is each
    /// handler's constant.
    #[inline(always)]
    pub(super) fn counter_step<A: Access>(
        &mut self,
        pc: usize,
        size: MemSize,
        f: &LoadImm,
    ) -> Result<Next, A::Halt> {
        let &LoadImm {
            dst,
            base,
            off,
            imm,
        } = f;
        let vaddr = self.addr(base, off);
        let step = |value: u64| value.wrapping_add(imm as i64 as u64);
        if let Some(value) = self.mapping.modify_aligned(size, vaddr, step) {
            self.set(dst, value);
            return Ok(Next::Within(pc + 3));
        }
        A::step_missed(self)?;
        self.load::<A>(pc, size, dst, base, off)?;
        let value = step(self.reg(dst));
        self.set(dst, value);
        self.store::<A>(pc + 2, size, base, off, value)
            .map_err(|halt| A::failed_further(self, halt, 2))?;
        Ok(Next::Within(pc + 3))
    }

    /// `[base + off] = value`, its low `size` bytes.
    #[inline(always)]
    pub(super) fn store<A: Access>(
        &mut self,
        pc: usize,
        size: MemSize,
        base: GuestReg,
        off: i16,
        value: u64,
    ) -> Result<(), A::Halt> {
        let vaddr = self.addr(base, off);
        match self.mapping.store_aligned(size, vaddr, value) {
            Some(()) => Ok(()),
            None => A::store_missed(self, size, vaddr, value, pc),
        }
    }

    /// The general path of a load, out of line; its result travels in registers.
    #[inline(never)]
    fn load_general(&mut self, size: MemSize, vaddr: u64, pc: usize) -> Result<u64, Halt> {
        Ok(self.mapping.load_general(size, vaddr, pc)?)
    }

    /// The general path of a store, out of line.
    #[inline(never)]
    fn store_general(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), Halt> {
        Ok(self.mapping.store_general(size, vaddr, value, pc)?)
    }
}
