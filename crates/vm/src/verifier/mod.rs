//! The verifier: the only way to turn an [`Executable`] into a [`VerifiedProgram`].
//!
//! It walks the text once, decoding each instruction with the program's dialect, and checks
//! every rule of reference §7 for sBPF in the reference's order: first the opcode-specific
//! rule, then the register fields. eBPF gets its own rules (RFC 9669): division by an
//! immediate zero and shifts by any immediate are defined there, so they pass; calls must be
//! helper calls (src 0) or local calls (src 1) to a valid target.
//!
//! **Architecture invariant:** a `VerifiedProgram` can only be built here. Backends accept
//! nothing else, so every instruction they meet decodes, every jump lands on an instruction,
//! and every register field is in range.

mod rules;

use crate::config::Config;
use crate::context::ContextObject;
use crate::error::VerifyError;
use crate::interpreter::Code;
use crate::jit::{JitError, JitProgram};
use crate::program::Executable;
use bpfvm_isa::{Dialect, Insn, SLOT_SIZE};
use std::sync::OnceLock;

/// A program the verifier accepted, with its instructions decoded once.
///
/// The interpreter's pre-decoded form is built on first use (by the first interpreter run, the
/// JIT compiler, or [`VerifiedProgram::interpreter_code`]), so loading and verifying cost
/// only what they must, and a host that only uses the JIT or only inspects programs never
/// pays for it.
pub struct VerifiedProgram<C> {
    executable: Executable<C>,
    decoded: Vec<Option<Insn>>,
    interpreter_code: OnceLock<Code>,
    jit: Option<JitProgram>,
}

impl<C> VerifiedProgram<C> {
    /// The executable that was verified.
    pub fn executable(&self) -> &Executable<C> {
        &self.executable
    }

    /// The configuration it was loaded with.
    pub fn config(&self) -> &Config {
        self.executable.config()
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.executable.dialect()
    }

    /// One entry per slot: the instruction starting there, or `None` for the second slot of
    /// an `lddw`.
    pub fn decoded(&self) -> &[Option<Insn>] {
        &self.decoded
    }

    /// The interpreter's pre-decoded form, built on the first call.
    pub fn interpreter_code(&self) -> &Code {
        self.interpreter_code
            .get_or_init(|| Code::compile(&self.executable, &self.decoded))
    }

    /// The JIT's machine code, once [`VerifiedProgram::jit_compile`] has run.
    pub fn jit_program(&self) -> Option<&JitProgram> {
        self.jit.as_ref()
    }
}

impl<C: ContextObject> VerifiedProgram<C> {
    /// Compiles the program to x86-64 machine code for [`Backend::Jit`](crate::Backend::Jit).
    pub fn jit_compile(&mut self) -> Result<(), JitError> {
        let program = crate::jit::compile::<C>(self.interpreter_code(), self.executable.config())?;
        self.jit = Some(program);
        Ok(())
    }
}

/// Checks a program and, when it passes, decodes it for the backends.
pub fn verify<C>(executable: Executable<C>) -> Result<VerifiedProgram<C>, VerifyError> {
    let decoded = check(executable.text(), executable.dialect(), executable.config())?;
    Ok(VerifiedProgram {
        executable,
        decoded,
        interpreter_code: OnceLock::new(),
        jit: None,
    })
}

/// Runs every rule over `text` and returns the decoded instructions, one entry per slot.
pub fn check(
    text: &[u8],
    dialect: Dialect,
    config: &Config,
) -> Result<Vec<Option<Insn>>, VerifyError> {
    if text.len() % SLOT_SIZE != 0 {
        return Err(VerifyError::ProgramLengthNotMultiple);
    }
    if text.is_empty() {
        return Err(VerifyError::NoProgram);
    }
    let text = rules::Text::new(text);
    let mut decoded = vec![None; text.len()];
    let mut pc = 0;
    while let Some(entry) = decoded.get_mut(pc) {
        let fast = match dialect {
            Dialect::Sbpf => rules::sbpf_fast(text, pc),
            Dialect::Ebpf => None,
        };
        let insn = match fast {
            Some(insn) => insn,
            None => rules::check_instruction(text, pc, dialect, config)?,
        };
        *entry = Some(insn);
        pc += insn.slot_count();
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests;
