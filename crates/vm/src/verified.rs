//! A program the verifier accepted: the handle callers hold between loading and running.
//!
//! [`verify`] is the only way to make a [`VerifiedProgram`]: it runs the verifier's rules
//! ([`crate::verifier`]) and keeps the executable. The program's derived forms are built on
//! first use: the backend-neutral form both backends run ([`Code`]) by the first run, the
//! first JIT compile or [`VerifiedProgram::code`], straight from the text (each slot decoded
//! and lowered at once); the decoded instructions, which only tools read (the disassembler,
//! the debugger, the CLI), by the first call of [`VerifiedProgram::decoded`]. Neither backend
//! needs them. Loading and verifying cost only what they must, and
//! a host that only inspects programs never pays for the rest. What every VM over the program
//! needs is made once here too, on the first VM: the memory [`Layout`], the run settings and the host functions
//! in the order of the program's syscall keys ([`VerifiedProgram::syscall_table`]), so that
//! making a VM looks nothing up.
//!
//! The JIT's artifacts, once a caller asked for them ([`VerifiedProgram::jit_compile`]), are kept
//! here too, beside the form they were made from: the JIT's analyses of the program (computed on
//! its first compile, reused by later ones) and its machine code. The JIT builds them (the verifier
//! and this module only hold them), and keeping them with their program is what makes running code
//! compiled for another program, configuration or context type unrepresentable (the JIT's syscall
//! shim is instantiated for the program's context type).
//!
//! **Architecture invariant:** only [`verify`] builds a `VerifiedProgram`, and the backends
//! accept nothing else, so every instruction they meet decodes, every jump lands on an
//! instruction, and every register an op names is r0 to r10.

use crate::code::Code;
use crate::config::Config;
use crate::context::ContextObject;
use crate::error::VerifyError;
use crate::jit::{JitArtifacts, JitEngine, JitError, JitProgram};
use crate::memory::Layout;
use crate::program::{Executable, SyscallFn};
use crate::runtime::{Metering, Settings};
use crate::verifier;
use bpfvm_isa::{Dialect, Insn};
use std::sync::OnceLock;

/// A program the verifier accepted (see the module doc).
pub struct VerifiedProgram<C> {
    executable: Executable<C>,
    decoded: OnceLock<Vec<Option<Insn>>>,
    code: OnceLock<Code>,
    /// What every run reads: the run settings and the host functions, made together once.
    runs: OnceLock<RunInputs<C>>,
    layout: OnceLock<Layout>,
    jit: JitArtifacts,
}

/// Checks a program with every rule of the verifier; the result is the only way to run it.
pub fn verify<C>(executable: Executable<C>) -> Result<VerifiedProgram<C>, VerifyError> {
    verify_keeping(executable).map_err(|refusal| refusal.error)
}

/// What every run of a program reads, made once (one check of one lock per run).
struct RunInputs<C> {
    /// How runs behave.
    settings: Settings,
    /// The host functions, parallel to the neutral form's syscall keys.
    syscalls: Vec<Option<SyscallFn<C>>>,
}

/// A program the verifier refused, with its executable (see [`verify_keeping`]).
pub struct Refusal<C> {
    /// Why.
    pub error: VerifyError,
    /// The executable, as it was given.
    pub executable: Executable<C>,
}

/// [`verify`], handing the executable back with the error (for a host that still answers
/// questions about a refused program, as solana-sbpf 0.26's executables do).
pub fn verify_keeping<C>(executable: Executable<C>) -> Result<VerifiedProgram<C>, Box<Refusal<C>>> {
    if let Err(error) =
        verifier::check_text(executable.text(), executable.dialect(), executable.config())
    {
        return Err(Box::new(Refusal { error, executable }));
    }
    Ok(VerifiedProgram {
        executable,
        decoded: OnceLock::new(),
        code: OnceLock::new(),
        runs: OnceLock::new(),
        layout: OnceLock::new(),
        jit: JitArtifacts::default(),
    })
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
            .get_or_init(|| verifier::decode_verified(self.executable.text(), self.dialect()))
    }

    /// The backend-neutral form both backends run, built on the first call.
    pub fn code(&self) -> &Code {
        self.code.get_or_init(|| Code::new(&self.executable))
    }

    /// The memory layout the program runs in (its executable's, computed once).
    pub fn layout(&self) -> Layout {
        *self.layout.get_or_init(|| self.executable.layout())
    }

    /// The host functions the program's `call`s reach, in the order of the neutral form's
    /// syscall keys ([`Code::syscall_keys`]; `None` where the loader's registry has none),
    /// resolved on the first call.
    pub fn syscall_table(&self) -> &[Option<SyscallFn<C>>] {
        self.run_inputs().1
    }

    /// How its runs behave (frames, call depth, `callx` rule, tracing) and the host functions
    /// (see [`VerifiedProgram::syscall_table`]), made together on the first call.
    #[inline]
    pub(crate) fn run_inputs(&self) -> (&Settings, &[Option<SyscallFn<C>>]) {
        let inputs = self.runs.get_or_init(|| {
            let registry = &self.executable.loader().syscalls;
            RunInputs {
                settings: Settings::of(self),
                syscalls: self
                    .code()
                    .syscall_keys()
                    .iter()
                    .map(|&key| registry.get(key).map(|syscall| syscall.function))
                    .collect(),
            }
        });
        (&inputs.settings, &inputs.syscalls)
    }

    /// What its runs read, resolved now: the neutral form, the run settings, the host
    /// functions, the machine code and the metering (for [`crate::run_prepared`]; a
    /// [`crate::Vm`] makes one when it is made). Resolving builds the neutral form and the
    /// run inputs on the program's first call.
    #[inline]
    pub fn prepared(&self) -> crate::vm::Prepared<'_, C> {
        crate::vm::Prepared::of(self)
    }

    /// Whether runs of this program count instructions against the context's budget.
    pub(crate) fn metering(&self) -> Metering {
        match self.config().enable_instruction_meter {
            true => Metering::On,
            false => Metering::Off,
        }
    }

    /// The JIT's machine code, once [`VerifiedProgram::jit_compile`] has run.
    pub fn jit_program(&self) -> Option<&JitProgram> {
        self.jit.program()
    }

    /// What the JIT keeps for this program (for tests).
    #[cfg(all(test, bpfvm_jit))]
    pub(crate) fn jit_artifacts(&self) -> &JitArtifacts {
        &self.jit
    }
}

impl<C: ContextObject> VerifiedProgram<C> {
    /// Compiles the program to x86-64 machine code for [`Backend::Jit`](crate::Backend::Jit)
    /// with a fresh [`JitEngine`] (for one compile: a host that compiles many programs keeps
    /// an engine and uses [`VerifiedProgram::jit_compile_with`], whose buffers and code
    /// memory then serve every compile). In a build without the JIT this is the error that
    /// says why ([`Backend::AVAILABLE`](crate::Backend::AVAILABLE)).
    pub fn jit_compile(&mut self) -> Result<(), JitError> {
        self.jit_compile_with(&JitEngine::new())
    }

    /// Compiles the program for [`Backend::Jit`](crate::Backend::Jit) with `engine`'s
    /// buffers, recycled tables and code memory. The machine code replaces any compiled
    /// before; it does not borrow the engine.
    pub fn jit_compile_with(&mut self, engine: &JitEngine) -> Result<(), JitError> {
        self.code();
        let VerifiedProgram {
            executable,
            code,
            jit,
            ..
        } = self;
        match code.get() {
            Some(code) => jit.compile::<C>(engine, code, executable.config()),
            None => Err(JitError::Internal {
                message: "the program's neutral form was not built".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{FunctionRegistry, Loader};
    use bpfvm_isa::{encode, Dialect::Sbpf, Reg};
    use std::sync::Arc;

    /// `verify` builds nothing per slot; the decoded form, built on first use, is the one
    /// `verifier::check` returns, and stays the same on later calls; so is the neutral form.
    #[test]
    fn verified_program_decodes_on_first_use() {
        let program = [
            Insn::LoadImm64 {
                dst: Reg::R1,
                imm: 7 << 32 | 5,
            },
            Insn::Exit,
        ];
        let text: Vec<u8> = program
            .iter()
            .flat_map(|insn| encode(insn, Sbpf).unwrap_or_default())
            .flat_map(|slot| slot.to_bytes())
            .collect();
        let loader = Arc::new(Loader::<()>::new(Config::default()));
        let executable =
            Executable::from_text_bytes(&text, loader, Sbpf, FunctionRegistry::new()).unwrap();
        let program = verify(executable).unwrap();
        assert!(program.decoded.get().is_none() && program.code.get().is_none());
        let expected = verifier::check(&text, Sbpf, &Config::default()).unwrap();
        assert_eq!(program.decoded(), expected.as_slice());
        assert_eq!(program.decoded().len(), 3);
        assert!(program.decoded()[1].is_none() && program.decoded()[2] == Some(Insn::Exit));
        assert!(program.code.get().is_none());
        assert_eq!(program.code().slot_count(), 3);
        assert_eq!(program.code().ops()[2], crate::code::Op::Exit);
    }
}
