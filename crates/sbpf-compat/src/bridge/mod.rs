//! How the real crate's API reaches bpfvm's engine: the engine's loader and configuration made
//! from a [`BuiltinProgram`], the engine's program behind an [`crate::elf::Executable`]
//! (loaded, verified once, compiled), loading ([`load`]), running ([`run`]), error naming
//! ([`errors`]) and the unsafe seam of builtins and VM pointers ([`access`]).

mod access;
pub(crate) mod errors;
pub(crate) mod load;
pub(crate) mod run;

pub(crate) use access::{
    context_of, ok_result, run_builtin_body, Bridge, HostHandler, MAX_BUILTINS,
};
use access::{Published, PublishedCell, Route};

use crate::{
    elf::Executable,
    error::EbpfError,
    program::{BuiltinProgram, SBPFVersion},
    verifier::{Verifier, VerifierError},
    vm::{Config, ContextObject},
};
use bpfvm::{
    memory::Layout, Backend, Dialect, SbpfVersion, SyscallRegistry, VerifiedProgram, VersionRange,
};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

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

/// Whether a loader's programs translate guest addresses. bpfvm always does: a run under a
/// loader that turns translation off is refused loudly, off the common path (its programs
/// never take the route of published programs).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Translation {
    /// `Config::enable_address_translation` (every real configuration).
    On,
    /// Turned off (bpfvm refuses to run).
    Off,
}

impl Translation {
    /// The translation of `loader`'s programs.
    pub(crate) fn of<C: ContextObject>(loader: &BuiltinProgram<C>) -> Self {
        match loader.config_or_default().enable_address_translation {
            true => Translation::On,
            false => Translation::Off,
        }
    }
}

/// What the engine holds for one executable until its first run.
enum State<C: ContextObject> {
    /// Loaded, not verified yet.
    Loaded(bpfvm::Executable<Bridge<C>>),
    /// Verified (and maybe compiled, in place).
    Verified(Box<VerifiedProgram<Bridge<C>>>),
    /// bpfvm's verifier refused it (the executable is kept for its functions).
    Refused(bpfvm::VerifyError, bpfvm::Executable<Bridge<C>>),
    /// Moved to [`EngineProgram::published`] by the first run.
    Published,
}

/// bpfvm's side of an executable. Verifying and compiling change the program in place
/// (behind `state`'s lock) until the first run publishes it; from then on runs read it
/// without a lock. Only compiling again after a run makes another program (verified again
/// from a copy of the executable, which shares its bytes), which runs then use through
/// `replacement`'s lock: a host compiles a program once, before it runs it.
pub(crate) struct EngineProgram<C: ContextObject> {
    state: Mutex<State<C>>,
    /// The program runs use, set once by the first run, and the routes to it that the
    /// common run reads without a lock (what `published`, `jit_allowed`, `replaced` and
    /// `translation` say together; written only under `state`'s lock, after the fields they
    /// sum up).
    published: PublishedCell<C>,
    /// Whether runs may use the published program's machine code (`take_compiled_program`
    /// clears it, `jit_compile` sets it).
    jit_allowed: AtomicBool,
    /// Whether `replacement` holds the program runs use.
    replaced: AtomicBool,
    /// A program compiled after the first run.
    replacement: Mutex<Option<Arc<VerifiedProgram<Bridge<C>>>>>,
    /// Whether the loader translates addresses (else every run takes [`Route::Other`]).
    translation: Translation,
}

/// The program one run uses.
pub(crate) enum ForRun<'p, C: ContextObject> {
    /// The published program; its machine code only when `jit` is on.
    Published {
        program: &'p VerifiedProgram<Bridge<C>>,
        jit: JitUse,
    },
    /// A program compiled after the first run.
    Replaced(Arc<VerifiedProgram<Bridge<C>>>),
}

/// Whether a run may use a program's machine code.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum JitUse {
    /// When the program has it.
    Allowed,
    /// Never (`take_compiled_program` removed it).
    Taken,
}

impl<C: ContextObject> ForRun<'_, C> {
    /// The program.
    #[inline]
    pub(crate) fn program(&self) -> &VerifiedProgram<Bridge<C>> {
        match self {
            ForRun::Published { program, .. } => program,
            ForRun::Replaced(program) => program,
        }
    }

    /// Whether the run may use machine code.
    #[inline]
    pub(crate) fn compiled(&self) -> bool {
        match self {
            ForRun::Published { program, jit } => {
                *jit == JitUse::Allowed && program.jit_program().is_some()
            }
            ForRun::Replaced(program) => program.jit_program().is_some(),
        }
    }
}

/// Verifies `executable`, keeping it when bpfvm's verifier refuses it.
fn verified_state<C: ContextObject>(executable: bpfvm::Executable<Bridge<C>>) -> State<C> {
    match bpfvm::verify_keeping(executable) {
        Ok(program) => State::Verified(Box::new(program)),
        Err(refusal) => State::Refused(refusal.error, refusal.executable),
    }
}

/// Locks `mutex`, whatever a panicking holder left behind (every holder leaves a valid
/// value).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<C: ContextObject> EngineProgram<C> {
    pub(crate) fn new(executable: bpfvm::Executable<Bridge<C>>, translation: Translation) -> Self {
        EngineProgram {
            state: Mutex::new(State::Loaded(executable)),
            published: PublishedCell::new(),
            jit_allowed: AtomicBool::new(true),
            replaced: AtomicBool::new(false),
            replacement: Mutex::new(None),
            translation,
        }
    }

    /// The route of runs to `published` given the other fields (see [`Route`]).
    fn route_to(&self, published: Option<&Published<C>>) -> Route {
        if self.replaced.load(Ordering::Acquire) || self.translation == Translation::Off {
            return Route::Other;
        }
        match published {
            Some(Ok(program))
                if self.jit_allowed.load(Ordering::Acquire) && program.jit_program().is_some() =>
            {
                Route::Jit
            }
            Some(Ok(_)) => Route::Interpret,
            Some(Err(_)) | None => Route::Other,
        }
    }

    /// Records the route of runs (the caller holds `state`'s lock).
    fn set_route(&self, route: Route) {
        self.published.set_route(route);
    }

    /// The published program and the backend a run in `mode` uses, read without a lock;
    /// `None` when the program is not published yet, was refused, was compiled again after
    /// its first run, or has no machine code for a run that demands it (then
    /// [`EngineProgram::for_run`] decides).
    #[inline(always)]
    pub(crate) fn for_fast_run(
        &self,
        mode: &crate::vm::ExecutionMode,
    ) -> Option<(&VerifiedProgram<Bridge<C>>, Backend)> {
        use crate::vm::ExecutionMode;
        match mode {
            ExecutionMode::Interpreted => Some((self.published.interpret()?, Backend::Interpreter)),
            ExecutionMode::Jit => Some((self.published.jit()?, Backend::Jit)),
            ExecutionMode::PreferJit => match self.published.jit() {
                Some(program) => Some((program, Backend::Jit)),
                None => Some((self.published.interpret()?, Backend::Interpreter)),
            },
        }
    }

    /// The program a run uses (published by the first run: later runs take no lock).
    pub(crate) fn for_run(&self) -> Result<ForRun<'_, C>, bpfvm::VerifyError> {
        if self.replaced.load(Ordering::Acquire) {
            if let Some(program) = lock(&self.replacement).clone() {
                return Ok(ForRun::Replaced(program));
            }
        }
        let jit = match self.jit_allowed.load(Ordering::Acquire) {
            true => JitUse::Allowed,
            false => JitUse::Taken,
        };
        match self.published() {
            Ok(program) => Ok(ForRun::Published { program, jit }),
            Err(error) => Err(*error),
        }
    }

    /// The published program, publishing it now (verifying it if needed) on the first call.
    fn published(&self) -> &Published<C> {
        let mut fresh = false;
        let published = self.published.cell().get_or_init(|| {
            let mut guard = lock(&self.state);
            fresh = true;
            match std::mem::replace(&mut *guard, State::Published) {
                State::Loaded(executable) => bpfvm::verify(executable).map(Box::new),
                State::Verified(program) => Ok(program),
                State::Refused(error, _) => Err(error),
                // The state is published only here, once.
                State::Published => Err(bpfvm::VerifyError::NoProgram),
            }
        });
        if fresh {
            // Runs before this one take `for_run`, which waits for the cell.
            let _state = lock(&self.state);
            self.set_route(self.route_to(Some(published)));
        }
        published
    }

    /// bpfvm's verdict, verifying the program now if it was not.
    pub(crate) fn verified(&self) -> Result<(), bpfvm::VerifyError> {
        if let Some(published) = self.published.cell().get() {
            return published.as_ref().map(|_| ()).map_err(|error| *error);
        }
        let mut state = lock(&self.state);
        if let State::Loaded(_) = &*state {
            if let State::Loaded(executable) = std::mem::replace(&mut *state, State::Published) {
                *state = verified_state(executable);
            }
        }
        match &*state {
            State::Verified(_) => Ok(()),
            State::Refused(error, _) => Err(*error),
            State::Loaded(_) | State::Published => {
                drop(state);
                self.published()
                    .as_ref()
                    .map(|_| ())
                    .map_err(|error| *error)
            }
        }
    }

    /// Compiles the verified program with the loader's JIT engine; the machine code's
    /// length. A program bpfvm's verifier refuses is not compiled: an unknown opcode is
    /// `UnsupportedInstruction` (what the real JIT reports for one), anything else the
    /// verifier's error.
    pub(crate) fn compile(&self, loader: &BuiltinProgram<C>) -> Result<usize, EbpfError> {
        let refused = |error| match error {
            bpfvm::VerifyError::UnknownOpCode { .. } => EbpfError::UnsupportedInstruction,
            other => EbpfError::VerifierError(errors::verify_error(other)),
        };
        self.verified().map_err(refused)?;
        let engine = &loader.engine_loader().jit;
        {
            let mut state = lock(&self.state);
            if let State::Verified(program) = &mut *state {
                program
                    .jit_compile_with(engine)
                    .map_err(errors::jit_error)?;
                self.jit_allowed.store(true, Ordering::Release);
                return Ok(jit_length(program));
            }
        }
        // Published: compile a program of its own for the runs to come.
        let executable = match self.published() {
            Ok(program) => program.executable().clone(),
            Err(error) => return Err(refused(*error)),
        };
        let mut program = bpfvm::verify(executable).map_err(refused)?;
        program
            .jit_compile_with(engine)
            .map_err(errors::jit_error)?;
        let length = jit_length(&program);
        let _state = lock(&self.state);
        *lock(&self.replacement) = Some(Arc::new(program));
        self.replaced.store(true, Ordering::Release);
        self.jit_allowed.store(true, Ordering::Release);
        self.set_route(Route::Other);
        Ok(length)
    }

    /// The real crate's registry of the program's functions (made on each call).
    pub(crate) fn function_registry(&self) -> crate::program::FunctionRegistry<usize> {
        if let Some(Ok(program)) = self.published.cell().get() {
            return load::registry_of(program.executable().functions());
        }
        let state = lock(&self.state);
        match &*state {
            State::Loaded(executable) | State::Refused(_, executable) => {
                load::registry_of(executable.functions())
            }
            State::Verified(program) => load::registry_of(program.executable().functions()),
            State::Published => {
                drop(state);
                match self.published() {
                    Ok(program) => load::registry_of(program.executable().functions()),
                    Err(_) => crate::program::FunctionRegistry::default(),
                }
            }
        }
    }

    /// Forgets the compiled code (the next runs interpret until `jit_compile` runs again).
    pub(crate) fn drop_compiled(&self) {
        let mut state = lock(&self.state);
        if let State::Verified(program) = &*state {
            if program.jit_program().is_some() {
                *state = State::Loaded(program.executable().clone());
            }
        }
        self.jit_allowed.store(false, Ordering::Release);
        self.replaced.store(false, Ordering::Release);
        *lock(&self.replacement) = None;
        self.set_route(self.route_to(self.published.cell().get()));
        drop(state);
    }
}

/// The length of a program's machine code (0 when it has none).
fn jit_length<C: ContextObject>(program: &VerifiedProgram<Bridge<C>>) -> usize {
    program.jit_program().map_or(0, |jit| jit.code().len())
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
        let _ = executable.engine.verified();
        return Ok(());
    }
    executable
        .engine
        .verified()
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
