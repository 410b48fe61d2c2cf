//! How the real crate's API reaches bpfvm's engine: the engine's loader and configuration made
//! from a [`BuiltinProgram`], the engine's program behind an [`crate::elf::Executable`]
//! (loaded, verified once, compiled), loading ([`load`]), running ([`run`]), error naming
//! ([`errors`]) and the unsafe seam of builtins and VM pointers ([`access`]).

mod access;
pub(crate) mod errors;
pub(crate) mod load;
pub(crate) mod run;

pub(crate) use access::{
    context_of, run_builtin_body, Bridge, HandlerTarget, HostHandler, MAX_BUILTINS,
};

use crate::{
    elf::Executable,
    error::EbpfError,
    program::{BuiltinProgram, SBPFVersion},
    verifier::{Verifier, VerifierError},
    vm::{Config, ContextObject},
};
use bpfvm::{memory::Layout, Dialect, SbpfVersion, SyscallRegistry, VerifiedProgram, VersionRange};
use std::sync::{Arc, Mutex};

/// The engine's loader for a [`BuiltinProgram`], and the JIT engine its programs compile with.
pub(crate) struct EngineLoader<C: ContextObject> {
    /// The configuration and the builtins' trampolines.
    pub loader: Arc<bpfvm::Loader<Bridge<C>>>,
    /// Buffers and code memory reused by every compile of this loader's programs.
    pub jit: bpfvm::jit::JitEngine,
}

/// The engine's configuration for the real crate's. The 2022 flags take the values 0.26 fixed
/// ([`bpfvm::Config::agave`]); the version range is checked here, before the engine loads.
pub(crate) fn engine_config(config: &Config) -> bpfvm::Config {
    #[cfg(feature = "jit")]
    let (noop_instruction_rate, sanitize_user_provided_values) = (
        config.noop_instruction_rate,
        config.sanitize_user_provided_values,
    );
    #[cfg(not(feature = "jit"))]
    let (noop_instruction_rate, sanitize_user_provided_values) = (0, false);
    bpfvm::Config {
        max_call_depth: config.max_call_depth,
        stack_frame_size: config.stack_frame_size,
        enable_stack_frame_gaps: config.enable_stack_frame_gaps,
        instruction_meter_checkpoint_distance: config.instruction_meter_checkpoint_distance,
        enable_instruction_meter: config.enable_instruction_meter,
        enable_instruction_tracing: cfg!(feature = "tracer"),
        enable_symbol_and_section_labels: config.enable_symbol_and_section_labels,
        reject_broken_elfs: config.reject_broken_elfs,
        noop_instruction_rate,
        sanitize_user_provided_values,
        optimize_rodata: config.optimize_rodata,
        aligned_memory_mapping: config.aligned_memory_mapping,
        enabled_sbpf_versions: VersionRange::ALL,
        ..bpfvm::Config::agave()
    }
}

/// The engine's version for a program of `version` (`Reserved` has none; its mappings follow
/// V4's rules, as the real crate's do for any version from V4 on).
pub(crate) fn engine_version(version: SBPFVersion) -> SbpfVersion {
    version.engine().unwrap_or(SbpfVersion::V4)
}

/// The memory layout of programs of `version` under `config`.
pub(crate) fn layout_for(config: &Config, version: SBPFVersion) -> Layout {
    Layout::of(
        &engine_config(config),
        Dialect::Sbpf26(engine_version(version)),
    )
}

/// The engine's loader for `program`: its configuration (or the default for a builtin
/// program, which loads nothing), and trampoline `i` under the key of builtin `i`.
///
/// # Panics
///
/// When the program has more builtins than there are trampolines ([`MAX_BUILTINS`], far
/// more than any Solana runtime registers): bpfvm could not reach the others.
#[allow(
    clippy::panic,
    reason = "a host configuration bpfvm cannot serve, documented"
)]
pub(crate) fn engine_loader<C: ContextObject>(program: &BuiltinProgram<C>) -> EngineLoader<C> {
    let registry = program.get_function_registry();
    if registry.len() > MAX_BUILTINS {
        panic!(
            "solana-sbpf on bpfvm serves at most {MAX_BUILTINS} builtins per loader, not {}",
            registry.len()
        );
    }
    let trampolines = access::trampolines::<C>();
    let mut syscalls = SyscallRegistry::new();
    for ((key, (name, _)), trampoline) in registry.iter().zip(trampolines) {
        let name = String::from_utf8_lossy(name);
        // Keys are unique in the registry, so registering cannot collide.
        let _ = syscalls.register_key(key, &name, trampoline);
    }
    let config = program.config_or_default();
    EngineLoader {
        loader: Arc::new(bpfvm::Loader::with_syscalls(
            engine_config(&config),
            syscalls,
        )),
        jit: bpfvm::jit::JitEngine::new(),
    }
}

/// What the engine holds for one executable.
enum State<C: ContextObject> {
    /// Loaded, not verified yet.
    Loaded(bpfvm::Executable<Bridge<C>>),
    /// Verified (and maybe compiled); shared with the runs in progress.
    Verified(Arc<VerifiedProgram<Bridge<C>>>),
    /// bpfvm's verifier refused it.
    Refused(bpfvm::VerifyError),
}

/// bpfvm's side of an executable.
pub(crate) struct EngineProgram<C: ContextObject> {
    state: Mutex<State<C>>,
    /// What the engine executable was made from, to make it again.
    parts: load::EngineParts,
}

impl<C: ContextObject> EngineProgram<C> {
    pub(crate) fn new(executable: bpfvm::Executable<Bridge<C>>, parts: load::EngineParts) -> Self {
        EngineProgram {
            state: Mutex::new(State::Loaded(executable)),
            parts,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<C>> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The verified program, verifying it now if it was not.
    pub(crate) fn verified(
        &self,
        _loader: &BuiltinProgram<C>,
    ) -> Result<Arc<VerifiedProgram<Bridge<C>>>, bpfvm::VerifyError> {
        let mut state = self.lock();
        let loaded = match &*state {
            State::Verified(program) => return Ok(program.clone()),
            State::Refused(error) => return Err(*error),
            State::Loaded(_) => {
                std::mem::replace(&mut *state, State::Refused(bpfvm::VerifyError::NoProgram))
            }
        };
        let State::Loaded(executable) = loaded else {
            return Err(bpfvm::VerifyError::NoProgram);
        };
        match bpfvm::verify(executable) {
            Ok(program) => {
                let program = Arc::new(program);
                *state = State::Verified(program.clone());
                Ok(program)
            }
            Err(error) => {
                *state = State::Refused(error);
                Err(error)
            }
        }
    }

    /// Compiles the verified program with the loader's JIT engine; the machine code's
    /// length. A program bpfvm's verifier refuses is not compiled: an unknown opcode is
    /// `UnsupportedInstruction` (what the real JIT reports for one), anything else the
    /// verifier's error.
    pub(crate) fn compile(&self, loader: &BuiltinProgram<C>) -> Result<usize, EbpfError> {
        let shared = self.verified(loader).map_err(|error| match error {
            bpfvm::VerifyError::UnknownOpCode { .. } => EbpfError::UnsupportedInstruction,
            other => EbpfError::VerifierError(errors::verify_error(other)),
        })?;
        let mut state = self.lock();
        // The lock keeps other compiles out; a run on another thread may still share the
        // program, and then a fresh copy is verified and compiled.
        // Drop the state's share, so that only runs in progress hold one.
        let previous =
            std::mem::replace(&mut *state, State::Refused(bpfvm::VerifyError::NoProgram));
        drop(previous);
        let mut program = match Arc::try_unwrap(shared) {
            Ok(program) => program,
            Err(shared) => {
                *state = State::Verified(shared);
                let executable = load::rebuild(&self.parts, loader).map_err(EbpfError::ElfError)?;
                bpfvm::verify(executable)
                    .map_err(|error| EbpfError::VerifierError(errors::verify_error(error)))?
            }
        };
        let engine_loader = loader.engine_loader();
        let compiled = program.jit_compile_with(&engine_loader.jit);
        let length = program.jit_program().map_or(0, |jit| jit.code().len());
        *state = State::Verified(Arc::new(program));
        compiled.map_err(errors::jit_error)?;
        Ok(length)
    }

    /// The real crate's registry of the program's functions (made on each call).
    pub(crate) fn function_registry(&self) -> crate::program::FunctionRegistry<usize> {
        self.parts.function_registry()
    }

    /// Forgets the compiled code (the next run interprets until `jit_compile` runs again).
    pub(crate) fn drop_compiled(&self, loader: &BuiltinProgram<C>) {
        if let Ok(executable) = load::rebuild(&self.parts, loader) {
            *self.lock() = State::Loaded(executable);
        }
    }
}

/// `Executable::verify::<V>()`: `V`'s verdict, and bpfvm's verified program built once.
pub(crate) fn verify<C: ContextObject, V: Verifier>(
    executable: &Executable<C>,
) -> Result<(), EbpfError> {
    let loader = executable.get_loader();
    if !V::is_requisite() {
        V::verify(
            executable.text(),
            executable.get_sbpf_version(),
            loader.get_function_registry(),
        )?;
        // bpfvm's own verdict decides whether the program can run (see `crate::verifier`).
        let _ = executable.engine.verified(loader);
        return Ok(());
    }
    executable
        .engine
        .verified(loader)
        .map(|_| ())
        .map_err(|error| EbpfError::VerifierError(errors::verify_error(error)))
}

/// `RequisiteVerifier::verify` on raw text: bpfvm's verifier under `version`.
pub(crate) fn verify_text(text: &[u8], version: SBPFVersion) -> Result<(), VerifierError> {
    let Some(engine) = version.engine() else {
        return Err(VerifierError::UnknownOpCode(
            text.first().copied().unwrap_or(0),
            0,
        ));
    };
    let config = engine_config(&Config::default());
    bpfvm::verifier::check_text(text, Dialect::Sbpf26(engine), &config)
        .map_err(errors::verify_error)
}

/// `Executable::jit_compile`: the machine code's length.
pub(crate) fn jit_compile<C: ContextObject>(
    executable: &Executable<C>,
) -> Result<usize, EbpfError> {
    executable.engine.compile(executable.get_loader())
}
