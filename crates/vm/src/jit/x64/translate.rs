//! Address translation inline: the table check, the current-frame access through r10, the
//! current-frame and input-region checks for registers the hints scan guesses, the two
//! accesses of a pair under one check, and the accesses of a versioned loop's second copy
//! through the delta its guard checked. Every form returns its host operand (rax-based;
//! rcx is clobbered) explicitly.

use super::labels::{Miss, Routine, Shape};
use super::masm::{Check, Masm, StubKind};
use super::regs::{env, FRAME_TOP, GUEST, HOISTED, INPUT_HOST, INPUT_LIMIT, INPUT_VM};
use crate::jit::access::{Access, SpanRule};
use crate::jit::hints::BaseHint;
use crate::jit::masm::{AccessForm, At, Translation};
use crate::jit::JitError;
use crate::memory::CurrentFrame;
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand, RegMem, Scale, Size};

/// Where a pair's span waits for its second access: `rax + disp` (plus `index` for a span
/// hoisted in a versioned loop, whose rax holds the group's delta) is the host address of
/// the span's first byte, `start` bytes past the base register.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    disp: i32,
    index: Option<Gpr>,
    start: i16,
}

impl Span {
    /// The host operand of the access at `off` from the base register.
    fn operand(self, off: i16) -> Mem {
        let disp = self.disp + i32::from(off) - i32::from(self.start);
        match self.index {
            None => Mem::base_disp(Gpr::Rax, disp),
            Some(index) => Mem::indexed(Gpr::Rax, index, Scale::One, disp),
        }
    }
}

/// The miss routine of a span checked under `rule`.
fn miss(rule: SpanRule) -> Miss {
    match rule {
        SpanRule::FirstByte => Miss::Translate,
        SpanRule::EveryByte => Miss::Span,
    }
}

impl Masm {
    /// The host operand of the `size`-byte `access` at `base + off` by the instruction at
    /// `at`, translated as `form` says; and, for a pair's first access, the span its second
    /// access uses.
    #[inline(always)]
    #[allow(clippy::too_many_arguments, reason = "one access's operands")]
    pub(super) fn translate(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        form: AccessForm<Span>,
        at: At,
    ) -> Result<(Mem, Option<Span>), JitError> {
        match form {
            AccessForm::Checked { hint } => {
                let disp = self.checked_disp(base, off, size, access, Miss::Translate, hint, at)?;
                Ok((Mem::base_disp(Gpr::Rax, disp), None))
            }
            AccessForm::PairFirst { pair, hint } => {
                // The whole span, for both accesses.
                let check = pair.span();
                let disp = self.checked_disp(
                    base,
                    check.start,
                    check.size,
                    check.access,
                    miss(check.rule),
                    hint,
                    at,
                )?;
                let span = Span {
                    disp,
                    index: None,
                    start: check.start,
                };
                Ok((span.operand(off), Some(span)))
            }
            AccessForm::HoistedPairFirst { pair, group } => {
                let span = self.hoisted(base, pair.start, group)?;
                Ok((span.operand(off), Some(span)))
            }
            // The first access left the span's host address, checked for both.
            AccessForm::PairSecond { span } => Ok((span.operand(off), None)),
            AccessForm::Hoisted { group } => {
                Ok((self.hoisted(base, off, group)?.operand(off), None))
            }
        }
    }

    /// The host operand of a checked access (see [`Masm::checked_disp`]).
    #[allow(clippy::too_many_arguments, reason = "one access's operands")]
    pub(super) fn checked(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        miss: Miss,
        hint: BaseHint,
        at: At,
    ) -> Result<Mem, JitError> {
        let disp = self.checked_disp(base, off, size, access, miss, hint, at)?;
        Ok(Mem::base_disp(Gpr::Rax, disp))
    }

    /// Translates the `size`-byte access at `base + off` by the instruction at `at` with a
    /// check; returns `disp`, the host operand being `[rax + disp]`. An access to the
    /// current frame through r10 needs no check ([`CurrentFrame`]); otherwise a miss in the
    /// inline check calls the shared routine of the access kind and size, which tries the
    /// gapped stack and asks the mapping; a fault bails out at `at`. `hint` picks the shape
    /// of the inline check.
    #[inline(always)]
    #[allow(clippy::too_many_arguments, reason = "one access's operands")]
    fn checked_disp(
        &mut self,
        base: Gpr,
        off: i16,
        size: u8,
        access: Access,
        miss: Miss,
        hint: BaseHint,
        at: At,
    ) -> Result<i32, JitError> {
        if base == GUEST[10] && self.frame_access(off, size) {
            // Inside the current frame of the standard stack: no check can fail.
            self.asm.load(Size::S64, Gpr::Rax, env(FRAME_TOP))?;
            return Ok(i32::from(off));
        }
        let log = size.trailing_zeros().min(3) as u8;
        let routine = miss.routine(access, log);
        // With a gapped stack, r10-based accesses always miss the table: call directly.
        let direct = self.program.translation == Translation::Call
            || (self.program.gap_shift.is_some() && base == GUEST[10]);
        let stack = match (hint, self.program.frame) {
            (BaseHint::Stack, Some(layout)) if !direct => Some(stack_bias(layout)?),
            (BaseHint::Stack | BaseHint::Input | BaseHint::Unknown, _) => None,
        };
        let off = i32::from(off);
        let (shape, bias) = match (stack, hint) {
            _ if direct => (None, 0),
            (Some(frame), _) => {
                return self.stack_check(base, off, size, frame, routine, at);
            }
            (None, BaseHint::Input) => {
                let off = i16::try_from(off).unwrap_or(0);
                return self.input_check(base, off, size, access, routine, at);
            }
            // The table check compares the end in rax (and takes the slot from rax - size).
            (None, BaseHint::Stack | BaseHint::Unknown) => {
                (Some(Shape::Access(access, size, miss)), i32::from(size))
            }
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
        Ok(-bias)
    }

    /// The translation of an access whose span the loop's guard checked (see `hoist`):
    /// `host = vaddr + delta`, with the delta of the guard's row in `Env::hoisted`: rax
    /// holds the delta, and the access reads `[rax + base + off]`.
    #[inline(never)]
    fn hoisted(&mut self, base: Gpr, off: i16, group: u8) -> Result<Span, JitError> {
        let delta = env(HOISTED + 8 * i32::from(group));
        self.asm.load(Size::S64, Gpr::Rax, delta)?;
        Ok(Span {
            disp: i32::from(off),
            index: Some(base),
            start: off,
        })
    }

    /// The input-region check of a `size`-byte `access` at `base + off` through a register
    /// that probably holds an input address (see `hints`): one compare against the input
    /// region's row (memory's `InputRow`), the hit falling through to the
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
    ) -> Result<i32, JitError> {
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
        Ok(0)
    }

    /// The current-frame check of a `size`-byte access at `base + off` through a register
    /// that probably points into the stack (see `hints`), for code compiled for frames of
    /// `frame` bytes: an address inside the current frame, `[r10 - F, r10 - size]`, is host
    /// byte `frame_top + (vaddr - r10)` (no check can fail there, see
    /// [`CurrentFrame`]); anything else (another frame, another region) jumps to a
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
    ) -> Result<i32, JitError> {
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
        Ok(-frame)
    }

    /// Whether `[r10 + off]` of `size` bytes stays inside the current frame of the standard
    /// stack of fixed frames (`-F <= off` and `off + size <= 0`), so that its host address
    /// is `Env::frame_top + off` ([`CurrentFrame`]).
    fn frame_access(&self, off: i16, size: u8) -> bool {
        let Some(layout) = self.program.frame else {
            return false;
        };
        let off = i64::from(off);
        let frame = i64::try_from(layout.frame).unwrap_or(0);
        off >= -frame && off + i64::from(size) <= 0
    }
}

/// The frame size F of `layout` as the bias of the current-frame check ([`Masm::stack_check`];
/// at most 2^30, so that `off + F` and `-F` are 32-bit displacements).
fn stack_bias(layout: CurrentFrame) -> Result<i32, JitError> {
    i32::try_from(layout.frame)
        .ok()
        .filter(|frame| *frame <= 1 << 30)
        .ok_or_else(|| JitError::Internal {
            message: format!("frame size {} in the stack check", layout.frame),
        })
}
