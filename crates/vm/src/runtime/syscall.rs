//! The syscall path, written once (reference §4.4 and rule 3 of the [meter](super::meter)):
//! what happens when a program calls a host function, whichever backend runs it. The
//! interpreter calls [`dispatch`] from its `call` op; the JIT calls it from its syscall shim
//! (which adds only what generated code needs around it: catching a host panic so it never
//! unwinds through machine code, and refreshing the region table, since a syscall may
//! replace regions).
//!
//! In order, because the order decides which error wins:
//! 1. A syscall index with no host function is `UnsupportedInstruction` at the call's pc,
//!    and nothing is charged.
//! 2. The meter charges what is due to the context (`consume`).
//! 3. The host function runs with the context, the guest memory and r1..r5; its error ends
//!    the run as it is under 0.2.38's rules, and as `SyscallError` naming the call's pc under
//!    0.26's (the SBPF versions), as 0.26 reports it.
//! 4. Its result goes to r0. The unwind helper returning 0 ends the program with `Ok(0)`.
//! 5. The meter re-reads the budget (a syscall may charge compute of its own), and when no
//!    budget is left the run stops with `ExceededMaxInstructions` at the next pc: rule 2 of
//!    the meter for the syscall, made here so that no backend has to make it after every
//!    run of instructions.

use super::Meter;
use crate::code::Semantics;
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::memory::MemoryMapping;
use crate::program::SyscallFn;

/// What a syscall works against: the host's context, the guest memory and the program's
/// syscall table.
pub(crate) struct Host<'h, 'a, C> {
    /// The context the host function receives.
    pub context: &'h mut C,
    /// The guest memory.
    pub mapping: &'h mut MemoryMapping<'a>,
    /// The host functions, by the index `Op::Syscall` names.
    pub syscalls: &'h [Option<SyscallFn<C>>],
    /// The index of the unwind helper, if one is set.
    pub unwind_index: Option<u32>,
    /// Whose rules name a failing syscall's error.
    pub semantics: Semantics,
}

/// How a syscall ended the run.
#[derive(Debug)]
pub(crate) enum SyscallEnd {
    /// The program ended with this result (the unwind helper).
    Exit(u64),
    /// An error ended the run.
    Error(RuntimeError),
}

/// The error of a syscall that failed at `pc`: as the syscall gave it under 0.2.38's rules,
/// wrapped in `SyscallError` with the calling pc under 0.26's (as 0.26 reports it).
fn syscall_failure(semantics: Semantics, pc: usize, error: RuntimeError) -> RuntimeError {
    match semantics {
        Semantics::Reference2022 => error,
        Semantics::Sbpf26 => RuntimeError::SyscallError {
            pc,
            error: Box::new(error),
        },
    }
}

/// Calls syscall `index` for the instruction at `pc` with `args` (r1..r5), writing its
/// result to `r0` (see the module doc for the rules, in order). `Ok` means the run goes on at
/// the next instruction.
#[inline(never)]
pub(crate) fn dispatch<C: ContextObject>(
    host: Host<'_, '_, C>,
    meter: &mut Meter,
    args: [u64; 5],
    r0: &mut u64,
    index: u32,
    pc: usize,
) -> Result<(), SyscallEnd> {
    let function = usize::try_from(index)
        .ok()
        .and_then(|index| host.syscalls.get(index).copied().flatten())
        .ok_or(SyscallEnd::Error(RuntimeError::UnsupportedInstruction {
            pc,
        }))?;
    meter.before_syscall(host.context);
    let value = function(host.context, host.mapping, args)
        .map_err(|error| SyscallEnd::Error(syscall_failure(host.semantics, pc, error)))?;
    *r0 = value;
    if value == 0 && host.unwind_index == Some(index) {
        return Err(SyscallEnd::Exit(0));
    }
    meter.after_syscall(host.context);
    if meter.exhausted() {
        return Err(SyscallEnd::Error(RuntimeError::ExceededMaxInstructions {
            pc: pc + 1,
            budget: 0,
        }));
    }
    Ok(())
}
