//! What the first compile of a program found that its later compiles look up instead of
//! searching again: the pairs of accesses ([`Pair`]) and the plans of versioned loops
//! ([`Plan`]). Both depend only on the program's ops and the JIT's analyses of them, never on
//! the engine, the seed or the code emitted, so a program compiled again (another engine,
//! another hardening seed) meets exactly the same ones. The driver's pass searches while
//! nothing is kept and hands what it found over at its end ([`Pairs::keep`],
//! [`Plans::keep`]); a verified program keeps them beside its analyses.

use super::hoist::{self, Plan};
use super::pair::{Pair, PairSearch};
use super::view::CodeView;
use crate::code::Op;
use core::cmp::Ordering;
use std::sync::OnceLock;

/// The pairs and loop plans of one program, once a compile found them (see the module
/// doc).
#[derive(Debug, Default)]
pub(crate) struct Kept {
    /// Every pair the pass over the body met, in slot order.
    pairs: OnceLock<Vec<Pair>>,
    /// The plans of the loops the pass over the body asked for, by head.
    plans: OnceLock<Vec<Plan>>,
}

#[cfg(test)]
impl Kept {
    /// How many pairs and loop plans were kept, once a compile kept them.
    pub fn found(&self) -> Option<(usize, usize)> {
        Some((self.pairs.get()?.len(), self.plans.get()?.len()))
    }
}

/// Where a pass gets the pairs of accesses from: the ones an earlier compile's pass found
/// (from the next one the pass may meet on), or a search at each access (recorded).
pub(crate) enum Pairs<'k> {
    Known(&'k [Pair]),
    Search(Vec<Pair>),
}

impl<'k> Pairs<'k> {
    /// The pairs of a pass starting at slot `from`. A pair never crosses a run's end, so a
    /// pass that starts at a loop's head (a versioned loop's copy) meets the same pairs from
    /// there as the pass over the whole body.
    pub fn of(kept: &'k Kept, from: usize) -> Pairs<'k> {
        match kept.pairs.get() {
            Some(pairs) => {
                let first = pairs.partition_point(|pair| (pair.load as usize) < from);
                Pairs::Known(pairs.get(first..).unwrap_or(&[]))
            }
            None => Pairs::Search(Vec::new()),
        }
    }

    /// The pair whose first access is `op` at `pc` of `code`, if any (a pass moves through
    /// the slots in order, so the known pairs before `pc` are dropped on the way).
    #[inline(always)]
    pub fn at(&mut self, code: &CodeView<'_>, op: &Op, pc: usize) -> Option<Pair> {
        match self {
            Pairs::Known(pairs) => {
                while let [next, rest @ ..] = *pairs {
                    match (next.load as usize).cmp(&pc) {
                        Ordering::Less => *pairs = rest,
                        Ordering::Equal => {
                            *pairs = rest;
                            return Some(*next);
                        }
                        Ordering::Greater => return None,
                    }
                }
                None
            }
            Pairs::Search(found) => {
                let search = match code.in_loop(pc) {
                    true => PairSearch::Neighbours,
                    false => PairSearch::ReadModifyWrite,
                };
                let pair = Pair::find(code, op, pc, search)?;
                found.push(pair);
                Some(pair)
            }
        }
    }

    /// Hands what a pass over the whole body found to `kept` (a no-op when it was known, or
    /// when another compile on another thread kept the same pairs first).
    pub fn keep(self, kept: &Kept) {
        if let Pairs::Search(found) = self {
            let _ = kept.pairs.set(found);
        }
    }
}

/// Where the pass over the body gets the plans of versioned loops from: the ones an
/// earlier compile's pass made (by head), or [`hoist::plan_of`] at each loop head
/// (recorded).
pub(crate) enum Plans<'k> {
    Known(&'k [Plan]),
    Search(Vec<Plan>),
}

impl<'k> Plans<'k> {
    /// The plans a pass over the body gets from `kept`.
    pub fn of(kept: &'k Kept) -> Plans<'k> {
        match kept.plans.get() {
            Some(plans) => Plans::Known(plans),
            None => Plans::Search(Vec::new()),
        }
    }

    /// The plan of the tight loop at `head` of `code`, if it has accesses worth hoisting.
    /// A later pass asks for the same heads as the one that searched (the ones execution
    /// falls into), so a head without a kept plan has none.
    pub fn plan(&mut self, code: &CodeView<'_>, head: usize) -> Option<Plan> {
        match self {
            Plans::Known(plans) => {
                let index = plans.binary_search_by_key(&head, |plan| plan.head).ok()?;
                plans.get(index).cloned()
            }
            Plans::Search(made) => {
                let plan = hoist::plan_of(code, head)?;
                made.push(plan.clone());
                Some(plan)
            }
        }
    }

    /// Hands the plans a pass over the body made to `kept` (see [`Pairs::keep`]).
    pub fn keep(self, kept: &Kept) {
        if let Plans::Search(made) = self {
            let _ = kept.plans.set(made);
        }
    }
}
