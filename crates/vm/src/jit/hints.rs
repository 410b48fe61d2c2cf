//! Which memory accesses probably go to the gapped stack or to the input region: a guess
//! that only picks the shape of an access's inline check, never its outcome.
//!
//! With fixed frames and gaps, an access through a register other than r10 that points
//! into the stack misses the region table (the stack's row has gaps) and would take the
//! out-of-line path every time; an access into the input region can be checked against
//! that one region, without the table lookup. [`AccessHints`] follows the instructions in
//! slot order and marks registers that were derived from r10 (stack) or, in the entry
//! function, from r1 (input): `mov rX, rY`, then adds and subtracts of anything, copies,
//! and spills to and reloads from r10-relative slots. An access through a marked register
//! gets the matching inline check instead of the table check. Every check is complete
//! (each falls back to the out-of-line routine, which handles any address), so a wrong
//! guess costs time, never exactness or safety.
//!
//! The scan runs twice. The first pass ([`AccessHints::new`]) records, per jump target,
//! which registers hold which addresses at the jumps to it; the second, slot by slot as the
//! compiler lowers them ([`HintTable::of`]), joins that with what falls through into each
//! target, so a loop whose pointer is set up below its body is seen too. At a function's
//! first instruction the state forgets everything but r10 (and r1 at the entry).
//!
//! The scan reads the ops' facts from the isa crate's op table ([`Op::facts`]): the
//! registers an op writes, how the value it writes follows the addresses its operands held
//! ([`AddressFlow`]), the memory it touches and where control goes. The two kinds of address
//! are two halves of one `u32` (stack in the low 16 bits, input in the high), which every
//! step updates together.

use crate::code::{AccessKind, AddressFlow, Flow, GuestReg, Op, Regs};
use bpfvm_isa::MemSize;
use core::ops::Range;

/// The guess for one access's base register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BaseHint {
    /// Probably an address in the stack.
    Stack,
    /// Probably an address in the input region.
    Input,
    /// Anything else.
    Unknown,
}

/// How many spill slots the scan remembers (a direct-mapped table by `off / 8`; a slot
/// that collides with a more recent one is forgotten).
const SPILLS: usize = 64;

/// An empty entry of the spill table (an access at this offset is merely never
/// remembered).
const EMPTY: i16 = i16::MIN;

/// The register r10 as a bit (a stack address).
const R10: u32 = 1 << 10;

/// Where input addresses start in the state (register r is bit `INPUT + r`).
const INPUT: u32 = 16;

/// Register r1 holding an input address (at the entry function's first instruction).
const R1_INPUT: u32 = 1 << (INPUT + 1);

/// Both kinds of register r0 (shifted left by r for register r).
const BOTH: u32 = 1 | 1 << INPUT;

/// The scan of one program (see the module doc), as [`HintTable::of`] runs it.
#[derive(Clone, Debug)]
struct AccessHints {
    /// Bit r: guest register r probably holds a stack address; bit `INPUT + r`: an input
    /// address.
    regs: u32,
    /// r10-relative offsets of 8-byte slots holding an address, by `(off >> 3) % 64`.
    spills: [i16; SPILLS],
    /// What the slots of `spills` hold (the bits of register r0 in `regs`).
    spilled: [u32; SPILLS],
    /// Per slot (and one spare entry that jumps out of range use): the union of the
    /// registers holding addresses at the jumps to it.
    incoming: Vec<u32>,
    /// Whether execution falls through from the slot looked at last.
    falls_in: bool,
    /// The slot ranges of the functions with a loop, in order.
    looping: Vec<Range<usize>>,
    /// The entry function's first slot (where r1 holds the input's address).
    entry: usize,
}

/// The scan's results for one program, as the compiler asks for them: the guess for each
/// access the scan has one for, and at each head of a tight loop which registers the scan
/// then guesses hold stack addresses (what a versioned loop's guard may rely on). Both
/// passes run once per program, over the slots in the order the compiler visits them, and
/// the table is kept with the JIT's other analyses of the program.
///
/// Only functions with a loop are scanned (and often none is: neither spl_token nor
/// spl_token_2022 has one small enough), so the guesses are a short list rather than a
/// byte per slot, and the walk visits the scanned functions and the loop heads only.
#[derive(Debug)]
pub(crate) struct HintTable {
    /// The slots whose access the scan guesses goes to the stack or the input region, with
    /// the guess, in slot order (every other access: [`BaseHint::Unknown`]).
    guesses: Vec<(usize, BaseHint)>,
    /// The heads of tight loops and the registers holding stack addresses after the scan
    /// stepped over them (bit r for register r), in slot order.
    heads: Vec<(usize, u32)>,
}

impl HintTable {
    /// Scans `ops` (see [`AccessHints::new`] for `back_jumps`, `entry` and
    /// `function_starts`); `loop_heads` are the slots that head tight loops, in order.
    pub fn of(
        ops: &[Op],
        back_jumps: &[usize],
        entry: usize,
        function_starts: &[usize],
        loop_heads: &[usize],
    ) -> HintTable {
        let mut scan = AccessHints::new(ops, back_jumps, entry, function_starts);
        let mut guesses = Vec::new();
        let mut heads = Vec::with_capacity(loop_heads.len());
        // The loop heads not reached yet.
        let mut waiting = loop_heads;
        // The scanned functions in order, as the compiler visits their slots; outside them
        // the scan's state stands still and every guess is `Unknown`, so only the loop heads
        // there are looked at (with the state the last scanned function left).
        let looping = core::mem::take(&mut scan.looping);
        for range in &looping {
            while let Some((&head, rest)) = waiting
                .split_first()
                .filter(|(head, _)| **head < range.start)
            {
                heads.push((head, scan.regs & STACK));
                waiting = rest;
            }
            let mut pc = range.start;
            while let Some(op) = ops.get(pc).filter(|_| pc < range.end) {
                let hint = scan.step_in(op, pc, pc == range.start);
                if hint != BaseHint::Unknown {
                    guesses.push((pc, hint));
                }
                // A head the walk steps over (an `lddw`'s second slot) is not one it visits.
                while let Some((&head, rest)) =
                    waiting.split_first().filter(|(head, _)| **head <= pc)
                {
                    if head == pc {
                        heads.push((pc, scan.regs & STACK));
                    }
                    waiting = rest;
                }
                pc += op.width();
            }
            while let Some((_, rest)) = waiting.split_first().filter(|(head, _)| **head < range.end)
            {
                waiting = rest;
            }
        }
        heads.extend(waiting.iter().map(|&head| (head, scan.regs & STACK)));
        HintTable { guesses, heads }
    }

    /// The guess for the access of the op at slot `pc`.
    pub fn hint(&self, pc: usize) -> BaseHint {
        match self.guesses.binary_search_by_key(&pc, |(at, _)| *at) {
            Ok(index) => self
                .guesses
                .get(index)
                .map_or(BaseHint::Unknown, |(_, hint)| *hint),
            Err(_) => BaseHint::Unknown,
        }
    }

    /// The guesses for a walk over the slots in order ([`Guesses::hint`]).
    pub fn in_order(&self) -> Guesses<'_> {
        Guesses {
            rest: &self.guesses,
        }
    }

    /// Whether the scan guesses that `reg` holds a stack address at `head`, the head of a
    /// tight loop (after the scan stepped over it).
    pub fn holds_stack(&self, head: usize, reg: GuestReg) -> bool {
        let index = self.heads.partition_point(|(pc, _)| *pc < head);
        self.heads
            .get(index)
            .filter(|(pc, _)| *pc == head)
            .is_some_and(|(_, regs)| (regs >> reg.number()) & 1 != 0)
    }
}

/// A [`HintTable`]'s guesses read by a walk that visits slots in increasing order (the
/// compile's pass over the body): each look moves past the guesses of the slots before.
pub(crate) struct Guesses<'t> {
    /// The guesses for the slots not passed yet.
    rest: &'t [(usize, BaseHint)],
}

impl Guesses<'_> {
    /// The guess for the access of the op at slot `pc`; `pc` must not be below the slot of
    /// the previous look.
    #[inline(always)]
    pub fn hint(&mut self, pc: usize) -> BaseHint {
        while let Some(((at, hint), rest)) = self.rest.split_first() {
            match at.cmp(&pc) {
                core::cmp::Ordering::Less => self.rest = rest,
                core::cmp::Ordering::Equal => return *hint,
                core::cmp::Ordering::Greater => break,
            }
        }
        BaseHint::Unknown
    }
}

/// The stack half of the scan's state.
const STACK: u32 = (1 << INPUT) - 1;

/// The largest function the scan looks at, in slots: the scan costs a few nanoseconds
/// per slot, and a compile must stay cheap for large programs, whose big functions then get
/// no guesses (their stack accesses through other registers take the out-of-line path).
const MAX_FUNCTION: usize = 1024;

/// The slot ranges of the functions (as `entry` and `function_starts`, in order, delimit
/// them) of at most [`MAX_FUNCTION`] slots that contain a backward jump (`back_jumps`: the
/// slots of every backward jump, in order).
fn looping_functions(
    slots: usize,
    back_jumps: &[usize],
    entry: usize,
    function_starts: &[usize],
) -> Vec<Range<usize>> {
    // Where functions start after slot 0, in order, each once.
    let mut bounds: Vec<usize> = function_starts
        .iter()
        .copied()
        .chain([entry])
        .filter(|pc| (1..slots).contains(pc))
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut ranges = Vec::new();
    let mut start = 0;
    for end in bounds.into_iter().chain([slots]) {
        if end <= start {
            continue;
        }
        let small = end - start <= MAX_FUNCTION;
        let first = back_jumps.partition_point(|pc| *pc < start);
        let looping = back_jumps.get(first).is_some_and(|pc| *pc < end);
        if small && looping {
            ranges.push(start..end);
        }
        start = end;
    }
    ranges
}

impl AccessHints {
    /// The first pass over `ops` (recording what jumps bring to their targets), ready for
    /// the second, [`HintTable::of`]. `back_jumps` are the slots of the backward jumps
    /// (see `CodeView`), `function_starts` where functions start (in order), `entry` where the
    /// program starts. Only functions with a loop (a backward jump) are scanned, where a guess pays (elsewhere
    /// every instruction runs at most once per call), and only up to [`MAX_FUNCTION`] slots.
    pub fn new(
        ops: &[Op],
        back_jumps: &[usize],
        entry: usize,
        function_starts: &[usize],
    ) -> AccessHints {
        let slots = ops.len().saturating_sub(1);
        let looping = looping_functions(slots, back_jumps, entry, function_starts);
        // Without a function to scan nothing reads the table (a large program often has none).
        let incoming = match looping.is_empty() {
            true => Vec::new(),
            false => vec![0; slots + 1],
        };
        let mut hints = AccessHints {
            regs: R10,
            spills: [EMPTY; SPILLS],
            spilled: [0; SPILLS],
            incoming,
            falls_in: false,
            looping,
            entry,
        };
        for range in hints.looping.clone() {
            let mut pc = range.start;
            while let Some(op) = ops.get(pc).filter(|_| range.contains(&pc)) {
                hints.step(pc, op, pc == range.start);
                pc += op.width();
            }
        }
        hints.regs = R10;
        hints.spills = [EMPTY; SPILLS];
        hints.falls_in = false;
        hints
    }

    /// The guess for the access of `op`, in slot `pc` of a scanned function (`first`: its
    /// first slot), slots visited in order, as the compiler visits them. Not an access:
    /// `Unknown`.
    #[inline(always)]
    fn step_in(&mut self, op: &Op, pc: usize, first: bool) -> BaseHint {
        let kinds = self.step(pc, op, first);
        match (kinds & 1 != 0, kinds != 0) {
            (true, _) => BaseHint::Stack,
            (false, true) => BaseHint::Input,
            (false, false) => BaseHint::Unknown,
        }
    }

    /// Steps over `op` at `pc`; returns what the base register of its access holds (the
    /// bits of register r0 in `regs`; 0 for no access).
    #[inline(always)]
    fn step(&mut self, pc: usize, op: &Op, function_start: bool) -> u32 {
        // Join what jumps bring here, or start afresh at a function.
        let incoming = self.incoming.get(pc).copied().unwrap_or(0);
        let joined = match self.falls_in {
            true => self.regs | incoming,
            false => incoming | R10,
        };
        let merged = if incoming != 0 { joined } else { self.regs };
        let fresh = R10 | (u32::from(pc == self.entry) * R1_INPUT);
        self.regs = if function_start { fresh } else { merged };
        if function_start {
            self.spills = [EMPTY; SPILLS];
        }
        let regs = self.regs;
        // Register r's bits, shifted down to register 0's.
        let kinds = |reg: GuestReg| (regs >> reg.number()) & BOTH;
        let facts = op.facts();
        let access = facts.access;
        let hint = access.map_or(0, |access| kinds(access.base));
        // The registers written (a call of any kind changes r0..r5 as far as the scan
        // knows), and the value the address flow gives one of them.
        let mut written = both(facts.defs);
        if facts.flow.is_call() {
            written |= both(Regs::CALL_CLOBBERED);
        }
        let (dst, value) = match facts.address {
            AddressFlow::Copy { dst, src } => (Some(dst), kinds(src)),
            AddressFlow::Add { dst, src } => (Some(dst), kinds(src) | kinds(dst)),
            AddressFlow::Keep { dst } => {
                // Still within what it pointed into: as if not written.
                written &= !(BOTH << dst.number());
                (None, 0)
            }
            AddressFlow::Fresh { .. } | AddressFlow::Untouched => (None, 0),
        };
        let (dst, value) = match access {
            // An 8-byte reload of a spilled address.
            Some(access)
                if access.kind == AccessKind::Load
                    && access.size == MemSize::DW
                    && access.base == GuestReg::R10 =>
            {
                (access.value, self.reloaded(access.off))
            }
            _ => (dst, value),
        };
        let placed = dst.map_or(0, |dst| value << dst.number());
        self.regs = (regs & !written) | placed | R10;
        // A store through r10 overwrites the spill slots it overlaps; an 8-byte store of a
        // register spills what it holds.
        if let Some(access) = access.filter(|access| access.base == GuestReg::R10) {
            let store = access.kind != AccessKind::Load;
            let spilled = match (access.kind, access.size, access.value) {
                (AccessKind::Store, MemSize::DW, Some(value)) => kinds(value),
                _ => 0,
            };
            self.spill(access.off, store, spilled);
        }
        // Record what a jump brings to its target (other slots are left alone).
        if let Flow::Branch(target) | Flow::Jump(target) = facts.flow {
            if let Some(entry) = self.incoming.get_mut(target) {
                *entry |= self.regs;
            }
        }
        self.falls_in = facts.flow.falls_through();
        hint
    }

    /// What the 8-byte slot at `[r10 + off]` holds, as far as the scan knows (0: nothing).
    fn reloaded(&self, off: i16) -> u32 {
        let index = spill_index(off);
        u32::from(self.spills[index] == off) * self.spilled[index]
    }

    /// When `store`: records what a store to `[r10 + off]` leaves in the 8-byte slot there
    /// (`kinds`, the bits of register r0), and that the slots it overlaps hold something
    /// else now. Without branches: the entries are rewritten either way.
    #[inline(always)]
    fn spill(&mut self, off: i16, store: bool, kinds: u32) {
        let first = spill_index(off);
        let last = spill_index(off.wrapping_add(7));
        for index in [last, first] {
            let slot = self.spills[index];
            let overlaps = (i32::from(slot) - i32::from(off)).abs() < 8;
            self.spills[index] = if store & overlaps { EMPTY } else { slot };
        }
        let remember = store & (kinds != 0);
        let slot = self.spills[first];
        self.spills[first] = if remember { off } else { slot };
        let held = self.spilled[first];
        self.spilled[first] = if remember { kinds } else { held };
    }
}

/// The bits of `regs` in both halves of the scan's state.
fn both(regs: Regs) -> u32 {
    let bits = u32::from(regs.bits());
    bits | bits << INPUT
}

/// The spill-table entry of offset `off`.
fn spill_index(off: i16) -> usize {
    ((off >> 3) as usize) % SPILLS
}

#[cfg(test)]
mod tests {
    use super::*;
    use GuestReg::{R0, R1, R10, R2, R3, R4, R5, R6, R7, R8, R9};

    fn mov(dst: GuestReg, src: GuestReg) -> Op {
        Op::Mov64Reg { dst, src }
    }
    fn add_imm(dst: GuestReg) -> Op {
        Op::Add64Imm { dst, imm: 0 }
    }
    fn add(dst: GuestReg, src: GuestReg) -> Op {
        Op::Add64Reg { dst, src }
    }
    fn ldxb(dst: GuestReg, base: GuestReg, off: i16) -> Op {
        Op::Ldx8 { dst, base, off }
    }
    fn ldxw(dst: GuestReg, base: GuestReg, off: i16) -> Op {
        Op::Ldx32 { dst, base, off }
    }
    fn ldxdw(dst: GuestReg, base: GuestReg, off: i16) -> Op {
        Op::Ldx64 { dst, base, off }
    }
    fn stw(base: GuestReg, off: i16) -> Op {
        Op::St32 { base, off, imm: 0 }
    }
    fn stxw(base: GuestReg, src: GuestReg, off: i16) -> Op {
        Op::Stx32 { base, src, off }
    }
    fn stxdw(base: GuestReg, src: GuestReg, off: i16) -> Op {
        Op::Stx64 { base, src, off }
    }
    /// `ja` from slot `pc` by `off` slots.
    fn ja(pc: usize, off: i64) -> Op {
        Op::Ja {
            target: (pc as i64 + 1 + off) as u32,
        }
    }

    /// No entry function (r1 is never an input address).
    const NO_ENTRY: usize = usize::MAX;

    /// The hints of the second pass, op by op (a function starts at 0, the program
    /// elsewhere).
    fn scan(ops: &[Op]) -> Vec<BaseHint> {
        scan_functions(ops, &[0])
    }

    /// [`scan`] with functions starting at `starts`.
    fn scan_functions(ops: &[Op], starts: &[usize]) -> Vec<BaseHint> {
        scan_from(ops, NO_ENTRY, starts)
    }

    /// [`scan`] with the program's entry at `entry`.
    fn scan_from(ops: &[Op], entry: usize, starts: &[usize]) -> Vec<BaseHint> {
        let mut all = ops.to_vec();
        all.push(Op::Overrun);
        let back_jumps = crate::code::runs::tight_loops(&all).back_jumps;
        // Op by op as the compiler visits them (an lddw's second slot is not visited).
        let table = HintTable::of(&all, &back_jumps, entry, starts, &[]);
        let mut walk = table.in_order();
        // Both lookups agree.
        (0..ops.len())
            .map(|pc| {
                let hint = table.hint(pc);
                assert_eq!(walk.hint(pc), hint, "slot {pc}");
                hint
            })
            .collect()
    }

    #[test]
    fn registers_derived_from_the_entrys_r1_are_input_pointers() {
        let ops = [
            mov(R2, R1),
            add_imm(R2),
            stxdw(R10, R2, -16),
            mov(R3, R10),
            ldxb(R4, R2, 0),
            add(R4, R2),
            ldxw(R5, R4, 0),
            ldxdw(R6, R10, -16),
            stxw(R6, R5, 4),
            ldxw(R5, R3, -8),
            ja(10, -11),
            Op::Exit,
        ];
        let got = scan_from(&ops, 0, &[0]);
        assert_eq!(got[4], BaseHint::Input, "a copy of r1");
        assert_eq!(got[6], BaseHint::Input, "an index added to it");
        assert_eq!(got[8], BaseHint::Input, "reloaded from a spill");
        assert_eq!(got[9], BaseHint::Stack, "r10 still wins");
        // In a function that is not the entry, r1 is anything.
        assert_eq!(scan(&ops)[4], BaseHint::Unknown);
    }

    #[test]
    fn registers_derived_from_r10_are_stack_pointers() {
        let hints = scan(&[
            mov(R8, R10),
            add_imm(R8),
            stxw(R8, R1, 0),
            mov(R3, R1),
            add(R3, R8),
            ldxw(R4, R3, 4),
            ldxw(R5, R1, 0),
            ja(7, -8),
            Op::Exit,
        ]);
        assert_eq!(hints[2], BaseHint::Stack);
        assert_eq!(hints[5], BaseHint::Stack, "index + stack pointer");
        assert_eq!(hints[6], BaseHint::Unknown);
    }

    #[test]
    fn spilled_stack_pointers_are_remembered_and_overwrites_forget_them() {
        let hints = scan(&[
            mov(R1, R10),
            stxdw(R10, R1, -0x1a0),
            Op::Mov64Imm { dst: R1, imm: 0 },
            ldxdw(R7, R10, -0x1a0),
            ldxb(R2, R7, 0),
            stw(R10, -0x19c),
            ldxdw(R7, R10, -0x1a0),
            ldxb(R2, R7, 0),
            ja(8, -9),
            Op::Exit,
        ]);
        assert_eq!(hints[4], BaseHint::Stack);
        assert_eq!(
            hints[7],
            BaseHint::Unknown,
            "the slot was partly overwritten"
        );
    }

    #[test]
    fn a_loop_set_up_below_its_body_is_seen() {
        // 0: ja +2; 1: ldxw r1, [r9-4] (the loop body); 2: ja -2; 3: mov r9, r10; 4: ja -4
        let ops = [
            ja(0, 2),
            ldxw(R1, R9, -4),
            ja(2, -2),
            mov(R9, R10),
            ja(4, -4),
            Op::Exit,
        ];
        assert_eq!(scan(&ops)[1], BaseHint::Stack);
        // Without the first pass (nothing recorded) the body is not seen.
        let mut fresh = AccessHints::new(&[], &[], NO_ENTRY, &[]);
        fresh.incoming = vec![0; ops.len() + 1];
        fresh.looping = Vec::from([Range {
            start: 0,
            end: ops.len(),
        }]);
        assert_eq!(fresh.step_in(&ops[0], 0, true), BaseHint::Unknown);
        assert_eq!(fresh.step_in(&ops[1], 1, false), BaseHint::Unknown);
    }

    #[test]
    fn calls_and_function_starts_forget() {
        let ops = [
            mov(R1, R10),
            mov(R6, R10),
            Op::Syscall { index: 0 },
            ldxb(R0, R1, 0),
            ldxb(R0, R6, 0),
            ja(5, -6),
            // A second function.
            ldxb(R0, R6, 0),
            ldxb(R0, R10, -8),
            ja(8, -3),
            Op::Exit,
        ];
        let got = scan_functions(&ops, &[0, 6]);
        assert_eq!(got[3], BaseHint::Unknown, "r1 after a call");
        assert_eq!(got[4], BaseHint::Stack, "r6 survives a call");
        assert_eq!(got[6], BaseHint::Unknown, "a new function");
        assert_eq!(got[7], BaseHint::Stack, "r10");
    }

    #[test]
    fn functions_without_a_loop_are_not_scanned() {
        let ops = [
            mov(R6, R10),
            ldxb(R0, R6, 0),
            Op::Exit,
            // A second function, with a loop.
            mov(R6, R10),
            ldxb(R0, R6, 0),
            ja(5, -2),
        ];
        let got = scan_functions(&ops, &[0, 3]);
        assert_eq!(got[1], BaseHint::Unknown);
        assert_eq!(got[4], BaseHint::Stack);
    }

    #[test]
    fn functions_over_the_size_limit_are_not_scanned() {
        let mut ops = vec![mov(R6, R10), ldxb(R0, R6, 0)];
        ops.resize(MAX_FUNCTION, add_imm(R1));
        ops.push(ja(ops.len(), -2));
        assert_eq!(scan(&ops)[1], BaseHint::Unknown);
        ops.truncate(MAX_FUNCTION - 1);
        ops.push(ja(ops.len(), -2));
        assert_eq!(scan(&ops)[1], BaseHint::Stack);
    }

    #[test]
    fn an_lddw_is_stepped_over_as_one_instruction() {
        // The op after an lddw's two slots still sees what flowed through it.
        let ops = [
            mov(R7, R10),
            Op::LoadImm64 {
                dst: R2,
                imm: 1 << 40,
            },
            Op::Trap {
                trap: crate::code::Trap::Unsupported,
            },
            ldxb(R0, R7, -1),
            ja(4, -5),
            Op::Exit,
        ];
        assert_eq!(scan(&ops)[3], BaseHint::Stack);
    }
}
