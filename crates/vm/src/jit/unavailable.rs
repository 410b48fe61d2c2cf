//! The JIT's public surface in a build without the JIT (`cfg(bpfvm_jit)` unset: the `jit`
//! feature is off, or the target is not x86-64). Compiling gives the error that says why; a
//! [`JitProgram`] cannot exist (its only field is of an empty type), so its methods are
//! never called and need no body beyond the empty `match`.

use super::error::unavailable;
use super::{JitError, VersionedLoop};
use crate::code::Code;
use crate::config::Config;
use crate::context::ContextObject;

/// The JIT engine of a build without the JIT: it holds nothing, and compiling with it gives
/// the error that says why there is no JIT.
#[derive(Clone, Debug, Default)]
pub struct JitEngine;

impl JitEngine {
    /// An engine (it holds nothing in this build).
    pub fn new() -> JitEngine {
        JitEngine
    }

    /// An engine (the seed has nothing to seed in this build).
    pub fn with_seed(_seed: u64) -> JitEngine {
        JitEngine
    }

    /// How many compiles this engine started: none can start in this build.
    pub fn compiles(&self) -> u64 {
        0
    }
}

/// A type with no values: a [`JitProgram`] is never built in this build.
#[derive(Debug)]
enum Never {}

/// A compiled program; in this build there is none (see the module doc).
#[derive(Debug)]
pub struct JitProgram {
    never: Never,
}

impl JitProgram {
    /// The machine code (for disassembly).
    pub fn code(&self) -> &[u8] {
        match self.never {}
    }

    /// Per slot: the offset in [`JitProgram::code`] where its machine code starts.
    pub fn pc_offsets(&self) -> &[Option<usize>] {
        match self.never {}
    }

    /// The machine code of the instruction at slot `pc`.
    pub fn slot_code(&self, _pc: usize) -> Option<&[u8]> {
        match self.never {}
    }

    /// The loops compiled a second time with their hoisted checks.
    pub fn versioned_loops(&self) -> &[VersionedLoop] {
        match self.never {}
    }

    /// Anything at all: there is no program to ask.
    pub(crate) fn absurd<T>(&self) -> T {
        match self.never {}
    }
}

/// What the JIT keeps for one verified program; in this build never any machine code.
#[derive(Debug, Default)]
pub(crate) struct JitArtifacts {
    program: Option<JitProgram>,
}

impl JitArtifacts {
    /// The machine code of the last compile: none in this build.
    pub fn program(&self) -> Option<&JitProgram> {
        self.program.as_ref()
    }

    /// Compiling in a build without the JIT: always the error that says why.
    #[allow(
        clippy::extra_unused_type_parameters,
        reason = "the signature of the JIT's own `compile`, which instantiates its shims per context"
    )]
    pub fn compile<C: ContextObject>(
        &mut self,
        _engine: &JitEngine,
        _code: &Code,
        _config: &Config,
    ) -> Result<(), JitError> {
        Err(unavailable())
    }
}
