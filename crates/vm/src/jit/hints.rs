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
//! compiler lowers them ([`AccessHints::at`]), joins that with what falls through into each
//! target, so a loop whose pointer is set up below its body is seen too. At a function's
//! first instruction the state forgets everything but r10 (and r1 at the entry).
//!
//! For compile speed the scan reads the raw instruction slots through a per-opcode table of
//! effects (derived from the isa crate's opcode table) with no branch on the opcode: a guess
//! must cost far less than lowering the instruction does. The two kinds of address are two
//! halves of one `u32` (stack in the low 16 bits, input in the high), which every step
//! updates together.

use bpfvm_isa::{opcode_shape, AluOp, Dialect, MemSize, OpcodeShape, SourceKind, Width};
use core::ops::Range;

/// What an opcode does to the scan's state (bits of a `u16`; `hoist` reads them too).
pub(crate) mod effect {
    /// Writes dst.
    pub const WRITE: u16 = 1;
    /// The value written holds a stack address if src does.
    pub const FROM_SRC: u16 = 1 << 1;
    /// The value written holds a stack address if dst did.
    pub const FROM_DST: u16 = 1 << 2;
    /// An 8-byte load: the value is a stack address if the r10 slot it reloads holds one.
    pub const RELOAD: u16 = 1 << 3;
    /// A load through src.
    pub const LOAD: u16 = 1 << 4;
    /// A store through dst.
    pub const STORE: u16 = 1 << 5;
    /// An 8-byte store of src (a possible spill of a stack address).
    pub const SPILL: u16 = 1 << 6;
    /// A call: r0..r5 change.
    pub const CALL: u16 = 1 << 7;
    /// An atomic operation: src and r0 may change.
    pub const ATOMIC: u16 = 1 << 8;
    /// A jump to `pc + 1 + off`.
    pub const JUMP: u16 = 1 << 9;
    /// Execution does not fall through to the next slot.
    pub const END: u16 = 1 << 10;
}

/// The effects of every opcode of each dialect, derived from the isa crate's opcode table.
static SBPF_EFFECTS: [u16; 256] = effects(Dialect::Sbpf);
static EBPF_EFFECTS: [u16; 256] = effects(Dialect::Ebpf);

/// The effects table of `dialect` ([`effect`] bits per opcode byte).
pub(crate) fn effects_of(dialect: Dialect) -> &'static [u16; 256] {
    match dialect {
        Dialect::Sbpf => &SBPF_EFFECTS,
        Dialect::Ebpf => &EBPF_EFFECTS,
    }
}

const fn effects(dialect: Dialect) -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut opcode = 0;
    while opcode < 256 {
        table[opcode] = effect_of(opcode_shape(opcode as u8, dialect));
        opcode += 1;
    }
    table
}

/// What an instruction of `shape` does to the scan's state.
const fn effect_of(shape: OpcodeShape) -> u16 {
    use effect::*;
    match shape {
        // An lddw's second slot (opcode 0) has this shape too: it writes nothing.
        OpcodeShape::Unknown => 0,
        OpcodeShape::Lddw | OpcodeShape::PacketLoad(..) | OpcodeShape::Neg(_) => WRITE,
        OpcodeShape::Endian(_) => WRITE,
        OpcodeShape::Load(MemSize::DW, _) => WRITE | RELOAD | LOAD,
        OpcodeShape::Load(..) => WRITE | LOAD,
        OpcodeShape::Store(MemSize::DW, SourceKind::Reg) => STORE | SPILL,
        OpcodeShape::Store(..) => STORE,
        OpcodeShape::Atomic(_) => STORE | ATOMIC,
        OpcodeShape::Alu(Width::W64, AluOp::Add | AluOp::Sub, SourceKind::Imm) => 0,
        OpcodeShape::Alu(Width::W64, AluOp::Add, SourceKind::Reg) => WRITE | FROM_SRC | FROM_DST,
        OpcodeShape::Alu(Width::W64, AluOp::Sub, SourceKind::Reg) => WRITE | FROM_DST,
        OpcodeShape::Alu(Width::W64, AluOp::Mov, SourceKind::Reg) => WRITE | FROM_SRC,
        OpcodeShape::Alu(..) => WRITE,
        OpcodeShape::Branch(..) => JUMP,
        OpcodeShape::Ja => JUMP | END,
        // eBPF's `gotol` (its target is in the immediate) is not followed.
        OpcodeShape::JaLong | OpcodeShape::Exit => END,
        OpcodeShape::Call | OpcodeShape::CallReg => CALL,
    }
}

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

/// The scan of one program (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct AccessHints {
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
    /// The dialect's effects table.
    effects: &'static [u16; 256],
    /// The slot ranges of the functions with a loop, in order.
    looping: Vec<Range<usize>>,
    /// The index in `looping` of the first range not entirely before the slot looked at.
    cursor: usize,
    /// The entry function's first slot (where r1 holds the input's address).
    entry: usize,
}

/// The largest function the scan looks at, in slots: the scan costs a few nanoseconds
/// per slot, and a compile must stay cheap for large programs, whose big functions then get
/// no guesses (their stack accesses through other registers take the out-of-line path).
const MAX_FUNCTION: usize = 1024;

/// The slot ranges of the functions (as `function_start` delimits them) of at most
/// [`MAX_FUNCTION`] slots that contain a backward jump.
fn looping_functions(
    text: &[u8],
    effects: &[u16; 256],
    function_start: impl Fn(usize) -> bool,
) -> Vec<Range<usize>> {
    let slots = text.len() / 8;
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < slots {
        let end = (start + 1..slots)
            .find(|pc| function_start(*pc))
            .unwrap_or(slots);
        let small = end - start <= MAX_FUNCTION;
        if small && has_backward_jump(text, effects, start..end) {
            ranges.push(start..end);
        }
        start = end;
    }
    ranges
}

/// Whether a slot in `range` of `text` jumps backward.
fn has_backward_jump(text: &[u8], effects: &[u16; 256], range: Range<usize>) -> bool {
    let bytes = text.get(range.start * 8..range.end * 8).unwrap_or(&[]);
    bytes.chunks_exact(8).any(|slot| {
        let [opcode, _, off_lo, off_hi, ..] = *slot else {
            return false;
        };
        let jump = effects[usize::from(opcode)] & effect::JUMP != 0;
        jump && i16::from_le_bytes([off_lo, off_hi]) < 0
    })
}

impl AccessHints {
    /// The first pass over `text` (recording what jumps bring to their targets), ready for
    /// the second, [`AccessHints::at`]. `function_start` says where functions start, `entry`
    /// where the program starts. Only
    /// functions with a loop (a backward jump) are scanned, where a guess pays (elsewhere
    /// every instruction runs at most once per call), and only up to [`MAX_FUNCTION`] slots.
    pub fn new(
        text: &[u8],
        dialect: Dialect,
        entry: usize,
        function_start: impl Fn(usize) -> bool,
    ) -> AccessHints {
        let slots = text.len() / 8;
        let effects = effects_of(dialect);
        let looping = looping_functions(text, effects, |pc| pc == entry || function_start(pc));
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
            effects,
            looping,
            cursor: 0,
            entry,
        };
        for range in hints.looping.clone() {
            for pc in range.clone() {
                let slot = text.get(pc * 8..pc * 8 + 8).unwrap_or(&[0; 8]);
                hints.step(pc, slot, pc == range.start);
            }
        }
        hints.regs = R10;
        hints.spills = [EMPTY; SPILLS];
        hints.falls_in = false;
        hints
    }

    /// The guess for the access in slot `pc` of `text` (slots visited in order, as
    /// lowered). Not an access, or not in a function with a loop: `Unknown`.
    #[inline]
    pub fn at(&mut self, text: &[u8], pc: usize) -> BaseHint {
        while self
            .looping
            .get(self.cursor)
            .is_some_and(|range| range.end <= pc)
        {
            self.cursor += 1;
        }
        let Some(range) = self.looping.get(self.cursor).filter(|r| r.contains(&pc)) else {
            return BaseHint::Unknown;
        };
        let first = pc == range.start;
        let slot = text.get(pc * 8..pc * 8 + 8).unwrap_or(&[0; 8]);
        let kinds = self.step(pc, slot, first);
        match (kinds & 1 != 0, kinds != 0) {
            (true, _) => BaseHint::Stack,
            (false, true) => BaseHint::Input,
            (false, false) => BaseHint::Unknown,
        }
    }

    /// Whether the scan guesses that `reg` holds a stack address after the slot looked at
    /// last.
    pub fn holds_stack(&self, reg: u8) -> bool {
        self.regs.checked_shr(u32::from(reg)).unwrap_or(0) & 1 != 0
    }

    /// Steps over one slot; returns what the base register of an access there holds (the
    /// bits of register r0 in `regs`; 0 for no access). Written without branches on the
    /// opcode (the table has the effects).
    #[inline(always)]
    fn step(&mut self, pc: usize, slot: &[u8], function_start: bool) -> u32 {
        let [opcode, regs, off_lo, off_hi, ..] = *slot else {
            return 0;
        };
        let effects = self.effects[usize::from(opcode)];
        let has = |flag: u16| u32::from(effects & flag != 0);
        let dst = regs & 0x0f;
        let src = regs >> 4;
        let off = i16::from_le_bytes([off_lo, off_hi]);
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
        // Register r's bits, shifted down to register 0's (a register above 15 is nothing).
        let kinds = |reg: u8| self.regs.checked_shr(u32::from(reg)).unwrap_or(0) & BOTH;
        let hint = (has(effect::LOAD) * kinds(src)) | (has(effect::STORE) * kinds(dst));
        // The register written, and the registers a call or an atomic operation changes.
        let reloaded = u32::from(src == 10) * self.reloaded(off);
        let value = (has(effect::FROM_SRC) * kinds(src))
            | (has(effect::FROM_DST) * kinds(dst))
            | (has(effect::RELOAD) * reloaded);
        let written = (has(effect::WRITE) * BOTH) << dst;
        let clobbered =
            (has(effect::CALL) * (0x3f * BOTH)) | (has(effect::ATOMIC) * ((BOTH << src) | BOTH));
        let spill_value = kinds(src) * has(effect::SPILL);
        self.regs = ((self.regs & !written & !clobbered) | (value << dst & written)) | R10;
        let spills = u32::from(dst == 10) * has(effect::STORE);
        self.spill(off, spills == 1, spill_value);
        // Record what a jump brings to its target (out of range: the spare entry). Other
        // slots OR nothing into their own entry, which is not read again in this pass (a
        // fixed dummy entry would chain every slot's store to the next one's).
        let jump = has(effect::JUMP);
        let last = self.incoming.len() as i64 - 1;
        let target = match jump {
            0 => pc,
            _ => (pc as i64 + 1 + i64::from(off)).clamp(0, last) as usize,
        };
        if let Some(entry) = self.incoming.get_mut(target) {
            *entry |= self.regs & jump.wrapping_neg();
        }
        self.falls_in = effects & effect::END == 0;
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

/// The spill-table entry of offset `off`.
fn spill_index(off: i16) -> usize {
    ((off >> 3) as usize) % SPILLS
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOV64_REG: u8 = 0xbf;
    const MOV64_IMM: u8 = 0xb7;
    const ADD64_IMM: u8 = 0x07;
    const ADD64_REG: u8 = 0x0f;
    const LD_B_REG: u8 = 0x71;
    const LD_W_REG: u8 = 0x61;
    const LD_DW_REG: u8 = 0x79;
    const ST_W_IMM: u8 = 0x62;
    const ST_W_REG: u8 = 0x63;
    const ST_DW_REG: u8 = 0x7b;
    const JA: u8 = 0x05;
    const CALL_IMM: u8 = 0x85;
    const EXIT: u8 = 0x95;

    /// One slot: opcode, dst, src, off.
    fn slot(opcode: u8, dst: u8, src: u8, off: i16) -> [u8; 8] {
        let [lo, hi] = off.to_le_bytes();
        [opcode, dst | src << 4, lo, hi, 0, 0, 0, 0]
    }

    /// No entry function (r1 is never an input address).
    const NO_ENTRY: usize = usize::MAX;

    /// The hints of the second pass, slot by slot (a function starts at 0, the program
    /// elsewhere).
    fn scan(slots: &[[u8; 8]]) -> Vec<BaseHint> {
        let text = slots.concat();
        let mut hints = AccessHints::new(&text, Dialect::Sbpf, NO_ENTRY, |pc| pc == 0);
        (0..slots.len()).map(|pc| hints.at(&text, pc)).collect()
    }

    #[test]
    fn registers_derived_from_the_entrys_r1_are_input_pointers() {
        let slots = [
            slot(MOV64_REG, 2, 1, 0),
            slot(ADD64_IMM, 2, 0, 0),
            slot(ST_DW_REG, 10, 2, -16),
            slot(MOV64_REG, 3, 10, 0),
            slot(LD_B_REG, 4, 2, 0),
            slot(ADD64_REG, 4, 2, 0),
            slot(LD_W_REG, 5, 4, 0),
            slot(LD_DW_REG, 6, 10, -16),
            slot(ST_W_REG, 6, 5, 4),
            slot(LD_W_REG, 5, 3, -8),
            slot(JA, 0, 0, -11),
            slot(EXIT, 0, 0, 0),
        ];
        let text = slots.concat();
        let mut hints = AccessHints::new(&text, Dialect::Sbpf, 0, |pc| pc == 0);
        let got: Vec<BaseHint> = (0..slots.len()).map(|pc| hints.at(&text, pc)).collect();
        assert_eq!(got[4], BaseHint::Input, "a copy of r1");
        assert_eq!(got[6], BaseHint::Input, "an index added to it");
        assert_eq!(got[8], BaseHint::Input, "reloaded from a spill");
        assert_eq!(got[9], BaseHint::Stack, "r10 still wins");
        // In a function that is not the entry, r1 is anything.
        let mut hints = AccessHints::new(&text, Dialect::Sbpf, NO_ENTRY, |pc| pc == 0);
        assert_eq!(
            (0..5).map(|pc| hints.at(&text, pc)).last(),
            Some(BaseHint::Unknown)
        );
    }

    #[test]
    fn registers_derived_from_r10_are_stack_pointers() {
        let hints = scan(&[
            slot(MOV64_REG, 8, 10, 0),
            slot(ADD64_IMM, 8, 0, 0),
            slot(ST_W_REG, 8, 1, 0),
            slot(MOV64_REG, 3, 1, 0),
            slot(ADD64_REG, 3, 8, 0),
            slot(LD_W_REG, 4, 3, 4),
            slot(LD_W_REG, 5, 1, 0),
            slot(JA, 0, 0, -8),
            slot(EXIT, 0, 0, 0),
        ]);
        assert_eq!(hints[2], BaseHint::Stack);
        assert_eq!(hints[5], BaseHint::Stack, "index + stack pointer");
        assert_eq!(hints[6], BaseHint::Unknown);
    }

    #[test]
    fn spilled_stack_pointers_are_remembered_and_overwrites_forget_them() {
        let hints = scan(&[
            slot(MOV64_REG, 1, 10, 0),
            slot(ST_DW_REG, 10, 1, -0x1a0),
            slot(MOV64_IMM, 1, 0, 0),
            slot(LD_DW_REG, 7, 10, -0x1a0),
            slot(LD_B_REG, 2, 7, 0),
            slot(ST_W_IMM, 10, 0, -0x19c),
            slot(LD_DW_REG, 7, 10, -0x1a0),
            slot(LD_B_REG, 2, 7, 0),
            slot(JA, 0, 0, -9),
            slot(EXIT, 0, 0, 0),
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
        let slots = [
            slot(JA, 0, 0, 2),
            slot(LD_W_REG, 1, 9, -4),
            slot(JA, 0, 0, -2),
            slot(MOV64_REG, 9, 10, 0),
            slot(JA, 0, 0, -4),
            slot(EXIT, 0, 0, 0),
        ];
        assert_eq!(scan(&slots)[1], BaseHint::Stack);
        // Without the first pass (nothing recorded) the body is not seen.
        let text = slots.concat();
        let mut fresh = AccessHints::new(&[], Dialect::Sbpf, NO_ENTRY, |_| false);
        fresh.incoming = vec![0; slots.len() + 1];
        fresh.looping = Vec::from([Range {
            start: 0,
            end: slots.len(),
        }]);
        assert_eq!(fresh.at(&text, 1), BaseHint::Unknown);
    }

    #[test]
    fn calls_and_function_starts_forget() {
        let slots = [
            slot(MOV64_REG, 1, 10, 0),
            slot(MOV64_REG, 6, 10, 0),
            slot(CALL_IMM, 0, 0, 0),
            slot(LD_B_REG, 0, 1, 0),
            slot(LD_B_REG, 0, 6, 0),
            slot(JA, 0, 0, -6),
            // A second function.
            slot(LD_B_REG, 0, 6, 0),
            slot(LD_B_REG, 0, 10, -8),
            slot(JA, 0, 0, -3),
            slot(EXIT, 0, 0, 0),
        ];
        let got = scan_functions(&slots, &[0, 6]);
        assert_eq!(got[3], BaseHint::Unknown, "r1 after a call");
        assert_eq!(got[4], BaseHint::Stack, "r6 survives a call");
        assert_eq!(got[6], BaseHint::Unknown, "a new function");
        assert_eq!(got[7], BaseHint::Stack, "r10");
    }

    #[test]
    fn functions_without_a_loop_are_not_scanned() {
        let slots = [
            slot(MOV64_REG, 6, 10, 0),
            slot(LD_B_REG, 0, 6, 0),
            slot(EXIT, 0, 0, 0),
            // A second function, with a loop.
            slot(MOV64_REG, 6, 10, 0),
            slot(LD_B_REG, 0, 6, 0),
            slot(JA, 0, 0, -2),
        ];
        let got = scan_functions(&slots, &[0, 3]);
        assert_eq!(got[1], BaseHint::Unknown);
        assert_eq!(got[4], BaseHint::Stack);
    }

    #[test]
    fn functions_over_the_size_limit_are_not_scanned() {
        let mut slots = vec![slot(MOV64_REG, 6, 10, 0), slot(LD_B_REG, 0, 6, 0)];
        slots.resize(MAX_FUNCTION, slot(ADD64_IMM, 1, 0, 0));
        slots.push(slot(JA, 0, 0, -2));
        assert_eq!(scan_functions(&slots, &[0])[1], BaseHint::Unknown);
        slots.truncate(MAX_FUNCTION - 1);
        slots.push(slot(JA, 0, 0, -2));
        assert_eq!(scan_functions(&slots, &[0])[1], BaseHint::Stack);
    }

    /// [`scan`] with functions starting at `starts`.
    fn scan_functions(slots: &[[u8; 8]], starts: &[usize]) -> Vec<BaseHint> {
        let text = slots.concat();
        let mut hints = AccessHints::new(&text, Dialect::Sbpf, NO_ENTRY, |pc| starts.contains(&pc));
        (0..slots.len()).map(|pc| hints.at(&text, pc)).collect()
    }
}
