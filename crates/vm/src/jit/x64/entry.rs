//! The only `unsafe` of the JIT: entering generated code, the `extern "sysv64"` shims
//! generated code calls back into (which turn the raw pointers of the [`Env`] back into
//! references and hand over to the safe halves in `jit::run`), and the promise that the
//! `Env` a VM keeps between runs (`jit::seat`) may move between threads.

#![allow(unsafe_code)]

use crate::context::ContextObject;
use crate::jit::env::Env;
use crate::jit::masm::Backend;
use crate::jit::run::{self, Host};
use crate::jit::seat::Seat;
use crate::memory::MemoryMapping;
use bpfvm_x86::ExecutableCode;

/// The signature of generated code: the prologue at offset 0 takes the `Env` in rdi.
type Entry = unsafe extern "sysv64" fn(*mut Env);

/// Runs the generated code of one program until it stores an exit kind and returns.
pub(crate) fn execute(code: &ExecutableCode, env: &mut Env) {
    let pointer = code.as_ptr();
    // SAFETY: `code` is read-execute memory produced by `X64::finish`, whose offset 0 is the
    // prologue of a function with exactly the `Entry` signature: it saves and restores every
    // callee-saved register and the stack pointer (`Masm::prologue` pushes them, the exit
    // routine of `routines::emit_exits` restores the stack pointer and pops them).
    let entry: Entry = unsafe { core::mem::transmute::<*const u8, Entry>(pointer) };
    // The `Env`'s pointers outlive the call: frame records of the capacity the code assumes,
    // the region table, the program's `callx` table (one entry per slot, indexed only below
    // the slot count), the mapping, the host state. Guest memory is reached only through
    // addresses the region table or the mapping vouched for (or a versioned loop's guard).
    // SAFETY: `env` is a live, exclusively borrowed `Env` that `run::execute` set up as above.
    unsafe { entry(env) }
}

/// Translates a guest access for generated code: returns the host address or 0 on a fault.
/// `request` is the access size in bits 0..8 and 1 (store) or 0 (load) in bit 8.
pub(crate) extern "sysv64" fn translate_shim(env: *mut Env, vaddr: u64, request: u64) -> u64 {
    // SAFETY: generated code passes the `Env` pointer it was entered with (r15), which
    // `execute` received as `&mut Env`; no Rust reference to it is live during the call.
    let env = unsafe { &mut *env };
    // SAFETY: `run::execute` stores a pointer to the run's `MemoryMapping` in `env.mapping`
    // and does not touch the mapping until generated code has returned.
    let mapping = unsafe { &mut *env.mapping.cast::<MemoryMapping<'_>>() };
    run::translate(mapping, vaddr, request)
}

/// Calls syscall number `index` (into the program's syscall table) for the instruction at
/// `pc`; returns 0 to continue, 1 when `env.exit_kind` says how the run ends.
pub(crate) extern "sysv64" fn syscall_shim<C: ContextObject, B: Backend>(
    env: *mut Env,
    index: u64,
    pc: u64,
) -> u64 {
    // SAFETY: as in `translate_shim`.
    let env = unsafe { &mut *env };
    // SAFETY: as in `translate_shim`.
    let mapping = unsafe { &mut *env.mapping.cast::<MemoryMapping<'_>>() };
    // SAFETY: `run::execute` stores its `Host<C, B>` in `env.host` until generated code has
    // returned, with this shim's `C` (the program was compiled for `VerifiedProgram<C>`) and
    // `B`, the backend whose code calls it (`X64` names itself where it takes the address).
    let host = unsafe { &mut *env.host.cast::<Host<'_, C, B>>() };
    run::syscall(env, host, mapping, index, pc)
}

// SAFETY: a `Seat` holds plain data and the raw pointers of its kept `Env` (frame records,
// the `callx` table, the mapping, the host state). `run::execute` writes the pointers that
// name a run's parts at the start of every run (`run::start`, `env.mapping`, `env.host`) and
// `Seat::refill` those into the seat's own records; they are dereferenced only while that run
// is in generated code or its shims, under the run's exclusive borrows. Between runs nothing
// reads them, so moving a `Seat` to another thread moves only data.
unsafe impl Send for Seat {}
// SAFETY: a shared `&Seat` gives access to nothing (its fields are private and it has no
// `&self` method), so sharing one between threads cannot reach its pointers.
unsafe impl Sync for Seat {}
