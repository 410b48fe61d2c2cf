//! The x86-64 macro-assembler's core: code placement and bookkeeping. Jumps to slots and to
//! the shared routines, bail-out sites, the meter charge at run starts, the out-of-line
//! stubs, the entry sequence and the calling sequence into Rust; the instruction selection
//! of each operation lives in `ops`, address translation in `translate`, the second copy of
//! a versioned loop in `copy`, the routines in `routines`.
//!
//! # Targets without labels
//!
//! Every jump goes either to a slot or to a shared routine. A slot's code offset is recorded
//! when it is emitted (the program's slot-offset table); a backward jump is encoded at once
//! (short when it reaches), anything else is a rel32 field queued in one plain list of
//! fixups and patched when the whole program is emitted. A shared routine that is not
//! emitted yet when first used is queued and emitted right after the next instruction that
//! cannot fall through (an unconditional jump, `exit`, a bail-out, the end of the body), out
//! of the way of straight-line code; calls before that are fixups, every later call has a
//! known target.
//!
//! # Runs and entry stubs
//!
//! The code of the first instruction of a run subtracts the run's length from the meter.
//! A `callx` to an instruction inside a run cannot enter there (the charge is at the run's
//! start), so it goes to an *entry stub*, emitted after the body, which charges the rest of
//! the run and jumps in (or bails out, inside a pair). Either way, at every instruction the
//! charged but not yet run instructions are exactly that instruction's run length, which is
//! what a bail-out there refunds. (With metering off a jump goes straight in.)
//!
//! # Bail-out sites
//!
//! A bail-out is a 5-byte `call` of the shared bail-out routine; a conditional one (the meter
//! charge's among them) is a `jcc` to a stub holding that call, out of line, so that the
//! common path falls through. The routine stores its return address and ends the run; the
//! return address is recorded in the program's site table with the instruction's `At`. The
//! memory routines bail out the same way on a fault, with the access's own return address
//! still on the stack.

use super::flags::Flags;
use super::labels::{Routine, Shape, Width, ROUTINES, SHAPES};
use super::regs::{
    env, load_meter, reg_slot, BIAS, CALLER_SAVED_GUESTS, ENV, GUEST, HOST_STACK, INPUT_VM, METER,
    SAVED,
};
use super::sequences::{self, frame_floor, frame_top_update};
use super::templates::{Template, TemplateSite, Words, MAX_ROUTINES};
use crate::jit::hardening::Hardening;
use crate::jit::masm::{At, Carried, MeterMode, Program, RunPosition};
use crate::jit::tables::{offset32, SiteTable, Tables, CARRIED, FLAGS, INSIDE, NONE};
use crate::jit::view::CodeView;
use crate::jit::JitError;
use bpfvm_x86::{
    AluKind, Assembler, CodePool, Cond, Gpr, Mem, Operand, RegMem, Rel32, Scale, Size,
};

/// The bit of `Masm::pending` that says stubs wait (refunds, misses); the others are
/// routines by index.
const STUBS_PENDING: u32 = 1 << 31;

/// The code memory a compile starts with, per slot (production programs take about 21
/// bytes per slot; a program that takes more moves its code to a larger mapping once).
const CODE_PER_SLOT: usize = 24;

/// The alignment of the code of a tight loop's head: the fetch window of the loop's first
/// instructions then does not depend on what precedes them.
const LOOP_ALIGNMENT: usize = 64;

/// A piece of code out of line, emitted with the pending routines: a `jcc` of the hot path
/// lands there. Kept in 16 bytes, as the bail-out stubs (most of them, one at nearly every
/// run start) need nothing more: the offset of the jump's rel32 field ([`offset32`]), and
/// either the bail-out's site, packed ([`At::packed`]), or the index of the stub's
/// [`StubKind`] in [`Masm::rare_stubs`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Stub {
    field: u32,
    kind: StubRecord,
    pc: u32,
    refund: u32,
}

/// The field of a [`Stub`] record, unless its offset did not fit the record (`offset32`
/// kept it as `NONE`: code beyond 4 GiB), which `patch_rel32` alone would not catch.
fn kept_field(field: Rel32) -> Result<Rel32, JitError> {
    match field.offset() == NONE as usize {
        true => Err(JitError::Internal {
            message: "a stub's jump lies beyond the code offsets the tables hold".to_string(),
        }),
        false => Ok(field),
    }
}

/// What a [`Stub`] record holds: a bail-out ([`StubRecord::BAIL`], its site in the record)
/// or the index of another kind in [`Masm::rare_stubs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StubRecord(u32);

impl StubRecord {
    /// A bail-out stub, whose site is the record's pc and refund.
    const BAIL: StubRecord = StubRecord(u32::MAX);
}

/// What a [`Stub`] does.
#[derive(Clone, Copy, Debug)]
pub(super) enum StubKind {
    /// The taken side of a branch inside a run: gives back the `rest` of the run, then jumps
    /// to the branch's `target` slot.
    Refund { rest: i32, target: usize },
    /// The miss of an input or current-frame check (`translate`): calls `routine` (the
    /// access at `at` is the call's site) and jumps `back` to the access.
    Miss {
        check: Check,
        routine: Routine,
        at: At,
        back: usize,
    },
    /// A conditional bail-out's taken side: the bail-out call, whose return address is the
    /// site of `at`. (Out of line, so that the common path falls through the `jcc`.)
    Bail { at: At },
}

/// The inline checks with a stub out of line.
#[derive(Clone, Copy, Debug)]
pub(super) enum Check {
    /// The input check: rax holds `vaddr - input_vm`.
    Input,
    /// The current-frame check: rax holds `vaddr - r10 + frame`; the access adds `-frame`.
    Stack { frame: i32 },
}

/// What a queued rel32 field points at.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// The entry of a slot.
    Slot(u32),
    /// A shared routine.
    Routine(Routine),
}

/// A function pointer generated code calls, as an absolute address.
pub(super) type HelperAddr = u64;

/// Buffers of one compile that the engine's next one reuses (their pages stay mapped and
/// warm). The code itself is written straight into code memory.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// The entry-stub offsets per slot.
    pub(super) stubs: Vec<u32>,
    fixups: Vec<(Rel32, Target)>,
}

/// Whether the compiled program needs its `callx` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Callx {
    /// No `callx` (the table is not built).
    None,
    /// A `callx` reads the table through `Env::callx_table`.
    Table,
}

/// The macro-assembler: an [`Assembler`] plus the offsets, fixups and sites of one program.
pub(crate) struct Masm {
    pub(super) asm: Assembler,
    pub(super) program: Program,
    pub(super) hardening: Hardening,
    /// The Rust halves generated code calls.
    pub(super) translate_helper: HelperAddr,
    pub(super) syscall_helper: HelperAddr,
    /// Per slot (plus the slot after the last): where its code starts, marked, or [`NONE`].
    pub(super) offsets: Vec<u32>,
    /// Entry stubs (jumps into a run, or a bail-out for a slot without code): per slot, the
    /// stub's offset or [`NONE`]; empty until the first stub.
    pub(super) stubs: Vec<u32>,
    pub(super) fixups: Vec<(Rel32, Target)>,
    sites: SiteTable,
    /// The `callx` table once built ([`Masm::fill_callx_table`]).
    callx_table: Vec<u32>,
    routines: [u32; ROUTINES],
    templates: [Option<Template>; SHAPES],
    /// The meter charge with a 1-byte and a 4-byte immediate, as two words each, once its
    /// template is built (the charge at every run's start takes this path).
    charges: [Option<Words>; 2],
    /// Routines asked for but not emitted yet (bits of `1 << Routine::index`).
    pending: u32,
    /// Out-of-line stubs not emitted yet, in order.
    out_of_line: Vec<Stub>,
    /// The kinds of the waiting stubs that are not bail-outs, in order (a [`Stub`] names
    /// its own by index).
    rare_stubs: Vec<StubKind>,
    /// Whether some `callx` reads the program's table of entries.
    pub(super) callx: Callx,
    /// The flags the last instruction emitted left, when they tell a branch against 0
    /// about a guest register (see [`Flags`]).
    pub(super) flags: Option<Flags>,
}

impl Masm {
    /// A macro-assembler for `program`, filling `tables`, writing into code memory from
    /// `pool` and reusing `scratch`.
    pub fn new(
        program: Program,
        hardening: Hardening,
        helpers: (HelperAddr, HelperAddr),
        (pool, scratch): (&CodePool, Scratch),
        tables: Tables,
    ) -> Masm {
        let slot_count = program.slot_count;
        let Scratch {
            mut stubs,
            mut fixups,
        } = scratch;
        // About 21 bytes per slot on production programs; more moves the code once.
        let capacity = slot_count
            .saturating_mul(CODE_PER_SLOT)
            .saturating_add(2048);
        // Without code memory now, the code goes to the heap and is copied into code memory
        // at the end (where the error, if it persists, is reported).
        let asm = Assembler::in_code_memory(pool, capacity, 4, 4)
            .unwrap_or_else(|_| Assembler::with_buffer(Vec::with_capacity(capacity), 4, 4));
        stubs.clear();
        fixups.clear();
        // Sized once: production programs queue about one fixup per seven slots (spl_token:
        // 2,000 for 14,092 slots); growing the list step by step copied it ten times.
        fixups.reserve(slot_count / 4 + 64);
        let Tables {
            mut offsets,
            mut sites,
            mut callx_table,
        } = tables;
        offsets.clear();
        offsets.resize(slot_count + 1, NONE);
        sites.reset(slot_count, program.meter);
        callx_table.clear();
        Masm {
            asm,
            program,
            hardening,
            translate_helper: helpers.0,
            syscall_helper: helpers.1,
            offsets,
            stubs,
            fixups,
            sites,
            callx_table,
            routines: [NONE; ROUTINES],
            callx: Callx::None,
            flags: None,
            templates: core::array::from_fn(|_| None),
            charges: [None; 2],
            pending: 0,
            out_of_line: Vec::new(),
            rare_stubs: Vec::new(),
        }
    }

    /// Emits a 1-byte `nop` when the hardening generator says so.
    #[inline]
    pub fn maybe_nop(&mut self) {
        if self.hardening.nop_now() {
            self.asm.nop(1);
        }
    }

    /// Pads with NOPs to the alignment of a loop's head.
    #[inline(never)]
    pub fn align_loop_header(&mut self) {
        self.asm.align_with_nops(LOOP_ALIGNMENT);
    }

    /// Records that the code of slot `pc` starts here.
    #[inline]
    pub fn start_slot(&mut self, pc: usize, position: RunPosition, carried: Carried) {
        if position == RunPosition::Start {
            // Jumps, calls and entries land at run starts only (the JIT's runs end before
            // every target), where the flags are unknown.
            self.flags = None;
        }
        let offset = offset32(self.asm.offset())
            | match carried {
                Carried::Yes => CARRIED,
                Carried::No => 0,
            }
            | match position {
                RunPosition::Start => 0,
                RunPosition::Inside => INSIDE,
            };
        debug_assert!(pc < self.offsets.len(), "slot {pc} out of range");
        if let Some(slot) = self.offsets.get_mut(pc) {
            *slot = offset;
        }
    }

    /// Where a jump to slot `pc` may land, if known: the slot's code when it starts a run
    /// (or when nothing is metered), else its entry stub.
    #[inline]
    pub fn entry_offset(&self, pc: usize) -> Option<u32> {
        let offset = *self.offsets.get(pc)?;
        let metered = self.program.meter == MeterMode::On;
        let direct = match (offset, metered) {
            (NONE, _) => None,
            (offset, _) if offset & CARRIED != 0 => None,
            (offset, false) => Some(offset & !INSIDE),
            (offset, true) if offset & INSIDE == 0 => Some(offset),
            (_, true) => None,
        };
        direct.or_else(|| self.stubs.get(pc).copied().filter(|stub| *stub != NONE))
    }

    /// The slot index of a target (anything out of range means the slot after the last).
    #[inline(always)]
    fn slot_index(&self, pc: usize) -> u32 {
        let last = self.offsets.len().saturating_sub(1);
        u32::try_from(pc.min(last)).unwrap_or(NONE)
    }

    /// `jmp` (`cond` `None`) or `jcc` to slot `target`.
    #[inline(always)]
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

    /// A conditional jump to slot `target` that first gives back `rest` instructions when
    /// taken, in a stub emitted with the pending routines (`add rdx, rest; jmp target`).
    #[inline(never)]
    pub fn branch_with_refund(
        &mut self,
        cond: Cond,
        target: usize,
        rest: u64,
    ) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        let rest = i32::try_from(rest).map_err(|_| JitError::ProgramTooLarge {
            slots: self.offsets.len(),
        })?;
        self.add_stub(field, StubKind::Refund { rest, target });
        Ok(())
    }

    /// Records a stub that the jump at `field` goes to.
    #[inline(always)]
    pub(super) fn add_stub(&mut self, field: Rel32, kind: StubKind) {
        match kind {
            StubKind::Bail { at } => self.add_bail_stub(field, at),
            StubKind::Refund { .. } | StubKind::Miss { .. } => self.add_rare_stub(field, kind),
        }
    }

    /// Records a bail-out stub for the instruction at `at` that the jump at `field` goes to.
    #[inline(always)]
    fn add_bail_stub(&mut self, field: Rel32, at: At) {
        self.pending |= STUBS_PENDING;
        let (pc, refund) = at.packed();
        self.out_of_line.push(Stub {
            field: offset32(field.offset()),
            kind: StubRecord::BAIL,
            pc,
            refund,
        });
    }

    /// Records a stub of another kind than a bail-out (a refund or a miss).
    #[inline(never)]
    fn add_rare_stub(&mut self, field: Rel32, kind: StubKind) {
        self.pending |= STUBS_PENDING;
        // Fewer stubs than code bytes, so the index stays below `StubRecord::BAIL`.
        let index = offset32(self.rare_stubs.len());
        self.rare_stubs.push(kind);
        self.out_of_line.push(Stub {
            field: offset32(field.offset()),
            kind: StubRecord(index),
            pc: 0,
            refund: 0,
        });
    }

    /// Emits the waiting stubs here (execution cannot fall through).
    pub fn emit_stubs(&mut self) -> Result<(), JitError> {
        self.pending &= !STUBS_PENDING;
        let stubs = core::mem::take(&mut self.out_of_line);
        // The bail-out routine follows the prologue, so its offset is known here.
        let bail = self.routine_offset(Routine::BailSite);
        for stub in &stubs {
            let field = Rel32::at_offset(stub.field as usize);
            if stub.kind == StubRecord::BAIL {
                self.bail_stub(field, bail, stub.pc, stub.refund)?;
            } else {
                self.rare_stub(field, stub.kind)?;
            }
        }
        // The (emptied) vectors go back, keeping their allocations.
        self.out_of_line = stubs;
        self.out_of_line.clear();
        self.rare_stubs.clear();
        Ok(())
    }

    /// A bail-out stub, its site packed: lands and calls in one go (`bail`, the bail-out
    /// routine's offset, is known after the prologue).
    #[inline(always)]
    fn bail_stub(
        &mut self,
        field: Rel32,
        bail: Option<usize>,
        pc: u32,
        refund: u32,
    ) -> Result<(), JitError> {
        match bail {
            // `land_and_call` rejects code offsets beyond 2 GiB, so a field kept as `NONE`
            // (beyond 4 GiB) fails there.
            Some(bail) => self.asm.land_and_call(field, bail)?,
            None => {
                let field = kept_field(field)?;
                let here = self.asm.offset();
                self.asm.patch_rel32(field, here)?;
                self.call_routine(Routine::BailSite)?;
            }
        }
        self.sites.record_packed(self.asm.offset(), pc, refund);
        Ok(())
    }

    /// A stub of another kind than a bail-out, its kind the `index`th of
    /// [`Masm::rare_stubs`].
    #[inline(never)]
    fn rare_stub(&mut self, field: Rel32, index: StubRecord) -> Result<(), JitError> {
        let kind = self.rare_stubs.get(index.0 as usize).copied();
        let Some(kind) = kind else {
            return Err(JitError::Internal {
                message: format!("stub {index:?} has no kind"),
            });
        };
        let field = kept_field(field)?;
        let here = self.asm.offset();
        self.asm.patch_rel32(field, here)?;
        match kind {
            StubKind::Bail { at } => self.bail_now(at)?,
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
    /// emitted at the next point that execution cannot fall through, `routines::emit_pending`)
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

    /// The next routine asked for and not emitted yet, if any (`routines::emit_pending`
    /// emits it).
    pub fn next_pending_routine(&mut self) -> Result<Option<Routine>, JitError> {
        while self.pending != 0 {
            let index = self.pending.trailing_zeros() as usize;
            self.pending &= self.pending - 1;
            let routine = Routine::ALL
                .get(index)
                .copied()
                .ok_or_else(|| JitError::Internal {
                    message: format!("pending routine {index} does not exist"),
                })?;
            if self.routine_offset(routine).is_none() {
                return Ok(Some(routine));
            }
        }
        Ok(None)
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
        debug_assert!(routine.index() < ROUTINES, "{routine:?} out of range");
        if let Some(slot) = self.routines.get_mut(routine.index()) {
            *slot = offset;
        }
    }

    /// Registers the return address just emitted as the bail-out site of `at`.
    #[inline]
    pub fn site(&mut self, at: At) {
        self.sites.record(self.asm.offset(), at);
    }

    /// Hands the run to the interpreter before the instruction at `at`.
    #[inline]
    pub fn bail_now(&mut self, at: At) -> Result<(), JitError> {
        self.call_routine(Routine::BailSite)?;
        self.site(at);
        Ok(())
    }

    /// Hands the run to the interpreter before the instruction at `at` when `cond` holds:
    /// a conditional jump to a bail-out stub out of line (the common path falls through).
    #[inline]
    pub fn bail_if(&mut self, cond: Cond, at: At) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        self.add_stub(field, StubKind::Bail { at });
        Ok(())
    }

    /// Records the bail-out site of a template's copy for the instruction at `at`.
    #[inline(always)]
    fn template_site(&mut self, site: TemplateSite, at: At) {
        match site {
            TemplateSite::Call(ret) => self.sites.record(ret, at),
            TemplateSite::Stub(field) => self.add_stub(field, StubKind::Bail { at }),
        }
    }

    /// The meter charge at the start of a run of `count` instructions starting at `at`:
    /// unless the budget covers every check inside the run (`left > count`), hand the run
    /// to the interpreter there (refunding the charge), which finishes it exactly.
    #[inline(always)]
    pub fn block_entry(&mut self, count: u64, at: At) -> Result<(), JitError> {
        // A charge of 0..=127 takes the 1-byte immediate, up to `i32::MAX` the 4-byte one.
        let words = match count {
            0..=0x7f => self.charges[0],
            0x80..=0x7fff_ffff => self.charges[1],
            _ => None,
        };
        match words {
            Some(words) => {
                if let Some(site) = words.emit(&mut self.asm, count as i32) {
                    self.template_site(site, at);
                }
                Ok(())
            }
            None => self.block_entry_first(count, at),
        }
    }

    /// [`Masm::block_entry`] before the charge of this width is laid out as words: through
    /// its template (built here on first use), then keeps the words.
    #[inline(never)]
    fn block_entry_first(&mut self, count: u64, at: At) -> Result<(), JitError> {
        let charge =
            i32::try_from(count).map_err(|_| JitError::ProgramTooLarge { slots: at.pc })?;
        let (width, index) = match i8::try_from(charge) {
            Ok(_) => (Width::Byte, 0),
            Err(_) => (Width::Dword, 1),
        };
        let shape = Shape::Meter(width);
        self.replay(shape, charge, at)?;
        let words = match self.templates.get(shape.index()) {
            Some(Some(template)) => template.words_form(),
            Some(None) | None => None,
        };
        if let Some(slot) = self.charges.get_mut(index) {
            *slot = words;
        }
        Ok(())
    }

    /// Appends the template of `shape` (built on first use) with the immediate `imm`, for
    /// the instruction at `at`.
    #[inline(always)]
    pub fn replay(&mut self, shape: Shape, imm: i32, at: At) -> Result<(), JitError> {
        let index = shape.index();
        if let Some(Some(template)) = self.templates.get(index) {
            if template.resolved() {
                if let Some(site) = template.emit_resolved(&mut self.asm, imm)? {
                    self.template_site(site, at);
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
            Some(None) | None => Some(self.build_template(shape)?),
        };
        if let Some(routines) = routines {
            // Some routine is not emitted yet: point the fields at the ones that are.
            let targets = routines.map(|routine| routine.and_then(|r| self.routine_target(r)));
            if let Some(Some(template)) = self.templates.get_mut(index) {
                template.resolve(targets);
            }
        }
        let Some(Some(template)) = self.templates.get(index) else {
            return Err(JitError::Internal {
                message: format!("no template for {shape:?}"),
            });
        };
        let (site, unresolved) = template.emit(&mut self.asm, imm)?;
        for (field, routine) in unresolved.into_iter().flatten() {
            self.routine_field(field, routine);
        }
        if let Some(site) = site {
            self.template_site(site, at);
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
        let template = Template::build(|b| sequences::build(shape, b, &program))?;
        let routines = template.routines();
        let slot = self
            .templates
            .get_mut(shape.index())
            .ok_or_else(|| JitError::Internal {
                message: format!("template {shape:?} out of range"),
            })?;
        *slot = Some(template);
        Ok(routines)
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
        self.asm.store(Size::S64, env(HOST_STACK), Gpr::Rsp)?;
        for (index, reg) in GUEST.iter().enumerate() {
            self.asm.load(Size::S64, *reg, reg_slot(index))?;
        }
        if let Some(frame) = self.program.frame {
            frame_top_update(&mut self.asm, frame.gaps)?;
        }
        if self.program.inline_calls() {
            frame_floor(&mut self.asm, &self.program)?;
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
            // Most targets start a run (their entry is their code): only the others go
            // through the out-of-line `ensure_entry`.
            if let Some((_, Target::Slot(pc))) = self.fixups.get(index).copied() {
                if self.entry_offset(pc as usize).is_none() {
                    self.ensure_entry(code, pc as usize)?;
                }
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
        debug_assert!(pc < self.stubs.len(), "slot {pc} out of range");
        if let Some(slot) = self.stubs.get_mut(pc) {
            *slot = stub;
        }
        let inside = self.offsets.get(pc).copied().unwrap_or(NONE);
        if inside == NONE || inside & CARRIED != 0 {
            // No code (an `lddw`'s second slot), or inside a pair after its first access
            // (which no jump reaches and no callable slot is): the interpreter takes over.
            return self.bail_now(At { pc, refund: 0 });
        }
        let count = code.jit_run_length(pc);
        if self.program.meter == MeterMode::On && count > 0 {
            self.block_entry(count, At { pc, refund: count })?;
        }
        self.asm.jmp_to((inside & !FLAGS) as usize)?;
        Ok(())
    }

    /// Whether some `callx` reads the program's table of entries.
    pub fn needs_callx_entries(&self) -> bool {
        self.callx == Callx::Table
    }

    /// Before the `callx` table: an entry stub for every callable slot that cannot be
    /// entered directly (in slot order).
    pub fn callable_entries(&mut self, code: &CodeView<'_>) -> Result<(), JitError> {
        for &pc in code.callable_pcs() {
            self.ensure_entry(code, pc)?;
        }
        Ok(())
    }

    /// The `callx` table (once every entry stub is emitted): per slot, the code offset where
    /// a `callx` may land (a run start, or the entry stub of a jump target or of a callable
    /// slot inside a run), else 0 (the call then bails out). With static syscalls only
    /// callable slots are targets (the table is zeros but at them). It lives beside the
    /// code, not in it (generated code reads it through `Env::callx_table`): code memory
    /// holds instructions only, and stays smaller.
    pub fn fill_callx_table(&mut self, code: &CodeView<'_>, static_syscalls: bool) {
        let slots = code.slot_count();
        let enter_inside = self.program.meter == MeterMode::Off;
        let direct = |offset: u32| match offset {
            NONE => 0,
            offset if offset & CARRIED != 0 => 0,
            offset if offset & INSIDE == 0 => offset,
            offset if enter_inside => offset & !INSIDE,
            _ => 0,
        };
        let mut table = core::mem::take(&mut self.callx_table);
        table.clear();
        match static_syscalls {
            // Zeros but at the (few) callable slots.
            true => {
                table.resize(slots, 0);
                for &pc in code.callable_pcs() {
                    let stub = self.stubs.get(pc).copied().filter(|stub| *stub != NONE);
                    let offset = self.offsets.get(pc).copied().unwrap_or(NONE);
                    if let Some(out) = table.get_mut(pc) {
                        *out = stub.unwrap_or_else(|| direct(offset));
                    }
                }
            }
            false => {
                table.extend(
                    self.offsets
                        .iter()
                        .take(slots)
                        .map(|offset| direct(*offset)),
                );
                for (out, stub) in table.iter_mut().zip(&self.stubs) {
                    if *stub != NONE {
                        *out = *stub;
                    }
                }
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
        for (field, target) in &fixups {
            let offset = match *target {
                Target::Slot(pc) => self.entry_offset(pc as usize).map(|offset| offset as usize),
                Target::Routine(routine) => self.routine_offset(routine),
            };
            let offset = offset.ok_or_else(|| JitError::Internal {
                message: format!("a jump to {target:?} was never resolved"),
            })?;
            self.asm.patch_rel32(*field, offset)?;
        }
        // The (resolved) list goes back, keeping its allocation.
        self.fixups = fixups;
        self.fixups.clear();
        Ok(())
    }

    /// The tables of the compiled program (the slot offsets keep their marks: read them
    /// with `tables::slot_offset`), and the scratch buffers for the next compile.
    pub fn into_parts(self) -> (Assembler, Tables, Scratch) {
        let scratch = Scratch {
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
