//! The JIT's public surface, for the target this build compiles for ([`Native`]): the
//! engine that owns compile state, the compiled program, and the crate-internal entry points
//! the verified program and the VM call.

use super::compile::compile as compile_for;
use super::compiled::Compiled;
use super::engine::Engine;
use super::kept::Kept;
use super::run::{self, RunParts};
use super::view::{Analyses, CodeView};
use super::x64::X64;
use super::{JitError, VersionedLoop};
use crate::code::Code;
use crate::config::Config;
use crate::context::ContextObject;
use crate::vm::Run;
use core::borrow::Borrow;
use std::sync::OnceLock;

/// The backend this build compiles for: the one place the JIT names a target. Every module
/// of the JIT outside `x64` and this one is target-neutral and reaches the machine only
/// through the `masm::MacroAssembler` and `masm::Backend` traits, instantiated here.
type Native = X64;

/// Owns what JIT compiles share: the pool code memory comes from, the scratch buffers of
/// finished compiles, the tables of dropped programs, and the compile counter that seeds
/// the hardening generator (see the `engine` module). No state is process-wide: the
/// machine code a program gets depends only on its engine's history, so a fresh engine
/// compiles a program to the same bytes. Clones share one engine; compiles on several
/// threads may use it at once. `JitEngine::default()` is a fresh one.
#[derive(Clone, Debug, Default)]
pub struct JitEngine {
    engine: Engine<Native>,
}

impl JitEngine {
    /// A fresh engine: no code memory, no buffers, a compile counter at 0.
    pub fn new() -> JitEngine {
        JitEngine::default()
    }

    /// A fresh engine whose hardening generator (the random `nop`s and blinding keys of
    /// `noop_instruction_rate` and `sanitize_user_provided_values`) also depends on `seed`:
    /// a host that wants machine code an attacker cannot predict passes entropy here. The
    /// generator only ever changes machine code, never behaviour.
    pub fn with_seed(seed: u64) -> JitEngine {
        JitEngine {
            engine: Engine::with_seed(seed),
        }
    }

    /// How many compiles this engine (and its clones) started.
    pub fn compiles(&self) -> u64 {
        self.engine.compiles()
    }
}

/// A compiled program: read-execute machine code, where each slot's code starts, and the
/// tables generated code and the runtime read. It does not borrow its engine, and one
/// program is shared by many threads (each with its own VM).
#[derive(Debug)]
pub struct JitProgram {
    compiled: Compiled<Native>,
}

impl JitProgram {
    /// The machine code (for disassembly).
    pub fn code(&self) -> &[u8] {
        self.compiled.code()
    }

    /// Per slot: the offset in [`JitProgram::code`] where its machine code starts (`None`
    /// for the second slot of an `lddw`).
    pub fn pc_offsets(&self) -> &[Option<usize>] {
        self.compiled.pc_offsets()
    }

    /// The machine code of the instruction at slot `pc` (its inline part, and any shared
    /// routine emitted right after it when it cannot fall through), for `bpfvm disasm --jit`.
    /// `None` for the second slot of an `lddw` or a pc out of range.
    pub fn slot_code(&self, pc: usize) -> Option<&[u8]> {
        self.compiled.slot_code(pc)
    }

    /// The loops compiled a second time with their hoisted checks (see the `hoist`
    /// module), in slot order (`bpfvm disasm --jit` lists their code after the body's).
    pub fn versioned_loops(&self) -> &[VersionedLoop] {
        self.compiled.versioned_loops()
    }

    /// The slots whose machine code is nothing but a hand-over to the interpreter, which
    /// runs them whatever their operands (instructions that always fail, eBPF's `callx`,
    /// calls when calls cannot run inline, divisions by an immediate 0, ...), in order.
    /// Every other instruction runs natively, bailing out only on the edge cases its
    /// operands' values reach at run time.
    pub fn interpreted_slots(&self) -> &[usize] {
        self.compiled.interpreted_slots()
    }

    /// Runs the program (see `run::execute`) and returns the result and the count. Always
    /// inlined, as the run path above and below it (`Runner::run_compiled`,
    /// `run::execute`): called out of line, the parts and the result go through memory
    /// (solana-sbpf's API bench: about 40 host instructions per call on every column).
    #[inline(always)]
    pub(crate) fn execute<C: ContextObject, R: Borrow<[u64; 11]> + ?Sized>(
        &self,
        parts: RunParts<'_, '_, C, R>,
    ) -> Run {
        run::execute::<C, Native, R>(&self.compiled, parts)
    }
}

/// What the JIT keeps for one verified program: its analyses of the program and what the
/// first compile's pass found (the pairs of accesses and loop plans; computed on the first
/// compile, reused by later ones), and the machine code of the last compile.
#[derive(Debug, Default)]
pub(crate) struct JitArtifacts {
    analyses: OnceLock<Analyses>,
    kept: Kept,
    program: Option<JitProgram>,
}

impl JitArtifacts {
    /// The machine code of the last compile, if there was one.
    pub fn program(&self) -> Option<&JitProgram> {
        self.program.as_ref()
    }

    /// What the first compile's pass found (for tests).
    #[cfg(test)]
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// Compiles `code` (the neutral form of a program loaded with `config`) with `engine`,
    /// the syscall shim for context type `C`; the machine code replaces any compiled before
    /// (a failed compile keeps it).
    pub fn compile<C: ContextObject>(
        &mut self,
        engine: &JitEngine,
        code: &Code,
        config: &Config,
    ) -> Result<(), JitError> {
        let analyses = self.analyses.get_or_init(|| Analyses::of(code));
        let view = CodeView::new(code, analyses);
        let compiled = compile_for::<C, Native>(&engine.engine, &view, &self.kept, config)?;
        self.program = Some(JitProgram { compiled });
        Ok(())
    }
}
