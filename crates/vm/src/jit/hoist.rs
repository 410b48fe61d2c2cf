//! Loop versioning: which memory checks of a tight loop can be done once, before the loop,
//! instead of at every access.
//!
//! A tight loop (`CodeView::is_loop_header`: a backward jump at most 64 slots after its head)
//! without calls, syscalls, `exit` or atomics cannot change the memory mapping, so a
//! register the body never writes (an *invariant*) holds the same address in every
//! iteration. [`plan`] follows the body in slot order with a small abstract value per
//! register: unknown, or `base + x` with `x` in a range `lo..=hi` (base an invariant, or
//! none for a plain number), as the body computes it within one iteration: bytes, halves
//! and words loaded (`0..=255`, ...), masks with `and`, shifts, copies, and adds and
//! subtracts of immediates and ranges. At a jump target inside the body every register
//! but the invariants is forgotten. An access through `I + x` with `x` in a range then
//! touches bytes inside `I + lo + off .. I + hi + off + size`; the union of those per
//! invariant `I` is a [`Group`].
//!
//! The compiler emits a guard where execution falls into the loop's head: for each group,
//! the whole span lies inside one row of the region table, with the group's permission
//! ([`super::version`]). If every group passes, a second copy of the loop runs
//! whose accesses of those groups translate with no check (`host = vaddr + delta`, the
//! delta of the guard's row kept in `Env::hoisted`); otherwise the ordinary loop runs. The
//! guard only decides which copy runs, and both give the same result: a span inside the
//! row means every access of the group hits the inline table check, which would have given
//! the same host address. A wrong guess (a span too wide, a pointer into the gapped stack)
//! only costs the ordinary loop's speed.
//!
//! For compile speed, [`plan_of`] first looks at the ops' facts (`may_plan`): most loops
//! call something, or have no access, and are rejected before the analysis proper, whose
//! dispatch per op is what it costs.

use super::access::Access;
use super::view::CodeView;
use crate::code::{AccessKind, Flow, GuestReg, Op, Operand};

#[cfg(test)]
#[path = "hoist_tests.rs"]
mod tests;

/// The longest body [`plan`] looks at (slots from the head to the back edge, inclusive):
/// per-slot data of a plan fit one `u64` mask.
pub(crate) const MAX_BODY: usize = 64;

/// How many invariant bases one loop may hoist (`Env::hoisted` holds one delta each).
pub(crate) const MAX_GROUPS: usize = 4;

/// The largest magnitude of a range bound the analysis keeps: sums of a few of them stay
/// far from overflow, and a span that fits the guard's 32-bit immediates is much smaller.
const BOUND: i64 = 1 << 40;

/// The accesses of one loop through one invariant base register: together they touch bytes
/// `base + lo .. base + lo + len` (guest addresses, wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    /// The invariant register.
    pub base: GuestReg,
    /// Where the span starts, relative to the register.
    pub lo: i32,
    /// The span's length in bytes.
    pub len: i32,
    /// `Store` if any access of the group writes.
    pub access: Access,
}

/// A loop to version: its slots, its groups, and which access uses which group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The loop's head.
    pub head: usize,
    /// The last slot of the body (the backward jump to the head).
    pub latch: usize,
    /// The hoisted groups (at most [`MAX_GROUPS`]).
    pub groups: Vec<Group>,
    /// Per slot of the body (index `pc - head`): the group of its access, if hoisted.
    slot_group: [Option<u8>; MAX_BODY],
}

impl Plan {
    /// The group whose delta translates the access at `pc`, if it is hoisted.
    pub fn group_of(&self, pc: usize) -> Option<u8> {
        let index = pc.checked_sub(self.head)?;
        self.slot_group.get(index).copied().flatten()
    }

    /// Keeps only the groups `keep` accepts (the compiler drops bases it guesses to point
    /// into the gapped stack, where the guard would always fail); `None` if none is left.
    pub fn retain(mut self, keep: impl Fn(&Group) -> bool) -> Option<Plan> {
        let mut renumber = [None; MAX_GROUPS];
        let mut kept = Vec::with_capacity(self.groups.len());
        for (index, group) in self.groups.iter().enumerate() {
            if keep(group) {
                renumber[index] = u8::try_from(kept.len()).ok();
                kept.push(*group);
            }
        }
        for slot in self.slot_group.iter_mut() {
            *slot = slot.and_then(|group| renumber.get(usize::from(group)).copied().flatten());
        }
        self.groups = kept;
        (!self.groups.is_empty()).then_some(self)
    }
}

/// What the analysis knows about a register within one iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Nothing.
    Unknown,
    /// `base + x` (wrapping) for some integer `x` in `lo..=hi`; without a base, the value is
    /// `x` itself (as a 64-bit two's complement number).
    Range {
        base: Option<GuestReg>,
        lo: i64,
        hi: i64,
    },
}

impl Val {
    fn range(base: Option<GuestReg>, lo: i64, hi: i64) -> Val {
        let fits = |v: i64| (-BOUND..=BOUND).contains(&v);
        match fits(lo) && fits(hi) && lo <= hi {
            true => Val::Range { base, lo, hi },
            false => Val::Unknown,
        }
    }

    fn number(lo: i64, hi: i64) -> Val {
        Val::range(None, lo, hi)
    }

    /// A plain number in `lo..=hi` with `lo >= 0`, if the value is one.
    fn unsigned(self) -> Option<(i64, i64)> {
        match self {
            Val::Range { base: None, lo, hi } if lo >= 0 => Some((lo, hi)),
            _ => None,
        }
    }

    fn add(self, other: Val) -> Val {
        match (self, other) {
            (
                Val::Range { base, lo, hi },
                Val::Range {
                    base: other_base,
                    lo: other_lo,
                    hi: other_hi,
                },
            ) if base.is_none() || other_base.is_none() => {
                Val::range(base.or(other_base), lo + other_lo, hi + other_hi)
            }
            _ => Val::Unknown,
        }
    }

    fn sub(self, other: Val) -> Val {
        match other {
            Val::Range {
                base: None, lo, hi, ..
            } => self.add(Val::number(-hi, -lo)),
            _ => Val::Unknown,
        }
    }

    /// The value truncated to 32 bits and zero-extended.
    fn low32(self) -> Val {
        match self.unsigned() {
            Some((_, hi)) if hi <= i64::from(u32::MAX) => self,
            _ => Val::number(0, i64::from(u32::MAX)),
        }
    }

    /// `self & mask` for a non-negative mask.
    fn and(self, mask: i64) -> Val {
        match self.unsigned() {
            Some((_, hi)) => Val::number(0, hi.min(mask)),
            None => Val::number(0, mask),
        }
    }

    fn shl(self, by: i32) -> Val {
        match (self.unsigned(), u32::try_from(by)) {
            (Some((lo, hi)), Ok(by @ 0..=40)) => {
                let factor = 1i64 << by;
                match (lo.checked_mul(factor), hi.checked_mul(factor)) {
                    (Some(lo), Some(hi)) => Val::number(lo, hi),
                    _ => Val::Unknown,
                }
            }
            _ => Val::Unknown,
        }
    }

    fn shr(self, by: i32) -> Val {
        match (self.unsigned(), u32::try_from(by)) {
            (Some((lo, hi)), Ok(by @ 0..=63)) => Val::number(lo >> by, hi >> by),
            (None, Ok(by @ 24..=63)) => Val::number(0, (u64::MAX >> by) as i64),
            _ => Val::Unknown,
        }
    }
}

/// One access of the body.
#[derive(Clone, Copy, Debug)]
struct AccessAt {
    base: GuestReg,
    off: i16,
    size: u8,
    access: Access,
}

/// What one op does, for the analysis.
enum Step {
    /// Writes `dst` with a value computed from the registers before the op.
    Write { dst: GuestReg, value: Val },
    /// A memory access (and, for a load, the value it leaves in a register).
    Access {
        at: AccessAt,
        load: Option<(GuestReg, Val)>,
    },
    /// A jump (conditional or not) to `target`; writes nothing.
    Jump { target: usize },
    /// Writes nothing (no-ops).
    Nothing,
    /// An op that may change the mapping, a frame or r10 (or one the analysis does not
    /// model): the loop is not versioned.
    Unsupported,
}

/// The registers' values as the body computes them.
struct State {
    regs: [Val; 11],
}

impl State {
    fn get(&self, reg: GuestReg) -> Val {
        self.regs[reg.index()]
    }

    fn number(lo: i64, hi: i64) -> Val {
        Val::number(lo, hi)
    }

    /// The effect of `op` given the values before it.
    fn step(&self, op: &Op) -> Step {
        let write = |dst: GuestReg, value: Val| Step::Write { dst, value };
        let unknown = |dst: GuestReg| Step::Write {
            dst,
            value: Val::Unknown,
        };
        let imm = |imm: i32| Val::number(i64::from(imm), i64::from(imm));
        let load = |dst: GuestReg, base: GuestReg, off: i16, size: u8, value: Val| Step::Access {
            at: AccessAt {
                base,
                off,
                size,
                access: Access::Load,
            },
            load: Some((dst, value)),
        };
        let store = |base: GuestReg, off: i16, size: u8| Step::Access {
            at: AccessAt {
                base,
                off,
                size,
                access: Access::Store,
            },
            load: None,
        };
        match *op {
            Op::Mov64Imm { dst, imm: value } => write(dst, imm(value)),
            Op::Mov64Reg { dst, src } => write(dst, self.get(src)),
            Op::Add64Imm { dst, imm: value } => write(dst, self.get(dst).add(imm(value))),
            Op::Add64Reg { dst, src } => write(dst, self.get(dst).add(self.get(src))),
            Op::Sub64Imm { dst, imm: value } => write(dst, self.get(dst).sub(imm(value))),
            Op::Sub64Reg { dst, src } => write(dst, self.get(dst).sub(self.get(src))),
            Op::And64Imm { dst, imm } if imm >= 0 => write(dst, self.get(dst).and(i64::from(imm))),
            Op::Lsh64Imm { dst, imm } => write(dst, self.get(dst).shl(imm)),
            Op::Rsh64Imm { dst, imm } => write(dst, self.get(dst).shr(imm)),
            Op::Mov32Imm { dst, imm } => {
                let value = i64::from(imm as u32);
                write(dst, Self::number(value, value))
            }
            Op::Mov32Reg { dst, src } => write(dst, self.get(src).low32()),
            Op::Trunc32 { dst } => write(dst, self.get(dst).low32()),
            Op::And32 {
                dst,
                src: Operand::Imm(mask),
            } => write(dst, self.get(dst).low32().and(i64::from(mask as u32))),
            Op::Trunc16 { dst } => write(dst, self.get(dst).and(0xffff)),
            Op::SetConst { dst, value } | Op::LoadImm64 { dst, imm: value } => {
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                write(dst, Self::number(value, value))
            }
            Op::And64Imm { dst, .. }
            | Op::Mul64Imm { dst, .. }
            | Op::Mul64Reg { dst, .. }
            | Op::Or64Imm { dst, .. }
            | Op::Or64Reg { dst, .. }
            | Op::And64Reg { dst, .. }
            | Op::Xor64Imm { dst, .. }
            | Op::Xor64Reg { dst, .. }
            | Op::Lsh64Reg { dst, .. }
            | Op::Rsh64Reg { dst, .. }
            | Op::Arsh64Imm { dst, .. }
            | Op::Arsh64Reg { dst, .. }
            | Op::Neg64 { dst }
            | Op::Hor64 { dst, .. }
            | Op::RevSub64Imm { dst, .. }
            | Op::RevSub32Imm { dst, .. }
            | Op::Pqr { dst, .. }
            | Op::Add32Imm { dst, .. }
            | Op::Add32Reg { dst, .. }
            | Op::Sub32Imm { dst, .. }
            | Op::Sub32Reg { dst, .. }
            | Op::Mul32Imm { dst, .. }
            | Op::Mul32Reg { dst, .. }
            | Op::Or32 { dst, .. }
            | Op::And32 { dst, .. }
            | Op::Xor32 { dst, .. }
            | Op::Lsh32 { dst, .. }
            | Op::Rsh32 { dst, .. }
            | Op::Arsh32 { dst, .. }
            | Op::Neg32 { dst }
            | Op::MovSx { dst, .. }
            | Op::Div { dst, .. }
            | Op::Mod { dst, .. }
            | Op::SDiv { dst, .. }
            | Op::SMod { dst, .. }
            | Op::Swap16 { dst }
            | Op::Swap32 { dst }
            | Op::Swap64 { dst } => unknown(dst),
            Op::Ldx8 { dst, base, off } => load(dst, base, off, 1, Self::number(0, 0xff)),
            Op::Ldx16 { dst, base, off } => load(dst, base, off, 2, Self::number(0, 0xffff)),
            Op::Ldx32 { dst, base, off } => {
                load(dst, base, off, 4, Self::number(0, i64::from(u32::MAX)))
            }
            Op::Ldx64 { dst, base, off } => load(dst, base, off, 8, Val::Unknown),
            Op::LdxSigned {
                dst,
                base,
                off,
                size,
            } => load(
                dst,
                base,
                off,
                u8::try_from(size.bytes()).unwrap_or(8),
                Val::Unknown,
            ),
            Op::St8 { base, off, .. } | Op::Stx8 { base, off, .. } => store(base, off, 1),
            Op::St16 { base, off, .. } | Op::Stx16 { base, off, .. } => store(base, off, 2),
            Op::St32 { base, off, .. } | Op::Stx32 { base, off, .. } => store(base, off, 4),
            Op::St64 { base, off, .. } | Op::Stx64 { base, off, .. } => store(base, off, 8),
            Op::Ja { target }
            | Op::JeqImm { target, .. }
            | Op::JeqReg { target, .. }
            | Op::JneImm { target, .. }
            | Op::JneReg { target, .. }
            | Op::JgtImm { target, .. }
            | Op::JgtReg { target, .. }
            | Op::JgeImm { target, .. }
            | Op::JgeReg { target, .. }
            | Op::JltImm { target, .. }
            | Op::JltReg { target, .. }
            | Op::JleImm { target, .. }
            | Op::JleReg { target, .. }
            | Op::JsetImm { target, .. }
            | Op::JsetReg { target, .. }
            | Op::JsgtImm { target, .. }
            | Op::JsgtReg { target, .. }
            | Op::JsgeImm { target, .. }
            | Op::JsgeReg { target, .. }
            | Op::JsltImm { target, .. }
            | Op::JsltReg { target, .. }
            | Op::JsleImm { target, .. }
            | Op::JsleReg { target, .. }
            | Op::Branch32 { target, .. } => Step::Jump {
                target: target as usize,
            },
            Op::Nop => Step::Nothing,
            Op::Atomic { .. }
            | Op::Syscall { .. }
            | Op::Call { .. }
            | Op::CallReg { .. }
            | Op::CallRegOrHelper { .. }
            | Op::Exit
            | Op::MoveStackPointer { .. }
            | Op::Trap { .. }
            | Op::Overrun => Step::Unsupported,
        }
    }
}

/// The plan for the tight loop whose head is `head` in `code`, if it has accesses worth
/// hoisting.
pub(crate) fn plan_of(code: &CodeView<'_>, head: usize) -> Option<Plan> {
    let is_head = |pc| code.is_loop_header(pc);
    let in_loop = |pc| code.in_loop(pc);
    if !may_plan(code.ops(), head, is_head, in_loop) {
        return None;
    }
    plan(code.ops(), head, is_head, in_loop)
}

/// A quick look at the ops' facts, which most loops fail: whether the ops [`plan`] would
/// take, from `head` to before the first call, `exit` or atomic operation, hold a load or
/// store through a register other than r10 and end with a jump back to the head. (Most
/// loops of a large program call something.)
fn may_plan(
    ops: &[Op],
    head: usize,
    is_head: impl Fn(usize) -> bool,
    in_loop: impl Fn(usize) -> bool,
) -> bool {
    let (mut accesses, mut pc) = (false, head);
    let end = head.saturating_add(MAX_BODY);
    while pc < end && in_loop(pc) && (pc == head || !is_head(pc)) {
        let Some(op) = ops.get(pc) else {
            return false;
        };
        let flow = op.flow();
        let back = match flow {
            Flow::Next => false,
            Flow::Branch(target) | Flow::Jump(target) => target == head,
            Flow::Call(_)
            | Flow::CallReg
            | Flow::CallRegOrHelper
            | Flow::Syscall
            | Flow::Exit
            | Flow::Fault => return false,
        };
        if let Some(access) = op.access() {
            if access.kind == AccessKind::Update {
                return false;
            }
            // An access through r10 is never hoisted.
            accesses |= access.base != GuestReg::R10;
        }
        if back && accesses {
            return true;
        }
        pc += op.width();
    }
    false
}

/// The bytes the accesses through one register of the head may touch, so far: `base + lo
/// .. base + end`.
#[derive(Clone, Copy, Debug)]
struct Reach {
    lo: i64,
    end: i64,
    access: Access,
}

/// [`plan_of`] over the ops (`is_head` and `in_loop` say where tight loops start and
/// which slots they cover).
///
/// One forward pass from the head while the slots are inside a tight loop, up to
/// [`MAX_BODY`] slots, stopping before an op the analysis cannot take (one that may change
/// the mapping, a frame or r10) or the head of another loop. The body is the head up to the
/// last jump back to it before the stop: a versioned body need not hold all of a loop (a
/// part after it runs in the ordinary copy, whose jumps back go to the ordinary head), only
/// nothing it cannot model. The pass assumes every register invariant (each holds "itself"
/// at the head and after every jump target) and widens, per register of the head, the
/// bytes the accesses through it may touch; registers the body writes are dropped at the
/// end, which gives what a first pass finding the written registers would (accesses after
/// the last jump back only widen a span). (A jump back to a slot other than the head makes
/// that slot a loop head, where the pass stops, so every jump target the pass reaches was
/// seen before it.)
fn plan(
    ops: &[Op],
    head: usize,
    is_head: impl Fn(usize) -> bool,
    in_loop: impl Fn(usize) -> bool,
) -> Option<Plan> {
    let fresh = assume_invariant();
    let mut state = State { regs: fresh };
    let mut reach: [Option<Reach>; 10] = [None; 10];
    let mut slot_base = [None; MAX_BODY];
    let (mut written, mut targets) = (0u16, 1u64);
    let mut latch = None;
    let end = head.saturating_add(MAX_BODY);
    let mut pc = head;
    while pc < end && in_loop(pc) && (pc == head || !is_head(pc)) {
        let Some(op) = ops.get(pc) else { break };
        let index = pc - head;
        if targets & (1 << index) != 0 {
            state.regs = fresh;
        }
        match state.step(op) {
            Step::Unsupported => break,
            Step::Write { dst, value } => {
                written |= 1 << dst.number();
                set(&mut state, dst, value);
            }
            Step::Access { at, load } => {
                if let (Some(base), Some(slot)) = (
                    widen(&mut reach, state.get(at.base), at),
                    slot_base.get_mut(index),
                ) {
                    *slot = Some(base);
                }
                if let Some((dst, value)) = load {
                    written |= 1 << dst.number();
                    set(&mut state, dst, value);
                }
            }
            Step::Jump { target } => match target.checked_sub(head) {
                Some(0) => latch = Some((pc, written)),
                Some(index) if index < MAX_BODY => targets |= 1 << index,
                _ => {}
            },
            Step::Nothing => {}
        }
        pc += op.width();
    }
    let (latch, written) = latch?;
    let (groups, slot_group) = group(&reach, &slot_base, latch - head, written)?;
    Some(Plan {
        head,
        latch,
        groups,
        slot_group,
    })
}

/// Every register but r10 holding itself (r10 is never a base: its accesses have their
/// own current-frame check).
fn assume_invariant() -> [Val; 11] {
    let mut regs = [Val::Unknown; 11];
    for (reg, value) in regs.iter_mut().enumerate().take(10) {
        *value = Val::Range {
            base: Some(GuestReg::ALL[reg]),
            lo: 0,
            hi: 0,
        };
    }
    regs
}

/// Widens the reach of the register of the head that `value` (an access's base) came
/// from by the access `at`; returns that register, if the value is one plus a range.
fn widen(reach: &mut [Option<Reach>; 10], value: Val, at: AccessAt) -> Option<GuestReg> {
    let Val::Range {
        base: Some(base),
        lo,
        hi,
    } = value
    else {
        return None;
    };
    let lo = lo + i64::from(at.off);
    let end = hi + i64::from(at.off) + i64::from(at.size);
    let slot = reach.get_mut(base.index())?;
    *slot = Some(match *slot {
        None => Reach {
            lo,
            end,
            access: at.access,
        },
        Some(old) => Reach {
            lo: lo.min(old.lo),
            end: end.max(old.end),
            access: match old.access {
                Access::Store => Access::Store,
                Access::Load => at.access,
            },
        },
    });
    Some(base)
}

/// The groups of the registers the body never writes (bit clear in `written`) whose
/// reach fits 32-bit offsets (at most [`MAX_GROUPS`], in register order), and the group of
/// each slot `0..=last` whose access goes through one; `None` if there is none.
fn group(
    reach: &[Option<Reach>; 10],
    slot_base: &[Option<GuestReg>; MAX_BODY],
    last: usize,
    written: u16,
) -> Option<(Vec<Group>, [Option<u8>; MAX_BODY])> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of = [None; 10];
    for (base, reach) in reach.iter().enumerate() {
        let Some(reach) = reach.filter(|_| written & (1 << base) == 0) else {
            continue;
        };
        let (Ok(lo), Ok(len)) = (i32::try_from(reach.lo), i32::try_from(reach.end - reach.lo))
        else {
            continue;
        };
        if groups.len() == MAX_GROUPS {
            break;
        }
        group_of[base] = u8::try_from(groups.len()).ok();
        groups.push(Group {
            base: GuestReg::ALL[base],
            lo,
            len,
            access: reach.access,
        });
    }
    let mut slot_group = [None; MAX_BODY];
    for (slot, base) in slot_group.iter_mut().zip(slot_base).take(last + 1) {
        *slot = base.and_then(|base| group_of.get(base.index()).copied().flatten());
    }
    (!groups.is_empty()).then_some((groups, slot_group))
}

fn set(state: &mut State, dst: GuestReg, value: Val) {
    state.regs[dst.index()] = value;
}
