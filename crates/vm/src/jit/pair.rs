//! Pairs of accesses that share one check ([`Pair`]): which two accesses of a run may, and
//! the search for them. A target-neutral decision: the driver finds the pair and hands each
//! of its two accesses to the macro-assembler in the form that says so.

use super::access::{Access, SpanRule};
use super::view::CodeView;
use crate::code::{AccessKind, Facts, Flow, GuestReg, Op, OpKind, Regs};

/// Two accesses of the same run through the same base register (not written in between),
/// with nothing between them that needs the register the span's host address waits in,
/// whose bytes together span 1, 2, 4 or 8 bytes: the first access checks the whole span
/// with the stricter permission of the two and keeps its host address; both address it at
/// their own offset, and the second emits no translation of its own. The usual
/// read-modify-write (`ldx; op; stx` at one address) is one; so are neighbouring accesses (`ldxw [r9 - 4]` then `stxw [r9]`). If the
/// span's check fails where the first access alone would pass, the first's site bails out
/// and the interpreter runs both (exact). Nothing enters a pair after its first access:
/// the JIT's runs end before every jump target, and a pair holds no callable slot (a
/// `callx` there finds no entry and bails out). A forward conditional jump may sit between
/// (the run goes on past it; its taken side leaves the pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pair {
    /// The first access's slot (32 bits: a pair fits in two registers, so finding one
    /// costs no trip through memory).
    pub load: u32,
    /// The second access's slot.
    pub store: u32,
    /// The offset (from the base register) where the checked span starts.
    pub start: i16,
    /// The span's length in bytes (1, 2, 4 or 8).
    pub span: u8,
    /// The permission the span is checked for.
    pub access: Access,
    /// The rule a miss of the span's check applies: the access's own (the first byte) when
    /// both accesses are the same bytes, else every byte (a single access may run from a
    /// frame into the gap after it; a span standing in for two may not).
    pub rule: SpanRule,
}

/// Which pairs a search looks for: inside loops any two accesses through one base within
/// a few instructions; elsewhere, where each instruction runs about once per call and the
/// search would cost more compile time than it saves, only a load and a store of the same
/// bytes right after it (the read-modify-write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PairSearch {
    /// A load, then (at most one instruction between) a store of the same bytes.
    ReadModifyWrite,
    /// Any two accesses through one base (up to [`Pair::WINDOW`] instructions apart).
    Neighbours,
}

impl Pair {
    /// How far past its first access a pair's second may be (`ldx; op; stx` is the usual
    /// read-modify-write; a compare and a branch may come between neighbours in a loop).
    const WINDOW: usize = 6;

    /// The pair starting with `op` at `pc` of `code`, if it is an access followed in its
    /// JIT run by another through the same base register (as `search` allows), with no
    /// callable slot after the first.
    #[inline(always)]
    pub fn find(code: &CodeView<'_>, op: &Op, pc: usize, search: PairSearch) -> Option<Pair> {
        let first = access_of(&op.facts())?;
        let read_first = first.access == Access::Load || search == PairSearch::Neighbours;
        if first.base == GuestReg::R10 || first.writes.contains(first.base) || !read_first {
            return None;
        }
        Pair::find_second(code, pc, first, search)
    }

    #[inline(never)]
    fn find_second(
        code: &CodeView<'_>,
        pc: usize,
        first: AccessOf,
        search: PairSearch,
    ) -> Option<Pair> {
        let base = first.base;
        let ops = code.ops();
        let window = match search {
            PairSearch::ReadModifyWrite => 2,
            PairSearch::Neighbours => Self::WINDOW,
        };
        let last = usize::try_from(code.jit_run_length(pc))
            .ok()?
            .min(window + 1);
        let mut next = pc + 1;
        for _ in 1..last {
            if code.is_callable(next) {
                return None;
            }
            let facts = ops.get(next)?.facts();
            if let Some(second) = access_of(&facts).filter(|second| second.base == base) {
                let same = (first.off, first.size) == (second.off, second.size);
                let store = second.access == Access::Store;
                let allowed = search == PairSearch::Neighbours || (same && store);
                return allowed.then(|| Pair::spanning(pc, first, next, second))?;
            }
            match between(&facts, next) {
                Between::Keeps { writes } if !writes.contains(base) => {}
                Between::Keeps { .. } | Between::Breaks => return None,
            }
            next += facts.slots;
        }
        None
    }

    /// The pair of `first` at `pc` and `second` at `next`, if their bytes span 1, 2, 4 or 8.
    fn spanning(pc: usize, first: AccessOf, next: usize, second: AccessOf) -> Option<Pair> {
        let start = first.off.min(second.off);
        let end = (i32::from(first.off) + i32::from(first.size))
            .max(i32::from(second.off) + i32::from(second.size));
        let span = u8::try_from(end - i32::from(start)).ok()?;
        let access = match (first.access, second.access) {
            (Access::Load, Access::Load) => Access::Load,
            _ => Access::Store,
        };
        let same = (first.off, first.size) == (second.off, second.size);
        let rule = match same {
            true => SpanRule::FirstByte,
            false => SpanRule::EveryByte,
        };
        (span.is_power_of_two() && span <= 8).then_some(Pair {
            load: u32::try_from(pc).ok()?,
            store: u32::try_from(next).ok()?,
            start,
            span,
            access,
            rule,
        })
    }
}

/// A load or store a [`Pair`] can hold: its base register, offset, size, kind, and the
/// registers it writes.
#[derive(Clone, Copy, Debug)]
struct AccessOf {
    base: GuestReg,
    off: i16,
    size: u8,
    access: Access,
    writes: Regs,
}

/// The access of an op with `facts`, if a [`Pair`] can hold it (loads and stores; not
/// atomics).
#[inline(always)]
fn access_of(facts: &Facts) -> Option<AccessOf> {
    let access = facts.access?;
    let kind = match access.kind {
        AccessKind::Load => Access::Load,
        AccessKind::Store => Access::Store,
        AccessKind::Update => return None,
    };
    Some(AccessOf {
        base: access.base,
        off: access.off,
        size: access.size.bytes() as u8,
        access: kind,
        writes: facts.defs,
    })
}

/// What an op between the two accesses of a [`Pair`] does.
enum Between {
    /// Keeps the span's host address; writes these guest registers.
    Keeps { writes: Regs },
    /// Needs the span's register (a translation, a division, a call) or ends the run.
    Breaks,
}

/// Whether an op with `facts` at `pc` can sit between the two accesses of a [`Pair`], by
/// the contract every backend keeps ([`super::masm::MacroAssembler`]): register arithmetic,
/// a no-op and a forward conditional jump (the run goes on past it, see
/// `CodeView::jit_run_length`) keep the span's host address; divisions, accesses and
/// everything that ends the run do not.
fn between(facts: &Facts, pc: usize) -> Between {
    match (facts.kind, facts.flow) {
        (OpKind::Alu, _) => Between::Keeps { writes: facts.defs },
        (OpKind::Nop, _) => Between::Keeps { writes: Regs::NONE },
        (OpKind::Control, Flow::Branch(target)) if target > pc => {
            Between::Keeps { writes: Regs::NONE }
        }
        (
            OpKind::Control
            | OpKind::Divide
            | OpKind::Memory
            | OpKind::StackPointer
            | OpKind::Fault,
            _,
        ) => Between::Breaks,
    }
}
