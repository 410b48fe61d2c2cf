//! Address translation inline: the table check, the current-frame access through r10, the
//! current-frame and input-region checks for registers the hints scan guesses, and the
//! pairing of two accesses under one check ([`super::Pair`]).

use super::{env, Access, At, Check, Masm, Miss, Routine, Shape, StubKind, Translation, GUEST};
use crate::jit::env::{FRAME_TOP, INPUT_HOST, INPUT_LIMIT, INPUT_VM};
use crate::jit::hints::BaseHint;
use crate::jit::JitError;
use crate::memory::GappedFrames;
use bpfvm_x86::{AluKind, Cond, Gpr, Mem, Operand, RegMem, Size};

impl Masm {
    /// Translates the `size`-byte access at `base + off` by the instruction at `at`; the
    /// host operand of the access is then [`Masm::host`] (rax-based; rcx is clobbered). An
    /// access to the current frame through r10 needs no check ([`GappedFrames`]);
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

    /// The host operand of the access [`Masm::translate`] translated last.
    #[inline(always)]
    pub fn host(&self) -> Mem {
        Mem::base_disp(Gpr::Rax, self.host_disp)
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
    /// region's row ([`crate::jit::env::Env::input_limit`]), the hit falling through to the
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
    /// [`GappedFrames`]); anything else (another frame, another region) jumps to a
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
    /// `Env::frame_top + off` ([`GappedFrames`]).
    fn frame_access(&self, off: i16, size: u8) -> bool {
        let Some(layout) = self.program.stack else {
            return false;
        };
        let off = i64::from(off);
        let frame = i64::try_from(layout.frame).unwrap_or(0);
        off >= -frame && off + i64::from(size) <= 0
    }
}

/// The frame size F of `layout` as the bias of the current-frame check ([`Masm::stack_check`];
/// at most 2^30, so that `off + F` and `-F` are 32-bit displacements).
fn stack_bias(layout: GappedFrames) -> Result<i32, JitError> {
    i32::try_from(layout.frame)
        .ok()
        .filter(|frame| *frame <= 1 << 30)
        .ok_or_else(|| JitError::Encode {
            message: format!("frame size {} in the stack check", layout.frame),
        })
}
