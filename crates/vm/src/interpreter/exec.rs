//! The executor: one flat `match` per instruction over the interpreter's stream of [`Inst`]s.
//!
//! State lives in a [`Machine`] for the length of one run: the register file (`[u64; 16]`,
//! indexed by [`GuestReg`]s, below 11, so no bounds check remains), the stack pointer (sBPF's
//! r11), the call frames, and the [`Meter`]. One function, `Machine::execute`, gives every
//! instruction its meaning, the ops of the table and the fused pairs of
//! [`crate::code::fuse`] alike; two loops drive it (in `loops`):
//!
//! - the fast loop (`run_by_runs`, used by `Vm::run` without tracing) meters a whole
//!   straight-line run at its head and then executes the stream back to back, with no
//!   per-instruction metering, no count of the run's length and no tracing test: an
//!   instruction that ends a run says so ([`Next::Head`]), one that fails gives back the
//!   rest of its run from its own slot's run length. It runs the stream as threaded code
//!   (`thread`: one handler per kind, each an instance of this `match` with the kind
//!   known). Near the end of the budget it falls back to exact steps (the meter's module
//!   doc explains why this is exact);
//! - the stepping loop (`run_stepping`, for tracing and the step hook) takes one exact step
//!   at a time over the plain ops (never a fused pair): fetch (the slot after the last
//!   holds the overrun sentinel), charge, observe, execute, then the meter check for
//!   everything but the root `exit` and errors.
//!
//! Where the time goes, and why the loop looks as it does: an interpreter's cost is its
//! dispatch (the fetch and the indirect jump to the instruction's code, and that jump's
//! prediction) and the dependencies between instructions. The stream is one flat enum, so
//! its tag indexes one table of handlers; a pair fused costs one dispatch; the run's end
//! costs nothing inside the run. A conditional jump picks the next pc with a host branch, not a conditional
//! move (`taken_or`): with a conditional move, every instruction after a guest branch
//! waited for the compare to find its own operands, so a loop ran at the speed of its
//! dependency chain through the pc; with a branch the host predicts the guest's branch and
//! runs ahead, as it would in compiled code.
//!
//! An instruction's result is `Result<Next, Halt>`: where to go on, or a boxed reason to
//! stop. Two words, so it travels in registers; the box is built once per run, when it
//! ends. Instructions are matched by reference, so each arm loads only the fields it uses.
//! Loads and stores take the memory mapping's inlined aligned path; what it does not make
//! goes where the `Access` type parameter says (`access`).
//!
//! Calls (reference §4.4): a BPF-to-BPF call saves r6-r9, r10 and the return pc, raises the
//! depth (reaching `max_call_depth` is `CallDepthExceeded`), bumps the stack pointer for fixed
//! frames (twice the frame size with gaps) and sets r10 to it. `exit` in a nested frame
//! restores all of that, so the VM, not the callee, preserves r6-r9 and r10.

use super::access::Access;
use super::alu::{self, DivFault};
use super::branch::{holds32, operand_value};
use crate::code::{Code, Ext32, GuestReg, Inst, LoadImm, LoadReg, Operand, Target, Trap};
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::memory::MemoryMapping;
use crate::program::SyscallFn;
use crate::runtime::{Frame, Meter, Settings};
use bpfvm_isa::MemSize;
use core::ops::{BitAnd, BitXor};

/// Why the loop stopped early.
pub(super) enum Stop {
    /// The root frame exited with this r0.
    Exit(u64),
    /// An error ended the run.
    Error(RuntimeError),
}

/// An op's way of saying "the run ends here", one word so that an op's result
/// (`Result<usize, Halt>`) travels in registers on the hot path. The root frame's `exit`
/// (the common end of a run) needs no reason at all: its value is the machine's r0, which
/// nothing changes after the run stops, so it allocates nothing. Any other stop (an error,
/// a syscall that ends the program with its own value) is boxed, once, at the run's end.
pub(super) struct Halt(Option<Box<Stop>>);

impl Halt {
    /// The root frame's `exit`: the run's value is r0.
    pub(super) const EXIT_WITH_R0: Halt = Halt(None);

    /// The run's result, given the machine's r0 when the run stopped.
    pub(super) fn into_result(self, r0: u64) -> Result<u64, RuntimeError> {
        match self.0.map(|stop| *stop) {
            None => Ok(r0),
            Some(Stop::Exit(value)) => Ok(value),
            Some(Stop::Error(error)) => Err(error),
        }
    }
}

impl From<Stop> for Halt {
    #[cold]
    fn from(stop: Stop) -> Self {
        Halt(Some(Box::new(stop)))
    }
}

impl From<RuntimeError> for Halt {
    #[cold]
    fn from(error: RuntimeError) -> Self {
        Halt(Some(Box::new(Stop::Error(error))))
    }
}

/// Where control goes after an op that did not stop the run.
#[derive(Clone, Copy)]
pub(super) enum Next {
    /// The op does not end its straight-line run: the next op runs without metering.
    Within(usize),
    /// The op ends its run (a jump, branch, call, syscall or return): the meter looks at
    /// the run starting at this pc.
    Head(usize),
    /// A jump or a taken branch ends its run at its target, this run head, whose run length
    /// the instruction carries (its [`Target`]; [`Target::UNKNOWN`] when not known): a chain
    /// charges the run without looking its length up.
    Jump(usize, u16),
    /// A branch not taken ends its run: the next run starts at this pc (at most
    /// [`crate::code::fuse::TAIL`] slots on, as for [`Next::Within`]), and its length is
    /// this one, from the branch's [`Target`] ([`Target::UNKNOWN`] when not known).
    Fall(usize, u16),
}

/// One run of a program.
pub(crate) struct Machine<'r, 'a, C: ContextObject> {
    pub code: &'r Code,
    pub settings: Settings,
    pub context: &'r mut C,
    pub mapping: &'r mut MemoryMapping<'a>,
    /// Parallel to `code.syscall_keys`.
    pub syscalls: &'r [Option<SyscallFn<C>>],
    pub frames: &'r mut Vec<Frame>,
    pub regs: [u64; 16],
    pub stack_pointer: u64,
    pub meter: Meter,
}

impl<C: ContextObject> Machine<'_, '_, C> {
    #[inline(always)]
    pub(super) fn reg(&self, reg: GuestReg) -> u64 {
        self.regs[reg.index()]
    }

    #[inline(always)]
    pub(super) fn set(&mut self, reg: GuestReg, value: u64) {
        self.regs[reg.index()] = value;
    }

    #[inline(always)]
    pub(super) fn addr(&self, base: GuestReg, off: i16) -> u64 {
        self.reg(base).wrapping_add(off as i64 as u64)
    }

    /// Executes one op and returns the next pc. One arm per op: this is the dispatch table,
    /// and the only place an op's meaning is written down.
    ///
    /// A fall-through ([`Next::Within`]) is at most [`crate::code::fuse::TAIL`] slots past
    /// `pc` (the triple's three), and `Overrun` never falls through: the threaded dispatch
    /// fetches the slot without a bound check on that promise (`thread`).
    #[inline(always)]
    pub(super) fn execute<A: Access>(&mut self, inst: &Inst, pc: usize) -> Result<Next, A::Halt> {
        let next = pc + 1;
        let imm64 = |imm: i32| imm as i64 as u64;
        let jump = |taken: bool, target: Target| Ok(jump_or(taken, target, next));
        // A fused loop pair: its branch is the second slot's, so it falls through past both.
        let after = pc + 2;
        let jump2 = |taken: bool, target: Target| Ok(jump_or(taken, target, after));
        match *inst {
            Inst::Mov64Imm { dst, imm } => self.set(dst, imm64(imm)),
            Inst::Mov64Reg { dst, src } => self.set(dst, self.reg(src)),
            Inst::Add64Imm { dst, imm } => self.set(dst, self.reg(dst).wrapping_add(imm64(imm))),
            Inst::Add64Reg { dst, src } => self.set(dst, self.reg(dst).wrapping_add(self.reg(src))),
            Inst::Sub64Imm { dst, imm } => self.set(dst, self.reg(dst).wrapping_sub(imm64(imm))),
            Inst::Sub64Reg { dst, src } => self.set(dst, self.reg(dst).wrapping_sub(self.reg(src))),
            Inst::Mul64Imm { dst, imm } => self.set(dst, self.reg(dst).wrapping_mul(imm64(imm))),
            Inst::Mul64Reg { dst, src } => self.set(dst, self.reg(dst).wrapping_mul(self.reg(src))),
            Inst::Or64Imm { dst, imm } => self.set(dst, self.reg(dst) | imm64(imm)),
            Inst::Or64Reg { dst, src } => self.set(dst, self.reg(dst) | self.reg(src)),
            Inst::And64Imm { dst, imm } => self.set(dst, self.reg(dst) & imm64(imm)),
            Inst::And64Reg { dst, src } => self.set(dst, self.reg(dst) & self.reg(src)),
            Inst::Xor64Imm { dst, imm } => self.set(dst, self.reg(dst) ^ imm64(imm)),
            Inst::Xor64Reg { dst, src } => self.set(dst, self.reg(dst) ^ self.reg(src)),
            Inst::Lsh64Imm { dst, imm } => self.set(dst, self.reg(dst).wrapping_shl(imm as u32)),
            Inst::Lsh64Reg { dst, src } => {
                self.set(dst, self.reg(dst).wrapping_shl(self.reg(src) as u32))
            }
            Inst::Rsh64Imm { dst, imm } => self.set(dst, self.reg(dst).wrapping_shr(imm as u32)),
            Inst::Rsh64Reg { dst, src } => {
                self.set(dst, self.reg(dst).wrapping_shr(self.reg(src) as u32))
            }
            Inst::Arsh64Imm { dst, imm } => {
                self.set(dst, (self.reg(dst) as i64).wrapping_shr(imm as u32) as u64)
            }
            Inst::Arsh64Reg { dst, src } => self.set(
                dst,
                (self.reg(dst) as i64).wrapping_shr(self.reg(src) as u32) as u64,
            ),
            Inst::Neg64 { dst } => self.set(dst, self.reg(dst).wrapping_neg()),
            Inst::Hor64 { dst, imm } => self.set(dst, self.reg(dst) | u64::from(imm) << 32),
            Inst::RevSub64Imm { dst, imm } => self.set(dst, imm64(imm).wrapping_sub(self.reg(dst))),
            Inst::RevSub32Imm { dst, imm } => {
                let value = (imm as u32).wrapping_sub(self.reg(dst) as u32);
                self.set(dst, u64::from(value))
            }
            Inst::Pqr {
                op,
                width,
                dst,
                src,
            } => {
                let b = match src {
                    Operand::Reg(reg) => alu::PqrOperand::Reg(self.reg(reg)),
                    Operand::Imm(imm) => alu::PqrOperand::Imm(imm),
                };
                self.divide(pc, dst, src, |a, _| alu::pqr(op, width, a, b))?
            }
            Inst::Mov32Imm { dst, imm } => self.set(dst, u64::from(imm as u32)),
            Inst::Mov32Reg { dst, src } => self.set(dst, u64::from(self.reg(src) as u32)),
            Inst::Add32Imm { dst, imm, ext } => {
                self.alu32(dst, ext, |a| a.wrapping_add(imm as u32))
            }
            Inst::Add32Reg { dst, src, ext } => {
                let b = self.reg(src) as u32;
                self.alu32(dst, ext, |a| a.wrapping_add(b))
            }
            Inst::Sub32Imm { dst, imm, ext } => {
                self.alu32(dst, ext, |a| a.wrapping_sub(imm as u32))
            }
            Inst::Sub32Reg { dst, src, ext } => {
                let b = self.reg(src) as u32;
                self.alu32(dst, ext, |a| a.wrapping_sub(b))
            }
            Inst::Mul32Imm { dst, imm, ext } => {
                self.alu32(dst, ext, |a| a.wrapping_mul(imm as u32))
            }
            Inst::Mul32Reg { dst, src, ext } => {
                let b = self.reg(src) as u32;
                self.alu32(dst, ext, |a| a.wrapping_mul(b))
            }
            Inst::Or32 { dst, src } => self.bits32(dst, src, |a, b| a | b),
            Inst::And32 { dst, src } => self.bits32(dst, src, |a, b| a & b),
            Inst::Xor32 { dst, src } => self.bits32(dst, src, |a, b| a ^ b),
            Inst::Lsh32 { dst, src } => self.bits32(dst, src, u32::wrapping_shl),
            Inst::Rsh32 { dst, src } => self.bits32(dst, src, u32::wrapping_shr),
            Inst::Arsh32 { dst, src } => {
                self.bits32(dst, src, |a, b| (a as i32).wrapping_shr(b) as u32)
            }
            Inst::Neg32 { dst } => self.set(dst, u64::from((self.reg(dst) as u32).wrapping_neg())),
            Inst::SetConst { dst, value } => self.set(dst, value),
            Inst::MovSx {
                dst,
                src,
                size,
                width,
            } => self.set(dst, alu::mov_sx(self.reg(src), size, width)),
            Inst::Div {
                width,
                dst,
                src,
                dialect,
            } => self.divide(pc, dst, src, |a, b| alu::div(width, dialect, a, b))?,
            Inst::Mod {
                width,
                dst,
                src,
                dialect,
            } => self.divide(pc, dst, src, |a, b| alu::rem(width, dialect, a, b))?,
            Inst::SDiv {
                width,
                dst,
                src,
                dialect,
            } => self.divide(pc, dst, src, |a, b| alu::sdiv(width, dialect, a, b))?,
            Inst::SMod {
                width, dst, src, ..
            } => self.divide(pc, dst, src, |a, b| Ok(alu::srem(width, a, b)))?,
            Inst::Trunc16 { dst } => self.set(dst, u64::from(self.reg(dst) as u16)),
            Inst::Trunc32 { dst } => self.set(dst, u64::from(self.reg(dst) as u32)),
            Inst::Swap16 { dst } => self.set(dst, u64::from((self.reg(dst) as u16).swap_bytes())),
            Inst::Swap32 { dst } => self.set(dst, u64::from((self.reg(dst) as u32).swap_bytes())),
            Inst::Swap64 { dst } => self.set(dst, self.reg(dst).swap_bytes()),
            Inst::LoadImm64 { dst, imm } => {
                self.set(dst, imm);
                return Ok(Next::Within(pc + 2));
            }
            Inst::Ldx8 { dst, base, off } => self.load::<A>(pc, MemSize::B, dst, base, off)?,
            Inst::Ldx16 { dst, base, off } => self.load::<A>(pc, MemSize::H, dst, base, off)?,
            Inst::Ldx32 { dst, base, off } => self.load::<A>(pc, MemSize::W, dst, base, off)?,
            Inst::Ldx64 { dst, base, off } => self.load::<A>(pc, MemSize::DW, dst, base, off)?,
            Inst::LdxSigned {
                dst,
                base,
                off,
                size,
            } => {
                self.load::<A>(pc, size, dst, base, off)?;
                self.set(dst, size.sign_extend(self.reg(dst)));
            }
            Inst::St8 { base, off, imm } => {
                self.store::<A>(pc, MemSize::B, base, off, imm64(imm))?
            }
            Inst::St16 { base, off, imm } => {
                self.store::<A>(pc, MemSize::H, base, off, imm64(imm))?
            }
            Inst::St32 { base, off, imm } => {
                self.store::<A>(pc, MemSize::W, base, off, imm64(imm))?
            }
            Inst::St64 { base, off, imm } => {
                self.store::<A>(pc, MemSize::DW, base, off, imm64(imm))?
            }
            Inst::Stx8 { base, src, off } => {
                self.store::<A>(pc, MemSize::B, base, off, self.reg(src))?
            }
            Inst::Stx16 { base, src, off } => {
                self.store::<A>(pc, MemSize::H, base, off, self.reg(src))?
            }
            Inst::Stx32 { base, src, off } => {
                self.store::<A>(pc, MemSize::W, base, off, self.reg(src))?
            }
            Inst::Stx64 { base, src, off } => {
                self.store::<A>(pc, MemSize::DW, base, off, self.reg(src))?
            }
            Inst::Atomic {
                size,
                op,
                base,
                src,
                off,
            } => self.atomic(pc, size, op, base, src, off)?,
            Inst::Ja { target } => return Ok(Next::Jump(target.slot() as usize, target.taken())),
            Inst::JeqImm { dst, imm, target } => return jump(self.reg(dst) == imm64(imm), target),
            Inst::JeqReg { dst, src, target } => {
                return jump(self.reg(dst) == self.reg(src), target)
            }
            Inst::JneImm { dst, imm, target } => return jump(self.reg(dst) != imm64(imm), target),
            Inst::JneReg { dst, src, target } => {
                return jump(self.reg(dst) != self.reg(src), target)
            }
            Inst::JgtImm { dst, imm, target } => return jump(self.reg(dst) > imm64(imm), target),
            Inst::JgtReg { dst, src, target } => {
                return jump(self.reg(dst) > self.reg(src), target)
            }
            Inst::JgeImm { dst, imm, target } => return jump(self.reg(dst) >= imm64(imm), target),
            Inst::JgeReg { dst, src, target } => {
                return jump(self.reg(dst) >= self.reg(src), target)
            }
            Inst::JltImm { dst, imm, target } => return jump(self.reg(dst) < imm64(imm), target),
            Inst::JltReg { dst, src, target } => {
                return jump(self.reg(dst) < self.reg(src), target)
            }
            Inst::JleImm { dst, imm, target } => return jump(self.reg(dst) <= imm64(imm), target),
            Inst::JleReg { dst, src, target } => {
                return jump(self.reg(dst) <= self.reg(src), target)
            }
            Inst::JsetImm { dst, imm, target } => {
                return jump(self.reg(dst) & imm64(imm) != 0, target)
            }
            Inst::JsetReg { dst, src, target } => {
                return jump(self.reg(dst) & self.reg(src) != 0, target)
            }
            Inst::JsgtImm { dst, imm, target } => {
                return jump(self.reg(dst) as i64 > i64::from(imm), target)
            }
            Inst::JsgtReg { dst, src, target } => {
                return jump(self.reg(dst) as i64 > self.reg(src) as i64, target)
            }
            Inst::JsgeImm { dst, imm, target } => {
                return jump(self.reg(dst) as i64 >= i64::from(imm), target)
            }
            Inst::JsgeReg { dst, src, target } => {
                return jump(self.reg(dst) as i64 >= self.reg(src) as i64, target)
            }
            Inst::JsltImm { dst, imm, target } => {
                return jump((self.reg(dst) as i64) < i64::from(imm), target)
            }
            Inst::JsltReg { dst, src, target } => {
                return jump((self.reg(dst) as i64) < self.reg(src) as i64, target)
            }
            Inst::JsleImm { dst, imm, target } => {
                return jump(self.reg(dst) as i64 <= i64::from(imm), target)
            }
            Inst::JsleReg { dst, src, target } => {
                return jump(self.reg(dst) as i64 <= self.reg(src) as i64, target)
            }
            Inst::Branch32 {
                cond,
                dst,
                src,
                target,
            } => {
                let b = operand_value(&self.regs, src);
                return Ok(Next::Head(taken_or(
                    holds32(cond, self.reg(dst), b),
                    target,
                    next,
                )));
            }
            Inst::Syscall { index } => {
                self.syscall(pc, index)?;
                return Ok(Next::Head(next));
            }
            Inst::Call { target } => return Ok(Next::Head(self.call::<A>(pc, target)?)),
            Inst::CallReg { reg } => return Ok(Next::Head(self.call_register(pc, reg)?)),
            Inst::CallRegOrHelper { reg } => {
                return Ok(Next::Head(self.call_register_or_helper(pc, reg)?))
            }
            Inst::Exit => return Ok(Next::Head(self.exit(pc)?)),
            Inst::MoveStackPointer { delta } => {
                self.stack_pointer = self.stack_pointer.wrapping_add(delta as u64)
            }
            Inst::Nop => {}
            Inst::Trap { trap } => return Err(Halt::from(trap_error(trap, pc)).into()),
            Inst::Overrun => return Err(Halt::from(RuntimeError::ExecutionOverrun { pc }).into()),
            // The fused pairs ([`crate::code::fuse`]): what the two ops do, in order. They
            // cannot fail, and a loop pair's branch ends the run as the plain branch would.
            Inst::MovAddReg { dst, a, b } => {
                self.set(dst, self.reg(a).wrapping_add(self.reg(b)));
                return Ok(Next::Within(after));
            }
            Inst::MovAddImm { dst, a, imm } => {
                self.set(dst, self.reg(a).wrapping_add(imm64(imm)));
                return Ok(Next::Within(after));
            }
            Inst::MovAndImm { dst, a, imm } => {
                self.set(dst, self.reg(a) & imm64(imm));
                return Ok(Next::Within(after));
            }
            Inst::MovLshImm { dst, a, imm } => {
                self.set(dst, self.reg(a).wrapping_shl(imm as u32));
                return Ok(Next::Within(after));
            }
            Inst::MovRshImm { dst, a, imm } => {
                self.set(dst, self.reg(a).wrapping_shr(imm as u32));
                return Ok(Next::Within(after));
            }
            Inst::MovMov { dst, a, to, from } => {
                // Both values are read before either copy is written (`from` already reads
                // `a` where the second copy named `dst`); the second write wins when `to` is
                // `dst`, as it would in order.
                let (first, second) = (self.reg(a), self.reg(from));
                self.set(dst, first);
                self.set(to, second);
                return Ok(Next::Within(after));
            }
            Inst::MovAndJeqImm {
                dst,
                a,
                cmp,
                imm,
                target,
            } => {
                let masked = self.reg(a) & imm64(imm);
                self.set(dst, masked);
                // The triple's branch is the third slot's: it falls through past all three.
                return Ok(jump_or(masked == imm64(cmp.into()), target, pc + 3));
            }
            Inst::NegAndReg { dst, src } => {
                self.set(dst, self.reg(dst).wrapping_neg() & self.reg(src));
                return Ok(Next::Within(after));
            }
            Inst::MovJgtImm {
                dst,
                a,
                x,
                cmp,
                target,
            } => {
                self.set(dst, self.reg(a));
                return jump2(self.reg(x) > imm64(cmp), target);
            }
            // The fused memory forms, one kind per size (see `load_imm`). Their operands are
            // taken by reference, so that each is read from the instruction as its own field
            // (a copy of the operands is one wide load, after which the compiler no longer
            // knows that a register field is below 16, and checks its index).
            Inst::Ldx8AddImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::B, f, u64::wrapping_add)
            }
            Inst::Ldx16AddImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::H, f, u64::wrapping_add)
            }
            Inst::Ldx32AddImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::W, f, u64::wrapping_add)
            }
            Inst::Ldx64AddImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::DW, f, u64::wrapping_add)
            }
            Inst::Ldx8AddReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::B, f, u64::wrapping_add)
            }
            Inst::Ldx16AddReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::H, f, u64::wrapping_add)
            }
            Inst::Ldx32AddReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::W, f, u64::wrapping_add)
            }
            Inst::Ldx64AddReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::DW, f, u64::wrapping_add)
            }
            Inst::Ldx8XorReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::B, f, BitXor::bitxor)
            }
            Inst::Ldx16XorReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::H, f, BitXor::bitxor)
            }
            Inst::Ldx32XorReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::W, f, BitXor::bitxor)
            }
            Inst::Ldx64XorReg(ref f) => {
                return self.load_reg::<A>(pc, MemSize::DW, f, BitXor::bitxor)
            }
            Inst::Ldx8AndImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::B, f, BitAnd::bitand)
            }
            Inst::Ldx16AndImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::H, f, BitAnd::bitand)
            }
            Inst::Ldx32AndImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::W, f, BitAnd::bitand)
            }
            Inst::Ldx64AndImm(ref f) => {
                return self.load_imm::<A>(pc, MemSize::DW, f, BitAnd::bitand)
            }
            Inst::Ldx8LshImm(ref f) => return self.load_imm::<A>(pc, MemSize::B, f, shift_left),
            Inst::Ldx16LshImm(ref f) => return self.load_imm::<A>(pc, MemSize::H, f, shift_left),
            Inst::Ldx32LshImm(ref f) => return self.load_imm::<A>(pc, MemSize::W, f, shift_left),
            Inst::Ldx64LshImm(ref f) => return self.load_imm::<A>(pc, MemSize::DW, f, shift_left),
            Inst::AddJltReg {
                dst,
                x,
                y,
                imm,
                target,
            } => {
                self.set(dst, self.reg(dst).wrapping_add(imm64(imm)));
                return jump2(self.reg(x) < self.reg(y), target);
            }
            Inst::AddJneReg {
                dst,
                x,
                y,
                imm,
                target,
            } => {
                self.set(dst, self.reg(dst).wrapping_add(imm64(imm)));
                return jump2(self.reg(x) != self.reg(y), target);
            }
            Inst::AddJeqImm {
                dst,
                x,
                imm,
                cmp,
                target,
            } => {
                self.set(dst, self.reg(dst).wrapping_add(imm64(imm.into())));
                return jump2(self.reg(x) == imm64(cmp), target);
            }
            Inst::AddJneImm {
                dst,
                x,
                imm,
                cmp,
                target,
            } => {
                self.set(dst, self.reg(dst).wrapping_add(imm64(imm.into())));
                return jump2(self.reg(x) != imm64(cmp), target);
            }
            Inst::AddJltImm {
                dst,
                x,
                imm,
                cmp,
                target,
            } => {
                self.set(dst, self.reg(dst).wrapping_add(imm64(imm.into())));
                return jump2(self.reg(x) < imm64(cmp), target);
            }
            // The triple: the store is the third slot's, and may fail after the load and the
            // add ran, as the plain ops would.
            Inst::Ldx8AddStx(ref f) => return self.counter_step::<A>(pc, MemSize::B, f),
            Inst::Ldx16AddStx(ref f) => return self.counter_step::<A>(pc, MemSize::H, f),
            Inst::Ldx32AddStx(ref f) => return self.counter_step::<A>(pc, MemSize::W, f),
            Inst::Ldx64AddStx(ref f) => return self.counter_step::<A>(pc, MemSize::DW, f),
        }
        Ok(Next::Within(next))
    }

    /// A fused load of `size` bytes into `dst` and then `dst = op(dst, imm)` (the immediate
    /// sign-extended), falling through past both slots. Only the load can fail, and it runs
    /// first. Each fused memory form has one kind per size, so `size` is a constant in each
    /// handler: no handler reads it from the instruction or jumps on it.
    #[inline(always)]
    fn load_imm<A: Access>(
        &mut self,
        pc: usize,
        size: MemSize,
        f: &LoadImm,
        op: impl FnOnce(u64, u64) -> u64,
    ) -> Result<Next, A::Halt> {
        self.load::<A>(pc, size, f.dst, f.base, f.off)?;
        self.set(f.dst, op(self.reg(f.dst), f.imm as i64 as u64));
        Ok(Next::Within(pc + 2))
    }

    /// [`Self::load_imm`] with a register operand, read after the load (`src` may name
    /// `dst`: the loaded value).
    #[inline(always)]
    fn load_reg<A: Access>(
        &mut self,
        pc: usize,
        size: MemSize,
        f: &LoadReg,
        op: impl FnOnce(u64, u64) -> u64,
    ) -> Result<Next, A::Halt> {
        self.load::<A>(pc, size, f.dst, f.base, f.off)?;
        self.set(f.dst, op(self.reg(f.dst), self.reg(f.src)));
        Ok(Next::Within(pc + 2))
    }

    #[inline(always)]
    fn alu32(&mut self, dst: GuestReg, ext: Ext32, f: impl FnOnce(u32) -> u32) {
        let value = f(self.reg(dst) as u32);
        self.set(dst, alu::extend32(value, ext));
    }

    #[inline(always)]
    fn bits32(&mut self, dst: GuestReg, src: Operand, f: impl FnOnce(u32, u32) -> u32) {
        let b = operand_value(&self.regs, src) as u32;
        let value = f(self.reg(dst) as u32, b);
        self.set(dst, u64::from(value));
    }

    fn divide(
        &mut self,
        pc: usize,
        dst: GuestReg,
        src: Operand,
        f: impl FnOnce(u64, u64) -> Result<u64, DivFault>,
    ) -> Result<(), Halt> {
        let b = operand_value(&self.regs, src);
        match f(self.reg(dst), b) {
            Ok(value) => {
                self.set(dst, value);
                Ok(())
            }
            Err(DivFault::ByZero) => Err(RuntimeError::DivideByZero { pc }.into()),
            Err(DivFault::Overflow) => Err(RuntimeError::DivideOverflow { pc }.into()),
        }
    }
}

/// `lsh64`'s shift by an immediate (sign-extended, then taken modulo 64 as the plain op does).
#[inline(always)]
fn shift_left(value: u64, imm: u64) -> u64 {
    value.wrapping_shl(imm as u32)
}

/// Where a jump with a [`Target`] goes: the target and its run length when it is taken, else
/// `next` and the fall-through's, chosen by a branch of the host as [`taken_or`] does.
#[inline(always)]
fn jump_or(taken: bool, target: Target, next: usize) -> Next {
    if taken {
        // The barrier of `taken_or`.
        std::hint::black_box(());
        Next::Jump(target.slot() as usize, target.taken())
    } else {
        Next::Fall(next, target.fallthrough())
    }
}

/// The pc after a conditional jump: `target` when it is taken, else `next`, chosen by a
/// branch of the host rather than a conditional move (see the module doc).
#[inline(always)]
fn taken_or(taken: bool, target: u32, next: usize) -> usize {
    if taken {
        // An empty barrier the optimizer may not execute speculatively: it keeps the two
        // outcomes on two paths, so the host predicts the guest's branch.
        std::hint::black_box(());
        target as usize
    } else {
        next
    }
}

fn trap_error(trap: Trap, pc: usize) -> RuntimeError {
    match trap {
        Trap::Unsupported => RuntimeError::UnsupportedInstruction { pc },
        Trap::Invalid => RuntimeError::InvalidInstruction { pc },
        Trap::DivideByZero => RuntimeError::DivideByZero { pc },
    }
}
