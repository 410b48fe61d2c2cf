//! One run of compiled code: builds the [`Env`], enters the code, and turns the way it
//! ended into the interpreter's result — including handing a bailed-out run to the
//! interpreter, which finishes it. Also the safe halves of the shims (syscalls, slow
//! translation).

use super::entry;
use super::env::{Env, ExitKind, FrameRecord, RegionEntry};
use super::lower::MAX_INLINE_CALL_DEPTH;
use super::JitProgram;
use crate::context::ContextObject;
use crate::error::{AccessType, RuntimeError};
use crate::interpreter::exec::{Frame, Machine, Settings};
use crate::interpreter::meter::{Meter, Metering};
use crate::interpreter::Code;
use crate::memory::MemoryMapping;
use crate::program::SyscallFn;
use core::ffi::c_void;

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
    pub table: Vec<RegionEntry>,
    pub aligned: bool,
}

/// Everything a run needs besides the compiled code.
pub(crate) struct RunParts<'r, 'a, C> {
    pub code: &'r Code,
    pub settings: Settings,
    pub context: &'r mut C,
    pub mapping: &'r mut MemoryMapping<'a>,
    pub syscalls: &'r [Option<SyscallFn<C>>],
    pub frames: &'r mut Vec<Frame>,
    pub regs: [u64; 16],
    pub stack_pointer: u64,
    pub metering: Metering,
    pub aligned: bool,
}

/// The region table of the aligned mapping (empty for the unaligned one).
fn region_table(mapping: &MemoryMapping<'_>, aligned: bool) -> Vec<RegionEntry> {
    if !aligned {
        return Vec::new();
    }
    mapping
        .regions()
        .iter()
        .map(|region| {
            let writable = |len: u64| if region.is_writable() { len } else { 0 };
            match region.gap_size() {
                None => RegionEntry {
                    host: region.host_addr() as u64,
                    vm_addr: region.vm_addr(),
                    load_len: region.len(),
                    store_len: writable(region.len()),
                    ..RegionEntry::default()
                },
                Some(gap) => RegionEntry {
                    host: region.host_addr() as u64,
                    vm_addr: region.vm_addr(),
                    gap_shift: u64::from(gap.trailing_zeros()),
                    gap_load_len: region.len(),
                    gap_store_len: writable(region.len()),
                    ..RegionEntry::default()
                },
            }
        })
        .collect()
}

fn point_at_table(env: &mut Env, table: &[RegionEntry]) {
    env.regions = table.as_ptr();
    env.region_count = table.len() as u64;
}

/// Runs `jit` and returns the result and the meter (not yet finished).
pub(crate) fn execute<C: ContextObject>(
    jit: &JitProgram,
    parts: RunParts<'_, '_, C>,
) -> (Result<u64, RuntimeError>, Meter) {
    let RunParts {
        code,
        settings,
        context,
        mapping,
        syscalls,
        frames,
        regs,
        stack_pointer,
        metering,
        aligned,
    } = parts;
    let meter = Meter::start(metering, &*context);
    let initial = meter.initial();
    let (base, _) = meter.parts();
    let mut records =
        vec![FrameRecord::default(); settings.max_call_depth.clamp(1, MAX_INLINE_CALL_DEPTH)];
    let mut host = Host {
        context,
        syscalls,
        unwind_index: code.unwind_index(),
        metering,
        initial,
        base,
        error: None,
        table: region_table(mapping, aligned),
        aligned,
    };
    let mut guest = [0u64; 11];
    guest.copy_from_slice(&regs[..11]);
    let mut env = Env {
        regs: guest,
        left: base,
        depth: 0,
        stack_pointer,
        frames: records.as_mut_ptr(),
        regions: core::ptr::null(),
        region_count: 0,
        host_rsp: 0,
        exit_kind: ExitKind::Bail as u64,
        exit_pc: code.entry_pc() as u64,
        mapping: (mapping as *mut MemoryMapping<'_>).cast::<c_void>(),
        host: core::ptr::null_mut(),
    };
    point_at_table(&mut env, &host.table);
    env.host = (&mut host as *mut Host<'_, C>).cast::<c_void>();
    entry::execute(jit.executable(), &mut env);
    let Host {
        context,
        base,
        error,
        ..
    } = host;
    let due = match metering {
        Metering::On => base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let meter = Meter::resume(metering, initial, base, due);
    let result = match ExitKind::from_raw(env.exit_kind) {
        Some(ExitKind::Exit) => Ok(env.regs[0]),
        Some(ExitKind::Error) => Err(error.unwrap_or(RuntimeError::JitNotCompiled)),
        Some(ExitKind::Exceeded) => Err(RuntimeError::ExceededMaxInstructions {
            pc: env.exit_pc as usize,
            budget: 0,
        }),
        Some(ExitKind::Bail) | None => {
            frames.clear();
            let depth = usize::try_from(env.depth).unwrap_or(usize::MAX);
            for record in records.get(..depth).unwrap_or(&[]) {
                frames.push(Frame::new(
                    record.saved,
                    record.frame_pointer,
                    record.return_pc as usize,
                ));
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
            return (result, machine.meter);
        }
    };
    (result, meter)
}

/// The slow half of address translation (see `entry::translate_shim`).
pub(crate) fn translate(mapping: &mut MemoryMapping<'_>, vaddr: u64, request: u64) -> u64 {
    let len = request & 0xff;
    let access = match request >> 8 {
        0 => AccessType::Load,
        _ => AccessType::Store,
    };
    let Ok(range) = mapping.map(access, vaddr, len, 0) else {
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

/// The safe half of the syscall shim: the interpreter's syscall path (reference §4.4).
pub(crate) fn syscall<C: ContextObject>(
    env: &mut Env,
    host: &mut Host<'_, C>,
    mapping: &mut MemoryMapping<'_>,
    index: u64,
    pc: u64,
) -> u64 {
    let function = usize::try_from(index)
        .ok()
        .and_then(|index| host.syscalls.get(index).copied().flatten());
    let Some(function) = function else {
        host.error = Some(RuntimeError::UnsupportedInstruction { pc: pc as usize });
        env.exit_kind = ExitKind::Error as u64;
        return 1;
    };
    let due = match host.metering {
        Metering::On => host.base.wrapping_sub(env.left),
        Metering::Off => 0,
    };
    let mut meter = Meter::resume(host.metering, host.initial, host.base, due);
    meter.before_syscall(&mut *host.context);
    env.left = host.base;
    let args = [
        env.regs[1],
        env.regs[2],
        env.regs[3],
        env.regs[4],
        env.regs[5],
    ];
    let value = match function(&mut *host.context, mapping, args) {
        Ok(value) => value,
        Err(error) => {
            host.error = Some(error);
            env.exit_kind = ExitKind::Error as u64;
            return 1;
        }
    };
    env.regs[0] = value;
    if value == 0 && u32::try_from(index).ok() == host.unwind_index && host.unwind_index.is_some() {
        env.exit_kind = ExitKind::Exit as u64;
        return 1;
    }
    meter.after_syscall(&*host.context);
    let (base, _) = meter.parts();
    host.base = base;
    env.left = base;
    host.table = region_table(mapping, host.aligned);
    point_at_table(env, &host.table);
    0
}
