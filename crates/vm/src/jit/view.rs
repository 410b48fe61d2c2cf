//! The program as the JIT compiles it: the backend-neutral form ([`Code`]) plus the
//! analyses only the JIT needs ([`Analyses`]), computed when it first compiles the program
//! (never for a program that is only interpreted) and kept for its later compiles: its own
//! runs, which also end before every jump or call target and go on past forward branches
//! inside tight loops, and the tight loops themselves (see [`crate::code::runs`]), kept
//! with what the compile's pass reads about each op in one packed row per slot
//! ([`SlotFacts`]), so the pass makes one table read per slot where it looked at the op
//! table, the run lengths and the loop marks.

use super::hints::HintTable;
use crate::code::runs::TIGHT_LOOP;
use crate::code::{Code, Flow, Op, OpKind};
use std::sync::OnceLock;

/// Whether execution can continue after the code of an op (out-of-line code that waits to
/// be emitted goes after one that cannot, out of the way of straight-line code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Falls {
    Through,
    Never,
}

/// What the compile's pass reads about one slot: its JIT run length, its op's kind and
/// width, whether execution falls through it, and whether it is the head of (or inside) a
/// tight loop. The table keeps it in 4 bytes (a [`Row`]); [`CodeView::slot`] adds the
/// length of a run too long for a row, so the pass makes one table read per slot where it
/// looked at the op table, the run lengths and the loop marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlotFacts {
    /// The JIT's run length (saturated at `u32::MAX`; a compile refuses programs of more
    /// than `i32::MAX` slots before reading it).
    run: u32,
    kind: OpKind,
    /// The width (1 or 2, in [`WIDTH`]) and the marks ([`FALLS`] to [`TARGET`]).
    bits: u8,
}

/// [`SlotFacts::bits`]: the slots the op occupies (1 or 2).
const WIDTH: u8 = 0b11;
/// [`SlotFacts::bits`]: execution falls through the op.
const FALLS: u8 = 1 << 2;
/// [`SlotFacts::bits`]: the head of a tight loop.
const HEAD: u8 = 1 << 3;
/// [`SlotFacts::bits`]: inside a tight loop.
const IN_LOOP: u8 = 1 << 4;
/// [`SlotFacts::bits`] between the passes of [`analyse`]: the op ends a run.
const ENDS: u8 = 1 << 5;
/// [`SlotFacts::bits`] between the passes of [`analyse`]: a forward conditional jump.
const FORWARD_BRANCH: u8 = 1 << 6;
/// [`SlotFacts::bits`]: a jump or call goes here (no accessor reads it after [`analyse`]).
const TARGET: u8 = 1 << 7;

impl SlotFacts {
    /// The JIT's run length ([`CodeView::jit_run_length`]).
    #[inline(always)]
    pub fn run(self) -> u64 {
        u64::from(self.run)
    }

    /// The op's kind.
    #[inline(always)]
    pub fn kind(self) -> OpKind {
        self.kind
    }

    /// The slots the op occupies.
    #[inline(always)]
    pub fn width(self) -> usize {
        usize::from(self.bits & WIDTH)
    }

    /// Whether execution can continue after the op's code: where the op's flow goes on,
    /// except at an eBPF `callx`, whose code always bails out (the interpreter decides
    /// between helper and function).
    #[inline(always)]
    pub fn falls(self) -> Falls {
        match self.bits & FALLS {
            0 => Falls::Never,
            _ => Falls::Through,
        }
    }

    /// Whether the slot is the head of a tight loop.
    #[inline(always)]
    pub fn loop_head(self) -> bool {
        self.bits & HEAD != 0
    }

    /// Whether the slot lies inside a tight loop.
    #[inline(always)]
    pub fn in_loop(self) -> bool {
        self.bits & IN_LOOP != 0
    }
}

/// One slot's [`SlotFacts`] as the table keeps them, in 4 bytes (a table of 8-byte rows
/// was 28 fresh pages of spl_token's 216 on its first compile, each about 1 us): the run
/// length in 16 bits, or [`RUN_MAX`] for a run at least that long, whose length is in
/// [`SlotTable::long_runs`]. Between the passes of [`analyse`] the run field holds the
/// slot's loop marks, a signed 16-bit sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Row {
    run: u16,
    kind: OpKind,
    bits: u8,
}

/// The largest value of a [`Row`]'s run field, which stands for a run of at least that many
/// slots (kept whole in [`SlotTable::long_runs`]).
const RUN_MAX: u16 = u16::MAX;

impl Row {
    /// The slot past the end (or of no op): a run of 0, nothing else.
    const NONE: Row = Row {
        run: 0,
        kind: OpKind::Nop,
        bits: 1,
    };
}

/// The [`SlotFacts`] of every slot: the rows, and the runs too long for a row.
#[derive(Debug)]
struct SlotTable {
    rows: Vec<Row>,
    /// The slots whose run is at least [`RUN_MAX`] long, with its length, in order (none
    /// but in programs with a run of tens of thousands of slots).
    long_runs: Vec<(usize, u32)>,
}

impl SlotTable {
    /// The facts of slot `pc` (past the end, a run of 0).
    #[inline(always)]
    fn slot(&self, pc: usize) -> SlotFacts {
        let row = self.rows.get(pc).copied().unwrap_or(Row::NONE);
        let run = match row.run {
            RUN_MAX => self.long_run(pc),
            run => u32::from(run),
        };
        SlotFacts {
            run,
            kind: row.kind,
            bits: row.bits,
        }
    }

    /// The run length of slot `pc`, whose row says it is at least [`RUN_MAX`].
    #[cold]
    #[inline(never)]
    fn long_run(&self, pc: usize) -> u32 {
        match self.long_runs.binary_search_by_key(&pc, |(slot, _)| *slot) {
            Ok(index) => self
                .long_runs
                .get(index)
                .map_or(u32::from(RUN_MAX), |(_, run)| *run),
            Err(_) => u32::from(RUN_MAX),
        }
    }
}

/// The [`SlotFacts`] of every slot of `ops`, the slots of its backward jumps and the heads of
/// its tight loops (both in order), in two
/// passes over one table (no other per-slot table: a fresh table is pages that fault in
/// anew on a program's first compile), the ops' table read once per slot
/// ([`Op::outline`]: flow, kind, width):
///
/// - forward: each slot's kind, width and flow marks; the jump and call targets' mark; the
///   backward jumps, and for the tight ones (less than [`TIGHT_LOOP`] slots) the head's
///   mark and +1 at the head, -1 after the jump, kept in the row's run field until the
///   backward pass (the running sum is then the loop depth);
/// - backward, without the ops: the loop depth (as minus the sum of the marks after the
///   slot: they add up to 0), and the run lengths of `runs::run_lengths` with
///   `RunSplit::AtTargets` (a unit test compares them): an op that ends a run (but not a
///   forward conditional jump inside a tight loop), or one followed by a target, has length
///   1; any other op one more than the slot it falls through to. Only a program of at
///   least [`RUN_MAX`] slots can have a run too long for a row: for one, a third pass finds
///   them ([`long_runs`]).
fn analyse(ops: &[Op]) -> (SlotTable, Vec<usize>, Vec<usize>) {
    // Before the backward pass, a row's run field holds the loop marks of its slot, and its
    // marks what the forward pass found (a later slot's target mark and loop marks land
    // before the forward pass reaches it, so they are kept).
    let mut slots = vec![
        Row {
            run: 0,
            kind: OpKind::Nop,
            bits: 0
        };
        ops.len()
    ];
    let mut jumps = Jumps {
        edge_past_end: 0,
        back_jumps: Vec::new(),
        heads: Vec::new(),
    };
    for (pc, op) in ops.iter().enumerate() {
        let (flow, kind, width) = op.outline();
        let (marks, target) = match flow {
            Flow::Next => (FALLS, None),
            Flow::Branch(target) if target > pc => (FALLS | ENDS | FORWARD_BRANCH, Some(target)),
            Flow::Branch(target) | Flow::Call(target) => (FALLS | ENDS, Some(target)),
            Flow::Jump(target) => (ENDS, Some(target)),
            Flow::CallReg | Flow::Syscall => (FALLS | ENDS, None),
            // An eBPF `callx` always bails out: its code does not fall through.
            Flow::CallRegOrHelper | Flow::Exit | Flow::Fault => (ENDS, None),
        };
        let Some(row) = slots.get_mut(pc) else { break };
        // An op is 1 or 2 slots wide.
        let width = u8::try_from(width).unwrap_or(WIDTH) & WIDTH;
        *row = Row {
            run: row.run,
            kind,
            bits: width | marks | row.bits,
        };
        if let Some(target) = target {
            jumps.mark(&mut slots, pc, target, flow);
        }
    }
    backward(&mut slots, jumps.edge_past_end);
    let long_runs = match slots.len() < usize::from(RUN_MAX) {
        true => Vec::new(),
        false => long_runs(&slots),
    };
    let Jumps {
        back_jumps,
        mut heads,
        ..
    } = jumps;
    // Each head once, in order.
    heads.sort_unstable();
    heads.dedup();
    let table = SlotTable {
        rows: slots,
        long_runs,
    };
    (table, back_jumps, heads)
}

/// What the forward pass of [`analyse`] learns from the jumps and calls besides the rows.
struct Jumps {
    /// The loop mark of the slot after the last (after a jump at the end).
    edge_past_end: i32,
    /// The slots of the backward jumps, in order.
    back_jumps: Vec<usize>,
    /// The heads of tight loops, as the backward jumps to them are met.
    heads: Vec<usize>,
}

impl Jumps {
    /// Marks the `target` of the jump or call at `pc` (of `flow`), and for a backward jump
    /// records it and, when its loop is tight, marks its head (+1 in the head's run field)
    /// and the slot after it (-1). Out of line: a few slots in ten jump or call.
    #[inline(never)]
    fn mark(&mut self, slots: &mut [Row], pc: usize, target: usize, flow: Flow) {
        let Some(head) = slots.get_mut(target) else {
            return;
        };
        head.bits |= TARGET;
        // A backward jump (a call's target is not a loop's head).
        if target > pc || matches!(flow, Flow::Call(_)) {
            return;
        }
        self.back_jumps.push(pc);
        if pc - target >= TIGHT_LOOP {
            return;
        }
        self.heads.push(target);
        head.bits |= HEAD;
        head.run = head.run.wrapping_add(1);
        match slots.get_mut(pc + 1) {
            Some(after) => after.run = after.run.wrapping_sub(1),
            None => self.edge_past_end -= 1,
        }
    }
}

/// The backward pass of [`analyse`], without the ops: each row's loop depth (as minus the
/// sum of the loop marks after its slot, starting from `edge_past_end`) and run length
/// (at most [`RUN_MAX`] in the row). An op is 1 or 2 slots wide (`lddw`), so the rows of
/// the two slots after the one looked at are all it reads, kept in registers as what a run
/// before them may add to: their run length, or 0 for a target (a run ends before it).
/// Branch-free: the test of every slot is data, so none is predicted.
#[inline(always)]
fn backward(slots: &mut [Row], edge_past_end: i32) {
    // The sum of the marks after the slot being looked at.
    let mut after = edge_past_end;
    // What a run may add to at the slots one and two after it.
    let mut one = 0u32;
    let mut two = 0u32;
    for slot in slots.iter_mut().rev() {
        let row = *slot;
        let next = match row.bits & WIDTH {
            1 => one,
            _ => two,
        };
        let in_loop = after < 0;
        // The row's run field still holds its slot's loop marks (a signed 16-bit sum; a
        // slot's depth is at most `TIGHT_LOOP`).
        after = after.wrapping_add(i32::from(row.run as i16));
        let carried_on = (row.bits & FORWARD_BRANCH != 0) & in_loop;
        let ends = (row.bits & ENDS != 0) & !carried_on;
        let run = match ends {
            true => 1,
            false => next.saturating_add(1),
        };
        two = one;
        one = match row.bits & TARGET {
            0 => run,
            _ => 0,
        };
        // The target mark stays (the pass ignores it).
        *slot = Row {
            run: u16::try_from(run).unwrap_or(RUN_MAX),
            kind: row.kind,
            bits: row.bits & (WIDTH | FALLS | HEAD | TARGET) | (u8::from(in_loop) * IN_LOOP),
        };
    }
}

/// The slots of `rows` whose run the row holds as [`RUN_MAX`], with the whole length, in
/// order: one more than the slot the op falls through to (a run that long neither ends at
/// the op nor before a target after it).
#[cold]
#[inline(never)]
fn long_runs(rows: &[Row]) -> Vec<(usize, u32)> {
    let mut long = Vec::new();
    // The whole run lengths of the two slots after the one looked at.
    let mut one = 0u32;
    let mut two = 0u32;
    for (pc, row) in rows.iter().enumerate().rev() {
        let run = match (row.run, row.bits & WIDTH) {
            (RUN_MAX, 1) => one.saturating_add(1),
            (RUN_MAX, _) => two.saturating_add(1),
            (run, _) => u32::from(run),
        };
        if row.run == RUN_MAX {
            long.push((pc, run));
        }
        two = one;
        one = run;
    }
    long.reverse();
    long
}

/// The JIT's analyses of one program's neutral form: computed on the program's first
/// compile and kept beside its machine code for later ones (a program is compiled again
/// with another engine or seed, never with another form).
#[derive(Debug)]
pub(crate) struct Analyses {
    /// Per slot: its run length, kind, width and loop marks ([`SlotFacts`]).
    slots: SlotTable,
    /// The slots of the backward jumps, in order.
    back_jumps: Vec<usize>,
    /// The heads of tight loops, in order.
    loop_heads: Vec<usize>,
    /// The hints scan's results ([`CodeView::hints`]), once a compile asked for them.
    hints: OnceLock<HintTable>,
}

impl Analyses {
    /// Analyses `code`.
    pub fn of(code: &Code) -> Analyses {
        let (slots, back_jumps, loop_heads) = analyse(code.ops());
        Analyses {
            slots,
            back_jumps,
            loop_heads,
            hints: OnceLock::new(),
        }
    }
}

/// A program's neutral form and the JIT's analyses of it.
pub(crate) struct CodeView<'c> {
    code: &'c Code,
    analyses: &'c Analyses,
}

impl<'c> CodeView<'c> {
    /// `code` with `analyses`, which must be [`Analyses::of`] it.
    pub fn new(code: &'c Code, analyses: &'c Analyses) -> CodeView<'c> {
        debug_assert_eq!(
            analyses.slots.rows.len(),
            code.ops().len(),
            "the analyses of another program"
        );
        CodeView { code, analyses }
    }

    /// The ops, one per slot, followed by the overrun sentinel.
    #[inline(always)]
    pub fn ops(&self) -> &'c [Op] {
        self.code.ops()
    }

    /// The number of slots.
    #[inline(always)]
    pub fn slot_count(&self) -> usize {
        self.code.slot_count()
    }

    /// The slot execution starts at.
    #[inline(always)]
    pub fn entry_pc(&self) -> usize {
        self.code.entry_pc()
    }

    /// Whether a function is registered at slot `pc`.
    #[inline(always)]
    pub fn is_callable(&self, pc: usize) -> bool {
        self.code.is_callable(pc)
    }

    /// The slots at which a function is registered, in order ([`CodeView::is_callable`]).
    #[inline(always)]
    pub fn callable_pcs(&self) -> &'c [usize] {
        self.code.callable_pcs()
    }

    /// The guest address of slot 0.
    #[inline(always)]
    pub fn text_vaddr(&self) -> u64 {
        self.code.text_vaddr()
    }

    /// The memory layout the program runs in.
    #[inline(always)]
    pub fn layout(&self) -> crate::memory::Layout {
        self.code.layout()
    }

    /// Whether `callx` may only land on a registered function.
    #[inline(always)]
    pub fn callx_needs_function(&self) -> bool {
        self.code.callx_needs_function()
    }

    /// Like [`Code::run_length`], for the JIT's runs, which also end before every jump or
    /// call target (so jumps land at run starts and need no entry stub) and go on past
    /// forward conditional jumps inside tight loops (a taken one gives the rest back).
    #[inline(always)]
    pub fn jit_run_length(&self, pc: usize) -> u64 {
        self.slot(pc).run()
    }

    /// What the compile's pass reads about slot `pc` ([`SlotFacts`]; past the end, a run
    /// of 0).
    #[inline(always)]
    pub fn slot(&self, pc: usize) -> SlotFacts {
        self.analyses.slots.slot(pc)
    }

    /// Whether slot `pc` is the head of a tight loop: a backward jump at most
    /// [`crate::code::runs::TIGHT_LOOP`] slots after it goes back to it (the JIT aligns its
    /// code).
    #[inline(always)]
    pub fn is_loop_header(&self, pc: usize) -> bool {
        self.slot(pc).loop_head()
    }

    /// Whether slot `pc` lies inside a tight loop: between a backward jump's target and the
    /// jump.
    #[inline(always)]
    pub fn in_loop(&self, pc: usize) -> bool {
        self.slot(pc).in_loop()
    }

    /// The hints scan's guesses (see `hints`), scanned on the first call.
    pub fn hints(&self) -> &'c HintTable {
        let code = self.code;
        let analyses = self.analyses;
        analyses.hints.get_or_init(|| {
            HintTable::of(
                code.ops(),
                &analyses.back_jumps,
                code.entry_pc(),
                code.callable_pcs(),
                &analyses.loop_heads,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::runs::{run_lengths, tight_loops, Loops, RunSplit};
    use crate::code::GuestReg;

    /// Whether execution can continue after the code of an op of `flow`: where the op's flow
    /// goes on, except at an eBPF `callx`, whose code always bails out (the interpreter decides
    /// between helper and function).
    fn falls_through(flow: Flow) -> Falls {
        match flow {
            Flow::Next | Flow::Branch(_) | Flow::Call(_) | Flow::CallReg | Flow::Syscall => {
                Falls::Through
            }
            Flow::Jump(_) | Flow::Exit | Flow::Fault | Flow::CallRegOrHelper => Falls::Never,
        }
    }

    /// On random op sequences (moves, `lddw`, forward and backward conditional and
    /// unconditional jumps, calls, exits), every slot's packed facts say what the op table,
    /// `run_lengths` with the JIT's split and `tight_loops` say, and the backward jumps are
    /// `tight_loops`' list.
    #[test]
    fn slot_facts_agree_with_the_op_table_and_the_run_lengths() {
        let mut next = crate::test_insns::xorshift(0x2545_f491_4f6c_dd1du64);
        let mut tight = 0;
        for _ in 0..300 {
            let len = 1 + (next() % 90) as usize;
            let mut ops: Vec<Op> = (0..len)
                .map(|_| {
                    let word = next();
                    let target = (word >> 32) as u32 % len as u32;
                    let dst = GuestReg::R1;
                    match word % 8 {
                        0 | 1 => Op::Mov64Imm { dst, imm: 0 },
                        2 => Op::LoadImm64 { dst, imm: 1 },
                        3 | 4 => Op::JneImm {
                            dst,
                            imm: 0,
                            target,
                        },
                        5 => Op::Ja { target },
                        6 => Op::Call {
                            target: target as usize,
                        },
                        _ => Op::Exit,
                    }
                })
                .collect();
            ops.push(Op::Overrun);
            let Loops {
                heads,
                inside,
                back_jumps,
            } = tight_loops(&ops);
            let runs = run_lengths(&ops, RunSplit::AtTargets { in_loops: &inside });
            let (slots, jumps, loop_heads) = analyse(&ops);
            assert_eq!(jumps, back_jumps);
            let expected_heads: Vec<usize> = (0..ops.len()).filter(|&pc| heads[pc]).collect();
            assert_eq!(loop_heads, expected_heads);
            assert_eq!(slots.rows.len(), ops.len());
            for (pc, op) in ops.iter().enumerate() {
                let slot = slots.slot(pc);
                let facts = op.facts();
                assert_eq!(slot.run(), runs[pc], "run length at {pc} of {ops:?}");
                assert_eq!(slot.kind(), facts.kind);
                assert_eq!(slot.width(), facts.slots);
                assert_eq!(slot.falls(), falls_through(facts.flow));
                assert_eq!(slot.loop_head(), heads[pc]);
                assert_eq!(slot.in_loop(), inside[pc]);
                tight += usize::from(heads[pc]);
            }
        }
        assert!(tight > 50, "the random programs have tight loops");
    }

    /// A run too long for a row's run field is read whole from the table's long runs, at
    /// every slot of it whose remaining length is at least `RUN_MAX`, and the slots after
    /// keep theirs in the row.
    #[test]
    fn runs_longer_than_a_row_holds_are_kept_whole() {
        let straight = usize::from(RUN_MAX) + 2;
        let dst = GuestReg::R1;
        let mut ops = vec![Op::Mov64Imm { dst, imm: 0 }; straight];
        ops.push(Op::Exit);
        ops.push(Op::Overrun);
        let (slots, _, _) = analyse(&ops);
        assert_eq!(slots.long_runs.len(), 4);
        for pc in [0, 1, 2, 3, 4, 5, straight - 1, straight] {
            let expected = (straight + 1 - pc) as u64;
            assert_eq!(slots.slot(pc).run(), expected, "run at {pc}");
        }
        assert_eq!(slots.slot(ops.len()).run(), 0, "past the end");
    }
}
