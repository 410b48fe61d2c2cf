//! The verifier: the only way to turn an [`Executable`] into a [`VerifiedProgram`].
//!
//! It walks the text once and checks every rule of reference §7 for sBPF in the reference's
//! order: first the opcode-specific rule, then the register fields. eBPF gets its own rules
//! (RFC 9669): division by an immediate zero and shifts by any immediate are defined there, so
//! they pass; calls must be helper calls (src 0) or local calls (src 1) to a valid target.
//!
//! sBPF slots first meet the fast path ([`fast`]), which passes the common cases from the raw
//! fields and a per-opcode rule; whatever it cannot pass goes to the exact rules ([`rules`]),
//! which decode the instruction and name the reference's error. eBPF uses the exact rules only.
//! Verifying builds nothing per slot: the decoded form the backends start from is built on
//! first use ([`VerifiedProgram::decoded`]).
//!
//! **Architecture invariant:** a `VerifiedProgram` can only be built here. Backends accept
//! nothing else, so every instruction they meet decodes, every jump lands on an instruction,
//! and every register field is in range.

mod fast;
mod rules;

use crate::config::Config;
use crate::context::ContextObject;
use crate::error::VerifyError;
use crate::interpreter::Code;
use crate::jit::{JitEngine, JitError, JitProgram};
use crate::program::Executable;
use bpfvm_isa::{decode_slot, Dialect, Insn, Slot, SLOT_SIZE};
use std::sync::OnceLock;

/// A program the verifier accepted.
///
/// Its derived forms are built on first use: the decoded instructions by the first call of
/// [`VerifiedProgram::decoded`], and the interpreter's pre-decoded form by the first
/// interpreter run, the JIT compiler, or [`VerifiedProgram::interpreter_code`]. Loading and
/// verifying cost only what they must, and a host that only inspects programs never pays for
/// the interpreter's form.
pub struct VerifiedProgram<C> {
    executable: Executable<C>,
    decoded: OnceLock<Vec<Option<Insn>>>,
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
    /// an `lddw`. Decoded on the first call.
    pub fn decoded(&self) -> &[Option<Insn>] {
        self.decoded
            .get_or_init(|| decode_verified(self.executable.text(), self.dialect()))
    }

    /// The interpreter's pre-decoded form, built on the first call.
    pub fn interpreter_code(&self) -> &Code {
        self.interpreter_code
            .get_or_init(|| Code::compile(&self.executable, self.decoded()))
    }

    /// The JIT's machine code, once [`VerifiedProgram::jit_compile`] has run.
    pub fn jit_program(&self) -> Option<&JitProgram> {
        self.jit.as_ref()
    }
}

impl<C: ContextObject> VerifiedProgram<C> {
    /// Compiles the program to x86-64 machine code for [`Backend::Jit`](crate::Backend::Jit)
    /// with a fresh [`JitEngine`] (for one compile: a host that compiles many programs keeps
    /// an engine and uses [`VerifiedProgram::jit_compile_with`], whose buffers and code
    /// memory then serve every compile).
    pub fn jit_compile(&mut self) -> Result<(), JitError> {
        self.jit_compile_with(&JitEngine::new())
    }

    /// Compiles the program for [`Backend::Jit`](crate::Backend::Jit) with `engine`'s
    /// buffers, recycled tables and code memory. The machine code replaces any compiled
    /// before; it does not borrow the engine.
    pub fn jit_compile_with(&mut self, engine: &JitEngine) -> Result<(), JitError> {
        let executable = &self.executable;
        let program = crate::jit::compile::<C>(
            engine,
            self.interpreter_code(),
            executable.text(),
            executable.dialect(),
            executable.config(),
        )?;
        self.jit = Some(program);
        Ok(())
    }
}

/// Checks a program; the result is the only way to run it.
pub fn verify<C>(executable: Executable<C>) -> Result<VerifiedProgram<C>, VerifyError> {
    check_text(executable.text(), executable.dialect(), executable.config())?;
    Ok(VerifiedProgram {
        executable,
        decoded: OnceLock::new(),
        interpreter_code: OnceLock::new(),
        jit: None,
    })
}

/// Runs every rule over `text` and returns the decoded instructions, one entry per slot (see
/// [`VerifiedProgram::decoded`]).
pub fn check(
    text: &[u8],
    dialect: Dialect,
    config: &Config,
) -> Result<Vec<Option<Insn>>, VerifyError> {
    check_text(text, dialect, config)?;
    Ok(decode_verified(text, dialect))
}

/// Runs every rule over `text`, building nothing.
pub fn check_text(text: &[u8], dialect: Dialect, config: &Config) -> Result<(), VerifyError> {
    if text.len() % SLOT_SIZE != 0 {
        return Err(VerifyError::ProgramLengthNotMultiple);
    }
    if text.is_empty() {
        return Err(VerifyError::NoProgram);
    }
    let text = rules::Text::new(text);
    match dialect {
        Dialect::Sbpf => check_sbpf(text, config),
        Dialect::Ebpf => check_ebpf(text, config),
    }
}

/// The sBPF walk: every slot is judged by the fast path, and only the slots it cannot pass
/// go to the exact rules.
///
/// The walk visits every slot in order and masks the verdict of an lddw's second slot, rather
/// than stepping by each instruction's length: the address of the next slot then never waits
/// for the verdict on this one, and the processor overlaps the slots' loads.
fn check_sbpf(text: rules::Text<'_>, config: &Config) -> Result<(), VerifyError> {
    // Whether the slot is the second half of an lddw that passed.
    let mut second_half = false;
    for pc in 0..text.len() {
        let verdict = fast::sbpf_verdict(text, pc);
        if !(second_half | verdict.passes) {
            let insn = rules::check_instruction(text, pc, Dialect::Sbpf, config)?;
            second_half = insn.slot_count() == 2;
            continue;
        }
        second_half = !second_half & verdict.lddw;
    }
    Ok(())
}

/// The eBPF walk: the exact rules, instruction by instruction.
fn check_ebpf(text: rules::Text<'_>, config: &Config) -> Result<(), VerifyError> {
    let mut pc = 0;
    while pc < text.len() {
        pc += rules::check_instruction(text, pc, Dialect::Ebpf, config)?.slot_count();
    }
    Ok(())
}

/// Decodes text the verifier accepted, one entry per slot. Accepted text always decodes, so
/// the `None` a failed decode would leave cannot occur; were it to, it is the entry the
/// backends already refuse to run (as they refuse a jump into an lddw's second slot).
fn decode_verified(text: &[u8], dialect: Dialect) -> Vec<Option<Insn>> {
    let mut decoded = vec![None; text.len() / SLOT_SIZE];
    let mut pc = 0;
    while let (Some(entry), Some(slot)) = (decoded.get_mut(pc), Slot::at(text, pc)) {
        let insn = decode_slot(slot, || Slot::at(text, pc.wrapping_add(1)), dialect).ok();
        *entry = insn;
        pc += insn.map_or(1, |insn| insn.slot_count());
    }
    decoded
}

#[cfg(test)]
mod tests;
