//! The BPF-level macro-assembler: the register map, the entry sequence, jumps to slots and
//! to the shared routines, bail-out sites, the meter check at block entries and address
//! translation. The shared routines themselves are emitted by [`super::shapes`]. Address
//! translation lives in `translate`, pairs of accesses under one check in `pair`, the
//! second copy of a versioned loop in `copy`.
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
//! The meter charges straight-line runs (`CodeView::jit_run_length`: they also end before every
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

mod copy;
mod pair;
mod translate;

use super::env::{BIAS, DELTA, HOST_RSP, INPUT_VM, LEFT, LOAD_LIMIT, REGS, ROWS, STORE_LIMIT};
use super::hints::BaseHint;
use super::hoist::Plan;
use super::lower::{At, Program};

pub(crate) use super::shapes::{Routine, ROUTINES};
pub(crate) use super::template::Shape;
use super::template::{frame_top_update, Miss, Template, Width, MAX_ROUTINES, SHAPES};
use super::{shapes, JitError, Site};
use crate::code::GuestReg;
use crate::jit::view::CodeView;
use bpfvm_x86::{AluKind, Assembler, Cond, Gpr, Mem, Operand, RegMem, Rel32, Scale, Size};
pub(crate) use pair::{Pair, PairSearch};

/// The host register of guest register `reg` (the register map above).
pub(crate) const fn guest(reg: GuestReg) -> Gpr {
    match reg {
        GuestReg::R0 => Gpr::Rsi,
        GuestReg::R1 => Gpr::Rdi,
        GuestReg::R2 => Gpr::R8,
        GuestReg::R3 => Gpr::R9,
        GuestReg::R4 => Gpr::R10,
        GuestReg::R5 => Gpr::R11,
        GuestReg::R6 => Gpr::Rbx,
        GuestReg::R7 => Gpr::R12,
        GuestReg::R8 => Gpr::R13,
        GuestReg::R9 => Gpr::R14,
        GuestReg::R10 => Gpr::Rbp,
    }
}

/// The host register of each guest register r0..r10, in order.
pub(crate) const GUEST: [Gpr; 11] = {
    let mut regs = [Gpr::Rax; 11];
    let mut index = 0;
    while index < regs.len() {
        regs[index] = guest(GuestReg::ALL[index]);
        index += 1;
    }
    regs
};

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

/// Buffers of one compile that the engine's next one reuses (their pages stay mapped and
/// warm).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The code buffer.
    pub code: Vec<u8>,
    stubs: Vec<u32>,
    fixups: Vec<(Rel32, Target)>,
}

/// The tables a compiled program keeps besides its code: per slot the code offset, the
/// bail-out sites, the `callx` table (empty without `callx`). A dropped program gives them
/// back to its engine for the next compile ([`super::JitEngine`]).
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
    /// its run (`CodeView::jit_run_length`): the rest of the run after it was charged, so a
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

    /// After the body: an entry stub for every slot jumped to that cannot be entered
    /// directly.
    pub fn slot_stubs(&mut self, code: &CodeView<'_>) -> Result<(), JitError> {
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
    pub fn ensure_entry(&mut self, code: &CodeView<'_>, pc: usize) -> Result<(), JitError> {
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
