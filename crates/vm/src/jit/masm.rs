//! The macro-assembler interface: what the target-neutral JIT asks of a backend, and the
//! vocabulary they share.
//!
//! The neutral layers decide; a backend only encodes. The driver (`compile`) decides where
//! runs start and what they charge, which accesses pair up, which loops are versioned and
//! which of their accesses go unchecked, where shared code goes out of line, and how the
//! bail-out sites name pcs and refunds; the visitor (`lower`) turns each op into one call
//! of this trait with explicit operands. A backend ([`MacroAssembler`] plus [`Backend`])
//! owns the machine: its register map (every guest register pinned in a host register), its
//! encoder, its out-of-line routines and its calling convention into Rust.
//!
//! What every backend must keep, because the neutral layers rely on it:
//! - **A bail-out leaves the guest state exactly as it was before the instruction**
//!   (registers, memory, depth, stack pointer, the meter), and records its return address
//!   with the instruction's [`At`] in the program's site table (`tables::SiteTable`), so
//!   the interpreter finishes the run exactly.
//! - **Checks come first, guest registers are written last.**
//! - **Register arithmetic keeps the span of a pair**: between the two accesses of a
//!   [`Pair`] only [`OpKind::Alu`](crate::code::OpKind), no-ops and forward branches run,
//!   and their code must leave the register the span's host address waits in alone.
//! - **Generated code never decides an error**: anything unusual bails out.

use super::access::{Access, SpanRule};
use super::hints::BaseHint;
use super::hoist::Plan;
use super::pair::Pair;
use super::tables::Tables;
pub(crate) use super::tables::{At, MeterMode};
use super::view::CodeView;
use super::JitError;
use crate::code::{Ext32, GuestReg, Operand};
use crate::context::ContextObject;
use crate::memory::{CurrentFrame, FrameMode, GappedFrames};
use bpfvm_isa::{AtomicOp, Cond, Extend, MemSize, Width};
use core::fmt;
use core::ops::Range;

/// The result of emitting code.
pub(crate) type Lowered = Result<(), JitError>;

/// Calls deeper than this never use the inline sequence (the host stack holds one frame
/// record of at most 56 bytes per level, 224 KiB at this depth); they bail out to the
/// interpreter instead.
pub(crate) const MAX_INLINE_CALL_DEPTH: usize = 1 << 12;

/// Where an instruction sits in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunPosition {
    /// The first instruction of a run (after an op that ends one, or slot 0).
    Start,
    /// Any later instruction of a run.
    Inside,
}

/// Whether a slot lies inside a pair after its first access, where nothing may enter (the
/// span's host address is not in its register there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carried {
    /// Nothing carried: a jump or `callx` may enter here.
    No,
    /// Inside a pair: an entry here bails out.
    Yes,
}

/// How addresses are translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Translation {
    /// The aligned mapping: a region-table lookup inline, the mapping only on a miss.
    InlineTable,
    /// The unaligned mapping: always ask the mapping.
    Call,
}

/// Whether some op of the program reads r10 as an operand (calls and exits move it without
/// reading it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum R10Use {
    /// Some op reads r10.
    Read,
    /// No op reads r10.
    Unread,
}

/// What lowering needs to know about the program and its configuration besides the ops.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Program {
    /// The number of slots.
    pub slot_count: usize,
    /// How calls move the stack.
    pub frames: FrameMode,
    /// The maximum call depth.
    pub max_call_depth: usize,
    /// The guest address of slot 0.
    pub text_vaddr: u64,
    /// Whether some call sits in the last slot (then `exit` must check the return pc).
    pub call_in_last_slot: bool,
    /// The gapped stack the translation's miss routines know (its gapped translation).
    pub stack: Option<GappedFrames>,
    /// The fixed frames, gapped or contiguous, whose current frame the r10 fast path and
    /// the inline stack check address through `Env::frame_top`.
    pub frame: Option<CurrentFrame>,
    /// Whether some op reads r10.
    pub r10: R10Use,
    /// The region-table row of the stack.
    pub stack_row: usize,
    /// log2 of the stack's gap size when the stack is gapped.
    pub gap_shift: Option<u8>,
    /// Whether runs are charged.
    pub meter: MeterMode,
    /// How addresses are translated.
    pub translation: Translation,
}

impl Program {
    /// Whether calls run inline (real machine calls, one host frame record per level): only
    /// for depths the host stack bounds; otherwise every call bails out.
    pub fn inline_calls(&self) -> bool {
        (2..=MAX_INLINE_CALL_DEPTH).contains(&self.max_call_depth)
    }
}

/// How a memory access is translated, as the driver decided (see the module doc of
/// `compile` for pairs and versioned loops). `S` is the backend's [`MacroAssembler::Span`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum AccessForm<S> {
    /// Checked on its own; `hint` guesses where the base points (only the shape of the
    /// check depends on it).
    Checked {
        /// The guess for the base register.
        hint: BaseHint,
    },
    /// The first access of a pair: checks the pair's whole span and returns it for the
    /// second.
    PairFirst {
        /// The pair.
        pair: Pair,
        /// The guess for the base register.
        hint: BaseHint,
    },
    /// The first access of a pair in a versioned loop's second copy whose two accesses are
    /// both hoisted into `group`: no check, the span addressed through the group's delta.
    HoistedPairFirst {
        /// The pair.
        pair: Pair,
        /// The hoisted group.
        group: u8,
    },
    /// The second access of a pair: the span its first access returned, no translation.
    PairSecond {
        /// What the first access left.
        span: S,
    },
    /// An access of a versioned loop's second copy whose span the loop's guard checked: no
    /// check, `host = vaddr + delta` with the delta of `group`.
    Hoisted {
        /// The hoisted group.
        group: u8,
    },
}

/// The value a store writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A register.
    Reg(GuestReg),
    /// The immediate (truncated to the access size).
    Imm(i32),
}

/// The width of register arithmetic: 64 bits, or the low 32 bits widened by the dialect's
/// rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AluWidth {
    /// All 64 bits.
    Full,
    /// The low 32 bits, widened as `Ext32` says.
    Low(Ext32),
}

/// Two-operand arithmetic with no failure case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arith {
    /// `dst += src`.
    Add,
    /// `dst -= src`.
    Sub,
    /// `dst |= src`.
    Or,
    /// `dst &= src`.
    And,
    /// `dst ^= src`.
    Xor,
}

/// Shifts (the count masked to the width, as both dialects do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shift {
    /// Left.
    Left,
    /// Right, logical.
    Right,
    /// Right, arithmetic.
    Arithmetic,
}

/// The division family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Division {
    /// Unsigned quotient.
    Div,
    /// Unsigned remainder.
    Mod,
    /// Signed quotient.
    SDiv,
    /// Signed remainder.
    SMod,
}

impl Division {
    /// Whether the operation is signed (then a dividend of the type's minimum by -1 bails
    /// out).
    pub fn signed(self) -> bool {
        match self {
            Division::SDiv | Division::SMod => true,
            Division::Div | Division::Mod => false,
        }
    }
}

/// A 64-bit operand whose immediate, if any, the lowering already widened: the rule
/// differs per operation (`udiv64` and `uhmul64` zero-extend theirs, the rest sign-extend),
/// so a backend never has to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wide {
    /// A register.
    Reg(GuestReg),
    /// A constant (of which a 32-bit operation reads the low half).
    Const(u64),
}

/// Which 128-bit product's high half [`MacroAssembler::high_product`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Product {
    /// Both factors unsigned (`uhmul64`).
    Unsigned,
    /// Both factors signed (`shmul64`).
    Signed,
}

/// Byte-order operations in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ByteOp {
    /// `dst = dst as u16`.
    Trunc16,
    /// The low 16 bits byte-swapped, zero-extended.
    Swap16,
    /// The low 32 bits byte-swapped, zero-extended.
    Swap32,
    /// All 64 bits byte-swapped.
    Swap64,
}

/// Whether `exit` checks the return pc (only needed when a call sits in the last slot: its
/// return lands past the text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReturnCheck {
    /// No check.
    None,
    /// Returning past the text bails out at the `exit`.
    ReturnPc,
}

/// A backend's macro-assembler: one method per kind of operation the neutral lowering
/// emits, with explicit operands, plus what the driver needs to place code.
pub(crate) trait MacroAssembler {
    /// What the first access of a pair leaves for the second (where the span's host address
    /// waits).
    type Span: Copy + fmt::Debug;
    /// A versioned loop's guard, waiting for the loop's second copy.
    type Guard;
    /// What [`MacroAssembler::begin_copy`] set aside.
    type CopyMark;

    // Placing code.

    /// The entry sequence and the shared exits; then a jump to slot `entry`.
    fn prologue(&mut self, entry: usize) -> Lowered;
    /// The current code offset.
    fn offset(&self) -> usize;
    /// Records that the code of slot `pc` starts here.
    fn start_slot(&mut self, pc: usize, position: RunPosition, carried: Carried);
    /// Pads to the alignment of a tight loop's head.
    fn align_loop_head(&mut self);
    /// Emits a hardening `nop` when the hardening generator says so.
    fn hardening_nop(&mut self);
    /// The meter charge at the start of a run of `count` instructions: unless the budget
    /// covers every check inside the run, bail out at `at`.
    fn charge(&mut self, count: u64, at: At) -> Lowered;
    /// Whether out-of-line code waits to be emitted.
    fn has_pending(&self) -> bool;
    /// Emits the waiting out-of-line code here (execution cannot fall through).
    fn emit_pending(&mut self) -> Lowered;
    /// After the body: an entry stub for every slot jumped to that cannot be entered
    /// directly (inside a run, or after the first access of a pair).
    fn entry_stubs(&mut self, code: &CodeView<'_>) -> Lowered;
    /// The `callx` table, if some `callx` needs it: per slot where a call may land.
    fn callx_entries(&mut self, code: &CodeView<'_>, static_syscalls: bool) -> Lowered;

    // Versioned loops.

    /// The guard of `plan` where execution falls into the loop's head: every group's span
    /// inside one region-table row, else the ordinary loop.
    fn version_guard(&mut self, plan: &Plan) -> Result<Self::Guard, JitError>;
    /// Starts the second copy of `plan`'s loop: its slots get new offsets, and jumps inside
    /// the copy stay inside it.
    fn begin_copy(&mut self, plan: &Plan) -> Self::CopyMark;
    /// Ends the copy: points the guard's jump at it and gives the loop's slots back their
    /// first copy; returns where the copy starts.
    fn end_copy(&mut self, mark: Self::CopyMark, guard: Self::Guard) -> Result<usize, JitError>;

    // Register arithmetic.

    /// `dst = value`.
    fn mov_imm(&mut self, dst: GuestReg, value: u64) -> Lowered;
    /// `dst = src`, all 64 bits or the low 32 zero-extended.
    fn mov(&mut self, width: Width, dst: GuestReg, src: GuestReg) -> Lowered;
    /// `dst = dst op src`.
    fn arith(&mut self, op: Arith, width: AluWidth, dst: GuestReg, src: Operand) -> Lowered;
    /// `dst *= src`.
    fn mul(&mut self, width: AluWidth, dst: GuestReg, src: Operand) -> Lowered;
    /// A shift of `dst` by `src` (the count masked to the width; 32-bit results are
    /// zero-extended).
    fn shift(&mut self, op: Shift, width: Width, dst: GuestReg, src: Operand) -> Lowered;
    /// `dst = -dst`.
    fn neg(&mut self, width: Width, dst: GuestReg) -> Lowered;
    /// `dst = src` sign-extended from `size` (then zero-extended from 32 bits for `W32`).
    fn mov_sx(&mut self, dst: GuestReg, src: GuestReg, size: MemSize, width: Width) -> Lowered;
    /// A byte-order operation on `dst`.
    fn byte_op(&mut self, op: ByteOp, dst: GuestReg) -> Lowered;
    /// `dst = dst op value` on all 64 bits, for a constant no 32-bit immediate expresses
    /// (`hor64`'s `imm << 32`).
    fn arith_wide(&mut self, op: Arith, dst: GuestReg, value: u64) -> Lowered;
    /// `dst` = the high 64 bits of the 128-bit product of `dst` and `src`.
    fn high_product(&mut self, product: Product, dst: GuestReg, src: Wide) -> Lowered;
    /// A division of `dst` by `src` (never a constant 0: the lowering bails out or traps
    /// for those); a zero register divisor bails out at `at`, and so does, for the signed
    /// forms, a register divisor of -1 or a constant -1 with the type's minimum as the
    /// dividend (the interpreter then applies the dialect's rule or raises the error, and a
    /// constant -1 otherwise runs inline). A 32-bit signed quotient is widened as
    /// `quotient32` says; every other 32-bit result is zero-extended.
    #[allow(
        clippy::too_many_arguments,
        reason = "one operation's operands, passed explicitly"
    )]
    fn divide(
        &mut self,
        op: Division,
        width: Width,
        dst: GuestReg,
        src: Wide,
        quotient32: Ext32,
        at: At,
    ) -> Lowered;

    // Memory.

    /// `dst = *(size *)(base + off)`, extended as `extend` says; returns the span for a
    /// pair's second access when `form` is a pair's first.
    #[allow(
        clippy::too_many_arguments,
        reason = "one access's operands, passed explicitly"
    )]
    fn load(
        &mut self,
        dst: GuestReg,
        base: GuestReg,
        off: i16,
        size: MemSize,
        extend: Extend,
        form: AccessForm<Self::Span>,
        at: At,
    ) -> Result<Option<Self::Span>, JitError>;
    /// `*(size *)(base + off) = value`; returns the span for a pair's second access when
    /// `form` is a pair's first.
    fn store(
        &mut self,
        base: GuestReg,
        off: i16,
        size: MemSize,
        value: Value,
        form: AccessForm<Self::Span>,
        at: At,
    ) -> Result<Option<Self::Span>, JitError>;
    /// An atomic read-modify-write of 32 or 64 bits (always checked: `form` is
    /// [`AccessForm::Checked`], as loops with atomics are never versioned and atomics never
    /// pair).
    #[allow(
        clippy::too_many_arguments,
        reason = "one access's operands, passed explicitly"
    )]
    fn atomic(
        &mut self,
        width: Width,
        op: AtomicOp,
        base: GuestReg,
        src: GuestReg,
        off: i16,
        form: AccessForm<Self::Span>,
        at: At,
    ) -> Lowered;

    // Control.

    /// `goto target`.
    fn jump(&mut self, target: usize) -> Lowered;
    /// `if dst cond src goto target`; a taken branch first gives back `refund` instructions
    /// (the rest of its run, which was charged: see `CodeView::jit_run_length`).
    #[allow(
        clippy::too_many_arguments,
        reason = "one branch's operands, passed explicitly"
    )]
    fn branch(
        &mut self,
        cond: Cond,
        width: Width,
        dst: GuestReg,
        src: Operand,
        target: usize,
        refund: Option<u64>,
    ) -> Lowered;
    /// A call of the function at slot `target` (inside the text; the depth is checked at
    /// run time and bails out at `at`).
    fn call(&mut self, target: usize, at: At) -> Lowered;
    /// sBPF `callx`: a call of the address in `reg`, checked against the text and the
    /// `callx` table.
    fn call_reg(&mut self, reg: GuestReg, at: At) -> Lowered;
    /// `exit`: the root frame ends the run, a nested one returns to its caller.
    fn exit(&mut self, check: ReturnCheck, at: At) -> Lowered;
    /// A syscall by index into the program's syscall table, for the instruction at `pc`.
    fn syscall(&mut self, index: u32, pc: usize) -> Lowered;
    /// Hands the run to the interpreter before the instruction at `at`.
    fn bail(&mut self, at: At) -> Lowered;
    /// sBPF's `add64 r11, imm`: the stack pointer moves by `delta`.
    fn move_stack_pointer(&mut self, delta: i64) -> Lowered;
}

/// A machine the JIT can compile for: its macro-assembler, its code memory and the way
/// into generated code (see ARCHITECTURE.md for what a second target implements).
pub(crate) trait Backend: Sized + 'static {
    /// The macro-assembler of one compile.
    type Masm: MacroAssembler;
    /// What an engine keeps for this target between compiles (code memory, buffers).
    type State: Default + fmt::Debug + Send + Sync;
    /// Executable code memory.
    type Code: fmt::Debug + Send + Sync;

    /// A macro-assembler for a program of `slots` slots, filling `tables`, with the
    /// syscall shim of context type `C`.
    fn masm<C: ContextObject>(
        state: &Self::State,
        program: Program,
        hardening: super::hardening::Hardening,
        tables: Tables,
    ) -> Self::Masm;
    /// Resolves every jump, makes the code executable (x86-64 writes it straight into code
    /// memory and seals it there) and returns it with the program's tables.
    fn finish(state: &Self::State, masm: Self::Masm) -> Result<(Self::Code, Tables), JitError>;
    /// The machine code.
    fn bytes(code: &Self::Code) -> &[u8];
    /// Runs the code with `env` until it stores an exit kind and returns.
    fn enter(code: &Self::Code, env: &mut super::env::Env);
}

/// The accesses of a pair and of versioned loops, described for a backend's translation:
/// the span of `size` bytes at `base + start` with `access`'s permission and `rule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanCheck {
    /// Where the span starts relative to the base register.
    pub start: i16,
    /// Its length in bytes (1, 2, 4 or 8).
    pub size: u8,
    /// The permission it is checked for.
    pub access: Access,
    /// Which of its bytes a gapped region's test looks at.
    pub rule: SpanRule,
}

impl Pair {
    /// The span this pair's first access checks.
    pub(crate) fn span(&self) -> SpanCheck {
        SpanCheck {
            start: self.start,
            size: self.span,
            access: self.access,
            rule: self.rule,
        }
    }
}

/// Slots `range` of a loop, for the backends' copy bookkeeping.
pub(crate) fn loop_slots(plan: &Plan) -> Range<usize> {
    plan.head..plan.latch + 1
}
