//! One run of compiled code, target-neutral: starts the [`Env`] the VM keeps between runs
//! (`seat`: its region table refilled only when what it was filled from changed), enters
//! the code through the backend, and turns the way it ended into the interpreter's result,
//! including handing a bailed-out run to the interpreter, which finishes it. Also the safe
//! halves of the shims generated code calls back (slow translation, syscalls), which a
//! backend's unsafe entry module turns its raw pointers back into references for.

use super::compiled::Compiled;
use super::env::{Env, ExitKind, FrameRecord};
use super::masm::Backend;
use super::seat::{self, CodeKey, Seat};
use crate::code::Code;
use crate::context::ContextObject;
use crate::error::{AccessType, RuntimeError};
use crate::interpreter::exec::Machine;
use crate::memory::{FrameMode, MemoryMapping};
use crate::program::SyscallFn;
use crate::runtime::syscall::{self, SyscallEnd};
use crate::runtime::{Frame, Meter, Metering, Settings};
use crate::verified::VerifiedProgram;
use crate::vm::{finish, Run};
use core::borrow::Borrow;
use core::ffi::c_void;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The translate shim's request: a store (else a load); the access size is the low byte.
pub(crate) const REQUEST_STORE: u64 = 1 << 8;
/// The translate shim's request: every byte must be addressable and contiguous (the span
/// of a pair, `memory::MemoryMapping::map_every_byte`).
pub(crate) const REQUEST_EVERY_BYTE: u64 = 1 << 9;

/// The typed state the syscall shim needs. What is the program's (its host functions, unwind
/// index, semantics and metering; the address map and stack its code was compiled for) is
/// read through one reference each to the program and to its compiled code, where they are
/// kept, so that a run writes only the context, the meter and the two empty slots.
pub(crate) struct Host<'r, C, B: Backend> {
    pub context: &'r mut C,
    /// The program, for what it resolved once (see [`VerifiedProgram::run_inputs`]).
    pub program: &'r VerifiedProgram<C>,
    /// The code: its address map and the frames its r10 fast path relies on.
    pub jit: &'r Compiled<B>,
    /// The budget the run started with.
    pub initial: u64,
    /// The meter's base (the budget when it was last read).
    pub base: u64,
    pub error: Option<RuntimeError>,
    /// The payload of a panic a syscall raised; the run stops and the panic resumes in Rust
    /// once generated code has returned (unwinding cannot cross generated code).
    pub panic: Option<Box<dyn Any + Send>>,
}

/// Everything a run needs besides the compiled code. `R` holds r0..r10 at entry, read once
/// when the run starts (a host may keep them where its syscalls write them during the run).
pub(crate) struct RunParts<'r, 'a, C, R: ?Sized> {
    /// The program (its host functions are read only by a syscall and the hand-over).
    pub program: &'r VerifiedProgram<C>,
    pub code: &'r Code,
    pub settings: &'r Settings,
    pub context: &'r mut C,
    pub mapping: &'r mut MemoryMapping<'a>,
    pub frames: &'r mut Vec<Frame>,
    /// The environment and frame records the VM keeps between runs.
    pub seat: &'r mut Seat,
    /// r0..r10 at entry (r10 is also the stack pointer), borrowed only by [`start`].
    pub registers: &'r R,
    /// The run's meter, just started (the runner read the budget for its check before the
    /// first instruction).
    pub meter: Meter,
}

#[cfg(test)]
thread_local! {
    /// How the last run of generated code on this thread ended (tests check that programs
    /// run natively instead of bailing out).
    static LAST_EXIT: std::cell::Cell<Option<ExitKind>> = const { std::cell::Cell::new(None) };
    /// The code offset of the last bail-out site (the return address of its `call`).
    static LAST_SITE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The code offset of the bail-out site where the last run of generated code on this thread
/// left it, if it ended at one.
#[cfg(test)]
pub(crate) fn last_site() -> Option<u64> {
    LAST_SITE.with(std::cell::Cell::get)
}

/// How the last run of generated code on this thread ended.
#[cfg(test)]
pub(crate) fn last_exit() -> Option<ExitKind> {
    LAST_EXIT.with(std::cell::Cell::get)
}

/// Runs `jit` and returns the result and the count (the meter finished where each way out
/// has its result: see [`finish`]).
#[inline(always)]
pub(crate) fn execute<C: ContextObject, B: Backend, R: Borrow<[u64; 11]> + ?Sized>(
    jit: &Compiled<B>,
    parts: RunParts<'_, '_, C, R>,
) -> Run {
    let RunParts {
        program,
        code,
        settings,
        context,
        mapping,
        frames,
        seat,
        registers,
        meter,
    } = parts;
    let metering = meter.mode();
    let initial = meter.initial();
    let (base, _) = meter.parts();
    let code_key = CodeKey {
        stamp: jit.stamp,
        map: &jit.map,
        frame: &jit.frame,
    };
    let kept = seat.prepare(code_key, mapping, settings.max_call_depth);
    let mut host = Host {
        context,
        program,
        jit,
        initial,
        base,
        error: None,
        panic: None,
    };
    let env = &mut kept.env;
    start(env, jit, code, registers.borrow(), base);
    env.mapping = (mapping as *mut MemoryMapping<'_>).cast::<c_void>();
    env.host = (&mut host as *mut Host<'_, C, B>).cast::<c_void>();
    if kept.standard && r10_ready(jit, settings, env) {
        B::enter(jit.executable(), env);
    }
    if let Some(payload) = host.panic.take() {
        // The interpreter lets a syscall's panic unwind to the host; so does the JIT.
        std::panic::resume_unwind(payload);
    }
    let base = host.base;
    let exit_kind = decode_exit(jit, env, metering);
    let due = match metering {
        Metering::On => base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let meter = Meter::resume(metering, initial, base, due);
    match exit_kind {
        Some(ExitKind::Exit) => finish(host.context, Ok(env.regs[0]), meter),
        Some(ExitKind::Error) => finish(host.context, Err(error_exit(host.error)), meter),
        None => finish(host.context, Err(odd_exit(env)), meter),
        Some(ExitKind::Bail | ExitKind::Site) => {
            if let FrameMode::Fixed { .. } = settings.frames {
                // Generated code kept the stack pointer in r10 (see `Env::stack_pointer`),
                // which it stores on a bail-out (its root exit stores only r0).
                env.stack_pointer = env.regs[10];
            }
            let handed = Handed {
                code,
                settings: *settings,
                context: host.context,
                mapping,
                syscalls: program.syscall_table(),
                frames,
            };
            hand_over(handed, env, &kept.records, meter)
        }
    }
}

/// Starts a run in the kept `env`: r0..r10 from `registers` (r11, the stack pointer, is
/// r10), the meter's budget `base`, no frame in use, the program's `callx` table, and the
/// entry as the pc a bail-out before the first instruction names. The fields generated
/// code writes before it reads them (`frame_top`, `host_stack`, `hoisted`,
/// `callx_target`) are left as the last run left them.
#[inline(always)]
fn start<B: Backend>(
    env: &mut Env,
    jit: &Compiled<B>,
    code: &Code,
    registers: &[u64; 11],
    base: u64,
) {
    env.regs = *registers;
    env.stack_pointer = registers[10];
    env.left = base;
    env.frame_cursor = env.frames;
    env.callx_table = jit.callx_table();
    env.exit_kind = ExitKind::Bail as u64;
    env.exit_pc = code.entry_pc() as u64;
}

/// Whether r10 at entry is what the code's frame sequences assume: with the r10 fast path,
/// the top of frame 0 (calls and exits keep the invariant from there); with fixed frames,
/// the stack pointer, which those sequences keep in r10 (x64 `sequences`). Otherwise the
/// interpreter runs the program from its entry.
#[inline(always)]
fn r10_ready<B: Backend>(jit: &Compiled<B>, settings: &Settings, env: &Env) -> bool {
    let entry_r10 = jit
        .frame
        .map(|frames| jit.map().stack.wrapping_add(frames.frame));
    entry_r10.is_none_or(|r10| env.regs[10] == r10)
        && match settings.frames {
            FrameMode::Fixed { .. } => env.regs[10] == env.stack_pointer,
            FrameMode::Dynamic | FrameMode::Manual => true,
        }
}

/// The error of a run that stored the error exit: the syscall's, which it always leaves.
#[cold]
fn error_exit(error: Option<RuntimeError>) -> RuntimeError {
    error.unwrap_or_else(|| RuntimeError::JitFailure {
        message: "an error exit without an error".to_owned(),
    })
}

/// The error of an exit generated code must never make.
#[cold]
fn odd_exit(env: &Env) -> RuntimeError {
    RuntimeError::JitFailure {
        message: format!(
            "generated code exited with kind {} at {:#x}",
            env.exit_kind, env.exit_pc
        ),
    }
}

/// The number of frame records in use: the cursor's distance from the first record (0 for
/// a cursor outside them, which generated code never leaves).
fn depth(env: &Env, records: &[FrameRecord]) -> usize {
    let offset = (env.frame_cursor as usize).wrapping_sub(records.as_ptr() as usize);
    let depth = offset / core::mem::size_of::<FrameRecord>();
    match offset % core::mem::size_of::<FrameRecord>() == 0 && depth <= records.len() {
        true => depth,
        false => 0,
    }
}

/// How generated code ended; a bail-out through the shared path becomes a plain bail-out
/// at the pc its site names, with the site's refund given back to the meter. `None`: an
/// exit generated code must never make.
fn decode_exit<B: Backend>(
    jit: &Compiled<B>,
    env: &mut Env,
    metering: Metering,
) -> Option<ExitKind> {
    let exit_kind = ExitKind::from_raw(env.exit_kind);
    let code_start = B::bytes(jit.executable()).as_ptr() as u64;
    #[cfg(test)]
    LAST_EXIT.with(|last| last.set(exit_kind));
    #[cfg(test)]
    LAST_SITE.with(|last| {
        let site =
            (exit_kind == Some(ExitKind::Site)).then(|| env.exit_pc.wrapping_sub(code_start));
        last.set(site);
    });
    if exit_kind != Some(ExitKind::Site) {
        return exit_kind;
    }
    let site = env
        .exit_pc
        .checked_sub(code_start)
        .and_then(|offset| jit.site(offset))?;
    env.exit_pc = site.pc;
    if metering == Metering::On {
        env.left = env.left.wrapping_add(site.refund);
    }
    Some(ExitKind::Bail)
}

/// What the interpreter needs from the run to finish it.
struct Handed<'r, 'a, C> {
    code: &'r Code,
    settings: Settings,
    context: &'r mut C,
    mapping: &'r mut MemoryMapping<'a>,
    syscalls: &'r [Option<SyscallFn<C>>],
    frames: &'r mut Vec<Frame>,
}

/// Hands a bailed-out run to the interpreter with the exact guest state (registers, stack
/// pointer, call frames, meter) and lets it finish from `env.exit_pc`.
fn hand_over<C: ContextObject>(
    handed: Handed<'_, '_, C>,
    env: &Env,
    records: &[FrameRecord],
    meter: Meter,
) -> Run {
    let Handed {
        code,
        settings,
        context,
        mapping,
        syscalls,
        frames,
    } = handed;
    frames.clear();
    for record in records.get(..depth(env, records)).unwrap_or(&[]) {
        frames.push(Frame {
            saved: record.saved,
            frame_pointer: record.frame_pointer,
            return_pc: record.return_pc as usize,
        });
    }
    let mut all = [0u64; 16];
    all[..11].copy_from_slice(&env.regs);
    let mut machine = Machine {
        code,
        settings,
        context,
        mapping,
        syscalls,
        frames,
        regs: all,
        stack_pointer: env.stack_pointer,
        meter,
    };
    let result = machine.run(env.exit_pc as usize);
    finish(machine.context, result, machine.meter)
}

/// The slow half of address translation (a backend's translate shim calls it): the host address
/// of `len` bytes at `vaddr` (the request's low byte; `REQUEST_STORE` for a store), or 0.
/// With `REQUEST_EVERY_BYTE` (a pair's span) the last byte must be addressable too, right
/// after the others in host memory (no byte in a gap).
pub(crate) fn translate(mapping: &mut MemoryMapping<'_>, vaddr: u64, request: u64) -> u64 {
    let len = request & 0xff;
    let access = match request & REQUEST_STORE {
        0 => AccessType::Load,
        _ => AccessType::Store,
    };
    let range = match request & REQUEST_EVERY_BYTE {
        0 => mapping.map(access, vaddr, len, 0).ok(),
        _ => mapping.map_every_byte(access, vaddr, len),
    };
    let Some(range) = range else {
        return 0;
    };
    match access {
        AccessType::Load => mapping
            .slice(range)
            .map_or(0, |bytes| bytes.as_ptr() as u64),
        AccessType::Store => mapping
            .slice_mut(range)
            .map_or(0, |bytes| bytes.as_mut_ptr() as u64),
    }
}

/// The safe half of the syscall shim: the syscall rule both backends share
/// ([`syscall::dispatch`]), with the meter moved between the `Env` and the rule, a host
/// panic caught (it resumes once generated code has returned: unwinding never crosses
/// generated code), and the region table refreshed (a syscall may replace regions). Returns
/// 0 to continue, 1 when `env.exit_kind` says how the run ends.
pub(crate) fn syscall<C: ContextObject, B: Backend>(
    env: &mut Env,
    host: &mut Host<'_, C, B>,
    mapping: &mut MemoryMapping<'_>,
    index: u64,
    pc: u64,
) -> u64 {
    let metering = host.program.metering();
    let due = match metering {
        Metering::On => host.base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let mut meter = Meter::resume(metering, host.initial, host.base, due);
    let args = [
        env.regs[1],
        env.regs[2],
        env.regs[3],
        env.regs[4],
        env.regs[5],
    ];
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    let pc = usize::try_from(pc).unwrap_or(usize::MAX);
    let called = catch_unwind(AssertUnwindSafe(|| {
        let shared = syscall::Host {
            context: &mut *host.context,
            mapping: &mut *mapping,
            syscalls: host.program.syscall_table(),
            unwind_index: host.program.code().unwind_index(),
            semantics: host.program.code().semantics(),
        };
        syscall::dispatch(shared, &mut meter, args, &mut env.regs[0], index, pc)
    }));
    let (base, due) = meter.parts();
    host.base = base;
    env.left = match metering {
        Metering::On => base.wrapping_sub(due),
        Metering::Off => base,
    };
    let end = match called {
        Ok(Ok(())) => {
            if seat::fill_table(env, mapping, &host.jit.map, host.jit.frame) {
                return 0;
            }
            // The syscall replaced the stack the code relies on: the interpreter runs the
            // rest.
            env.exit_kind = ExitKind::Bail as u64;
            env.exit_pc = pc.wrapping_add(1) as u64;
            return 1;
        }
        Ok(Err(end)) => end,
        Err(payload) => {
            host.panic = Some(payload);
            env.exit_kind = ExitKind::Error as u64;
            return 1;
        }
    };
    match end {
        SyscallEnd::Exit(_) => env.exit_kind = ExitKind::Exit as u64,
        SyscallEnd::Error(error) => {
            host.error = Some(error);
            env.exit_kind = ExitKind::Error as u64;
        }
    }
    1
}
