//! The interpreter backend: a pre-decoded program ([`Code`]) and the loop that runs it.
//!
//! [`Code::compile`] runs once per program (the verifier calls it): it lowers every slot to
//! a 16-byte [`Op`] with absolute jump targets, merged `lddw`, calls resolved against
//! the registries (fixed at load time) and the dialect's rules baked in (`compile`). The
//! executor (`exec`) then runs one flat `match` per instruction over a `[u64; 16]`
//! register file indexed by masked nibbles, with no allocation per step. The meter's rules
//! live in `meter`, the arithmetic in `alu`, compares in `branch`. The fast loop
//! meters a straight-line run at a time (`meter` explains why that is exact); tracing and
//! the debugger's [`StepHook`] take exact single steps instead.
//!
//! **Architecture invariant:** the interpreter is the executable specification of both
//! dialects (spec README §2); the JIT is checked against it, never the other way round.

mod alu;
mod branch;
mod calls;
mod compile;
pub(crate) mod exec;
mod hook;
#[cfg(test)]
mod hook_tests;
pub(crate) mod meter;
pub mod op;

use crate::program::Executable;
use bpfvm_isa::{Insn, Slot};
use compile::Lowering;
pub use hook::{StepControl, StepHook, StepState};
use op::Op;

/// The interpreter's pre-decoded form of a program.
#[derive(Debug, Default)]
pub struct Code {
    /// One op per slot, plus the overrun sentinel at index `slot_count`.
    ops: Vec<Op>,
    /// Per slot (and the sentinel): the instructions from that slot up to and including the
    /// op that ends its straight-line run (the meter's block length; see `meter`).
    run_lengths: Vec<u64>,
    /// Per slot: the JIT's run length ([`Code::jit_run_length`]).
    jit_run_lengths: Vec<u64>,
    /// Per slot: whether it is the head of a tight loop ([`Code::is_loop_header`]).
    loop_headers: Vec<bool>,
    /// Per slot: whether it lies inside a loop ([`Code::in_loop`]).
    in_loops: Vec<bool>,
    /// Registered syscall keys, sorted; `Op::Syscall { index }` indexes this.
    syscall_keys: Vec<u32>,
    /// The index of the unwind helper in `syscall_keys`, if one is set.
    unwind_index: Option<u32>,
    /// Per slot: whether a function is registered under the slot's pc (the static-syscalls
    /// `callx` check).
    callable: Vec<bool>,
    text_vaddr: u64,
    entry_pc: usize,
}

impl Code {
    /// Pre-decodes a verified program: `decoded` has one entry per slot of the text.
    pub fn compile<C>(executable: &Executable<C>, decoded: &[Option<Insn>]) -> Code {
        let config = executable.config();
        let slots = Slot::slots_of(executable.text());
        let registry = &executable.loader().syscalls;
        let syscall_keys: Vec<u32> = registry.iter().map(|(key, _)| key).collect();
        let functions = executable.functions();
        let function_pc = |key: u32| functions.get(key).map(|function| function.pc);
        let lowering = Lowering {
            dialect: executable.dialect(),
            dynamic_stack_frames: config.dynamic_stack_frames,
            static_syscalls: config.static_syscalls,
            slot_count: decoded.len(),
            syscall_keys: &syscall_keys,
            function_pc: &function_pc,
        };
        let mut ops: Vec<Op> = decoded
            .iter()
            .zip(slots.iter())
            .enumerate()
            .map(|(pc, (insn, slot))| lowering.lower(pc, *insn, *slot))
            .collect();
        ops.push(Op::Overrun);
        let (loop_headers, in_loops) = tight_loops(&ops);
        let jit_run_lengths = run_lengths(
            &ops,
            RunSplit::AtTargets {
                in_loops: &in_loops,
            },
        );
        let run_lengths = run_lengths(&ops, RunSplit::AtRunEnds);
        // A pc is callable by `callx` under static syscalls when it is a registry key.
        let mut callable = vec![false; decoded.len()];
        for (key, _) in functions.iter() {
            if let Some(slot) = usize::try_from(key)
                .ok()
                .and_then(|pc| callable.get_mut(pc))
            {
                *slot = true;
            }
        }
        let unwind_index = registry
            .unwind_key()
            .and_then(|key| syscall_keys.binary_search(&key).ok())
            .and_then(|index| u32::try_from(index).ok());
        Code {
            ops,
            run_lengths,
            jit_run_lengths,
            loop_headers,
            in_loops,
            syscall_keys,
            unwind_index,
            callable,
            text_vaddr: executable.text_vaddr(),
            entry_pc: executable.entry_pc(),
        }
    }

    /// The number of slots.
    pub fn slot_count(&self) -> usize {
        self.ops.len().saturating_sub(1)
    }

    /// The ops, one per slot, followed by the overrun sentinel.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The slot execution starts at.
    pub fn entry_pc(&self) -> usize {
        self.entry_pc
    }

    /// The number of instructions from `pc` to the end of its straight-line run, inclusive
    /// (0 for a pc past the sentinel, where nothing runs: only an `lddw` in the last slot,
    /// which the verifier rejects, could lead there).
    #[inline(always)]
    pub fn run_length(&self, pc: usize) -> u64 {
        self.run_lengths.get(pc).copied().unwrap_or(0)
    }

    /// Like [`Code::run_length`], for the JIT's runs, which also end before every jump or
    /// call target (so jumps land at run starts and need no entry stub) and go on past
    /// forward conditional jumps (a taken one gives the rest back; see `RunSplit`).
    #[inline(always)]
    pub fn jit_run_length(&self, pc: usize) -> u64 {
        self.jit_run_lengths.get(pc).copied().unwrap_or(0)
    }

    /// Whether slot `pc` is the head of a tight loop: a backward jump at most 64 slots after
    /// it goes back to it (the JIT aligns its code).
    #[inline(always)]
    pub fn is_loop_header(&self, pc: usize) -> bool {
        self.loop_headers.get(pc).copied().unwrap_or(false)
    }

    /// Whether slot `pc` lies inside a tight loop: between a backward jump's target and the
    /// jump, at most 64 slots apart.
    #[inline(always)]
    pub fn in_loop(&self, pc: usize) -> bool {
        self.in_loops.get(pc).copied().unwrap_or(false)
    }

    /// The index (into [`Code::syscall_keys`]) of the unwind helper, if one is set.
    pub fn unwind_index(&self) -> Option<u32> {
        self.unwind_index
    }

    /// The guest address of slot 0.
    pub fn text_vaddr(&self) -> u64 {
        self.text_vaddr
    }

    /// Whether a function is registered at slot `pc` (the static-syscalls `callx` rule).
    pub fn is_callable(&self, pc: usize) -> bool {
        self.callable.get(pc).copied().unwrap_or(false)
    }

    /// The registered syscall keys in the order `Op::Syscall` indexes them.
    pub fn syscall_keys(&self) -> &[u32] {
        &self.syscall_keys
    }
}

/// Where straight-line runs may end besides the ops that end them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunSplit<'a> {
    /// Only where an op ends a run (the interpreter's runs: a jump into the middle of one
    /// charges the rest of it).
    AtRunEnds,
    /// Also before every jump or call target, so that a jump always lands at a run's start,
    /// and not at forward conditional jumps inside loops (the JIT's runs: its code charges
    /// a run at the run's first instruction, a jump into the middle of a run would need an
    /// entry stub, and a taken conditional jump gives back the rest of its run in a stub,
    /// which pays inside loops only; a backward one, usually a loop's taken back edge,
    /// still ends its run and jumps straight to the loop's head). `in_loops` marks the
    /// slots between a backward jump's target and the jump.
    AtTargets { in_loops: &'a [bool] },
}

/// The longest loop (in slots, from its head to its backward jump) that [`tight_loops`]
/// marks: the JIT spends compile time and code on loops (an aligned head, pairs of
/// accesses, refund stubs), which pays in tight ones; a backward jump over a long stretch
/// (often just how the compiler laid out a function) marks nothing.
const TIGHT_LOOP: usize = 64;

/// The tight loops, per slot: whether a backward jump at most [`TIGHT_LOOP`] slots later
/// goes to it (a loop's head), and whether it lies inside such a loop, between the head and
/// the jump (a running count over the slots: +1 at each head, -1 after each such jump).
fn tight_loops(ops: &[Op]) -> (Vec<bool>, Vec<bool>) {
    let mut heads = vec![false; ops.len()];
    let mut edges = vec![0i32; ops.len() + 1];
    for (pc, op) in ops.iter().enumerate() {
        let jump = op.is_conditional_jump() || matches!(op, Op::Ja { .. });
        let tight = |target: &usize| jump && *target <= pc && pc - *target < TIGHT_LOOP;
        if let Some(head) = op.target().filter(tight) {
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
    (heads, inside)
}

/// The run length of every slot, computed backwards: an op that ends a run has length 1
/// (and, when `split` says so, an op followed by a jump or call target, but not a forward
/// conditional jump); any other op one
/// more than the slot it falls through to (`lddw` skips its second slot and counts once, as
/// the meter does).
fn run_lengths(ops: &[Op], split: RunSplit<'_>) -> Vec<u64> {
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
        let next = pc + op.width();
        let forward = op.target().is_some_and(|target| target > pc);
        let in_loop = in_loops.get(pc).copied().unwrap_or(false);
        let ends = op.ends_run() && !(in_loop && op.is_conditional_jump() && forward);
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

    fn mov() -> Op {
        Op::Mov64Imm { dst: 1, imm: 0 }
    }

    fn jne(target: u32) -> Op {
        Op::JneImm {
            dst: 1,
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
        let (heads, inside) = tight_loops(&ops);
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
