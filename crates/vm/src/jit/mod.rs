//! The JIT: compiles a verified program's neutral form ([`crate::code::Code`]) to machine
//! code that gives exactly the interpreter's results.
//!
//! # Layers
//!
//! Imports run one way, from the public surface down to the machine; no module of the JIT
//! imports one above it (the crate's `tidy` test parses the imports and fails on a cycle or
//! on a neutral module naming the backend).
//!
//! - **Surface** ([`api`], [`error`], [`loops`]): [`JitEngine`], [`JitProgram`],
//!   [`JitError`], [`VersionedLoop`]. The only place that names the target is the `Native`
//!   alias in [`api`], which instantiates the neutral layers with the backend.
//! - **Target-neutral driver** ([`compile`](mod@compile), [`lower`]): one pass over the
//!   slots decides everything that does not depend on the machine (where runs start and
//!   what they charge, which accesses pair up, which loops are versioned and which of
//!   their accesses go unchecked, which ops always bail out) and asks the backend to encode it, one
//!   [`masm::MacroAssembler`] call per op with explicit operands, matched exhaustively
//!   over [`crate::code::Op`].
//! - **Target-neutral analyses**, computed only when the JIT compiles and reading the
//!   instruction facts of `bpfvm-isa`, never slot bytes: [`view`] (the JIT's runs and tight
//!   loops, with each op's kind, width and fall-through, in one packed row per slot), [`hints`] (which registers hold stack or input addresses), [`pair`] (two
//!   accesses under one check), [`hoist`] (which checks of a tight loop can move before
//!   it), [`hardening`] (the random generator of the machine-code diversification).
//! - **Target-neutral runtime and tables** ([`run`], [`env`], [`tables`], [`compiled`],
//!   [`engine`], [`access`], [`loops`]): one run's [`env::Env`] (with the region table of
//!   [`crate::memory::table`] embedded), the bail-out site table, a compiled program, the
//!   compile state an engine keeps, and the safe halves of the shims generated code calls
//!   back.
//! - **The interface** ([`masm`]): the [`masm::MacroAssembler`] and [`masm::Backend`]
//!   traits and the vocabulary the layers share.
//! - **The x86-64 backend** ([`x64`]): register map, instruction selection, inline address
//!   translation, pre-encoded templates, shared routines, the loop guard, and the only
//!   `unsafe` of the JIT (`x64::entry`: the entry trampoline and the `extern "sysv64"`
//!   shims).
//!
//! # Design
//!
//! - **Exactness by bail-out.** Every edge case is handed to the interpreter, which is the
//!   specification: generated code bails out with the guest state exactly as before the
//!   instruction at `pc` (registers, memory, call depth and frames, stack pointer, meter),
//!   and the run continues in the interpreter from `pc` to its end. Bail-outs cover every
//!   error that is not a syscall's (memory faults, division by zero, call depth, call
//!   targets, traps, overrun) and the rare results (eBPF division by zero or by -1, eBPF
//!   `callx`), so every error kind and field, the instruction count and the memory are the
//!   interpreter's by construction. Every instruction of SBPF V0-V4 runs natively; only
//!   traps, eBPF's `callx`, calls that cannot run inline and divisions by an immediate 0
//!   are bail-outs whatever their operands (`JitProgram::interpreted_slots` lists them). On x86-64 a bail-out is a 5-byte `call` of one shared
//!   routine (behind a short jump when conditional); its return address, looked up in the
//!   program's sorted site table ([`tables::Site`]) when the run ends, names the pc and
//!   the meter refund. No stub per pc exists, and the fast path pays nothing.
//! - **Registers**: all eleven guest registers stay pinned in host registers (on x86-64:
//!   the table in `x64::regs`; one more register points into the run's [`env::Env`], one
//!   holds the meter).
//! - **Meter**: charged per straight-line run ([`view::CodeView::jit_run_length`]: the
//!   interpreter's runs, also ended before every jump or call target, so a jump lands at a
//!   run's start, and inside tight loops continued past forward conditional jumps, whose
//!   taken side gives the rest of the run back in a stub). The first instruction of a run
//!   subtracts the run's length `n` from the meter `left` (`base - due`, kept in a host
//!   register while generated code runs and stored back whenever Rust may look); unless the
//!   budget covers every check inside the run (`left > n`), it bails out there (the refund
//!   restores `left`), so the interpreter runs the last few instructions and stops at the
//!   exact pc. A `callx` into the middle of a run (any slot may be its target) goes through
//!   an entry stub that charges the rest of the run. At any instruction the charged
//!   instructions not yet run are exactly its run length, which a bail-out there refunds.
//!   A syscall ends its run; the syscall rules themselves are
//!   [`crate::runtime::syscall::dispatch`], the interpreter's. With metering off no meter
//!   code is emitted. Since nothing runs uncharged, `instruction_meter_checkpoint_distance`
//!   (the reference's bound on how far its JIT may overrun) changes nothing.
//! - **Memory**: with the aligned mapping, translation is inline against the region table
//!   ([`crate::memory::table`]): slot = vaddr >> 32, then `vaddr + size <= limit[slot]`
//!   and host = `vaddr + delta[slot]` (refilled per run and after every syscall). A miss
//!   calls one shared routine per access kind and size, which tries the gapped stack (fixed
//!   frames with gaps: the table cannot hold it), the table again, the generic gapped path,
//!   and otherwise asks the mapping through a shim; a fault bails out at the access's site.
//!   The unaligned mapping always calls the routine.
//! - **Stack and input pointers in other registers** ([`hints`]): a scan of each function
//!   with a loop guesses which registers hold stack addresses (derived from r10) and, in
//!   the entry function, input addresses (derived from r1). With fixed frames and gaps, an
//!   access through a stack pointer gets the current-frame check inline; an access through
//!   an input pointer gets one compare against the input region's row. A miss jumps to a
//!   stub out of line that calls the miss routine and jumps back, so a wrong guess only
//!   costs time.
//! - **Pairs of accesses** ([`pair::Pair`]): inside tight loops, two loads or stores of one
//!   run through the same base register (not written in between), with only register
//!   arithmetic and forward branches between, whose bytes span 1, 2, 4 or 8 bytes, share
//!   one check (elsewhere only a load and a store of the same bytes right after it): the
//!   first checks the span with the stricter permission and keeps its host address, the
//!   second is a single access. A span may not reach into a stack gap (the rule of
//!   [`MemoryMapping::map_every_byte`](crate::memory::MemoryMapping::map_every_byte)); a
//!   refusal bails out at the first access, and the interpreter runs both. Nothing enters
//!   a pair after its first access.
//! - **The current frame** ([`crate::memory::CurrentFrame`]): with fixed frames, gapped or
//!   contiguous, r10 is always the top of some frame, so `[r10 + off]` with `-F <= off <= -size` lies inside
//!   the current frame whatever the depth: it is translated with no check and no branch,
//!   from the current frame's host top (`Env::frame_top`), recomputed at entry, at every
//!   `call` and `exit` and after every syscall (a program that never reads r10 has no such
//!   access and keeps no `frame_top`). Every run first checks that the stack is the
//!   one this relies on, and the syscall shim checks again after each syscall (which may
//!   replace regions); otherwise the interpreter runs the program.
//! - **Loop heads** ([`view::CodeView::is_loop_header`]: heads of tight loops) start at a
//!   64-byte boundary, so a loop's speed does not depend on the code before it.
//! - **Versioned loops** ([`hoist`]): a tight loop without calls, syscalls, `exit` or
//!   atomics cannot change the mapping, so for accesses through a register the body never
//!   writes plus a bounded index the whole span they can touch is checked once, by a guard
//!   where execution falls into the loop's head; if it lies inside one row of the region
//!   table, a second copy of the loop runs (emitted after the body) in which those accesses
//!   have no check, otherwise the ordinary loop runs. Jumps from elsewhere, `callx` and
//!   entry stubs only ever enter the ordinary copy.
//! - **Calls** use the host's own call and return (on x86-64 the return-stack buffer stays
//!   balanced) and push their frame record (r6-r9, r10 and the return pc, what the
//!   interpreter's frame holds) on the host stack right above the return address: the
//!   depth is the host stack's distance from where the prologue left it, so the depth check
//!   compares the stack pointer with a floor the prologue set and neither `call` nor `exit`
//!   touches a cursor in memory. Every way out of generated code passes the exit routine,
//!   which copies the records into `Env::frames`, so a bail-out at any depth hands over a
//!   faithful call stack. With fixed frames in a program that never reads r10, r10 is a
//!   function of the depth: `call` and `exit` leave it alone (the record has no r10) and
//!   the exit routine derives it and the records' saved r10 when the code ends
//!   (`x64::sequences`).
//! - **Branches on flags**: a compare with 0 right after a 64-bit ALU operation on the same
//!   register, in the same run (no jump lands between them), reuses its flags where they
//!   answer the condition as the compare would (every condition after `and`, `or`, `xor`;
//!   equal and not equal after `add`, `sub`).
//!   Call depths above [`masm::MAX_INLINE_CALL_DEPTH`] always bail out (the host stack is
//!   bounded).
//! - **Syscalls** call a shared routine and through it a shim that runs
//!   [`crate::runtime::syscall::dispatch`] and refreshes the region table (a syscall may
//!   replace regions). A panic in the host function is caught in the shim (unwinding cannot
//!   cross generated code), the run stops, and the panic resumes once generated code has
//!   returned, so the host sees it exactly as it unwinds out of the interpreter.
//! - **Tracing**: with `enable_instruction_tracing` the run is delegated to the interpreter
//!   from its first instruction (the same state a bail-out at the entry hands over), so the
//!   trace is the interpreter's.
//! - **Hardening** ([`hardening`]; machine code only, never behaviour): about one random
//!   1-byte `nop` per `noop_instruction_rate` BPF instructions, and with
//!   `sanitize_user_provided_values` constant blinding of program-supplied immediates that
//!   are not small. The generator is seeded per compile by the engine.
//! - **Compile speed**: the x86-64 sequences that recur are encoded once per compile and
//!   replayed with patched fields (`x64::templates`), byte for byte the same code. Shared
//!   routines are emitted when first needed, after the next instruction that cannot fall
//!   through. The [`JitEngine`] keeps the code pool, the scratch buffers and the tables of
//!   dropped programs (slot offsets, bail-out sites, the `callx` table) for the next
//!   compile; the `callx` table lives beside the code, not in it, so code memory holds
//!   instructions only. The loop analysis of [`hoist`] first rejects most loops cheaply
//!   from the hints scan's effects table.
//!
//! **Architecture invariant:** generated code never decides an error itself (apart from
//! the shims, which run the interpreter's own rules): anything unusual is a bail-out.
//!
//! # Builds without the JIT
//!
//! Everything above exists only when `cfg(bpfvm_jit)` holds (the `jit` feature on an x86-64
//! target; see the crate's `build.rs`). Elsewhere this module keeps its public surface
//! ([`JitEngine`], [`JitProgram`], [`JitError`], [`VersionedLoop`]) but compiling gives
//! [`JitError::UnsupportedTarget`] or [`JitError::FeatureDisabled`], no [`JitProgram`] can
//! exist, and the x86 encoder crate is not a dependency.

mod error;
mod loops;

pub use error::JitError;
pub use loops::VersionedLoop;

#[cfg(bpfvm_jit)]
mod access;
#[cfg(bpfvm_jit)]
mod api;
#[cfg(bpfvm_jit)]
mod compile;
#[cfg(bpfvm_jit)]
mod compiled;
#[cfg(bpfvm_jit)]
mod engine;
#[cfg(bpfvm_jit)]
pub(crate) mod env;
#[cfg(bpfvm_jit)]
mod hardening;
#[cfg(bpfvm_jit)]
mod hints;
#[cfg(bpfvm_jit)]
mod hoist;
#[cfg(bpfvm_jit)]
mod kept;
#[cfg(bpfvm_jit)]
mod lower;
#[cfg(bpfvm_jit)]
mod masm;
#[cfg(bpfvm_jit)]
mod pair;
#[cfg(bpfvm_jit)]
pub(crate) mod run;
#[cfg(bpfvm_jit)]
pub(crate) mod seat;
#[cfg(bpfvm_jit)]
mod tables;
#[cfg(all(test, bpfvm_jit))]
mod tests;
#[cfg(bpfvm_jit)]
mod view;
#[cfg(bpfvm_jit)]
mod x64;

#[cfg(bpfvm_jit)]
pub(crate) use api::JitArtifacts;
#[cfg(bpfvm_jit)]
pub use api::{JitEngine, JitProgram};

#[cfg(not(bpfvm_jit))]
mod unavailable;
#[cfg(not(bpfvm_jit))]
pub(crate) use unavailable::JitArtifacts;
#[cfg(not(bpfvm_jit))]
pub use unavailable::{JitEngine, JitProgram};

/// Whether this build has the JIT (`Backend::Jit` can run).
pub const AVAILABLE: bool = cfg!(bpfvm_jit);
