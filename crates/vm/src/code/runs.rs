//! Straight-line runs and tight loops, from the facts of the op table.
//!
//! The meter charges a run at a time (see the interpreter's meter): a run is the
//! instructions from a slot up to and including the next op that ends one
//! ([`Op::ends_run`]). [`run_lengths`] computes, for every slot, the length of its run; the
//! interpreter's runs end only at such ops ([`RunSplit::AtRunEnds`]), the JIT's also before
//! jump and call targets and not at forward branches inside tight loops
//! ([`RunSplit::AtTargets`]). [`tight_loops`] finds the loops the JIT spends compile time on:
//! a backward jump at most [`TIGHT_LOOP`] slots after its target. Everything here reads
//! [`Op::flow`], [`Op::width`] and [`Op::ends_run`], never the instructions' bytes.

use super::{Flow, Op};

/// Where straight-line runs may end besides the ops that end them.
#[cfg_attr(
    not(bpfvm_jit),
    allow(
        dead_code,
        reason = "the JIT's runs and loops; a build without the JIT only interprets"
    )
)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunSplit<'a> {
    /// Only where an op ends a run (the interpreter's runs: a jump into the middle of one
    /// charges the rest of it).
    AtRunEnds,
    /// Also before every jump or call target, so that a jump always lands at a run's start,
    /// and not at forward conditional jumps inside loops (the JIT's runs: its code charges
    /// a run at the run's first instruction, a jump into the middle of a run would need an
    /// entry stub, and a taken conditional jump gives back the rest of its run in a stub,
    /// which pays inside loops only; a backward one, usually a loop's taken back edge,
    /// still ends its run and jumps straight to the loop's head). `in_loops` marks the
    /// slots between a backward jump's target and the jump. (The JIT computes these runs
    /// together with the rest of its per-slot facts, `jit::view`; this split is the
    /// oracle its unit test compares them with.)
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the oracle of the JIT's per-slot facts in tests")
    )]
    AtTargets { in_loops: &'a [bool] },
}

/// The longest loop (in slots, from its head to its backward jump) that [`tight_loops`]
/// marks: the JIT spends compile time and code on loops (an aligned head, pairs of
/// accesses, refund stubs), which pays in tight ones; a backward jump over a long stretch
/// (often just how the compiler laid out a function) marks nothing.
#[cfg_attr(
    not(bpfvm_jit),
    allow(
        dead_code,
        reason = "the JIT's runs and loops; a build without the JIT only interprets"
    )
)]
pub(crate) const TIGHT_LOOP: usize = 64;

/// The loops of a program, as the JIT sees them ([`tight_loops`]).
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the oracle of the JIT's own analysis (`jit::view`) in its unit test"
    )
)]
#[derive(Debug)]
pub(crate) struct Loops {
    /// Per slot: whether a backward jump at most [`TIGHT_LOOP`] slots later goes to it (the
    /// head of a tight loop).
    pub heads: Vec<bool>,
    /// Per slot: whether it lies inside a tight loop, between the head and the jump.
    pub inside: Vec<bool>,
    /// The slots of every backward jump (conditional or not, tight or not), in order.
    pub back_jumps: Vec<usize>,
}

/// The tight loops (heads, and the slots inside them: a running count over the slots, +1
/// at each head and -1 after each such jump) and every backward jump, in one pass over the
/// ops' flows. (The JIT finds them together with its runs and per-slot facts,
/// `jit::view`; this is the oracle its unit test compares them with.)
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the oracle of the JIT's own analysis (`jit::view`) in its unit test"
    )
)]
pub(crate) fn tight_loops(ops: &[Op]) -> Loops {
    let mut heads = vec![false; ops.len()];
    let mut edges = vec![0i32; ops.len() + 1];
    let mut back_jumps = Vec::new();
    for (pc, op) in ops.iter().enumerate() {
        let head = match op.flow() {
            Flow::Branch(target) | Flow::Jump(target) => target,
            Flow::Next
            | Flow::Call(_)
            | Flow::CallReg
            | Flow::CallRegOrHelper
            | Flow::Syscall
            | Flow::Exit
            | Flow::Fault => continue,
        };
        if head > pc {
            continue;
        }
        back_jumps.push(pc);
        if pc - head >= TIGHT_LOOP {
            continue;
        }
        if let Some(slot) = heads.get_mut(head) {
            *slot = true;
        }
        if let Some(edge) = edges.get_mut(head) {
            *edge += 1;
        }
        if let Some(edge) = edges.get_mut(pc + 1) {
            *edge -= 1;
        }
    }
    let mut depth = 0;
    let inside = edges
        .iter()
        .take(ops.len())
        .map(|edge| {
            depth += edge;
            depth > 0
        })
        .collect();
    Loops {
        heads,
        inside,
        back_jumps,
    }
}

/// The run length of every slot, computed backwards: an op that ends a run has length 1
/// (and, when `split` says so, an op followed by a jump or call target, but not a forward
/// conditional jump inside a tight loop); any other op one more than the slot it falls
/// through to (`lddw` skips its second slot and counts once, as the meter does). Each op's
/// facts are read once per pass.
pub(crate) fn run_lengths(ops: &[Op], split: RunSplit<'_>) -> Vec<u64> {
    let mut targets = vec![false; ops.len()];
    let in_loops = match split {
        RunSplit::AtRunEnds => &[][..],
        RunSplit::AtTargets { in_loops } => in_loops,
    };
    if split != RunSplit::AtRunEnds {
        for target in ops.iter().filter_map(Op::target) {
            if let Some(slot) = targets.get_mut(target) {
                *slot = true;
            }
        }
    }
    let mut lengths = vec![1u64; ops.len()];
    for pc in (0..ops.len()).rev() {
        let Some(op) = ops.get(pc) else { continue };
        let flow = op.flow();
        let next = pc + op.width();
        // A forward conditional jump inside a tight loop does not end the JIT's run.
        let carried_on = match flow {
            Flow::Branch(target) => target > pc && in_loops.get(pc).copied().unwrap_or(false),
            Flow::Next
            | Flow::Jump(_)
            | Flow::Call(_)
            | Flow::CallReg
            | Flow::CallRegOrHelper
            | Flow::Syscall
            | Flow::Exit
            | Flow::Fault => false,
        };
        let ends = flow.ends_run() && !carried_on;
        if ends || targets.get(next).copied().unwrap_or(false) {
            continue;
        }
        let rest = lengths.get(next).copied().unwrap_or(0);
        if let Some(length) = lengths.get_mut(pc) {
            *length = rest + 1;
        }
    }
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::code::GuestReg;

    fn mov() -> Op {
        Op::Mov64Imm {
            dst: GuestReg::R1,
            imm: 0,
        }
    }

    fn jne(target: u32) -> Op {
        Op::JneImm {
            dst: GuestReg::R1,
            imm: 0,
            target,
        }
    }

    #[test]
    fn tight_loops_are_marked_and_long_back_jumps_are_not() {
        // 0..=3: a loop (head 1, back edge at 3) with a forward branch out of it at 2; then
        // a backward jump over more than TIGHT_LOOP slots.
        let mut ops = vec![mov(), mov(), jne(4), jne(1)];
        ops.resize(4 + TIGHT_LOOP, mov());
        ops.push(Op::Ja { target: 4 });
        ops.push(Op::Exit);
        let Loops {
            heads,
            inside,
            back_jumps,
        } = tight_loops(&ops);
        assert_eq!(back_jumps, [3, 4 + TIGHT_LOOP]);
        assert_eq!(heads.iter().filter(|head| **head).count(), 1);
        assert!(heads[1]);
        assert_eq!(&inside[..5], &[false, true, true, true, false]);
        assert!(!inside[4 + TIGHT_LOOP]);

        // The JIT's runs go on past the forward branch inside the loop, not past the back
        // edge; the interpreter's end at both.
        let jit = run_lengths(&ops, RunSplit::AtTargets { in_loops: &inside });
        let interpreter = run_lengths(&ops, RunSplit::AtRunEnds);
        assert_eq!(&jit[1..4], &[3, 2, 1], "head, branch, back edge");
        assert_eq!(&interpreter[1..4], &[2, 1, 1]);
    }
}
