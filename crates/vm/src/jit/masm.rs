//! The BPF-level macro-assembler: the register map, the entry and exit sequences, calls
//! into Rust, address translation, the meter check at block entries, and the out-of-line
//! stubs (bail-outs to the interpreter, `ExceededMaxInstructions`, slow memory paths).
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
//! reloads them after (a syscall's result arrives in `Env::regs[0]` that way).

use super::env::{
    ExitKind, EXIT_KIND, EXIT_PC, HOST_RSP, LEFT, REGION_GAP_LOAD_LEN, REGION_GAP_SHIFT,
    REGION_GAP_STORE_LEN, REGION_HOST, REGS,
};
use super::shapes::{bail_stub, charge_block, gap_call, inline_table, slow_call};
use super::template::{Disp, Template, Templates};
use super::JitError;
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Label, Mem, Operand, RegMem, ShiftAmount, ShiftKind, Size,
};
use std::collections::BTreeMap;

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

/// The register holding the `Env` pointer.
pub(crate) const ENV: Gpr = Gpr::R15;

/// Callee-saved registers the entry sequence saves, in push order.
const SAVED: [Gpr; 6] = [Gpr::Rbx, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R14, Gpr::R15];

/// Guest registers that a call into Rust may clobber (r0..r5).
const CALLER_SAVED_GUESTS: usize = 6;

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

/// An out-of-line memory slow path, emitted after the body.
struct SlowAccess {
    /// The gapped-stack path (inline table misses on the length check go there first).
    gap: Option<(Label, u8, Access)>,
    entry: Label,
    done: Label,
    base: Gpr,
    off: i16,
    request: u64,
    bail: Label,
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

/// The macro-assembler: an [`Assembler`] plus the labels and stubs of one program.
pub(crate) struct Masm {
    pub asm: Assembler,
    /// One label per slot plus one for the slot after the last.
    pub pc_labels: Vec<Label>,
    pub meter: MeterMode,
    pub translation: Translation,
    /// log2 of the stack's gap size when the stack is gapped (fixed frames with gaps), for
    /// the inline gapped translation.
    pub gap_shift: Option<u8>,
    hardening: Hardening,
    translate_helper: HelperAddr,
    exit_stub: Label,
    root_exit: Label,
    /// The shared out-of-line translation routine (vaddr in rcx, request in rdx).
    slow_routine: Label,
    /// Bail-out labels by pc (a pc almost always has one refund), plus the rare others.
    bails_by_pc: Vec<Option<(u64, Label)>>,
    bails: BTreeMap<(usize, u64), Label>,
    /// The shared gapped-stack routines, by access size and kind (store = true).
    gap_routines: BTreeMap<(u8, bool), Label>,
    exceeded: BTreeMap<usize, Label>,
    slow: Vec<SlowAccess>,
    /// Pre-encoded inline translations, out-of-line slow paths and gapped-path calls.
    inline_templates: Templates,
    slow_templates: Templates,
    gap_template: Templates,
    meter_templates: Templates,
    bail_template: Templates,
}

/// A guest register's host register; the verifier allows only r0..r10 (r11 is lowered
/// separately), anything else is an error value.
pub(crate) fn guest(reg: u8, pc: usize) -> Result<Gpr, JitError> {
    GUEST
        .get(usize::from(reg))
        .copied()
        .ok_or(JitError::UnsupportedRegister { pc, reg })
}

/// `[r15 + offset]`.
pub(crate) fn env(offset: i32) -> Mem {
    Mem::base_disp(ENV, offset)
}

/// The `Env::regs` slot of guest register `index`.
fn reg_slot(index: usize) -> Mem {
    env(REGS + 8 * index as i32)
}

/// A pc as an immediate; the compiler rejects programs too large for that up front.
pub(crate) fn imm_pc(pc: usize) -> i32 {
    i32::try_from(pc).unwrap_or(i32::MAX)
}

impl Masm {
    /// A macro-assembler for a program of `slot_count` slots.
    pub fn new(
        slot_count: usize,
        meter: MeterMode,
        translation: Translation,
        hardening: Hardening,
        translate_helper: HelperAddr,
    ) -> Masm {
        let mut asm = Assembler::with_capacities(
            slot_count * 80 + 4096,
            slot_count * 4 + 64,
            slot_count * 4 + 64,
        );
        let pc_labels = (0..=slot_count).map(|_| asm.new_label()).collect();
        let exit_stub = asm.new_label();
        let root_exit = asm.new_label();
        let slow_routine = asm.new_label();
        Masm {
            asm,
            pc_labels,
            meter,
            translation,
            gap_shift: None,
            hardening,
            translate_helper,
            exit_stub,
            root_exit,
            slow_routine,
            bails_by_pc: vec![None; slot_count + 1],
            bails: BTreeMap::new(),
            gap_routines: BTreeMap::new(),
            exceeded: BTreeMap::new(),
            slow: Vec::new(),
            inline_templates: Templates::default(),
            slow_templates: Templates::default(),
            gap_template: Templates::default(),
            meter_templates: Templates::default(),
            bail_template: Templates::default(),
        }
    }

    /// The next pseudo-random number (xorshift64; machine-code diversification only).
    fn random(&mut self) -> u64 {
        let mut x = self.hardening.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.hardening.seed = x;
        x
    }

    /// Emits a 1-byte `nop` about once per `noop_rate` calls.
    pub fn maybe_nop(&mut self) {
        let rate = u64::from(self.hardening.noop_rate);
        if rate > 0 && self.random() % rate == 0 {
            self.asm.nop(1);
        }
    }

    /// Whether constant blinding applies to `value`.
    pub fn blinds(&self, value: u64) -> bool {
        self.hardening.blind && !harmless(value)
    }

    /// A fresh blinding key for `value`, or `None` when it is emitted in the clear.
    pub fn blinding_key(&mut self, value: u64) -> Option<i32> {
        if !self.blinds(value) {
            return None;
        }
        Some((self.random() as i32) | 1)
    }

    /// The label of slot `pc` (the one after the last for anything out of range).
    pub fn pc_label(&self, pc: usize) -> Label {
        let last = self.pc_labels.len().saturating_sub(1);
        self.pc_labels[pc.min(last)]
    }

    /// The entry sequence: save callee-saved registers, remember the host stack, load the
    /// guest registers, jump to `entry`.
    pub fn prologue(&mut self, entry: Label) -> Result<(), JitError> {
        for reg in SAVED {
            self.asm.push(reg);
        }
        self.asm.mov(Size::S64, ENV, Gpr::Rdi);
        self.asm.store(Size::S64, env(HOST_RSP), Gpr::Rsp)?;
        for (index, reg) in GUEST.iter().enumerate() {
            self.asm.load(Size::S64, *reg, reg_slot(index))?;
        }
        self.asm.jmp(entry)?;
        Ok(())
    }

    /// The label that ends the run at the root `exit` with r0 as the result.
    pub fn root_exit(&self) -> Label {
        self.root_exit
    }

    /// The label that ends the run with whatever `Env::exit_kind` a helper stored.
    pub fn exit_stub(&self) -> Label {
        self.exit_stub
    }

    /// A label that hands the run to the interpreter at `pc`, refunding `refund`
    /// instructions the block entry charged but that have not run.
    pub fn bail(&mut self, pc: usize, refund: u64) -> Label {
        let refund = match self.meter {
            MeterMode::On => refund,
            MeterMode::Off => 0,
        };
        match self.bails_by_pc.get(pc).copied() {
            Some(Some((known, label))) if known == refund => return label,
            Some(None) => {
                let label = self.asm.new_label();
                if let Some(slot) = self.bails_by_pc.get_mut(pc) {
                    *slot = Some((refund, label));
                }
                return label;
            }
            _ => {}
        }
        if let Some(label) = self.bails.get(&(pc, refund)) {
            return *label;
        }
        let label = self.asm.new_label();
        self.bails.insert((pc, refund), label);
        label
    }

    /// A label that ends the run with `ExceededMaxInstructions` at `pc`.
    pub fn exceeded(&mut self, pc: usize) -> Label {
        if let Some(label) = self.exceeded.get(&pc) {
            return *label;
        }
        let label = self.asm.new_label();
        self.exceeded.insert(pc, label);
        label
    }

    /// The meter check at the entry of a block of `count` instructions starting at `pc`:
    /// unless the budget covers every check inside the block (`left > count`), hand the run
    /// to the interpreter at `pc`, which finishes it exactly.
    pub fn block_entry(&mut self, pc: usize, count: u64) -> Result<(), JitError> {
        if self.meter == MeterMode::Off || count == 0 {
            return Ok(());
        }
        let charge = i32::try_from(count).map_err(|_| JitError::ProgramTooLarge { slots: pc })?;
        let bail = self.bail(pc, count);
        let (key, disp) = match i8::try_from(charge) {
            Ok(_) => (0, Disp::Byte),
            Err(_) => (1, Disp::Dword),
        };
        let template = self.meter_templates.get_or_build(key, || {
            Template::build(disp, |a, labels| charge_block(a, charge, labels))
        })?;
        template.replay(&mut self.asm, charge, &[bail])?;
        Ok(())
    }

    /// Calls the Rust function at `function` as `f(env, rsi, rdx)`: spills r0..r5, moves the
    /// arguments, aligns the host stack, calls, restores the stack and reloads r0..r5. The
    /// result is in rax. `arg1` may be rcx or an immediate.
    pub fn call_rust(
        &mut self,
        function: HelperAddr,
        arg1: Arg,
        arg2: Arg,
    ) -> Result<(), JitError> {
        for (index, reg) in GUEST.iter().enumerate().take(CALLER_SAVED_GUESTS) {
            self.asm.store(Size::S64, reg_slot(index), *reg)?;
        }
        self.set_arg(Gpr::Rsi, arg1);
        self.set_arg(Gpr::Rdx, arg2);
        self.asm.mov(Size::S64, Gpr::Rdi, ENV);
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
        Ok(())
    }

    fn set_arg(&mut self, reg: Gpr, arg: Arg) {
        match arg {
            Arg::Rcx => self.asm.mov(Size::S64, reg, Gpr::Rcx),
            Arg::Imm(value) => self.asm.mov_imm64(reg, value),
            Arg::InPlace => {}
        }
    }

    /// Translates the `size`-byte access at `base + off` by the instruction at `pc` and
    /// leaves the host address in rax (rcx and rdx are clobbered). A miss in the inline table
    /// asks the mapping out of line; a real fault bails out to the interpreter at `pc`, which
    /// raises the exact error.
    pub fn translate(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        pc: usize,
        refund: u64,
    ) -> Result<(), JitError> {
        let entry = self.asm.new_label();
        let done = self.asm.new_label();
        let request = u64::from(size)
            | match access {
                Access::Load => 0,
                Access::Store => 1 << 8,
            };
        let bail = self.bail(pc, refund);
        let gap = match (self.translation, self.gap_shift) {
            (Translation::InlineTable, Some(_)) => Some((self.asm.new_label(), size, access)),
            _ => None,
        };
        let len_miss = gap.map_or(entry, |(label, _, _)| label);
        self.slow.push(SlowAccess {
            gap,
            entry,
            done,
            base,
            off,
            request,
            bail,
        });
        match self.translation {
            Translation::Call => self.asm.jmp(entry)?,
            Translation::InlineTable => {
                let off = i32::from(off);
                let disp = Disp::of(base, off);
                let key = Templates::key(base, size, access == Access::Store, disp);
                let template = self.inline_templates.get_or_build(key, || {
                    Template::build(disp, |a, labels| {
                        inline_table(a, base, off, size, access, labels[0], labels[1])
                    })
                })?;
                template.replay(&mut self.asm, off, &[entry, entry, len_miss])?;
            }
        }
        self.asm.bind(done)?;
        Ok(())
    }

    /// Emits everything out of line: slow memory paths, bail-outs, `ExceededMaxInstructions`,
    /// the root exit and the common exit sequence.
    pub fn finish_stubs(&mut self) -> Result<(), JitError> {
        let slow = std::mem::take(&mut self.slow);
        let any_slow = !slow.is_empty();
        for access in slow {
            if let Some((label, size, kind)) = access.gap {
                // Try the shared gapped routine; on 0 fall through into the slow path.
                self.asm.bind(label)?;
                let key = (size, kind == Access::Store);
                let next = self.asm.new_label();
                let routine = *self.gap_routines.entry(key).or_insert(next);
                let template = self
                    .gap_template
                    .get_or_build(0, || Template::build(Disp::None, gap_call))?;
                template.replay(&mut self.asm, 0, &[routine, access.done])?;
            }
            self.asm.bind(access.entry)?;
            let off = i32::from(access.off);
            let disp = Disp::of(access.base, off);
            let (base, request) = (access.base, access.request);
            let key = Templates::key(base, (request & 0xff) as u8, request >> 8 != 0, disp);
            let template = self.slow_templates.get_or_build(key, || {
                Template::build(disp, |a, labels| slow_call(a, base, off, request, labels))
            })?;
            let labels = [self.slow_routine, access.bail, access.done];
            template.replay(&mut self.asm, off, &labels)?;
        }
        // The shared routine: the mapping translates (rcx, rdx) or reports a fault with 0.
        if any_slow {
            self.asm.bind(self.slow_routine)?;
            self.call_rust(self.translate_helper, Arg::Rcx, Arg::InPlace)?;
            self.asm.ret();
        }
        let routines = std::mem::take(&mut self.gap_routines);
        for ((size, store), label) in routines {
            self.asm.bind(label)?;
            let access = if store { Access::Store } else { Access::Load };
            self.gapped(size, access)?;
        }
        let by_pc = std::mem::take(&mut self.bails_by_pc);
        let others = std::mem::take(&mut self.bails);
        let bails = by_pc
            .into_iter()
            .enumerate()
            .filter_map(|(pc, bail)| bail.map(|(refund, label)| ((pc, refund), label)))
            .chain(others);
        // Each bail-out is `mov ecx, pc; mov edx, refund; jmp` to one shared tail.
        let shared_bail = self.asm.new_label();
        for ((pc, refund), label) in bails {
            self.asm.bind(label)?;
            match (i32::try_from(pc), i32::try_from(refund)) {
                (Ok(pc), Ok(refund)) => {
                    let template = self
                        .bail_template
                        .get_or_build(0, || Template::build(Disp::Dword, bail_stub))?;
                    template.replay_with(&mut self.asm, pc, refund, &[shared_bail])?;
                }
                _ => {
                    self.asm.mov_imm64(Gpr::Rcx, pc as u64);
                    self.asm.mov_imm64(Gpr::Rdx, refund);
                    self.asm.jmp(shared_bail)?;
                }
            }
        }
        self.asm.bind(shared_bail)?;
        self.asm.alu(
            AluKind::Add,
            Size::S64,
            RegMem::Mem(env(LEFT)),
            Operand::Reg(Gpr::Rdx),
        )?;
        self.asm.store(Size::S64, env(EXIT_PC), Gpr::Rcx)?;
        self.exit_with(ExitKind::Bail, None)?;
        let exceeded = std::mem::take(&mut self.exceeded);
        for (pc, label) in exceeded {
            self.asm.bind(label)?;
            self.exit_with(ExitKind::Exceeded, Some(pc))?;
        }
        self.asm.bind(self.root_exit)?;
        self.exit_with(ExitKind::Exit, None)?;
        self.asm.bind(self.exit_stub)?;
        for (index, reg) in GUEST.iter().enumerate() {
            self.asm.store(Size::S64, reg_slot(index), *reg)?;
        }
        self.asm.load(Size::S64, Gpr::Rsp, env(HOST_RSP))?;
        for reg in SAVED.iter().rev() {
            self.asm.pop(*reg);
        }
        self.asm.ret();
        Ok(())
    }

    /// The gapped-stack translation routine (region §5.2 with the gap size of this
    /// configuration), called with the offset into the region in rax and its table row in
    /// rdx; returns the host address in rax, or 0 for anything unusual (another gap size, the
    /// access starting in a gap, past the end), which the caller sends to the slow path.
    fn gapped(&mut self, size: u8, access: Access) -> Result<(), JitError> {
        let miss = self.asm.new_label();
        let Some(shift) = self.gap_shift.filter(|shift| *shift < 31) else {
            self.asm.alu(
                AluKind::Xor,
                Size::S32,
                RegMem::Reg(Gpr::Rax),
                Operand::Reg(Gpr::Rax),
            )?;
            self.asm.ret();
            return Ok(());
        };
        let len_field = match access {
            Access::Load => REGION_GAP_LOAD_LEN,
            Access::Store => REGION_GAP_STORE_LEN,
        };
        let row = |offset| Mem::base_disp(Gpr::Rdx, offset);
        let a = &mut self.asm;
        a.cmp(
            Size::S64,
            RegMem::Mem(row(REGION_GAP_SHIFT)),
            Operand::Imm(i32::from(shift)),
        )?;
        a.jcc(Cond::Ne, miss)?;
        a.mov(Size::S64, Gpr::Rcx, Gpr::Rax);
        a.shift(
            ShiftKind::Shr,
            Size::S64,
            RegMem::Reg(Gpr::Rcx),
            ShiftAmount::Imm(shift),
        )?;
        a.test(Size::S8, RegMem::Reg(Gpr::Rcx), Operand::Imm(1))?;
        a.jcc(Cond::Ne, miss)?;
        a.shift(
            ShiftKind::Shr,
            Size::S64,
            RegMem::Reg(Gpr::Rcx),
            ShiftAmount::Imm(1),
        )?;
        a.shift(
            ShiftKind::Shl,
            Size::S64,
            RegMem::Reg(Gpr::Rcx),
            ShiftAmount::Imm(shift),
        )?;
        let low_mask = (1i32 << shift) - 1;
        a.alu(
            AluKind::And,
            Size::S64,
            RegMem::Reg(Gpr::Rax),
            Operand::Imm(low_mask),
        )?;
        a.alu(
            AluKind::Or,
            Size::S64,
            RegMem::Reg(Gpr::Rax),
            Operand::Reg(Gpr::Rcx),
        )?;
        a.lea(
            Size::S64,
            Gpr::Rcx,
            Mem::base_disp(Gpr::Rax, i32::from(size)),
        )?;
        a.alu(
            AluKind::Cmp,
            Size::S64,
            RegMem::Reg(Gpr::Rcx),
            Operand::Mem(row(len_field)),
        )?;
        a.jcc(Cond::A, miss)?;
        a.alu(
            AluKind::Add,
            Size::S64,
            RegMem::Reg(Gpr::Rax),
            Operand::Mem(row(REGION_HOST)),
        )?;
        a.ret();
        a.bind(miss)?;
        a.alu(
            AluKind::Xor,
            Size::S32,
            RegMem::Reg(Gpr::Rax),
            Operand::Reg(Gpr::Rax),
        )?;
        a.ret();
        Ok(())
    }

    fn exit_with(&mut self, kind: ExitKind, pc: Option<usize>) -> Result<(), JitError> {
        if let Some(pc) = pc {
            self.asm.store_imm(Size::S64, env(EXIT_PC), imm_pc(pc))?;
        }
        self.asm.store_imm(Size::S64, env(EXIT_KIND), kind as i32)?;
        self.asm.jmp(self.exit_stub)?;
        Ok(())
    }
}

/// An argument of [`Masm::call_rust`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    /// The value in rcx.
    Rcx,
    /// Already in the argument register.
    InPlace,
    /// A constant.
    Imm(u64),
}
