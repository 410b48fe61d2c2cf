//! The BPF-level macro-assembler: the register map, the entry sequence, jumps to slots and
//! to the shared routines, bail-out sites, the meter check at block entries and address
//! translation. The shared routines themselves are emitted by [`super::shapes`].
//!
//! # Register map
//!
//! | guest | host | | guest | host |
//! |---|---|---|---|---|
//! | r0 | rsi | | r6 | rbx |
//! | r1 | rdi | | r7 | r12 |
//! | r2 | r8  | | r8 | r13 |
//! | r3 | r9  | | r9 | r14 |
//! | r4 | r10 | | r10 | rbp |
//! | r5 | r11 | | env | r15 |
//!
//! rax, rcx and rdx are scratch (division, shift counts, translation). r0..r5 live in
//! caller-saved registers, so every call into Rust spills them to `Env::regs` first and
//! reloads them after (a syscall's result arrives in `Env::regs[0]` that way). r15 holds the
//! `Env` address plus [`BIAS`].
//!
//! # Targets without labels
//!
//! Every jump goes either to a slot or to a shared routine. A slot's code offset is recorded
//! when it is emitted (`offsets`); a backward jump is encoded at once (short when it
//! reaches), anything else is a rel32 field queued in one plain list of fixups and patched
//! when the whole program is emitted. A shared routine that is not emitted yet when first
//! used is queued and emitted right after the next instruction that cannot fall through (an
//! unconditional jump, `exit`, a bail-out, the end of the body), out of the way of
//! straight-line code; calls before that are fixups, every later call has a known target.
//!
//! # Runs and entry stubs
//!
//! The meter charges straight-line runs (`Code::jit_run_length`: they also end before every
//! jump or call target): the code of the first instruction of a run subtracts the run's
//! length. A `callx` to an instruction inside a run cannot enter there (the charge is at
//! the run's start), so it goes to an *entry stub*, emitted after the body, which charges
//! the rest of the run and jumps in (or bails out, inside a read-modify-write [`Pair`]).
//! Either way,
//! at every instruction the charged but not yet run instructions are exactly that
//! instruction's run length, which is what a bail-out there refunds. (With metering off a
//! jump goes straight in.)
//!
//! # Bail-out sites
//!
//! A bail-out is a 5-byte `call` of the shared bail-out routine (behind a short conditional
//! jump when it is conditional). The routine stores its return address and ends the run; the
//! return address, looked up in the program's sorted site table, names the pc and the meter
//! refund. The memory routines bail out the same way on a fault, with the access's own return
//! address still on the stack. No stub, label or fixup per pc is needed.

use super::env::{
    BIAS, DELTA, FRAME_TOP, HOISTED, HOST_RSP, INPUT_HOST, INPUT_LIMIT, INPUT_VM, LEFT, LOAD_LIMIT,
    REGS, ROWS, STORE_LIMIT,
};
use super::hints::BaseHint;
use super::hoist::Plan;
use super::lower::{At, Program};
pub(crate) use super::shapes::{Routine, ROUTINES};
pub(crate) use super::template::Shape;
use super::template::{frame_top_update, Miss, Template, Width, MAX_ROUTINES, SHAPES};
use super::{shapes, JitError, Site, StackLayout};
use crate::interpreter::op::Op;
use crate::interpreter::Code;
use bpfvm_x86::{AluKind, Assembler, Cond, Gpr, Mem, Operand, RegMem, Rel32, Scale, Size};

/// The host register of each guest register r0..r10.
pub(crate) const GUEST: [Gpr; 11] = [
    Gpr::Rsi,
    Gpr::Rdi,
    Gpr::R8,
    Gpr::R9,
    Gpr::R10,
    Gpr::R11,
    Gpr::Rbx,
    Gpr::R12,
    Gpr::R13,
    Gpr::R14,
    Gpr::Rbp,
];

/// The register holding the `Env` pointer (plus [`BIAS`]).
pub(crate) const ENV: Gpr = Gpr::R15;

/// The register holding the meter (`Env::left`) while generated code runs. The entry
/// loads it; the exit stub stores it back, and so does everything that calls into Rust or
/// clobbers it (a call into Rust, a division, a miss routine), reloading it after. Every
/// path into the exit stub arrives with the meter in it.
pub(crate) const METER: Gpr = Gpr::Rdx;

/// Callee-saved registers the entry sequence saves, in push order.
pub(crate) const SAVED: [Gpr; 6] = [Gpr::Rbx, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15];

/// Guest registers that a call into Rust may clobber (r0..r5).
const CALLER_SAVED_GUESTS: usize = 6;

/// The bit of `Masm::pending` that says stubs wait (refunds, misses); the others are
/// routines by index.
const STUBS_PENDING: u32 = 1 << 31;

/// "Not emitted yet" in the offset tables.
pub(crate) const NONE: u32 = u32::MAX;

/// Marks a slot offset whose instruction is inside a run (a jump there needs an entry stub).
const INSIDE: u32 = 1 << 31;

/// Marks a slot offset after the load of a [`Pair`], up to its store: nothing may enter
/// there (rax would not hold the store's address), so its entry is a bail-out.
const CARRIED: u32 = 1 << 30;

/// The flags of a slot offset.
const FLAGS: u32 = INSIDE | CARRIED;

/// Two accesses of the same run through the same base register (not written in between),
/// with nothing between them that uses rax, whose bytes together span 1, 2, 4 or 8 bytes:
/// the first access checks the whole span with the stricter permission of the two and
/// leaves its host address in rax; both address rax at their own offset, and the second
/// emits no translation of its own. The usual read-modify-write (`ldx; op; stx` at one
/// address) is one; so are neighbouring accesses (`ldxw [r9 - 4]` then `stxw [r9]`). If the
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
    /// What a miss of the span's check calls: the access's own translation when both
    /// accesses are the same bytes, else the stricter one of a span (a single access may
    /// run from a frame into the gap after it; a span standing in for two may not).
    pub miss: Miss,
}

/// A piece of code out of line, emitted with the pending routines: a `jcc` of the hot path
/// (`field`) lands there.
#[derive(Clone, Copy, Debug)]
struct Stub {
    /// The rel32 field of the jump to the stub.
    field: Rel32,
    /// What the stub does.
    kind: StubKind,
}

/// What a [`Stub`] does.
#[derive(Clone, Copy, Debug)]
enum StubKind {
    /// The taken side of a branch inside a run ([`Masm::branch_to_slot`]): gives back the
    /// `rest` of the run, then jumps to the branch's `target` slot.
    Refund { rest: i32, target: usize },
    /// The miss of an input or current-frame check ([`Masm::input_check`],
    /// [`Masm::stack_check`]): calls `routine` (the access at `at` is the call's site) and
    /// jumps `back` to the access.
    Miss {
        check: Check,
        routine: Routine,
        at: At,
        back: usize,
    },
}

/// The inline checks with a stub out of line.
#[derive(Clone, Copy, Debug)]
enum Check {
    /// [`Masm::input_check`]: rax holds `vaddr - input_vm`.
    Input,
    /// [`Masm::stack_check`]: rax holds `vaddr - r10 + frame`; the access adds `-frame`.
    Stack { frame: i32 },
}

/// Where an instruction sits in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunPosition {
    /// The first instruction of a run (after an op that ends one, or slot 0).
    Start,
    /// Any later instruction of a run.
    Inside,
}

/// Whether an access reads or writes guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A load.
    Load,
    /// A store (or an atomic read-modify-write).
    Store,
}

/// How addresses are translated inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Translation {
    /// The aligned mapping: a region-table lookup inline, the mapping only on a miss.
    InlineTable,
    /// The unaligned mapping: always ask the mapping.
    Call,
}

/// Whether blocks are charged against the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MeterMode {
    /// Charge at block entries, bail out to the interpreter near the end of the budget.
    On,
    /// No meter code at all.
    Off,
}

/// What a queued rel32 field points at.
#[derive(Clone, Copy, Debug)]
enum Target {
    Slot(u32),
    Routine(Routine),
}

/// The JIT-hardening settings: random no-ops and constant blinding change the machine code,
/// never the behaviour.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hardening {
    /// About one 1-byte `nop` per this many BPF instructions (0: none).
    pub noop_rate: u32,
    /// Whether program-supplied immediates are blinded.
    pub blind: bool,
    /// The state of the per-compile pseudo-random generator (never zero).
    pub seed: u64,
}

/// Whether an immediate is harmless enough to appear in the clear (small, or all ones).
fn harmless(value: u64) -> bool {
    let signed = value as i64;
    (-256..=255).contains(&signed) || (value.wrapping_add(1) & value) == 0
}

/// A function pointer generated code calls, as an absolute address.
pub(crate) type HelperAddr = u64;

/// The settings of one compile the macro-assembler needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub meter: MeterMode,
    pub translation: Translation,
    pub hardening: Hardening,
    /// log2 of the stack's gap size when the stack is gapped (fixed frames with gaps).
    pub gap_shift: Option<u8>,
    pub translate_helper: HelperAddr,
    pub syscall_helper: HelperAddr,
}

/// Buffers of one compile that the next one on the same thread reuses (their pages stay
/// mapped and warm).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The code buffer.
    pub code: Vec<u8>,
    stubs: Vec<u32>,
    fixups: Vec<(Rel32, Target)>,
}

/// The tables a compiled program keeps besides its code: per slot the code offset, the
/// bail-out sites, the `callx` table (empty without `callx`). A dropped program gives them
/// back for the next compile ([`super::recycled_tables`]).
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub offsets: Vec<u32>,
    pub sites: Vec<Site>,
    pub callx_table: Vec<u32>,
}

/// The macro-assembler: an [`Assembler`] plus the offsets, fixups and sites of one program.
pub(crate) struct Masm {
    pub asm: Assembler,
    pub settings: Settings,
    pub program: Program,
    /// Per slot (plus the slot after the last): where its code starts (with [`INSIDE`] for
    /// an instruction inside a run), or [`NONE`].
    offsets: Vec<u32>,
    /// Entry stubs (jumps into a run, or a bail-out for a slot without code): per slot, the
    /// stub's offset or [`NONE`]; empty until the first stub.
    stubs: Vec<u32>,
    fixups: Vec<(Rel32, Target)>,
    sites: Vec<Site>,
    /// The `callx` table once built ([`Masm::callx_entries`]).
    callx_table: Vec<u32>,
    routines: [u32; ROUTINES],
    templates: [Option<Template>; SHAPES],
    /// Routines asked for but not emitted yet (bits of `1 << Routine::index`).
    pending: u32,
    /// Instructions until the next hardening `nop` (0: no no-ops).
    nop_countdown: u64,
    /// The pair of accesses being lowered, if any.
    pub pair: Option<Pair>,
    /// The displacement from rax of the last translated access's host bytes.
    host_disp: i32,
    /// A register the last translated access also adds to rax (a hoisted access: rax
    /// holds its group's delta and this its guest base register).
    host_index: Option<Gpr>,
    /// The `host_index` of a pair's first access (the second reuses it).
    pair_index: Option<Gpr>,
    /// The displacement from rax of the span a pair's first access checked (the second
    /// reuses it).
    pair_disp: i32,
    /// Out-of-line stubs not emitted yet.
    out_of_line: Vec<Stub>,
    /// The guess for the base register of the instruction being lowered (picks the shape
    /// of its inline check).
    pub hint: BaseHint,
    /// Whether some `callx` reads the program's table of entries.
    pub callx: Callx,
    /// While the second copy of a versioned loop is emitted: its plan (which accesses
    /// translate through a delta the loop's guard checked, with no check of their own).
    hoist: Option<Box<Plan>>,
}

/// Whether the compiled program needs its `callx` table ([`Masm::callx_entries`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Callx {
    /// No `callx` (the table is not built).
    None,
    /// A `callx` reads the table through `Env::callx_table`.
    Table,
}

/// What [`Masm::begin_copy`] set aside: the offsets and entry stubs of the loop's first
/// copy, and where the copy's fixups start.
pub(crate) struct CopyMark {
    offsets: Vec<u32>,
    stubs: Vec<u32>,
    fixups: usize,
}

/// A guest register's host register; the verifier allows only r0..r10 (r11 is lowered
/// separately), anything else is an error value.
pub(crate) fn guest(reg: u8, pc: usize) -> Result<Gpr, JitError> {
    GUEST
        .get(usize::from(reg))
        .copied()
        .ok_or(JitError::UnsupportedRegister { pc, reg })
}

/// The `Env` field at displacement `offset` from r15 (the constants of `env.rs`).
pub(crate) fn env(offset: i32) -> Mem {
    Mem::base_disp(ENV, offset)
}

/// `[r15 + rdx * 8 + offset]`: the region-table row of the slot in rdx (in the miss
/// routines, which save the meter first).
pub(crate) fn row(offset: i32) -> Mem {
    row_at(Gpr::Rdx, offset)
}

/// `[r15 + index * 8 + offset]`: the region-table row of the slot in `index`.
pub(crate) fn row_at(index: Gpr, offset: i32) -> Mem {
    Mem::indexed(ENV, index, Scale::Eight, offset)
}

/// `mov [r15 + LEFT], rdx`: the meter back into the `Env`.
pub(crate) fn save_meter(a: &mut Assembler) -> Result<(), JitError> {
    a.store(Size::S64, env(LEFT), METER)?;
    Ok(())
}

/// `mov rdx, [r15 + LEFT]`: the meter from the `Env`.
pub(crate) fn load_meter(a: &mut Assembler) -> Result<(), JitError> {
    a.load(Size::S64, METER, env(LEFT))?;
    Ok(())
}

/// The `Env::regs` slot of guest register `index`.
fn reg_slot(index: usize) -> Mem {
    env(REGS + 8 * index as i32)
}

/// A pc as an immediate; the compiler rejects programs too large for that up front.
pub(crate) fn imm_pc(pc: usize) -> i32 {
    i32::try_from(pc).unwrap_or(i32::MAX)
}

/// The code offset of a slot-offset table entry ([`NONE`] or an offset, possibly marked
/// [`INSIDE`]).
pub(crate) fn slot_offset(entry: u32) -> Option<usize> {
    (entry != NONE).then_some((entry & !FLAGS) as usize)
}

/// A code offset as stored in the tables (code stays far below 4 GiB).
fn offset32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(NONE)
}

impl Masm {
    /// A macro-assembler for a program of `slot_count` slots.
    pub fn new(
        slot_count: usize,
        settings: Settings,
        program: Program,
        scratch: Scratch,
        tables: Tables,
    ) -> Masm {
        let Scratch {
            code: mut buffer,
            mut stubs,
            mut fixups,
        } = scratch;
        buffer.reserve(slot_count * 24 + 2048);
        stubs.clear();
        fixups.clear();
        let Tables {
            mut offsets,
            mut sites,
            mut callx_table,
        } = tables;
        offsets.clear();
        offsets.resize(slot_count + 1, NONE);
        // Sized up front: about one site per instruction at most, and a reallocation of a
        // table this large costs more than the spare capacity.
        sites.clear();
        sites.reserve(slot_count + 16);
        callx_table.clear();
        Masm {
            asm: Assembler::with_buffer(buffer, 4, 4),
            settings,
            program,
            offsets,
            stubs,
            fixups,
            sites,
            callx_table,
            routines: [NONE; ROUTINES],
            callx: Callx::None,
            templates: core::array::from_fn(|_| None),
            pending: 0,
            nop_countdown: 0,
            pair: None,
            host_disp: 0,
            host_index: None,
            pair_index: None,
            pair_disp: 0,
            out_of_line: Vec::new(),
            hint: BaseHint::Unknown,
            hoist: None,
        }
        .with_first_nop()
    }

    /// Draws the distance to the first hardening `nop`.
    fn with_first_nop(mut self) -> Masm {
        self.nop_countdown = self.nop_gap();
        self
    }

    /// A random distance to the next hardening `nop`, uniform in `1..2 * noop_rate` (mean
    /// `noop_rate`), or 0 when there are none.
    fn nop_gap(&mut self) -> u64 {
        let rate = u64::from(self.settings.hardening.noop_rate);
        match rate {
            0 => 0,
            rate => 1 + self.random() % (2 * rate - 1),
        }
    }

    /// The next pseudo-random number (xorshift64; machine-code diversification only).
    fn random(&mut self) -> u64 {
        let mut x = self.settings.hardening.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.settings.hardening.seed = x;
        x
    }

    /// Emits a 1-byte `nop` about once per `noop_rate` calls, at random distances (drawn
    /// once per `nop`, not per instruction).
    #[inline]
    pub fn maybe_nop(&mut self) {
        match self.nop_countdown {
            0 => {}
            1 => {
                self.asm.nop(1);
                self.nop_countdown = self.nop_gap();
            }
            _ => self.nop_countdown -= 1,
        }
    }

    /// Whether constant blinding applies to `value`.
    pub fn blinds(&self, value: u64) -> bool {
        self.settings.hardening.blind && !harmless(value)
    }

    /// A fresh blinding key for `value`, or `None` when it is emitted in the clear.
    pub fn blinding_key(&mut self, value: u64) -> Option<i32> {
        if !self.blinds(value) {
            return None;
        }
        Some((self.random() as i32) | 1)
    }

    /// Pads with NOPs to the alignment of a loop's head.
    #[inline(never)]
    pub fn align_loop_header(&mut self) {
        self.asm.align_with_nops(super::LOOP_ALIGNMENT);
    }

    /// Records that the code of slot `pc` starts here.
    #[inline]
    pub fn start_slot(&mut self, pc: usize, position: RunPosition) {
        let carried = match self.pair {
            Some(pair) if (pair.load as usize) < pc && pc <= pair.store as usize => CARRIED,
            _ => 0,
        };
        let offset = offset32(self.asm.offset())
            | carried
            | match position {
                RunPosition::Start => 0,
                RunPosition::Inside => INSIDE,
            };
        if let Some(slot) = self.offsets.get_mut(pc) {
            *slot = offset;
        }
    }

    /// Where a jump to slot `pc` may land, if known: the slot's code when it starts a run
    /// (or when nothing is metered), else its entry stub.
    #[inline]
    pub fn entry_offset(&self, pc: usize) -> Option<u32> {
        let offset = *self.offsets.get(pc)?;
        let metered = self.settings.meter == MeterMode::On;
        match (offset, metered) {
            (NONE, _) => None,
            (offset, _) if offset & CARRIED != 0 => None,
            (offset, false) => Some(offset & !INSIDE),
            (offset, true) if offset & INSIDE == 0 => Some(offset),
            _ => None,
        }
        .or_else(|| self.stubs.get(pc).copied().filter(|stub| *stub != NONE))
    }

    /// The slot index of a target (anything out of range means the slot after the last).
    fn slot_index(&self, pc: usize) -> u32 {
        let last = self.offsets.len().saturating_sub(1);
        offset32(pc.min(last))
    }

    /// `jmp` (`cond` `None`) or `jcc` to slot `target`.
    #[inline]
    pub fn jump_to_slot(&mut self, cond: Option<Cond>, target: usize) -> Result<(), JitError> {
        let known = self.entry_offset(target).map(|offset| offset as usize);
        match (known, cond) {
            (Some(offset), None) => self.asm.jmp_to(offset)?,
            (Some(offset), Some(cond)) => self.asm.jcc_to(cond, offset)?,
            (None, None) => {
                let field = self.asm.jmp_pending();
                self.fixups
                    .push((field, Target::Slot(self.slot_index(target))));
            }
            (None, Some(cond)) => {
                let field = self.asm.jcc_pending(cond);
                self.fixups
                    .push((field, Target::Slot(self.slot_index(target))));
            }
        }
        Ok(())
    }

    /// A conditional jump to slot `target` by the branch at `at`. The branch does not end
    /// its run (`Code::jit_run_length`): the rest of the run after it was charged, so a
    /// taken branch first gives that back, in a stub emitted with the pending routines
    /// (`add rdx, rest; jmp target`); a branch that ends its run jumps directly.
    #[inline(always)]
    pub fn branch_to_slot(&mut self, cond: Cond, target: usize, at: At) -> Result<(), JitError> {
        match (self.settings.meter, at.refund) {
            (MeterMode::On, 2..) => self.branch_with_refund(cond, target, at.refund - 1),
            _ => self.jump_to_slot(Some(cond), target),
        }
    }

    /// [`Masm::branch_to_slot`] with `rest` instructions to give back when taken.
    #[inline(never)]
    fn branch_with_refund(&mut self, cond: Cond, target: usize, rest: u64) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        let rest = i32::try_from(rest).map_err(|_| JitError::ProgramTooLarge {
            slots: self.offsets.len(),
        })?;
        self.add_stub(field, StubKind::Refund { rest, target });
        Ok(())
    }

    /// Records a stub that the jump at `field` goes to.
    fn add_stub(&mut self, field: Rel32, kind: StubKind) {
        self.pending |= STUBS_PENDING;
        self.out_of_line.push(Stub { field, kind });
    }

    /// Emits the waiting stubs here (execution cannot fall through).
    fn emit_stubs(&mut self) -> Result<(), JitError> {
        let mut stubs = core::mem::take(&mut self.out_of_line);
        for stub in stubs.drain(..) {
            let here = self.asm.offset();
            self.asm.patch_rel32(stub.field, here)?;
            match stub.kind {
                StubKind::Refund { rest, target } => {
                    self.asm.alu(
                        AluKind::Add,
                        Size::S64,
                        RegMem::Reg(METER),
                        Operand::Imm(rest),
                    )?;
                    self.jump_to_slot(None, target)?;
                }
                StubKind::Miss {
                    check,
                    routine,
                    at,
                    back,
                } => self.miss_stub(check, routine, at, back)?,
            }
        }
        // The (empty) vector goes back, keeping its allocation.
        self.out_of_line = stubs;
        Ok(())
    }

    /// The body of a miss stub: back to the vaddr, the routine, back to the check's result
    /// form, and back to the access.
    fn miss_stub(
        &mut self,
        check: Check,
        routine: Routine,
        at: At,
        back: usize,
    ) -> Result<(), JitError> {
        let rax = RegMem::Reg(Gpr::Rax);
        match check {
            Check::Input => {
                self.asm
                    .alu(AluKind::Add, Size::S64, rax, Operand::Mem(env(INPUT_VM)))?;
                self.call_routine(routine)?;
                self.site(at);
            }
            Check::Stack { frame } => {
                self.asm.lea(
                    Size::S64,
                    Gpr::Rax,
                    Mem::indexed(Gpr::Rax, GUEST[10], Scale::One, -frame),
                )?;
                self.call_routine(routine)?;
                self.site(at);
                self.asm
                    .alu(AluKind::Add, Size::S64, rax, Operand::Imm(frame))?;
            }
        }
        self.asm.jmp_to(back)?;
        Ok(())
    }

    /// `call` slot `target`.
    pub fn call_slot(&mut self, target: usize) -> Result<(), JitError> {
        match self.entry_offset(target) {
            Some(offset) => self.asm.call_to(offset as usize)?,
            None => {
                let field = self.asm.call_pending();
                self.fixups
                    .push((field, Target::Slot(self.slot_index(target))));
            }
        }
        Ok(())
    }

    /// The offset of `routine` once it is emitted; before that, marks it pending (it is
    /// emitted at the next point that execution cannot fall through, [`Masm::emit_pending`])
    /// and returns `None`.
    #[inline(always)]
    pub fn routine_target(&mut self, routine: Routine) -> Option<usize> {
        let offset = self.routine_offset(routine);
        if offset.is_none() {
            self.pending |= 1 << routine.index();
        }
        offset
    }

    /// Whether routines or stubs wait to be emitted.
    #[inline(always)]
    pub fn has_pending(&self) -> bool {
        self.pending != 0
    }

    /// Emits the pending routines here, where execution cannot fall through (after an
    /// unconditional jump, an `exit`, a bail-out, or the body).
    #[inline(never)]
    pub fn emit_pending(&mut self) -> Result<(), JitError> {
        self.pending &= !STUBS_PENDING;
        self.emit_stubs()?;
        while self.pending != 0 {
            let index = self.pending.trailing_zeros() as usize;
            self.pending &= self.pending - 1;
            let Some(routine) = Routine::ALL.get(index).copied() else {
                continue;
            };
            if self.routine_offset(routine).is_none() {
                self.start_routine(routine);
                shapes::emit_routine(self, routine)?;
            }
        }
        Ok(())
    }

    /// Records `field` as pointing at `routine`.
    pub fn routine_field(&mut self, field: Rel32, routine: Routine) {
        self.fixups.push((field, Target::Routine(routine)));
    }

    /// `call routine`.
    #[inline(always)]
    pub fn call_routine(&mut self, routine: Routine) -> Result<(), JitError> {
        match self.routine_target(routine) {
            Some(offset) => self.asm.call_to(offset)?,
            None => {
                let field = self.asm.call_pending();
                self.routine_field(field, routine);
            }
        }
        Ok(())
    }

    /// `jmp` (`cond` `None`) or `jcc` to `routine`.
    pub fn jump_routine(&mut self, cond: Option<Cond>, routine: Routine) -> Result<(), JitError> {
        match (self.routine_target(routine), cond) {
            (Some(offset), None) => self.asm.jmp_to(offset)?,
            (Some(offset), Some(cond)) => self.asm.jcc_to(cond, offset)?,
            (None, None) => {
                let field = self.asm.jmp_pending();
                self.routine_field(field, routine);
            }
            (None, Some(cond)) => {
                let field = self.asm.jcc_pending(cond);
                self.routine_field(field, routine);
            }
        }
        Ok(())
    }

    /// Records that `routine` starts here.
    pub fn start_routine(&mut self, routine: Routine) {
        let offset = offset32(self.asm.offset());
        if let Some(slot) = self.routines.get_mut(routine.index()) {
            *slot = offset;
        }
    }

    /// Registers the return address just emitted as the bail-out site of `at`.
    #[inline]
    pub fn site(&mut self, at: At) {
        self.site_at(self.asm.offset(), at);
    }

    /// Hands the run to the interpreter before the instruction at `at`.
    #[inline]
    pub fn bail_now(&mut self, at: At) -> Result<(), JitError> {
        self.call_routine(Routine::BailSite)?;
        self.site(at);
        Ok(())
    }

    /// Hands the run to the interpreter before the instruction at `at` when `cond` holds.
    #[inline]
    pub fn bail_if(&mut self, cond: Cond, at: At) -> Result<(), JitError> {
        self.asm.jcc_over(cond.invert(), 5)?;
        self.bail_now(at)
    }

    /// The meter check at the entry of a block of `count` instructions starting at `pc`:
    /// unless the budget covers every check inside the block (`left > count`), hand the run
    /// to the interpreter at `pc` (refunding the charge), which finishes it exactly.
    #[inline]
    pub fn block_entry(&mut self, pc: usize, count: u64) -> Result<(), JitError> {
        if self.settings.meter == MeterMode::Off || count == 0 {
            return Ok(());
        }
        let charge = i32::try_from(count).map_err(|_| JitError::ProgramTooLarge { slots: pc })?;
        let width = match i8::try_from(charge) {
            Ok(_) => Width::Byte,
            Err(_) => Width::Dword,
        };
        self.replay(Shape::Meter(width), charge, At { pc, refund: count })
    }

    /// Appends the template of `shape` (built on first use) with the immediate `imm`, for
    /// the instruction at `at`.
    #[inline(always)]
    pub fn replay(&mut self, shape: Shape, imm: i32, at: At) -> Result<(), JitError> {
        let index = shape.index();
        if let Some(Some(template)) = self.templates.get(index) {
            if template.resolved() {
                if let Some(ret) = template.emit_resolved(&mut self.asm, imm)? {
                    self.site_at(ret, at);
                }
                return Ok(());
            }
        }
        self.replay_unresolved(shape, imm, at)
    }

    /// [`Masm::replay`] of a template not built yet, or with a routine field whose routine
    /// is not emitted yet.
    #[inline(never)]
    fn replay_unresolved(&mut self, shape: Shape, imm: i32, at: At) -> Result<(), JitError> {
        let index = shape.index();
        let routines = match self.templates.get(index) {
            Some(Some(template)) if template.resolved() => None,
            Some(Some(template)) => Some(template.routines()),
            _ => Some(self.build_template(shape)?),
        };
        if let Some(routines) = routines {
            // Some routine is not emitted yet: point the fields at the ones that are.
            let targets = routines.map(|routine| routine.and_then(|r| self.routine_target(r)));
            if let Some(Some(template)) = self.templates.get_mut(index) {
                template.resolve(targets);
            }
        }
        let Some(Some(template)) = self.templates.get(index) else {
            return Err(JitError::Encode {
                message: format!("no template for {shape:?}"),
            });
        };
        let (site, unresolved) = template.emit(&mut self.asm, imm)?;
        for (field, routine) in unresolved.into_iter().flatten() {
            self.routine_field(field, routine);
        }
        if let Some(ret) = site {
            self.site_at(ret, at);
        }
        Ok(())
    }

    /// Builds the template of `shape` (its first use) and returns its routines.
    #[inline(never)]
    fn build_template(
        &mut self,
        shape: Shape,
    ) -> Result<[Option<Routine>; MAX_ROUTINES], JitError> {
        let program = self.program;
        let template = Template::build(|b| shape.build(b, &program))?;
        let routines = template.routines();
        if let Some(slot) = self.templates.get_mut(shape.index()) {
            *slot = Some(template);
        }
        Ok(routines)
    }

    /// Registers `ret` (a return address) as the bail-out site of `at`.
    #[inline]
    pub fn site_at(&mut self, ret: usize, at: At) {
        let refund = match self.settings.meter {
            MeterMode::On => at.refund,
            MeterMode::Off => 0,
        };
        self.sites.push(Site {
            ret: offset32(ret),
            pc: offset32(at.pc),
            refund: u32::try_from(refund).unwrap_or(NONE),
        });
    }

    /// The entry sequence: save callee-saved registers, point r15 at the `Env`, remember the
    /// host stack, load the guest registers, jump to slot `entry` (over the exits, which
    /// follow).
    pub fn prologue(&mut self, entry: usize) -> Result<(), JitError> {
        for reg in SAVED {
            self.asm.push(reg);
        }
        self.asm
            .lea(Size::S64, ENV, Mem::base_disp(Gpr::Rdi, BIAS))?;
        self.asm.store(Size::S64, env(HOST_RSP), Gpr::Rsp)?;
        for (index, reg) in GUEST.iter().enumerate() {
            self.asm.load(Size::S64, *reg, reg_slot(index))?;
        }
        if self.program.stack.is_some() {
            frame_top_update(&mut self.asm)?;
        }
        load_meter(&mut self.asm)?;
        self.jump_to_slot(None, entry)
    }

    /// Calls the Rust function at `function` as `f(env, arg1, arg2)` (`arg1` and `arg2`
    /// are rax or rcx; the caller has saved the meter, see [`save_meter`]): spills r0..r5,
    /// moves the arguments, aligns the host stack, calls, restores the stack, reloads r0..r5
    /// and the meter (the function may have changed `Env::left`). The result is in rax.
    pub fn call_rust(
        &mut self,
        function: HelperAddr,
        arg1: Gpr,
        arg2: Gpr,
    ) -> Result<(), JitError> {
        for (index, reg) in GUEST.iter().enumerate().take(CALLER_SAVED_GUESTS) {
            self.asm.store(Size::S64, reg_slot(index), *reg)?;
        }
        self.asm.mov(Size::S64, Gpr::Rsi, arg1);
        self.asm.mov(Size::S64, Gpr::Rdx, arg2);
        self.asm
            .lea(Size::S64, Gpr::Rdi, Mem::base_disp(ENV, -BIAS))?;
        self.asm.mov(Size::S64, Gpr::Rax, Gpr::Rsp);
        self.asm.alu(
            AluKind::And,
            Size::S64,
            RegMem::Reg(Gpr::Rsp),
            Operand::Imm(-16),
        )?;
        self.asm.push(Gpr::Rax);
        self.asm.push(Gpr::Rax);
        self.asm.movabs(Gpr::Rax, function);
        self.asm.call_indirect(RegMem::Reg(Gpr::Rax))?;
        self.asm
            .load(Size::S64, Gpr::Rsp, Mem::base_disp(Gpr::Rsp, 8))?;
        for (index, reg) in GUEST.iter().enumerate().take(CALLER_SAVED_GUESTS) {
            self.asm.load(Size::S64, *reg, reg_slot(index))?;
        }
        load_meter(&mut self.asm)
    }

    /// Translates the `size`-byte access at `base + off` by the instruction at `at`; the
    /// host operand of the access is then [`Masm::host`] (rax-based; rcx is clobbered). An
    /// access to the current frame through r10 needs no check ([`super::StackLayout`]);
    /// otherwise a miss in the inline check calls the shared routine of the access kind and
    /// size, which tries the gapped stack and asks the mapping; a fault bails out at `at`.
    /// (The result goes through a field rather than the return value: returned, it made
    /// every caller wait on a store of mixed widths.)
    #[inline]
    pub fn translate(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        at: At,
    ) -> Result<(), JitError> {
        match self.pair {
            Some(pair) if pair.load as usize == at.pc => {
                // The whole span, for both accesses.
                let (start, span) = (pair.start, pair.span);
                self.translate_access(base, start, span, pair.access, pair.miss, at)?;
                self.pair_disp = self.host_disp;
                self.host_disp += i32::from(off) - i32::from(start);
            }
            Some(pair) if pair.store as usize == at.pc => {
                // The first access left the span's host address, checked for both.
                self.pair = None;
                self.host_disp = self.pair_disp + i32::from(off) - i32::from(pair.start);
            }
            _ => self.translate_access(base, off, size, access, Miss::Translate, at)?,
        }
        Ok(())
    }

    /// Whether the second copy of a versioned loop is being emitted (its accesses then
    /// go through [`Masm::translate_in_copy`]).
    #[inline(always)]
    pub fn copying(&self) -> bool {
        self.hoist.is_some()
    }

    /// [`Masm::translate`] inside the second copy of a versioned loop: an access the plan
    /// hoists (both accesses of a pair, or neither) needs no check; its host operand is
    /// then [`Masm::hoisted_host`].
    #[inline(never)]
    pub fn translate_in_copy(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        at: At,
    ) -> Result<(), JitError> {
        match self.pair {
            Some(pair) if pair.store as usize == at.pc => {
                self.host_index = self.pair_index;
                self.translate(base, off, size, access, at)
            }
            Some(pair) if pair.load as usize == at.pc => {
                let second = self.hoisted(pair.store as usize);
                match self.hoisted(at.pc).filter(|group| Some(*group) == second) {
                    Some(group) => {
                        self.hoisted_access(base, pair.start, group)?;
                        self.pair_disp = self.host_disp;
                        self.pair_index = self.host_index;
                        self.host_disp += i32::from(off) - i32::from(pair.start);
                        Ok(())
                    }
                    None => {
                        (self.host_index, self.pair_index) = (None, None);
                        self.translate(base, off, size, access, at)
                    }
                }
            }
            _ => match self.hoisted(at.pc) {
                Some(group) => self.hoisted_access(base, off, group),
                None => {
                    self.host_index = None;
                    self.translate(base, off, size, access, at)
                }
            },
        }
    }

    /// The group of the access at `pc` in the versioned loop being copied, if hoisted.
    #[inline(always)]
    fn hoisted(&self, pc: usize) -> Option<u8> {
        self.hoist.as_ref()?.group_of(pc)
    }

    /// The translation of an access whose span the loop's guard checked (see `hoist`):
    /// `host = vaddr + delta`, with the delta of the guard's row in `Env::hoisted`: rax
    /// holds the delta, and the access reads `[rax + base + off]`.
    #[inline(never)]
    fn hoisted_access(&mut self, base: Gpr, off: i16, group: u8) -> Result<(), JitError> {
        let delta = env(HOISTED + 8 * i32::from(group));
        self.asm.load(Size::S64, Gpr::Rax, delta)?;
        self.host_index = Some(base);
        self.host_disp = i32::from(off);
        Ok(())
    }

    /// Starts the second copy of the versioned loop of `plan`: its slots get new offsets
    /// (jumps inside the copy stay inside it), and its hoisted accesses no check.
    pub fn begin_copy(&mut self, plan: Plan) -> CopyMark {
        let range = plan.head..plan.latch + 1;
        // Set aside and cleared: a jump to a slot of the body not copied yet is then a
        // fixup, which `end_copy` points at the copy.
        let offsets = self
            .offsets
            .get_mut(range.clone())
            .map_or(Vec::new(), |slots| {
                let saved = slots.to_vec();
                slots.fill(NONE);
                saved
            });
        let stubs = self.stubs.get_mut(range).map_or(Vec::new(), |slots| {
            let saved = slots.to_vec();
            slots.fill(NONE);
            saved
        });
        self.hoist = Some(Box::new(plan));
        self.pair = None;
        CopyMark {
            offsets,
            stubs,
            fixups: self.fixups.len(),
        }
    }

    /// Ends the copy [`Masm::begin_copy`] started: patches the copy's jumps to its own
    /// slots, and gives the slots back their first copy's offsets (every other jump, entry
    /// and `callx` goes to the first copy).
    pub fn end_copy(&mut self, mark: CopyMark) -> Result<(), JitError> {
        let Some(plan) = self.hoist.take() else {
            return Ok(());
        };
        self.pair = None;
        let mut index = mark.fixups;
        while let Some((field, target)) = self.fixups.get(index).copied() {
            let inside = match target {
                Target::Slot(pc) if plan.contains(pc as usize) => self.entry_offset(pc as usize),
                _ => None,
            };
            match inside {
                Some(offset) => {
                    self.asm.patch_rel32(field, offset as usize)?;
                    self.fixups.swap_remove(index);
                }
                None => index += 1,
            }
        }
        let range = plan.head..plan.latch + 1;
        if let Some(offsets) = self.offsets.get_mut(range.clone()) {
            if offsets.len() == mark.offsets.len() {
                offsets.copy_from_slice(&mark.offsets);
            }
        }
        if let Some(stubs) = self.stubs.get_mut(range) {
            if stubs.len() == mark.stubs.len() {
                stubs.copy_from_slice(&mark.stubs);
            }
        }
        Ok(())
    }

    /// The host operand of the access [`Masm::translate`] translated last.
    #[inline(always)]
    pub fn host(&self) -> Mem {
        Mem::base_disp(Gpr::Rax, self.host_disp)
    }

    /// The host operand of the access [`Masm::translate`] translated last when it is a
    /// hoisted one (`[rax + base + off]`; [`Masm::host`] otherwise), which the lowering
    /// asks for out of its hot path (a `Mem` of one fixed shape keeps the encoder's common
    /// case inlined).
    #[inline(always)]
    pub fn hoisted_host(&self) -> Option<Mem> {
        let index = self.host_index?;
        Some(Mem::indexed(Gpr::Rax, index, Scale::One, self.host_disp))
    }

    /// [`Masm::translate`] without the pairing.
    #[inline(always)]
    fn translate_access(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        miss: Miss,
        at: At,
    ) -> Result<(), JitError> {
        if base == GUEST[10] && self.frame_access(off, size) {
            // Inside the current frame of the standard gapped stack: no check can fail.
            self.asm.load(Size::S64, Gpr::Rax, env(FRAME_TOP))?;
            self.host_disp = i32::from(off);
            return Ok(());
        }
        let log = size.trailing_zeros().min(3) as u8;
        let routine = miss.routine(access, log);
        // With a gapped stack, r10-based accesses always miss the table: call directly.
        let direct = self.settings.translation == Translation::Call
            || (self.settings.gap_shift.is_some() && base == GUEST[10]);
        let stack = match (self.hint, self.program.stack) {
            (BaseHint::Stack, Some(layout)) if !direct => Some(stack_bias(layout)?),
            _ => None,
        };
        let off = i32::from(off);
        let (shape, bias) = match (stack, self.hint) {
            _ if direct => (None, 0),
            (Some(frame), _) => {
                return self.stack_check(base, off, size, frame, routine, at);
            }
            (None, BaseHint::Input) => {
                let off = i16::try_from(off).unwrap_or(0);
                return self.input_check(base, off, size, access, routine, at);
            }
            // The table check compares the end in rax (and takes the slot from rax - size).
            (None, _) => (Some(Shape::Access(access, size, miss)), i32::from(size)),
        };
        self.asm
            .lea(Size::S64, Gpr::Rax, Mem::base_disp(base, off + bias))?;
        match shape {
            Some(shape) => self.replay(shape, 0, at)?,
            None => {
                self.call_routine(routine)?;
                self.site(at);
            }
        }
        self.host_disp = -bias;
        Ok(())
    }

    /// The input-region check of a `size`-byte `access` at `base + off` through a register
    /// that probably holds an input address (see `hints`): one compare against the input
    /// region's row ([`super::env::Env::input_limit`]), the hit falling through to the
    /// access; a miss jumps to a stub out of line, emitted with the pending routines, which
    /// calls `routine` and jumps back.
    ///
    /// ```text
    ///     lea rax, [base + off]
    ///     sub rax, [r15 + INPUT_VM]
    ///     cmp rax, [r15 + INPUT_LIMIT + 8 * (kind * 4 + log)]
    ///     jae stub
    ///     add rax, [r15 + INPUT_HOST]
    /// back:
    ///     ...
    /// stub:
    ///     add rax, [r15 + INPUT_VM]     ; vaddr
    ///     call routine
    ///     jmp back
    /// ```
    fn input_check(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        routine: Routine,
        at: At,
    ) -> Result<(), JitError> {
        let log = size.trailing_zeros().min(3) as i32;
        let limit = INPUT_LIMIT + 8 * (i32::from(access == Access::Store) * 4 + log);
        let rax = RegMem::Reg(Gpr::Rax);
        self.asm
            .lea(Size::S64, Gpr::Rax, Mem::base_disp(base, i32::from(off)))?;
        self.asm
            .alu(AluKind::Sub, Size::S64, rax, Operand::Mem(env(INPUT_VM)))?;
        self.asm
            .alu(AluKind::Cmp, Size::S64, rax, Operand::Mem(env(limit)))?;
        let field = self.asm.jcc_pending(Cond::Ae);
        self.asm
            .alu(AluKind::Add, Size::S64, rax, Operand::Mem(env(INPUT_HOST)))?;
        let back = self.asm.offset();
        let check = Check::Input;
        self.add_stub(
            field,
            StubKind::Miss {
                check,
                routine,
                at,
                back,
            },
        );
        self.host_disp = 0;
        Ok(())
    }

    /// The current-frame check of a `size`-byte access at `base + off` through a register
    /// that probably points into the stack (see `hints`), for code compiled for frames of
    /// `frame` bytes: an address inside the current frame, `[r10 - F, r10 - size]`, is host
    /// byte `frame_top + (vaddr - r10)` (no check can fail there, see
    /// [`super::StackLayout`]); anything else (another frame, another region) jumps to a
    /// stub out of line that calls `routine` and jumps back. Leaves the host address plus
    /// F in rax (the access adds -F).
    ///
    /// ```text
    ///     lea rax, [base + off + F]
    ///     sub rax, rbp                  ; vaddr - r10 + F
    ///     cmp rax, F - size
    ///     ja stub
    ///     add rax, [r15 + FRAME_TOP]
    /// back:
    ///     ...
    /// stub:
    ///     lea rax, [rax + rbp - F]      ; vaddr
    ///     call routine
    ///     add rax, F
    ///     jmp back
    /// ```
    fn stack_check(
        &mut self,
        base: Gpr,
        off: i32,
        size: u8,
        frame: i32,
        routine: Routine,
        at: At,
    ) -> Result<(), JitError> {
        let rax = RegMem::Reg(Gpr::Rax);
        self.asm
            .lea(Size::S64, Gpr::Rax, Mem::base_disp(base, off + frame))?;
        self.asm
            .alu(AluKind::Sub, Size::S64, rax, Operand::Reg(GUEST[10]))?;
        self.asm
            .cmp(Size::S64, rax, Operand::Imm(frame - i32::from(size)))?;
        let field = self.asm.jcc_pending(Cond::A);
        self.asm
            .alu(AluKind::Add, Size::S64, rax, Operand::Mem(env(FRAME_TOP)))?;
        let back = self.asm.offset();
        let check = Check::Stack { frame };
        self.add_stub(
            field,
            StubKind::Miss {
                check,
                routine,
                at,
                back,
            },
        );
        self.host_disp = -frame;
        Ok(())
    }

    /// Whether `[r10 + off]` of `size` bytes stays inside the current frame of the standard
    /// gapped stack (`-F <= off` and `off + size <= 0`), so that its host address is
    /// `Env::frame_top + off` ([`super::StackLayout`]).
    fn frame_access(&self, off: i16, size: u8) -> bool {
        let Some(layout) = self.program.stack else {
            return false;
        };
        let off = i64::from(off);
        let frame = i64::try_from(layout.frame).unwrap_or(0);
        off >= -frame && off + i64::from(size) <= 0
    }

    /// After the body: an entry stub for every slot jumped to that cannot be entered
    /// directly.
    pub fn slot_stubs(&mut self, code: &Code) -> Result<(), JitError> {
        for index in 0..self.fixups.len() {
            if let Some((_, Target::Slot(pc))) = self.fixups.get(index).copied() {
                self.ensure_entry(code, pc as usize)?;
            }
        }
        Ok(())
    }

    /// Makes sure slot `pc` can be entered: emits its entry stub unless it starts a run
    /// (or has one already). A slot inside a run gets the charge for the rest of the run
    /// and a jump in; a slot without code (the second half of an `lddw`) a bail-out.
    pub fn ensure_entry(&mut self, code: &Code, pc: usize) -> Result<(), JitError> {
        if self.entry_offset(pc).is_some() {
            return Ok(());
        }
        let stub = offset32(self.asm.offset());
        if self.stubs.is_empty() {
            self.stubs.resize(self.offsets.len(), NONE);
        }
        if let Some(slot) = self.stubs.get_mut(pc) {
            *slot = stub;
        }
        let inside = self.offsets.get(pc).copied().unwrap_or(NONE);
        if inside == NONE || inside & CARRIED != 0 {
            // No code (an `lddw`'s second slot), or inside a pair after its load (which no
            // jump reaches and no callable slot is): the interpreter takes over there.
            return self.bail_now(At { pc, refund: 0 });
        }
        self.block_entry(pc, code.jit_run_length(pc))?;
        self.asm.jmp_to((inside & !FLAGS) as usize)?;
        Ok(())
    }

    /// Builds the `callx` table: for the first `slots` slots, where a `callx` may land
    /// ([`Masm::entry_offset`]), or 0; slots for which `allowed` is false get 0.
    pub fn callx_entries(&mut self, slots: usize, allowed: impl Fn(usize) -> bool) {
        let enter_inside = self.settings.meter == MeterMode::Off;
        let mut table = core::mem::take(&mut self.callx_table);
        table.clear();
        table.extend(self.offsets.iter().take(slots).map(|offset| match *offset {
            NONE => 0,
            offset if offset & CARRIED != 0 => 0,
            offset if offset & INSIDE == 0 => offset,
            offset if enter_inside => offset & !INSIDE,
            _ => 0,
        }));
        for (out, stub) in table.iter_mut().zip(&self.stubs) {
            if *stub != NONE {
                *out = *stub;
            }
        }
        for (pc, out) in table.iter_mut().enumerate() {
            if !allowed(pc) {
                *out = 0;
            }
        }
        self.callx_table = table;
    }

    /// The code offset of `routine`, once emitted.
    #[inline(always)]
    pub fn routine_offset(&self, routine: Routine) -> Option<usize> {
        self.routines
            .get(routine.index())
            .filter(|offset| **offset != NONE)
            .map(|offset| *offset as usize)
    }

    /// Patches every queued field; fails if a target was never emitted.
    pub fn resolve(&mut self) -> Result<(), JitError> {
        let fixups = std::mem::take(&mut self.fixups);
        for (field, target) in fixups {
            let offset = match target {
                Target::Slot(pc) => self.entry_offset(pc as usize).map(|offset| offset as usize),
                Target::Routine(routine) => self.routine_offset(routine),
            };
            let offset = offset.ok_or_else(|| JitError::Encode {
                message: format!("a jump to {target:?} was never resolved"),
            })?;
            self.asm.patch_rel32(field, offset)?;
        }
        Ok(())
    }

    /// The tables of the compiled program (the slot offsets keep the [`INSIDE`] mark:
    /// read them with [`slot_offset`]). The scratch buffers come back without the code
    /// buffer (the assembler's).
    pub fn into_parts(self) -> (Assembler, Tables, Scratch) {
        let scratch = Scratch {
            code: Vec::new(),
            stubs: self.stubs,
            fixups: self.fixups,
        };
        let tables = Tables {
            offsets: self.offsets,
            sites: self.sites,
            callx_table: self.callx_table,
        };
        (self.asm, tables, scratch)
    }
}

/// The frame size F of `layout` as the bias of the current-frame check ([`Masm::stack_check`];
/// at most 2^30, so that `off + F` and `-F` are 32-bit displacements).
fn stack_bias(layout: StackLayout) -> Result<i32, JitError> {
    i32::try_from(layout.frame)
        .ok()
        .filter(|frame| *frame <= 1 << 30)
        .ok_or_else(|| JitError::Encode {
            message: format!("frame size {} in the stack check", layout.frame),
        })
}

/// `[r15 + index * 8 + field]`: the limit of `access` in the row of the slot in `index`.
pub(crate) fn limit_field(index: Gpr, access: Access) -> Mem {
    row_at(
        index,
        match access {
            Access::Load => LOAD_LIMIT,
            Access::Store => STORE_LIMIT,
        },
    )
}

/// `[r15 + index * 8 + DELTA]`.
pub(crate) fn delta_field(index: Gpr) -> Mem {
    row_at(index, DELTA)
}

/// The number of table rows as an immediate.
pub(crate) const ROWS_IMM: i32 = ROWS as i32;

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
    pub fn find(code: &Code, op: &Op, pc: usize, search: PairSearch) -> Option<Pair> {
        let first = access_of(op)?;
        let read_first = first.access == Access::Load || search == PairSearch::Neighbours;
        if first.base == 10 || first.writes == Some(first.base) || !read_first {
            return None;
        }
        Pair::find_second(code, pc, first, search)
    }

    #[inline(never)]
    fn find_second(code: &Code, pc: usize, first: AccessOf, search: PairSearch) -> Option<Pair> {
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
            let op = ops.get(next)?;
            if let Some(second) = access_of(op).filter(|second| second.base == base) {
                let same = (first.off, first.size) == (second.off, second.size);
                let store = second.access == Access::Store;
                let allowed = search == PairSearch::Neighbours || (same && store);
                return allowed.then(|| Pair::spanning(pc, first, next, second))?;
            }
            match between(op, next) {
                Between::Keeps { writes } if writes != Some(base) => {}
                _ => return None,
            }
            next += op.width();
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
        let miss = if same { Miss::Translate } else { Miss::Span };
        (span.is_power_of_two() && span <= 8).then_some(Pair {
            load: u32::try_from(pc).ok()?,
            store: u32::try_from(next).ok()?,
            start,
            span,
            access,
            miss,
        })
    }
}

/// A load or store a [`Pair`] can hold: its base register, offset, size, kind, and the
/// register a load writes.
#[derive(Clone, Copy, Debug)]
struct AccessOf {
    base: u8,
    off: i16,
    size: u8,
    access: Access,
    writes: Option<u8>,
}

/// The access `op` makes, if a [`Pair`] can hold it (loads and stores; not atomics).
#[inline(always)]
fn access_of(op: &Op) -> Option<AccessOf> {
    let load = |dst: u8, base: u8, off: i16, size: u8| AccessOf {
        base,
        off,
        size,
        access: Access::Load,
        writes: Some(dst),
    };
    let store = |base: u8, off: i16, size: u8| AccessOf {
        base,
        off,
        size,
        access: Access::Store,
        writes: None,
    };
    match *op {
        Op::Ldx8 { dst, base, off } => Some(load(dst, base, off, 1)),
        Op::Ldx16 { dst, base, off } => Some(load(dst, base, off, 2)),
        Op::Ldx32 { dst, base, off } => Some(load(dst, base, off, 4)),
        Op::Ldx64 { dst, base, off } => Some(load(dst, base, off, 8)),
        Op::St8 { base, off, .. } | Op::Stx8 { base, off, .. } => Some(store(base, off, 1)),
        Op::St16 { base, off, .. } | Op::Stx16 { base, off, .. } => Some(store(base, off, 2)),
        Op::St32 { base, off, .. } | Op::Stx32 { base, off, .. } => Some(store(base, off, 4)),
        Op::St64 { base, off, .. } | Op::Stx64 { base, off, .. } => Some(store(base, off, 8)),
        _ => None,
    }
}

/// What an op between the two accesses of a [`Pair`] does.
enum Between {
    /// Leaves rax alone; writes this guest register, if any.
    Keeps { writes: Option<u8> },
    /// Uses rax (a translation, a division, a call) or ends the run.
    Breaks,
}

/// Whether `op` at `pc` can sit between the two accesses of a [`Pair`] (its lowering
/// leaves rax alone: rcx is the only scratch register ALU ops and compares use). Anything
/// not listed as keeping rax breaks the pair, which is always safe: an op added later is
/// merely not paired over.
fn between(op: &Op, pc: usize) -> Between {
    match *op {
        Op::Mov64Imm { dst, .. }
        | Op::Mov64Reg { dst, .. }
        | Op::Add64Imm { dst, .. }
        | Op::Add64Reg { dst, .. }
        | Op::Sub64Imm { dst, .. }
        | Op::Sub64Reg { dst, .. }
        | Op::Mul64Imm { dst, .. }
        | Op::Mul64Reg { dst, .. }
        | Op::Or64Imm { dst, .. }
        | Op::Or64Reg { dst, .. }
        | Op::And64Imm { dst, .. }
        | Op::And64Reg { dst, .. }
        | Op::Xor64Imm { dst, .. }
        | Op::Xor64Reg { dst, .. }
        | Op::Lsh64Imm { dst, .. }
        | Op::Lsh64Reg { dst, .. }
        | Op::Rsh64Imm { dst, .. }
        | Op::Rsh64Reg { dst, .. }
        | Op::Arsh64Imm { dst, .. }
        | Op::Arsh64Reg { dst, .. }
        | Op::Neg64 { dst }
        | Op::Mov32Imm { dst, .. }
        | Op::Mov32Reg { dst, .. }
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
        | Op::SetConst { dst, .. }
        | Op::MovSx { dst, .. }
        | Op::Trunc16 { dst }
        | Op::Trunc32 { dst }
        | Op::Swap16 { dst }
        | Op::Swap32 { dst }
        | Op::Swap64 { dst }
        | Op::LoadImm64 { dst, .. } => Between::Keeps { writes: Some(dst) },
        Op::Nop => Between::Keeps { writes: None },
        // The run goes on past a forward branch (see `Code::jit_run_length`); its compare
        // leaves rax.
        _ if op.is_conditional_jump() && op.target().is_some_and(|target| target > pc) => {
            Between::Keeps { writes: None }
        }
        // Divisions use rax and rdx; accesses translate into rax; the rest ends the run.
        _ => Between::Breaks,
    }
}
