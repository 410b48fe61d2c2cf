//! Calls, syscalls and returns (reference §4.4), in the order of operations the reference
//! uses, because that order decides which error wins.

use super::access::{Access, InPlace};
use super::exec::{Halt, Machine, Stop};
use crate::code::GuestReg;
use crate::code::Semantics;
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::memory::FrameMode;
use crate::runtime::syscall::{dispatch, Host, SyscallEnd};
use crate::runtime::Frame;

/// The size of an instruction slot in guest bytes.
const SLOT_BYTES: u64 = 8;

impl<C: ContextObject> Machine<'_, '_, C> {
    /// Saves the caller's frame and enters a new one: `CallDepthExceeded` when the depth
    /// would reach `max_call_depth`.
    #[inline(always)]
    fn push_frame<A: Access>(&mut self, pc: usize) -> Result<(), A::Halt> {
        if self.frames.len() + 1 >= self.settings.max_call_depth {
            return Err(self.too_deep(pc).into());
        }
        if self.frames.len() == self.frames.capacity() {
            A::frames_full(self)?;
        }
        self.frames.push(Frame {
            saved: [self.regs[6], self.regs[7], self.regs[8], self.regs[9]],
            frame_pointer: self.regs[10],
            return_pc: pc + 1,
        });
        match self.settings.frames {
            FrameMode::Fixed { bump } => {
                self.stack_pointer = self.stack_pointer.wrapping_add(bump);
                self.regs[10] = self.stack_pointer;
            }
            FrameMode::Dynamic => self.regs[10] = self.stack_pointer,
            // V1, V2: the callee inherits the caller's r10.
            FrameMode::Manual => {}
        }
        Ok(())
    }

    /// The error for a call from `pc` that would reach the maximum depth. Out of line, as
    /// every error a threaded handler builds (see `thread`).
    #[cold]
    #[inline(never)]
    fn too_deep(&self, pc: usize) -> Halt {
        RuntimeError::CallDepthExceeded {
            pc,
            depth: self.settings.max_call_depth,
        }
        .into()
    }

    /// The error for a call from `pc` to slot `target` outside the text.
    #[cold]
    #[inline(never)]
    fn outside_text(&self, pc: usize, target: usize) -> Halt {
        let offset = (target as u64).wrapping_mul(SLOT_BYTES);
        RuntimeError::CallOutsideTextSegment {
            pc,
            target: self.code.text_vaddr().wrapping_add(offset),
        }
        .into()
    }

    /// A call to the function at slot `target`.
    #[inline(always)]
    pub(super) fn call<A: Access>(&mut self, pc: usize, target: usize) -> Result<usize, A::Halt> {
        self.push_frame::<A>(pc)?;
        if target >= self.code.slot_count() {
            return Err(self.outside_text(pc, target).into());
        }
        Ok(target)
    }

    /// sBPF `callx`: read the target, push the frame, then check the address (below the
    /// text: the address rounded down to a slot; past it: the slot's address), and with
    /// static syscalls that a function starts there (else one more instruction is charged
    /// and the error names the *target* pc).
    pub(super) fn call_register(&mut self, pc: usize, reg: GuestReg) -> Result<usize, Halt> {
        let address = self.regs[reg.index()];
        self.push_frame::<InPlace>(pc)?;
        let text = self.code.text_vaddr();
        let Some(offset) = address.checked_sub(text) else {
            return Err(RuntimeError::CallOutsideTextSegment {
                pc,
                target: address & !(SLOT_BYTES - 1),
            }
            .into());
        };
        let target = usize::try_from(offset / SLOT_BYTES).unwrap_or(usize::MAX);
        if target >= self.code.slot_count() {
            return Err(self.outside_text(pc, target));
        }
        if self.settings.static_syscalls && !self.code.is_callable(target) {
            self.meter.charge();
            return Err(RuntimeError::UnsupportedInstruction { pc: target }.into());
        }
        Ok(target)
    }

    /// eBPF `callx`: a registered helper key calls the helper, anything else is an address.
    pub(super) fn call_register_or_helper(
        &mut self,
        pc: usize,
        reg: GuestReg,
    ) -> Result<usize, Halt> {
        let value = self.regs[reg.index()];
        let helper = u32::try_from(value)
            .ok()
            .and_then(|key| self.code.syscall_keys().binary_search(&key).ok())
            .and_then(|index| u32::try_from(index).ok());
        match helper {
            Some(index) => {
                self.syscall(pc, index)?;
                Ok(pc + 1)
            }
            None => self.call_register(pc, reg),
        }
    }

    /// A syscall: the rule both backends share ([`crate::runtime::syscall`]).
    pub(super) fn syscall(&mut self, pc: usize, index: u32) -> Result<(), Halt> {
        let host = Host {
            context: self.context,
            mapping: self.mapping,
            syscalls: self.syscalls,
            unwind_index: self.code.unwind_index(),
            semantics: self.code.semantics(),
        };
        let args = [
            self.regs[1],
            self.regs[2],
            self.regs[3],
            self.regs[4],
            self.regs[5],
        ];
        dispatch(host, &mut self.meter, args, &mut self.regs[0], index, pc).map_err(|end| {
            Halt::from(match end {
                SyscallEnd::Exit(value) => Stop::Exit(value),
                SyscallEnd::Error(error) => Stop::Error(error),
            })
        })
    }

    /// `exit`: end the program at the root frame, else restore the caller's frame.
    #[inline(always)]
    pub(super) fn exit(&mut self, pc: usize) -> Result<usize, Halt> {
        let Some(frame) = self.frames.pop() else {
            return Err(Halt::EXIT_WITH_R0);
        };
        let [r6, r7, r8, r9] = frame.saved;
        self.regs[6] = r6;
        self.regs[7] = r7;
        self.regs[8] = r8;
        self.regs[9] = r9;
        self.regs[10] = frame.frame_pointer;
        if let FrameMode::Fixed { bump } = self.settings.frames {
            self.stack_pointer = self.stack_pointer.wrapping_sub(bump);
        }
        // 0.26 returns to the slot past the last and faults only when it is fetched.
        let past_end = frame.return_pc >= self.code.slot_count();
        if past_end && self.code.semantics() == Semantics::Reference2022 {
            return Err(self.outside_text(pc, frame.return_pc));
        }
        Ok(frame.return_pc)
    }
}
