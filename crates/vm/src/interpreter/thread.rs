//! Threaded dispatch: a handler per [`Inst`] kind, each ending with its own jump to the
//! next instruction's handler.
//!
//! A `match` in a loop has one indirect jump for every instruction, and the host's
//! predictor has to guess every guest instruction's successor from that one site. Here each
//! kind of instruction has its own handler ([`Machine::handler`], one instance per
//! [`InstKind`]), which executes its instruction through the one `match` of
//! `Machine::execute` (the kind is known, so the compiler keeps only that arm) and then
//! fetches the next instruction and calls its handler through the table, as its last act.
//! Each handler's jump is its own, so the predictor learns what follows an `add` apart from
//! what follows a load. Stable Rust has no guaranteed tail call, but the call is in tail
//! position with the caller's own signature, so an optimized build turns it into a jump
//! (a sibling call) and the chain runs in one frame.
//!
//! A chain is bounded by fuel, so no build can grow the host stack without bound (an
//! unoptimized build makes every handler a real call): the driving loop
//! (`run_by_runs`) starts a chain with at most [`CHAIN`] instructions of fuel, and every
//! run head the chain enters costs the run's length. A run head with too little fuel left
//! ends the chain: the handler returns the head's pc to the driving loop, which decides
//! there as before (a new chain, or an exact step). Inside a run no handler counts
//! anything, as in the `match` loop: only an op that ends a run answers [`Next::Head`], and
//! the run was charged whole at its head.
//!
//! A jump enters the next run without the lookup: its [`Target`] carries the run lengths
//! of its target and of its fall-through, put there when the stream was made, so a taken
//! branch costs the fuel's compare and the dispatch (PERFORMANCE.md, phase L). Since phase
//! M this holds for the bit-test triple `mov; and; jeq` and the fused `add; jeq/jne/jlt imm`
//! too (their comparand or step in a byte, to make room). `Branch32`, calls and returns
//! still look the length up (`enter`).
//!
//! The fuel is also the chain's meter. It starts bounded by what the meter would charge at
//! once (`Meter::headroom`), so a head the fuel covers is one the meter charges, and the
//! chain keeps its count in a host register instead of the meter's memory: the meter is
//! charged the fuel spent when the chain ends and before a syscall (which reads and resets
//! it), and the fuel bounded again by the budget the syscall leaves.
//!
//! Every handler takes the stream's pointer as an argument, so that the fetch of the next
//! instruction reads no memory but the instruction: with the stream read through the
//! [`Thread`], every dispatch loaded it again (measured: 3%-8% of the kernels' time,
//! PERFORMANCE.md phase F). Its length is not passed: no fetch checks it (below), and one
//! register fewer is one callee-saved register fewer for a handler to save and restore.
//! Nor is the pc: a handler gets a pointer at its instruction, a fall-through moves it by
//! the constant number of slots its arm of `execute` skips, and the pc (the pointer's
//! distance from the stream's start) is computed only by the handlers that read it (errors,
//! branches, calls), so an ALU handler neither scales a pc nor keeps one (phase I).

//!
//! The handlers' `unsafe`: the dispatch picks an instruction's handler by the instruction's
//! kind, so a handler reads the same instruction again with neither the bound nor the kind
//! checked (each was a load or a compare per instruction); the contract is [`Handler`]'s,
//! and [`Machine::dispatch`] is the only caller.
//!
//! The dispatch itself fetches without a bound check too (it was a compare and a branch per
//! instruction). Its contract, `pc` inside the stream, holds on each of its three ways in:
//! a chain's first pc is checked against the run lengths, which a [`Thread`] never has more
//! of than instructions; a run head the chain enters is too, by the same `get` that reads
//! its run's length, unless a jump enters it by the length its [`Target`] carries (a taken
//! jump: the target is inside the stream whenever its length is known, the invariant of a
//! [`Stream`], and an unknown length never fits the fuel; a branch not taken: as a
//! fall-through); and a fall-through is at most [`TAIL`] slots past an instruction that
//! is not `Overrun`, and the stream ends with `TAIL` `Overrun`s (checked when the
//! [`Thread`] is made), so the fall-through lands inside it.
#![allow(unsafe_code)]

use super::access::{InPlace, Interrupt, Retried};
use super::exec::{Halt, Machine, Next};
use crate::code::fuse::TAIL;
use crate::code::{Inst, InstKind, Stream, Target};
use crate::context::ContextObject;
use std::cell::Cell;

/// The most instructions one chain of handlers runs before it returns to the driving loop:
/// the bound on the host stack an unoptimized build (no sibling calls) can use.
pub(super) const CHAIN: u64 = 4096;

// A chain never enters a run by an unknown length (see `Machine::enter_run`).
const _: () = assert!(CHAIN < Target::UNKNOWN as u64);

/// What a chain reads besides the machine: the interpreter's stream and the meter's run
/// lengths; and where a chain that stopped leaves the reason.
///
/// Invariant, relied on by [`Machine::dispatch`]'s callers: the stream ends with [`TAIL`]
/// `Overrun`s, and there are no more run lengths than instructions. [`Thread::new`], the
/// only way to make one, checks both, and the fields are private to this module.
pub(super) struct Thread<'c> {
    insts: &'c [Inst],
    runs: &'c [u64],
    halt: Cell<Option<Halt>>,
    /// The chain's fuel when the meter was last brought up to date ([`Machine::sync`]).
    synced: Cell<u64>,
}

impl<'c> Thread<'c> {
    /// The thread over a stream and its run lengths (one per slot and the sentinel), or
    /// `None` when the stream does not end with [`TAIL`] `Overrun`s (every stream
    /// [`crate::code::Code::insts`] makes does).
    pub(super) fn new(stream: &'c Stream, runs: &'c [u64]) -> Option<Self> {
        let insts = stream.insts();
        let tail = insts.get(insts.len().checked_sub(TAIL)?..)?;
        if tail.iter().any(|inst| *inst != Inst::Overrun) {
            return None;
        }
        Some(Thread {
            insts,
            runs: runs.get(..runs.len().min(insts.len()))?,
            halt: Cell::new(None),
            synced: Cell::new(0),
        })
    }

    /// The stream.
    pub(super) fn insts(&self) -> &'c [Inst] {
        self.insts
    }

    /// The run length of each slot and the sentinel.
    pub(super) fn runs(&self) -> &'c [u64] {
        self.runs
    }

    /// What a chain's result means: the reason it stopped, taken from the thread, or the
    /// run head the driving loop goes on at.
    #[inline(always)]
    pub(super) fn outcome(&self, result: usize) -> Result<usize, Halt> {
        if result == HALTED {
            if let Some(halt) = self.halt.take() {
                return Err(halt);
            }
        }
        Ok(result)
    }

    #[cold]
    #[inline(never)]
    fn stop(&self, halt: Halt) -> usize {
        self.halt.set(Some(halt));
        HALTED
    }
}

/// A chain's result when it stopped: the reason is in [`Thread::halt`]. (A chain's result is
/// one word, so that every handler's call of the next is a plain tail call; a pair such as
/// `Result<usize, Halt>` keeps the compiler from making it one.)
const HALTED: usize = usize::MAX;

/// A handler: runs the instruction at `pc` and everything after it in the chain; the result
/// is the run head the driving loop goes on at (not yet charged), or [`HALTED`].
///
/// # Safety
///
/// The first pointer is the thread's stream's (`Thread::insts`), the second points at one
/// of its instructions (the one to run, whose pc is their distance), and that instruction
/// is of the handler's kind (the handler reads it without a bound or kind check).
/// [`Machine::dispatch`], the only caller, establishes the kind, and passes on its own
/// caller's promise of the rest.
type Handler<M> = unsafe fn(&mut M, &Thread<'_>, *const Inst, *const Inst, u64) -> usize;

/// The table of handlers: `$name` lists every [`InstKind`] in order, which a constant
/// assertion checks, so that the handler at index `k` is the one for kind `k`.
macro_rules! handler_table {
    ($(
        $(#[$attr:meta])*
        $name:ident $({ $($field:ident : $ty:ty),* $(,)? })? => $facts:expr
    ),* $(,)?) => {
        handler_table!(@names $($name)*
            MovAddReg MovAddImm MovAndImm MovLshImm MovRshImm MovMov MovAndJeqImm NegAndReg MovJgtImm
            Ldx8AddImm Ldx16AddImm Ldx32AddImm Ldx64AddImm
            Ldx8AddReg Ldx16AddReg Ldx32AddReg Ldx64AddReg
            Ldx8XorReg Ldx16XorReg Ldx32XorReg Ldx64XorReg
            Ldx8AndImm Ldx16AndImm Ldx32AndImm Ldx64AndImm
            Ldx8LshImm Ldx16LshImm Ldx32LshImm Ldx64LshImm
            Ldx8AddStx Ldx16AddStx Ldx32AddStx Ldx64AddStx
            AddJltReg AddJneReg AddJeqImm AddJneImm AddJltImm);
    };
    (@names $($name:ident)*) => {
        const _: () = {
            let mut index = 0;
            $(
                assert!(InstKind::$name as usize == index);
                index += 1;
            )*
            assert!(index == InstKind::COUNT);
        };

        impl<C: ContextObject> Machine<'_, '_, C> {
            /// The handler of each [`InstKind`], at the kind's index.
            const HANDLERS: [Handler<Self>; InstKind::COUNT] =
                [$(Self::handler::<{ InstKind::$name as u8 }>,)*];
        }
    };
}

bpfvm_isa::for_each_op!(handler_table);

impl<C: ContextObject> Machine<'_, '_, C> {
    /// Runs the chain that starts at the run head `pc`, whose run the meter has charged;
    /// `fuel` is what the chain may still run after this run (at most [`CHAIN`] in all).
    #[inline(always)]
    pub(super) fn run_chain(
        &mut self,
        thread: &Thread<'_>,
        pc: usize,
        fuel: u64,
    ) -> Result<usize, Halt> {
        let fuel = self.fuel_within_budget(thread, fuel);
        let result = if pc < thread.runs.len() {
            // SAFETY: the thread's stream, and `pc < runs.len() <= insts.len()` (the
            // invariant of `Thread`).
            unsafe { self.dispatch_pc(thread, thread.insts.as_ptr(), pc, fuel) }
        } else {
            self.overrun(thread, fuel)
        };
        thread.outcome(result)
    }

    /// The handler of kind `KIND`: executes the instruction `at` points at (of that kind),
    /// then hands over to the next instruction's handler.
    ///
    /// # Safety
    ///
    /// `stream` is the thread's stream, `at` points at one of its instructions, of kind
    /// `KIND` (see [`Handler`]).
    unsafe fn handler<const KIND: u8>(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        at: *const Inst,
        fuel: u64,
    ) -> usize {
        // SAFETY: the caller promises that `at` points at an instruction of the thread's
        // stream (the dispatch fetched it under the same promise), which is borrowed
        // shared for the whole run.
        let inst = unsafe { &*at };
        // SAFETY: both point into the one stream (the caller's promise), `stream` at its
        // start, so their distance is a whole number of instructions and not negative.
        // Only the handlers that need a pc (errors, branches, calls) keep this subtraction.
        let pc = unsafe { at.offset_from(stream) } as usize;
        // SAFETY: the caller promises the kind (the dispatch chose this handler by the kind
        // it read from this very instruction, and the stream is borrowed shared, so it has
        // not changed since). With the promise the compiler keeps only this kind's arm of
        // the `match`, without testing the kind again.
        unsafe { core::hint::assert_unchecked(inst.kind() as u8 == KIND) };
        // A syscall reads and resets the meter, so it is brought up to date before and the
        // fuel bounded by the budget the syscall leaves after.
        let syscalls = KIND == InstKind::Syscall as u8 || KIND == InstKind::CallRegOrHelper as u8;
        if syscalls {
            self.sync(thread, fuel);
        }
        let result = self.execute::<Retried>(inst, pc);
        let fuel = if syscalls {
            self.fuel_within_budget(thread, fuel)
        } else {
            fuel
        };
        match result {
            Ok(next) => self.go_on(thread, stream, at, pc, Ok(next), fuel),
            Err(Interrupt::Halt(halt)) => self.go_on(thread, stream, at, pc, Err(halt), fuel),
            Err(Interrupt::Retry) => self.handler_any(thread, stream, pc, fuel),
        }
    }

    /// After the instruction at `pc` (which `at` points at): the next one's handler, or the
    /// end of the chain. A fall-through goes on from `at` by the slots it skips (a constant
    /// in each arm of `execute`), so that no handler that falls through computes its pc.
    #[inline(always)]
    fn go_on(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        at: *const Inst,
        pc: usize,
        next: Result<Next, Halt>,
        fuel: u64,
    ) -> usize {
        match next {
            Ok(Next::Within(next)) => {
                debug_assert!(next > pc && next <= pc + TAIL && next < thread.insts.len());
                // The stream ends with `TAIL` `Overrun`s (the invariant of `Thread`); the
                // instruction fell through, which `Overrun` never does, so `pc` lies before
                // that tail, and nothing falls through by more than `TAIL` slots.
                // SAFETY: `at` points at instruction `pc` of the thread's stream (every
                // handler passes it on unchanged), and by the above `next` is below the
                // stream's length, so `at` moved by `next - pc` points at instruction `next`.
                unsafe {
                    let next = at.add(next.wrapping_sub(pc));
                    self.dispatch(thread, stream, next, fuel)
                }
            }
            Ok(Next::Head(next)) => self.enter(thread, stream, next, fuel),
            Ok(Next::Jump(next, length)) => self.enter_run(thread, stream, next, length, fuel),
            Ok(Next::Fall(next, length)) => {
                debug_assert!(next > pc && next <= pc + TAIL && next < thread.insts.len());
                let Some(left) = fuel.checked_sub(u64::from(length)) else {
                    self.sync(thread, fuel);
                    return next;
                };
                // SAFETY: as for `Next::Within` above: the branch is not `Overrun`, so `pc`
                // lies before the stream's `TAIL` `Overrun`s, and `next` is at most `TAIL`
                // slots on, so `at` moved by `next - pc` points at instruction `next`.
                unsafe {
                    let next = at.add(next.wrapping_sub(pc));
                    self.dispatch(thread, stream, next, left)
                }
            }
            Err(halt) => thread.stop(self.halt_in_run(thread, pc, halt, fuel)),
        }
    }

    /// Fetches the instruction `at` points at and calls its handler (the chain's tail call).
    ///
    /// # Safety
    ///
    /// `stream` is the thread's stream and `at` points at one of its instructions (see the
    /// module doc for why each caller's is).
    #[inline(always)]
    unsafe fn dispatch(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        at: *const Inst,
        fuel: u64,
    ) -> usize {
        // SAFETY: the caller's promise; the stream is borrowed shared for the whole run.
        let inst = unsafe { &*at };
        let handler = Self::HANDLERS[inst.kind() as usize];
        // SAFETY: the stream and the instruction are the caller's promise, and
        // `HANDLERS[k]` is the handler of kind `k` (the constant assertion of
        // `handler_table!`), so `handler` is the one of this instruction's kind: what a
        // handler's contract asks for.
        unsafe { handler(self, thread, stream, at, fuel) }
    }

    /// [`Self::dispatch`] of the instruction at `pc`.
    ///
    /// # Safety
    ///
    /// `stream` is the thread's stream and `pc` below its length.
    #[inline(always)]
    unsafe fn dispatch_pc(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        pc: usize,
        fuel: u64,
    ) -> usize {
        // SAFETY: `pc` is below the length of the stream `stream` starts (the caller's
        // promise), so `stream + pc` points at its instruction `pc`.
        unsafe { self.dispatch(thread, stream, stream.add(pc), fuel) }
    }

    /// Goes on at the run head `pc`: in this chain when it has the fuel, which the budget
    /// bounds too (so the meter would charge the run at once), otherwise back in the
    /// driving loop.
    #[inline(always)]
    fn enter(&mut self, thread: &Thread<'_>, stream: *const Inst, pc: usize, fuel: u64) -> usize {
        // A pc past the sentinel has no run: the fetch there fails.
        let Some(&length) = thread.runs.get(pc) else {
            return self.overrun(thread, fuel);
        };
        match fuel.checked_sub(length) {
            // SAFETY: `pc < runs.len() <= insts.len()` (the `get` above and the invariant
            // of `Thread`; `stream` is the thread's stream, passed on unchanged).
            Some(left) => unsafe { self.dispatch_pc(thread, stream, pc, left) },
            None => {
                self.sync(thread, fuel);
                pc
            }
        }
    }

    /// Goes on at the run head `pc` a jump went to, whose run length `length` the jump's
    /// [`crate::code::Target`] carries: [`Self::enter`] without the lookup.
    #[inline(always)]
    fn enter_run(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        pc: usize,
        length: u16,
        fuel: u64,
    ) -> usize {
        debug_assert!(fuel <= CHAIN);
        // A chain's fuel is never more than `CHAIN` (it starts at most that and only falls),
        // below `Target::UNKNOWN` (the assertion beside `CHAIN`), so a `length` the fuel
        // covers is a known one: by the invariant of a `Stream` (the thread's), the length of
        // a slot inside the program, the slot `execute` answered `Next::Jump` with.
        match fuel.checked_sub(u64::from(length)) {
            // SAFETY: `length` is known (above), so `pc` is a slot below the stream's length;
            // `stream` is the thread's stream, passed on unchanged.
            Some(left) => unsafe { self.dispatch_pc(thread, stream, pc, left) },
            None => {
                self.sync(thread, fuel);
                pc
            }
        }
    }

    /// The fuel a chain may still run: `fuel`, bounded by what the meter would charge at
    /// once (a run of `length` fits when `due + length < base`), so that a run head the
    /// fuel covers is one the meter charges. The meter is up to date with this fuel.
    #[inline(always)]
    fn fuel_within_budget(&mut self, thread: &Thread<'_>, fuel: u64) -> u64 {
        let fuel = fuel.min(self.meter.headroom());
        thread.synced.set(fuel);
        fuel
    }

    /// Brings the meter up to date: it charges the fuel the chain spent since it last was,
    /// which is the length of every run the chain entered since.
    #[inline(always)]
    fn sync(&mut self, thread: &Thread<'_>, fuel: u64) {
        self.meter
            .charge_runs(thread.synced.get().saturating_sub(fuel));
        thread.synced.set(fuel);
    }

    /// The instruction at `pc` stopped the run: the run was charged up to its end, so the
    /// instructions after this one are given back.
    #[cold]
    #[inline(never)]
    fn halt_in_run(&mut self, thread: &Thread<'_>, pc: usize, halt: Halt, fuel: u64) -> Halt {
        self.sync(thread, fuel);
        let rest = thread.runs.get(pc).copied().unwrap_or(1);
        self.meter.refund(rest.saturating_sub(1));
        halt
    }

    /// The fetch ran past the sentinel. Out of line, so that the error is built in this
    /// function's frame and the handlers need none for it.
    #[cold]
    #[inline(never)]
    fn overrun(&mut self, thread: &Thread<'_>, fuel: u64) -> usize {
        self.sync(thread, fuel);
        thread.stop(super::loops::overrun(self.code).into())
    }

    /// The handler of an instruction of any kind, with the memory's general path in place:
    /// what a handler hands an instruction whose access missed the inlined lookup to.
    #[cold]
    #[inline(never)]
    fn handler_any(
        &mut self,
        thread: &Thread<'_>,
        stream: *const Inst,
        pc: usize,
        fuel: u64,
    ) -> usize {
        let Some(inst) = thread.insts.get(pc) else {
            return self.overrun(thread, fuel);
        };
        // Any kind may be a syscall here (see `handler`).
        self.sync(thread, fuel);
        let next = self.execute::<InPlace>(inst, pc);
        let fuel = self.fuel_within_budget(thread, fuel);
        // `inst` is instruction `pc` of the thread's stream, which `stream` starts.
        self.go_on(thread, stream, inst, pc, next, fuel)
    }
}
