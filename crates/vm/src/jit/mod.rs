//! The x86-64 JIT backend: compiles a verified program's pre-decoded ops to machine code
//! that gives exactly the interpreter's results.
//!
//! # Design
//!
//! - **Lowering** ([`lower`]): one function per kind of the interpreter's [`Op`](crate::interpreter::op::Op), matched
//!   exhaustively, over a BPF-level macro-assembler ([`masm`]) over the typed encoder of
//!   `bpfvm-x86`. One pass over the slots; jumps to slots not emitted yet are rel32 fields
//!   in one plain list, patched at the end (no label per slot).
//! - **Registers**: all eleven guest registers stay pinned in host registers (table in
//!   [`masm`]); r15 points into the run's [`env::Env`]; rdx holds the meter
//!   (`masm::METER`); rax and rcx are scratch.
//! - **Exactness by bail-out.** Every edge case is handed to the interpreter, which is the
//!   specification: generated code bails out with the guest state exactly as before the
//!   instruction at `pc` (registers, memory, call depth and frames, stack pointer, meter),
//!   and the run continues in the interpreter from `pc` to its end. Bail-outs cover every
//!   error that is not a syscall's (memory faults, division by zero, call depth, call
//!   targets, traps, overrun) and the rare results (eBPF division by zero or by -1, eBPF
//!   `callx`), so every error kind and field, the instruction count and the memory are the
//!   interpreter's by construction. A bail-out is a 5-byte `call` of one shared routine
//!   (behind a short jump when conditional); its return address, looked up in the
//!   program's sorted site table ([`Site`]) when the run ends, names the pc and the meter
//!   refund. No stub per pc exists, and the fast path pays nothing.
//! - **Meter**: charged per straight-line run (`Code::jit_run_length`: the interpreter's
//!   runs, also ended before every jump or call target, so a jump lands at a run's start,
//!   and inside tight loops continued past forward conditional jumps, whose taken side gives
//!   the rest of the run back in a stub: `add rdx, rest; jmp target`).
//!   The first instruction of a run subtracts the run's length `n` from the meter `left`
//!   (= `base - due`; `sub rdx, n`: `Env::left` lives in rdx while generated code runs,
//!   and is stored back whenever Rust may look: at the exit, around calls into Rust, and
//!   around divisions and miss routines, which need rdx); unless the budget covers every
//!   check inside the run (`left > n`), it bails out there (the refund restores `left`), so the interpreter runs the last few
//!   instructions and stops at the exact pc. A `callx` into the middle of a run (any slot
//!   may be its target) goes through an entry stub that charges the rest of the run. At any
//!   instruction the charged
//!   instructions not yet run are exactly its run length, which a bail-out there refunds.
//!   A syscall ends its run; when it leaves no budget the shim ends the run with
//!   `ExceededMaxInstructions` at pc + 1. With metering off no meter code is emitted.
//!   Since nothing runs uncharged, `instruction_meter_checkpoint_distance` (the reference's
//!   bound on how far its JIT may overrun) has nothing left to bound and changes nothing.
//! - **Memory**: with the aligned mapping, translation is inline: slot = vaddr >> 32, then
//!   `vaddr + size <= limit[slot]` and host = `vaddr + delta[slot]`, from a struct-of-arrays
//!   table in the `Env` (precomputed per run, and after every syscall). A miss calls one
//!   shared routine per access kind and size, which tries the gapped stack (fixed frames
//!   with gaps: the table cannot hold it), the table again, the generic gapped path, and
//!   otherwise asks the mapping through an `extern "sysv64"` shim; a fault bails out at the
//!   access's site. The unaligned mapping always calls the routine.
//! - **Stack and input pointers in other registers** ([`hints`]): a scan of each function
//!   with a loop guesses which registers hold stack addresses (derived from r10) and, in
//!   the entry function, input addresses (derived from r1). With fixed frames and gaps, an
//!   access through a stack pointer gets the current-frame check inline (`vaddr - r10 + F
//!   <= F - size`, then `host = frame_top + vaddr - r10`); an access through an input
//!   pointer gets one compare against the input region's row (`vaddr - input_vm <
//!   input_limit[kind][size]`, then `host = input_host + that`). On a hit both fall
//!   through to the access; a miss jumps to a stub out of line that calls the miss routine
//!   and jumps back, so a wrong guess only costs time.
//! - **Pairs of accesses** ([`masm::Pair`]): inside tight loops (`Code::in_loop`: a
//!   backward jump at most 64 slots after the head), two loads or stores of one run through
//!   the same base register (not written in between), with only rax-preserving ops and
//!   forward branches between, whose bytes span 1, 2, 4 or 8 bytes, share one check
//!   (elsewhere only a load and a store of the same bytes right after it, which is cheaper
//!   to look for): the first
//!   checks the span with the stricter permission and leaves its host address in rax, and
//!   the second is a single `mov` (a read-modify-write `ldx; op; stx`, or neighbours such
//!   as `ldxw [r9 - 4]; ...; stxw [r9]`). When the span's check misses, a pair of the same
//!   bytes takes the access's own routine; a pair of different bytes takes the span
//!   routine, which also refuses a span reaching into a gap (a single access may run from
//!   a frame into the gap after it, a span standing in for two may not). A refusal bails
//!   out at the first access, and the interpreter runs both. Nothing enters a pair after
//!   its first access (runs end before jump targets; a pair holds no callable slot).
//! - **The current frame** ([`StackLayout`]): with fixed frames and gaps, r10 is always the
//!   top of frame `i` (stack start + F + 2F·i, i below the maximum depth), so `[r10 + off]`
//!   with `-F <= off <= -size` lies inside the current frame whatever `i` is: it is
//!   translated with no check and no branch: `host = Env::frame_top + off`, where
//!   `frame_top = r10 / 2 + Env::frame_host` is recomputed from r10 at entry, at every
//!   `call` and `exit` and after every syscall (`mov rax, [r15 + FRAME_TOP]`, then the
//!   access at `[rax + off]`). Every run first checks that the stack is the one this relies
//!   on (and r10 at frame 0), and the syscall shim checks again after each syscall (which
//!   may replace regions); otherwise the interpreter runs the program (from the entry, or
//!   after the syscall).
//! - **Loop heads** (`Code::is_loop_header`: heads of tight loops) start at a
//!   64-byte boundary, so a loop's speed does not depend on the code before it.
//! - **Versioned loops** ([`hoist`], [`version`]): a tight loop without calls, syscalls,
//!   `exit` or atomics cannot change the mapping, so for accesses through a register the
//!   body never writes plus a bounded index (`counts[data[i]]++`: a byte loaded, shifted,
//!   added to the invariant `counts`) the whole span they can touch is checked once, by a
//!   guard where execution falls into the loop's head; if it lies inside one row of the
//!   region table, a second copy of the loop runs (emitted after the body) in which those
//!   accesses are `[delta + base + off]` with no check, otherwise the ordinary loop runs.
//!   Jumps from elsewhere, `callx` and entry stubs only ever enter the ordinary copy; the
//!   second is reached only through its guard (jumps inside it stay inside it).
//! - **Calls** use real x86 `call`/`ret` (the return-stack buffer stays balanced) and record
//!   r6-r9, r10 and the return pc in `Env::frames` exactly like the interpreter's frames, so
//!   a bail-out at any depth hands over a faithful call stack. Call depths above
//!   [`lower::MAX_INLINE_CALL_DEPTH`] always bail out (the host stack is bounded).
//! - **Syscalls** call a shared routine and through it a shim that charges the meter, calls
//!   the host function with `(&mut C, &mut MemoryMapping, [r1..r5])`, stores r0, handles
//!   the unwind key and refreshes the region table (a syscall may replace regions). A
//!   panic in the host function is caught in the shim (unwinding cannot cross generated
//!   code), the run stops, and the panic resumes once generated code has returned, so the
//!   host sees it exactly as it unwinds out of the interpreter.
//! - **Tracing**: with `enable_instruction_tracing` the run is delegated to the interpreter
//!   from its first instruction (the same state a bail-out at the entry hands over), so the
//!   trace is the interpreter's.
//! - **Hardening** (machine code only, never behaviour): about one random 1-byte `nop` per
//!   `noop_instruction_rate` BPF instructions, and with `sanitize_user_provided_values`
//!   constant blinding of program-supplied immediates that are not small (mov/lddw
//!   constants, ALU, multiply and divide immediates, branch immediates): the value is
//!   emitted as `value - key` plus an add of a fresh random key. Memory offsets and the value
//!   of `st` are emitted in the clear (the reference does not blind the latter either). The
//!   generator is seeded per compile; `runtime_environment_key` only feeds that seed (the
//!   `Env` is not displaced).
//! - **Compile speed**: the sequences that recur (the inline memory check, the meter charge,
//!   the frame push of `call`, `exit`) are encoded once per compile and replayed with
//!   patched fields ([`template`]), byte for byte the same code. Shared routines are emitted
//!   when first needed, after the next instruction that cannot fall through, so nearly every
//!   call of one has a known target. The code buffer and the fixup and stub tables are
//!   reused across compiles on a thread, and the tables are sized from the slot count up
//!   front; the tables a program keeps (slot offsets, bail-out sites, the `callx` table)
//!   go back to a small shared stock when it is dropped and fill the next compile (a fresh
//!   table of a large program faults its pages in anew: 5% of a compile of spl_token).
//!   The `callx` table lives beside the code, not in it (generated code reads it through
//!   `Env::callx_table`), so code memory, copied once and re-protected per compile, holds
//!   instructions only. The loop analysis of [`hoist`] first looks at the raw slots
//!   through the hints scan's effects table, which rejects most loops cheaply.
//!
//! **Architecture invariant:** generated code never decides an error itself (apart from
//! the shims, which run the interpreter's own rules): anything unusual is a bail-out.
//!
//! `unsafe` lives only in [`entry`] (calling generated code and the shims it calls back).

//!
//! # Builds without the JIT
//!
//! Everything above exists only when `cfg(bpfvm_jit)` holds (the `jit` feature on an x86-64
//! target; see the crate's `build.rs`). Elsewhere this module keeps its public surface
//! ([`JitEngine`], [`JitProgram`], [`JitError`], [`VersionedLoop`]) but compiling gives
//! [`JitError::UnsupportedTarget`] or [`JitError::FeatureDisabled`], no [`JitProgram`] can
//! exist, and the x86 encoder crate is not a dependency.

mod error;

pub use error::JitError;

#[cfg(bpfvm_jit)]
mod calls;
#[cfg(bpfvm_jit)]
mod compile;
#[cfg(bpfvm_jit)]
mod engine;
#[cfg(bpfvm_jit)]
mod entry;
#[cfg(bpfvm_jit)]
pub(crate) mod env;
#[cfg(bpfvm_jit)]
mod hints;
#[cfg(bpfvm_jit)]
mod hoist;
#[cfg(bpfvm_jit)]
mod lower;
#[cfg(bpfvm_jit)]
pub(crate) mod masm;
#[cfg(bpfvm_jit)]
pub(crate) mod run;
#[cfg(bpfvm_jit)]
mod shapes;
#[cfg(bpfvm_jit)]
mod template;
#[cfg(all(test, bpfvm_jit))]
mod tests;
#[cfg(bpfvm_jit)]
mod version;
#[cfg(bpfvm_jit)]
mod view;

#[cfg(bpfvm_jit)]
pub use compile::JitProgram;
#[cfg(bpfvm_jit)]
pub(crate) use compile::{compile, emit_slot, falls_through, LoopHead, Site, LOOP_ALIGNMENT};
#[cfg(bpfvm_jit)]
pub use engine::JitEngine;

#[cfg(not(bpfvm_jit))]
mod unavailable;
#[cfg(not(bpfvm_jit))]
pub(crate) use unavailable::compile;
#[cfg(not(bpfvm_jit))]
pub use unavailable::{JitEngine, JitProgram};

/// Whether this build has the JIT (`Backend::Jit` can run).
pub const AVAILABLE: bool = cfg!(bpfvm_jit);

/// A loop compiled twice (see the `hoist` module): its slots, and where the code of its
/// second copy (the one whose hoisted accesses have no check) lies in the program's code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedLoop {
    /// The loop's head.
    pub head: usize,
    /// The last slot of the copied body (a jump back to the head).
    pub latch: usize,
    /// The second copy's code (offsets into [`JitProgram::code`]).
    pub code: core::ops::Range<usize>,
}
