//! One run of compiled code, target-neutral: builds the [`Env`], enters the code through the
//! backend, and turns the way it ended into the interpreter's result, including handing a
//! bailed-out run to the interpreter, which finishes it. Also the safe halves of the shims
//! generated code calls back (slow translation, syscalls), which a backend's unsafe entry
//! module turns its raw pointers back into references for.

use super::compiled::Compiled;
use super::env::{Env, ExitKind, FrameRecord};
use super::masm::{Backend, MAX_INLINE_CALL_DEPTH};
use crate::code::{Code, Semantics};
use crate::context::ContextObject;
use crate::error::{AccessType, RuntimeError};
use crate::interpreter::exec::Machine;
use crate::memory::table::{frame_host, GapRows, InlineRows, InputRow};
use crate::memory::{AddressMap, CurrentFrame, FrameMode, MemoryMapping};
use crate::program::SyscallFn;
use crate::runtime::syscall::{self, SyscallEnd};
use crate::runtime::{Frame, Meter, Metering, Settings};
use core::ffi::c_void;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// The translate shim's request: a store (else a load); the access size is the low byte.
pub(crate) const REQUEST_STORE: u64 = 1 << 8;
/// The translate shim's request: every byte must be addressable and contiguous (the span
/// of a pair, `memory::MemoryMapping::map_every_byte`).
pub(crate) const REQUEST_EVERY_BYTE: u64 = 1 << 9;

/// The typed state the syscall shim needs.
pub(crate) struct Host<'r, C> {
    pub context: &'r mut C,
    pub syscalls: &'r [Option<SyscallFn<C>>],
    pub unwind_index: Option<u32>,
    pub metering: Metering,
    pub initial: u64,
    /// The meter's base (the budget when it was last read).
    pub base: u64,
    pub error: Option<RuntimeError>,
    /// The payload of a panic a syscall raised; the run stops and the panic resumes in Rust
    /// once generated code has returned (unwinding cannot cross generated code).
    pub panic: Option<Box<dyn Any + Send>>,
    /// The address map the code was compiled for.
    pub map: AddressMap,
    /// The frames the code's r10 fast path relies on.
    pub frame: Option<CurrentFrame>,
    /// Whose rules a failing syscall's error follows.
    pub semantics: Semantics,
}

/// Everything a run needs besides the compiled code.
pub(crate) struct RunParts<'r, 'a, C> {
    pub code: &'r Code,
    pub settings: Settings,
    pub context: &'r mut C,
    pub mapping: &'r mut MemoryMapping<'a>,
    pub syscalls: &'r [Option<SyscallFn<C>>],
    pub frames: &'r mut Vec<Frame>,
    /// The frame records generated code writes (the VM's, reused by its runs; grown here to
    /// the depth the code may reach).
    pub records: &'r mut Vec<FrameRecord>,
    pub regs: [u64; 16],
    pub stack_pointer: u64,
    pub metering: Metering,
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

/// Fills the region table of `env` from the mapping (memory's `table`: the rows mean what
/// they mean there) and the r10 fast path's [`Env::frame_host`]. Returns false when the code
/// relies on a stack ([`CurrentFrame`]) that the mapping does not have: generated code must
/// not run then.
fn fill_table(
    env: &mut Env,
    mapping: &MemoryMapping<'_>,
    map: &AddressMap,
    frame: Option<CurrentFrame>,
) -> bool {
    let standard = match frame {
        None => {
            env.frame_host = 0;
            true
        }
        Some(frames) => match frame_host(mapping, map, frames) {
            Some(host) => {
                env.frame_host = host;
                true
            }
            None => {
                env.frame_host = 0;
                false
            }
        },
    };
    mapping.fill_region_table(map, &mut env.inline, &mut env.gaps, &mut env.input);
    standard
}

/// Runs `jit` and returns the result and the meter (not yet finished).
pub(crate) fn execute<C: ContextObject, B: Backend>(
    jit: &Compiled<B>,
    parts: RunParts<'_, '_, C>,
) -> (Result<u64, RuntimeError>, Meter) {
    let RunParts {
        code,
        settings,
        context,
        mapping,
        syscalls,
        frames,
        records,
        regs,
        stack_pointer,
        metering,
    } = parts;
    let meter = Meter::start(metering, &*context);
    let initial = meter.initial();
    let (base, _) = meter.parts();
    // Generated code writes a record before it reads it, and the hand-over reads only the
    // records of the frames in use, so records left by an earlier run are never read.
    let capacity = settings.max_call_depth.clamp(1, MAX_INLINE_CALL_DEPTH);
    if records.len() < capacity {
        records.resize(capacity, FrameRecord::default());
    }
    let mut host = Host {
        context,
        syscalls,
        unwind_index: code.unwind_index(),
        metering,
        initial,
        base,
        error: None,
        panic: None,
        map: *jit.map(),
        frame: jit.frame(),
        semantics: code.semantics(),
    };
    let mut env = new_env(jit, code, mapping, records, regs, stack_pointer, base);
    env.frame_limit = frame_limit(records, settings.max_call_depth);
    let standard = fill_table(&mut env, mapping, jit.map(), jit.frame());
    // The r10 fast path also needs r10 at the top of frame 0 (calls and exits keep the
    // invariant from there); otherwise the interpreter runs the program from its entry.
    let entry_r10 = jit
        .frame()
        .map(|frames| jit.map().stack.wrapping_add(frames.frame));
    // With fixed frames the frame sequences keep r10 equal to the stack pointer, which
    // they rely on (x64 `sequences`), so it must hold at entry.
    let r10_ready = entry_r10.is_none_or(|r10| env.regs[10] == r10)
        && match settings.frames {
            FrameMode::Fixed { .. } => env.regs[10] == env.stack_pointer,
            FrameMode::Dynamic | FrameMode::Manual => true,
        };
    env.host = (&mut host as *mut Host<'_, C>).cast::<c_void>();
    if standard && r10_ready {
        B::enter(jit.executable(), &mut env);
        if let FrameMode::Fixed { .. } = settings.frames {
            // Generated code kept the stack pointer in r10 (see `Env::stack_pointer`).
            env.stack_pointer = env.regs[10];
        }
    }
    let Host {
        context,
        base,
        error,
        panic,
        ..
    } = host;
    if let Some(payload) = panic {
        // The interpreter lets a syscall's panic unwind to the host; so does the JIT.
        std::panic::resume_unwind(payload);
    }
    let exit_kind = decode_exit(jit, &mut env, metering);
    let due = match metering {
        Metering::On => base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let meter = Meter::resume(metering, initial, base, due);
    let result = match exit_kind {
        None => Err(RuntimeError::JitFailure {
            message: format!(
                "generated code exited with kind {} at {:#x}",
                env.exit_kind, env.exit_pc
            ),
        }),
        Some(ExitKind::Exit) => Ok(env.regs[0]),
        Some(ExitKind::Error) => Err(error.unwrap_or_else(|| RuntimeError::JitFailure {
            message: "an error exit without an error".to_owned(),
        })),
        Some(ExitKind::Bail | ExitKind::Site) => {
            let handed = Handed {
                code,
                settings,
                context,
                mapping,
                syscalls,
                frames,
            };
            return hand_over(handed, &env, records, meter);
        }
    };
    (result, meter)
}

/// The `Env` of a run starting with `regs` and `stack_pointer`, the meter's budget `base`,
/// the frame records `records` (the region table is filled separately).
fn new_env<B: Backend>(
    jit: &Compiled<B>,
    code: &Code,
    mapping: &mut MemoryMapping<'_>,
    records: &mut [FrameRecord],
    regs: [u64; 16],
    stack_pointer: u64,
    base: u64,
) -> Env {
    let mut guest = [0u64; 11];
    guest.copy_from_slice(&regs[..11]);
    Env {
        inline: InlineRows::default(),
        regs: guest,
        left: base,
        frame_host: 0,
        frame_top: 0,
        input: InputRow::default(),
        hoisted: [0; super::hoist::MAX_GROUPS],
        callx_target: 0,
        callx_table: jit.callx_table(),
        frame_cursor: records.as_mut_ptr(),
        frame_limit: records.as_ptr(),
        stack_pointer,
        frames: records.as_mut_ptr(),
        host_stack: 0,
        exit_kind: ExitKind::Bail as u64,
        exit_pc: code.entry_pc() as u64,
        mapping: (mapping as *mut MemoryMapping<'_>).cast::<c_void>(),
        host: core::ptr::null_mut(),
        gaps: GapRows::default(),
    }
}

/// The frame cursor at which a `call` bails out: `max_call_depth - 1` records in (the
/// interpreter raises the depth error there), and never past the last of `records`, so
/// generated code writes no record outside them.
fn frame_limit(records: &[FrameRecord], max_call_depth: usize) -> *const FrameRecord {
    let in_use = max_call_depth.saturating_sub(1).min(records.len());
    records.as_ptr().wrapping_add(in_use)
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
) -> (Result<u64, RuntimeError>, Meter) {
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
    (result, machine.meter)
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
pub(crate) fn syscall<C: ContextObject>(
    env: &mut Env,
    host: &mut Host<'_, C>,
    mapping: &mut MemoryMapping<'_>,
    index: u64,
    pc: u64,
) -> u64 {
    let due = match host.metering {
        Metering::On => host.base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let mut meter = Meter::resume(host.metering, host.initial, host.base, due);
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
            syscalls: host.syscalls,
            unwind_index: host.unwind_index,
            semantics: host.semantics,
        };
        syscall::dispatch(shared, &mut meter, args, &mut env.regs[0], index, pc)
    }));
    let (base, due) = meter.parts();
    host.base = base;
    env.left = match host.metering {
        Metering::On => base.wrapping_sub(due),
        Metering::Off => base,
    };
    let end = match called {
        Ok(Ok(())) => {
            if fill_table(env, mapping, &host.map, host.frame) {
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
