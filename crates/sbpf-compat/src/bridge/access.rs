//! The unsafe seam between the real crate's pointer-based API and bpfvm's engine.
//!
//! During `execute_program`, bpfvm's engine runs ([`run_in_place`]) over the engine parts of
//! the host's mapping, used where they are, with a [`Bridge`] as its context object and the
//! VM's own r0..r10 as the entry registers ([`EntryRegisters`], read once as the run starts).
//! The bridge holds a raw pointer to the host's [`EbpfVm`] (whose `execute_program` made it
//! and does not touch the VM until the run ends), through which it reaches the host's
//! context (the meter, the trace) and, when the program calls a syscall, the host's builtin.
//!
//! bpfvm's syscalls are plain function pointers, so each builtin is reached through a
//! trampoline that knows its number ([`trampolines`]: builtin `i` in the loader's key order
//! is trampoline `i`). A trampoline lends the engine's memory mapping to the host's
//! [`MemoryMapping`] for the length of the call (so the builtin's translations and region
//! replacements reach the mapping the program runs in), sets the VM's meter fields so that
//! a builtin settling the meter settles nothing (the engine has charged already), calls the
//! builtin with the VM's address, takes back the mapping and reads `program_result`.
//!
//! Invariants every `unsafe` block here relies on:
//! 1. A [`Bridge`]'s `vm` (and an [`EntryRegisters`]'s pointer, made from it) points at the
//!    `EbpfVm` whose `execute_program` is running; that function holds the only `&mut` to
//!    it and does not use it until the engine returns.
//! 2. The VM's `context_object_pointer` and `memory_mapping` point at the host's context and
//!    mapping, which outlive the VM (its lifetime `'a` borrows the context).
//! 3. A VM address handed to a builtin is used by that builtin alone, during the call.
//! 4. Between `MemoryMapping::begin_run` and the run word's `end` the engine's mapping and
//!    call stacks are the run's alone: the host's mapping reaches them only through the
//!    pointer a builtin call lends; the run word beside them is reached only through shared
//!    references.
//! 5. A [`PublishedCell`]'s routes are null or point at the program boxed in its own cell,
//!    which is set once, never replaced or taken, and dropped only with the cell; the box's
//!    allocation does not move when the cell (or the executable owning it) moves.
#![allow(unsafe_code)]

use crate::{
    error::{EbpfError, ProgramResult},
    memory_region::{EngineBox, MemoryMapping, RunWord},
    vm::{ContextObject, EbpfVm, EncryptedHostAddressToEbpfVm},
};
use bpfvm::{RuntimeError, SyscallFn, VerifiedProgram};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

/// The most builtins one loader can register (the number of trampolines).
pub(crate) const MAX_BUILTINS: usize = 512;

/// The engine's context object during a run: the host's VM, reached through a raw pointer.
pub(crate) struct Bridge<C: ContextObject> {
    /// The VM, its type erased: its lifetime is the run's, which no type here can name.
    vm: NonNull<u8>,
    /// The VM's context (its `context_object_pointer`, read once: the meter's calls go
    /// straight to it).
    context: NonNull<C>,
}

impl<C: ContextObject> Bridge<C> {
    /// The host's VM.
    fn vm<'v>(&'v mut self) -> &'v mut EbpfVm<'v, C> {
        // SAFETY: invariant 1: the pointer is the VM's (made by `run_in_place`), which
        // outlives the run, and nothing else uses it meanwhile.
        unsafe { self.vm.cast::<EbpfVm<'v, C>>().as_mut() }
    }

    /// Calls builtin `index` with `args`, the engine's mapping lent to the host meanwhile.
    /// The builtin sees r1..r5 in the VM's registers and the meter fields as the real
    /// crate's builtins do; a failing builtin's error stays in the VM's `program_result`,
    /// where the run's end finds it.
    #[inline(always)]
    fn call(
        &mut self,
        index: usize,
        engine_mapping: &mut bpfvm::MemoryMapping<'_>,
        args: [u64; 5],
    ) -> Result<u64, RuntimeError> {
        let vm = self.vm();
        let Some(function) = vm.loader.builtin(index) else {
            return Err(RuntimeError::UnsupportedInstruction { pc: 0 });
        };
        let lent = NonNull::from(engine_mapping).cast::<bpfvm::MemoryMapping<'static>>();
        mapping_of(vm).lend_engine(Some(lent));
        let remaining = context_of(vm).get_remaining();
        vm.previous_instruction_meter = remaining;
        vm.due_insn_count = remaining;
        vm.registers[1..6].copy_from_slice(&args);
        // `program_result` is `Ok(0)` here, as the real crate's builtins find it: the run set
        // it so, and every builtin that succeeded before this one left it so again.
        let [a, b, c, d, e] = args;
        function(vm.encrypted_host_address(), a, b, c, d, e);
        let vm = self.vm();
        mapping_of(vm).lend_engine(None);
        match &mut vm.program_result {
            ProgramResult::Ok(value) => Ok(std::mem::take(value)),
            ProgramResult::Err(error) => Err(RuntimeError::UserError {
                message: error.to_string(),
            }),
        }
    }
}

/// r0..r10 of the VM as a run's entry registers: a pointer to them where the VM keeps
/// them, which the engine borrows once, when the run starts (`bpfvm::Lent::registers`), so
/// no reference to them is alive when a builtin writes them.
pub(crate) struct EntryRegisters(NonNull<[u64; 11]>);

impl core::borrow::Borrow<[u64; 11]> for EntryRegisters {
    #[inline(always)]
    fn borrow(&self) -> &[u64; 11] {
        // SAFETY: invariant 1: the pointer names the registers of the VM whose
        // `execute_program` is running (made with the bridge's pointer by `run_in_place`);
        // the engine borrows them only as its run starts, before any builtin runs, and
        // nothing writes them meanwhile.
        unsafe { self.0.as_ref() }
    }
}

/// Ends the run of an engine when dropped (also when a builtin's panic unwinds through the
/// run): its run word says idle again, and its handler has no target.
struct RunEnd(NonNull<EngineBox>);

impl Drop for RunEnd {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: invariant 4: the allocation `begin_run` handed out lives until the host's
        // mapping drops it, which it does not during a run (invariant 2: the mapping
        // outlives the run); the run word is reached only through shared references, and
        // the run borrows only the parts beside it.
        unsafe { &*std::ptr::addr_of!((*self.0.as_ptr()).run) }.end();
    }
}

/// Runs `program` on `backend` over the engine of the VM's mapping, used in place (see
/// `MemoryMapping::begin_run`), with the VM as the context (through a [`Bridge`]) and its
/// r0..r10 read where it keeps them as the entry registers. A mapping that is not built, or
/// whose engine a run already uses (a builtin running the same mapping again), runs nothing:
/// `InvalidMemoryRegion` of region 0.
#[inline(always)]
pub(crate) fn run_in_place<C: ContextObject>(
    vm: &mut EbpfVm<'_, C>,
    program: &bpfvm::VerifiedProgram<Bridge<C>>,
    backend: bpfvm::Backend,
) -> bpfvm::Run {
    let host = vm.memory_mapping;
    let Some(engine) = mapping_of(vm).begin_run(host) else {
        return bpfvm::Run {
            instruction_count: 0,
            result: Err(RuntimeError::InvalidMemoryRegion { index: 0 }),
        };
    };
    let _end = RunEnd(engine);
    let context = vm.context_object_pointer;
    let vm = NonNull::from(vm);
    // SAFETY: invariant 1: `vm` is the live VM this function was given (and no longer
    // uses); the field's address is taken without making a reference, and the address of
    // a field of a live value is not null.
    let registers =
        unsafe { NonNull::new_unchecked(std::ptr::addr_of_mut!((*vm.as_ptr()).registers)) };
    let mut bridge = Bridge {
        vm: vm.cast(),
        context,
    };
    let engine = engine.as_ptr();
    // Invariant 4: `begin_run` handed out the engine's allocation and marked it running, so
    // nothing else reaches its mapping and call stacks until `_end` marks it idle after the
    // engine returns (the host reaches the engine's mapping only through the pointer a
    // builtin call lends, which is made from this borrow).
    // SAFETY: by invariant 4 above the two are borrowed alone, and not the run word beside
    // them, which the handler and `_end` read.
    let (mapping, stacks) = unsafe {
        (
            &mut *std::ptr::addr_of_mut!((*engine).mapping),
            &mut *std::ptr::addr_of_mut!((*engine).stacks),
        )
    };
    let lent = bpfvm::Lent {
        context: &mut bridge,
        mapping,
        stacks,
        registers: EntryRegisters(registers.cast()),
    };
    bpfvm::run_lent(program, lent, backend)
}

impl<C: ContextObject> bpfvm::ContextObject for Bridge<C> {
    fn trace(&mut self, state: [u64; 12]) {
        self.vm().register_trace.push(state);
    }

    fn consume(&mut self, amount: u64) {
        // SAFETY: invariant 2: the pointer is the VM's context pointer, and the context
        // outlives the VM; nothing else uses the context during this call.
        unsafe { self.context.as_mut() }.consume(amount);
    }

    fn remaining(&self) -> u64 {
        // SAFETY: invariant 2 (a shared use of the context, during the run).
        unsafe { self.context.as_ref() }.get_remaining()
    }
}

/// `ProgramResult::Ok(value)` made by one 16-byte store of its tag and value, the width at
/// which hosts move the returned `(u64, ProgramResult)` (LLVM copies the tuple in 16-byte
/// pieces). Built field by field, the tag and the value are two 8-byte stores, and a 16-byte
/// load of both waits until they reach the cache instead of being forwarded from the store
/// buffer (a store-forwarding stall on every call; the real crate moves its result out of
/// the VM in 16-byte pieces and has none).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn ok_result(value: u64) -> ProgramResult {
    use core::arch::x86_64::{_mm_set_epi64x, _mm_storeu_si128};
    const {
        assert!(std::mem::size_of::<ProgramResult>() >= 16);
        assert!(std::mem::align_of::<ProgramResult>() == 8);
    }
    let mut result = std::mem::MaybeUninit::<ProgramResult>::uninit();
    // `ProgramResult` is `#[repr(C, u64)]`: a `u64` tag (0 for `Ok`, the first variant) at
    // offset 0, then the variant's fields from offset 8, so `Ok(value)` is exactly the 16
    // bytes `[0, value]` (the const block checks the size; `ok_result_is_ok` the layout).
    // SAFETY: by the above the store writes `Ok(value)` within the allocation, and bytes
    // after 16 belong to no field of `Ok`; SSE2 is part of x86-64.
    unsafe {
        _mm_storeu_si128(result.as_mut_ptr().cast(), _mm_set_epi64x(value as i64, 0));
        result.assume_init()
    }
}

/// `ProgramResult::Ok(value)` (see the x86-64 version).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn ok_result(value: u64) -> ProgramResult {
    ProgramResult::Ok(value)
}

/// The host's context of `vm`.
pub(crate) fn context_of<'v, C: ContextObject>(vm: &'v mut EbpfVm<'_, C>) -> &'v mut C {
    // SAFETY: invariant 2; the result borrows `vm` mutably, so it is the only use.
    unsafe { vm.context_object_pointer.as_mut() }
}

/// The host's mapping of `vm`.
pub(crate) fn mapping_of<'v, C: ContextObject>(vm: &'v mut EbpfVm<'_, C>) -> &'v mut MemoryMapping {
    // SAFETY: invariant 2; the result borrows `vm` mutably, so it is the only use.
    unsafe { vm.memory_mapping.as_mut() }
}

impl<C: ContextObject> EncryptedHostAddressToEbpfVm<C> {
    /// Runs `cb` on the VM this address names.
    ///
    /// # Safety
    ///
    /// The address must come from a live VM (builtins receive such an address), and no other
    /// reference to that VM may be used while `cb` runs.
    #[inline]
    pub unsafe fn with_vm<R>(&mut self, cb: impl FnOnce(&mut EbpfVm<'_, C>) -> R) -> R {
        let address = (self.0 as usize as isize)
            .wrapping_sub(crate::vm::get_runtime_environment_key() as isize)
            as usize;
        let vm = std::ptr::with_exposed_provenance_mut::<EbpfVm<'_, C>>(address);
        // SAFETY: the caller's promise: the address is a live VM's (made by
        // `EbpfVm::encrypted_host_address`, which exposed its provenance) and unaliased.
        cb(unsafe { &mut *vm })
    }
}

/// A builtin's Rust body: the context and r1..r5 to r0 or an error.
pub(crate) type BuiltinBody<C, E> = fn(&mut C, u64, u64, u64, u64, u64) -> Result<u64, E>;

/// The body of `BuiltinFunctionDefinition::vm`: settles the meter, runs the builtin's Rust
/// body with the context and r1..r5, stores its result, re-reads the budget. Inlined into
/// each builtin's `vm` function, so that a call through the function pointer does the work
/// itself.
#[inline(always)]
pub(crate) fn run_builtin_body<C: ContextObject, E: Into<Box<dyn core::error::Error>>>(
    vm: EncryptedHostAddressToEbpfVm<C>,
    body: BuiltinBody<C, E>,
    args: [u64; 5],
) {
    let [a, b, c, d, e] = args;
    let address = (vm.0 as usize as isize)
        .wrapping_sub(crate::vm::get_runtime_environment_key() as isize) as usize;
    let vm = std::ptr::with_exposed_provenance_mut::<EbpfVm<'_, C>>(address);
    // SAFETY: invariant 3: the address came from a VM calling this builtin (made by
    // `EbpfVm::encrypted_host_address`, which exposed its provenance), and only this call
    // uses it.
    let vm = unsafe { &mut *vm };
    let metered = vm.loader.get_config().enable_instruction_meter;
    if metered {
        let used = vm
            .previous_instruction_meter
            .saturating_sub(vm.due_insn_count);
        vm.context().consume(used);
    }
    let result: ProgramResult = body(vm.context(), a, b, c, d, e)
        .map_err(|error| EbpfError::SyscallError(error.into()))
        .into();
    match &mut vm.program_result {
        slot @ ProgramResult::Ok(_) => {
            // SAFETY: the slot is a valid, exclusively borrowed `ProgramResult` holding `Ok`,
            // which owns nothing, so overwriting it without dropping it loses nothing (the
            // common case: the run left `Ok(0)` there).
            unsafe { std::ptr::write(slot, result) }
        }
        slot @ ProgramResult::Err(_) => *slot = result,
    }
    if metered {
        vm.previous_instruction_meter = vm.context().get_remaining();
    }
}

/// Trampoline `N`: calls builtin `N` of the running VM's loader.
fn trampoline<C: ContextObject, const N: usize>(
    bridge: &mut Bridge<C>,
    mapping: &mut bpfvm::MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    bridge.call(N, mapping, args)
}

/// Lists trampolines `0..MAX_BUILTINS`.
macro_rules! trampoline_table {
    ($($n:literal)*) => {
        [$(trampoline::<C, $n> as SyscallFn<Bridge<C>>),*]
    };
}

/// The trampolines, by builtin number.
pub(crate) fn trampolines<C: ContextObject>() -> [SyscallFn<Bridge<C>>; MAX_BUILTINS] {
    trampoline_table!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136 137 138 139 140 141 142 143 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158 159 160 161 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179 180 181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197 198 199 200 201 202 203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 259 260 261 262 263 264 265 266 267 268 269 270 271 272 273 274 275 276 277 278 279 280 281 282 283 284 285 286 287 288 289 290 291 292 293 294 295 296 297 298 299 300 301 302 303 304 305 306 307 308 309 310 311 312 313 314 315 316 317 318 319 320 321 322 323 324 325 326 327 328 329 330 331 332 333 334 335 336 337 338 339 340 341 342 343 344 345 346 347 348 349 350 351 352 353 354 355 356 357 358 359 360 361 362 363 364 365 366 367 368 369 370 371 372 373 374 375 376 377 378 379 380 381 382 383 384 385 386 387 388 389 390 391 392 393 394 395 396 397 398 399 400 401 402 403 404 405 406 407 408 409 410 411 412 413 414 415 416 417 418 419 420 421 422 423 424 425 426 427 428 429 430 431 432 433 434 435 436 437 438 439 440 441 442 443 444 445 446 447 448 449 450 451 452 453 454 455 456 457 458 459 460 461 462 463 464 465 466 467 468 469 470 471 472 473 474 475 476 477 478 479 480 481 482 483 484 485 486 487 488 489 490 491 492 493 494 495 496 497 498 499 500 501 502 503 504 505 506 507 508 509 510 511)
}

/// The host's access violation handler as the engine asks it during a run (see
/// `MemoryMapping::redirect_for_engine`). Installed once in the engine's mapping; outside a
/// run it has no target and redirects nothing.
pub(crate) struct HostHandler {
    /// The run word beside the engine's mapping this handler is installed in (in the same
    /// allocation, which outlives the handler), whose target is the host's mapping during a
    /// run (invariant 2: it outlives the run).
    run: NonNull<RunWord>,
}

impl HostHandler {
    /// A handler that answers for the mapping `run` names during runs.
    pub(crate) fn new(run: NonNull<RunWord>) -> Self {
        HostHandler { run }
    }
}

impl bpfvm::memory::ViolationHandler for HostHandler {
    fn handle(
        &mut self,
        access: bpfvm::AccessType,
        vaddr: u64,
        len: u64,
    ) -> Option<bpfvm::MemoryRegion<'static>> {
        // SAFETY: the run word lives in the allocation of the engine mapping that owns this
        // handler (`EngineSlot::install_handler`), so it outlives the handler; it is reached
        // only through shared references.
        let mut target = unsafe { self.run.as_ref() }.target()?;
        // SAFETY: invariant 2: the target is set only while a run is in progress, to the
        // host's mapping, which outlives the run; during a load or store nothing else holds a
        // reference to it (the engine works on its own mapping, in its own allocation owned
        // through a raw pointer, and host code runs only inside syscalls).
        let mapping = unsafe { target.as_mut() };
        mapping.redirect_for_engine(
            crate::memory_region::AccessType::from_engine(access),
            vaddr,
            len,
        )
    }
}

/// What runs use: the program verified once (boxed, so that its address stays put when the
/// executable owning it moves), published by the first run, or its verifier's refusal.
pub(crate) type Published<C> = Result<Box<VerifiedProgram<Bridge<C>>>, bpfvm::VerifyError>;

/// How runs reach a published program, decided (under the program's lock) when it is
/// published, compiled again or loses its machine code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Not published yet, refused by bpfvm's verifier, compiled again after its first run,
    /// or under a loader without address translation: every run takes the slow path.
    Other,
    /// The published program, interpreted (it has no machine code, or it was taken).
    Interpret,
    /// The published program, whose machine code runs may use.
    Jit,
}

/// The program the first run publishes, and the routes later runs reach it by without a
/// lock or a check of the cell (invariant 5): `jit` names the program while runs may use its
/// machine code, `interpret` while runs may interpret it; a null route sends runs to the
/// slow path.
pub(crate) struct PublishedCell<C: ContextObject> {
    cell: OnceLock<Published<C>>,
    jit: AtomicPtr<VerifiedProgram<Bridge<C>>>,
    interpret: AtomicPtr<VerifiedProgram<Bridge<C>>>,
}

impl<C: ContextObject> PublishedCell<C> {
    /// Nothing published, no route.
    pub(crate) fn new() -> Self {
        PublishedCell {
            cell: OnceLock::new(),
            jit: AtomicPtr::new(std::ptr::null_mut()),
            interpret: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The cell (set once, by the first run).
    pub(crate) fn cell(&self) -> &OnceLock<Published<C>> {
        &self.cell
    }

    /// Points the routes at the published program as `route` says (at nothing while the
    /// cell holds no program).
    pub(crate) fn set_route(&self, route: Route) {
        let program = match self.cell.get() {
            Some(Ok(program)) => {
                std::ptr::from_ref::<VerifiedProgram<Bridge<C>>>(program).cast_mut()
            }
            Some(Err(_)) | None => std::ptr::null_mut(),
        };
        let (jit, interpret) = match route {
            Route::Jit => (program, program),
            Route::Interpret => (std::ptr::null_mut(), program),
            Route::Other => (std::ptr::null_mut(), std::ptr::null_mut()),
        };
        self.jit.store(jit, Ordering::Release);
        self.interpret.store(interpret, Ordering::Release);
    }

    /// The published program, when runs may use its machine code.
    #[inline(always)]
    pub(crate) fn jit(&self) -> Option<&VerifiedProgram<Bridge<C>>> {
        // SAFETY: invariant 5: the pointer is null or names the program boxed in `self.cell`,
        // which lives, unmoved and only read, as long as `self`; the Acquire load pairs with
        // the Release store of `set_route`, which read the cell after it was set.
        unsafe { self.jit.load(Ordering::Acquire).as_ref() }
    }

    /// The published program, when runs may interpret it.
    #[inline(always)]
    pub(crate) fn interpret(&self) -> Option<&VerifiedProgram<Bridge<C>>> {
        // SAFETY: as in `jit`.
        unsafe { self.interpret.load(Ordering::Acquire).as_ref() }
    }
}

#[cfg(test)]
mod tests {
    use super::ok_result;
    use crate::error::ProgramResult;

    /// The 16-byte store makes the same value as `ProgramResult::Ok` (the tag of `Ok` and the
    /// place of its value are what `ok_result`'s store assumes).
    #[test]
    fn ok_result_is_ok() {
        for value in [0, 1, 3, 0x8000_0000_0000_0000, u64::MAX] {
            let result = ok_result(value);
            assert!(
                matches!(result, ProgramResult::Ok(found) if found == value),
                "{result:?}"
            );
        }
    }
}
