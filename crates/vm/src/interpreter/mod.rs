//! The interpreter backend: the loop that runs a program's backend-neutral form
//! ([`Code`](crate::code::Code)), instruction by instruction.
//!
//! The executor (`exec`) gives every instruction its meaning in one flat `match` over a
//! `[u64; 16]` register file indexed by guest registers, with no allocation per step. The
//! fast loop runs the interpreter's stream of `Inst`s (every op of the neutral form, plus
//! common adjacent pairs fused into one instruction, `code::fuse`, so that a pair costs one
//! dispatch) as threaded code (`thread`): a handler per kind of `Inst`, each ending with its
//! own jump to the next one's. The arithmetic lives in `alu`, compares in `branch`, calls in
//! `calls`, loads and stores in `access`; the meter's rules and the syscall path, which the
//! JIT follows too, in `crate::runtime`. The fast loop meters a straight-line run at a time (the meter's essay
//! explains why that is exact); tracing and the debugger's [`StepHook`] take exact single
//! steps over the plain ops instead. Everything the interpreter needs beyond the ops (the
//! fused stream, the meter's run lengths, the syscall table) is part of the neutral form,
//! built lazily the first time the interpreter runs, which is also what the JIT hands a
//! bailed-out run back over.
//!
//! **Architecture invariant:** the interpreter is the executable specification of both
//! dialects (spec README §2); the JIT is checked against it, never the other way round.

mod access;
mod alu;
mod atomic;
mod branch;
pub(crate) mod calls;
pub(crate) mod exec;
mod hook;
#[cfg(test)]
mod hook_tests;
mod loops;
mod thread;

pub use hook::{StepControl, StepHook, StepState};
