//! Versions, function registries and builtin programs (solana-sbpf 0.26's `program` module).
//!
//! [`SBPFVersion`] names the five SBPF versions and answers their feature questions from
//! bpfvm's version table. [`FunctionRegistry`] maps 32-bit keys to a name and a value (a pc
//! for a program's functions, a builtin for a loader's syscalls). [`BuiltinProgram`] is a
//! loader: a [`Config`] and the syscalls programs may call; it also keeps, in key order, the
//! table through which bpfvm's engine reaches each builtin (see `crate::bridge`), and the
//! engine's own loader built from both, made once and reused by every executable.

use crate::{
    bridge::EngineLoader,
    ebpf,
    elf::ElfError,
    vm::{Config, ContextObject, EncryptedHostAddressToEbpfVm},
};
use bpfvm_isa::SbpfVersion;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The SBPF version of an executable.
#[derive(Debug, PartialEq, PartialOrd, Eq, Clone, Copy)]
pub enum SBPFVersion {
    /// The original format.
    V0,
    /// SIMD-0166: dynamic stack frames.
    V1,
    /// SIMD-0173 and SIMD-0174: the instruction encoding and arithmetic changes.
    V2,
    /// SIMD-0178, SIMD-0189 and SIMD-0377: static syscalls, strict headers, JMP32.
    V3,
    /// SIMD-0177: V3 with the aligned memory mapping.
    V4,
    /// Any later version (no program has it; loaders refuse it).
    Reserved,
}

/// Generates the feature predicates, each answered by bpfvm's version table (`Reserved` has
/// none of them).
macro_rules! version_predicates {
    ($($(#[doc = $doc:literal])* $name:ident;)*) => {
        $(
            $(#[doc = $doc])*
            pub const fn $name(self) -> bool {
                match self.engine() {
                    Some(version) => version.$name(),
                    None => false,
                }
            }
        )*
    };
}

impl SBPFVersion {
    /// Every defined version in ascending order (without `Reserved`).
    pub const ALL: &'static [SBPFVersion] = &[
        SBPFVersion::V0,
        SBPFVersion::V1,
        SBPFVersion::V2,
        SBPFVersion::V3,
        SBPFVersion::V4,
    ];

    /// The engine's version, or `None` for `Reserved`.
    pub(crate) const fn engine(self) -> Option<SbpfVersion> {
        match self {
            SBPFVersion::V0 => Some(SbpfVersion::V0),
            SBPFVersion::V1 => Some(SbpfVersion::V1),
            SBPFVersion::V2 => Some(SbpfVersion::V2),
            SBPFVersion::V3 => Some(SbpfVersion::V3),
            SBPFVersion::V4 => Some(SbpfVersion::V4),
            SBPFVersion::Reserved => None,
        }
    }

    version_predicates! {
        /// SIMD-0166: `add64 r10, imm` moves the stack; calls leave r10 alone.
        manual_stack_frame_bump;
        /// SIMD-0166: the stack may have gaps between frames.
        stack_frame_gaps;
        /// SIMD-0174: the product, quotient and remainder class.
        enable_pqr;
        /// SIMD-0174: `add32`/`sub32` zero-extend, `mov32 reg` sign-extends.
        explicit_sign_extension_of_results;
        /// SIMD-0174: `sub imm` computes `imm - dst`.
        swap_sub_reg_imm_operands;
        /// SIMD-0174: no `neg`.
        disable_neg;
        /// SIMD-0173: no `lddw` (`hor64` instead).
        disable_lddw;
        /// SIMD-0173: no `le`.
        disable_le;
        /// SIMD-0173: the moved load and store opcodes.
        move_memory_instruction_classes;
        /// SIMD-0178: `call` src 0 is a syscall by key, src 1 a relative call.
        static_syscalls;
        /// SIMD-0189: the strict program-header loader.
        enable_stricter_elf_headers;
        /// SIMD-0189: read-only data at address 0.
        enable_lower_rodata_vaddr;
        /// SIMD-0377: the 32-bit jumps.
        enable_jmp32;
    }

    /// SIMD-0173: `callx` names its register in the src field (V2).
    pub const fn callx_uses_src_reg(self) -> bool {
        matches!(self, SBPFVersion::V2)
    }

    /// SIMD-0377: `callx` names its register in the dst field (V3, V4).
    pub const fn callx_uses_dst_reg(self) -> bool {
        matches!(self, SBPFVersion::V3 | SBPFVersion::V4)
    }

    /// The target of `call imm` at `pc`: `pc + 1 + imm` with static syscalls (truncated to
    /// 32 bits), else the immediate itself (a key).
    pub const fn calculate_call_imm_target_pc(self, pc: usize, imm: i64) -> u32 {
        if self.static_syscalls() {
            (pc as i64).saturating_add(imm).saturating_add(1) as u32
        } else {
            imm as u32
        }
    }
}

/// Named values under 32-bit keys: a program's functions (value = pc) or a loader's builtins.
#[derive(Debug, PartialEq, Eq)]
pub struct FunctionRegistry<T> {
    map: BTreeMap<u32, (Vec<u8>, T)>,
}

impl<T> Default for FunctionRegistry<T> {
    fn default() -> Self {
        Self {
            map: BTreeMap::new(),
        }
    }
}

impl<T: Copy + PartialEq> FunctionRegistry<T> {
    /// Registers `value` under `key`. The same key again is accepted when the value is the
    /// same (the first name stays), else it is `SymbolHashCollision`.
    pub fn register_function(
        &mut self,
        key: u32,
        name: impl Into<Vec<u8>>,
        value: T,
    ) -> Result<(), ElfError> {
        match self.map.get(&key) {
            Some((_, existing)) if *existing != value => Err(ElfError::SymbolHashCollision(key)),
            Some(_) => Ok(()),
            None => {
                self.map.insert(key, (name.into(), value));
                Ok(())
            }
        }
    }

    /// Removes the entry under `key`; whether there was one.
    pub fn unregister_function(&mut self, key: u32) -> bool {
        self.map.remove(&key).is_some()
    }

    /// Every key (in key order).
    pub fn keys(&self) -> impl Iterator<Item = u32> + '_ {
        self.map.keys().copied()
    }

    /// Every entry (in key order).
    pub fn iter(&self) -> impl Iterator<Item = (u32, (&[u8], T))> + '_ {
        self.map
            .iter()
            .map(|(key, (name, value))| (*key, (name.as_slice(), *value)))
    }

    /// The entry under `key`.
    #[inline]
    pub fn lookup_by_key(&self, key: u32) -> Option<(&[u8], T)> {
        self.map
            .get(&key)
            .map(|(name, value)| (name.as_slice(), *value))
    }

    /// The first entry named `name` (in key order).
    pub fn lookup_by_name(&self, name: &[u8]) -> Option<(&[u8], T)> {
        self.map
            .values()
            .find(|(entry, _)| entry == name)
            .map(|(name, value)| (name.as_slice(), *value))
    }

    /// An estimate of the memory the registry holds, in bytes.
    pub fn mem_size(&self) -> usize {
        self.map
            .values()
            .fold(std::mem::size_of::<Self>(), |total, (name, value)| {
                total
                    .saturating_add(std::mem::size_of_val(value))
                    .saturating_add(std::mem::size_of_val(name))
                    .saturating_add(name.capacity())
            })
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// A builtin function (syscall) as programs call it: an address through which it reaches the
/// VM, then r1..r5. It reports its result in [`crate::vm::EbpfVm::program_result`].
pub type BuiltinFunction<C> = fn(EncryptedHostAddressToEbpfVm<C>, u64, u64, u64, u64, u64);

/// The real crate lets a builtin emit its own machine code. bpfvm's JIT calls every builtin
/// through its `vm` wrapper instead, so this compiler offers only
/// [`JitCompiler::emit_external_call`] (what the default codegen calls), and bpfvm never calls
/// a [`BuiltinCodegen`]: a builtin behaves as its `vm` wrapper says on both backends. The
/// x86 emitters of the real `JitCompiler` are not provided (code using them does not build).
pub struct JitCompiler<'a, C> {
    _phantom: std::marker::PhantomData<&'a C>,
}

impl<C: ContextObject> JitCompiler<'_, C> {
    /// Accepted for compatibility; bpfvm's JIT calls the builtin through its shim.
    pub fn emit_external_call(&mut self, _function: BuiltinFunction<C>) {}
}

/// A builtin's code generator for the real crate's JIT (never called here; see
/// [`JitCompiler`]).
pub type BuiltinCodegen<C> = fn(&mut JitCompiler<C>);

/// A JIT-compiled program, as [`crate::elf::Executable::get_compiled_program`] returns it:
/// bpfvm's machine code lives with the executable; this handle reports its size.
#[derive(Debug, PartialEq, Eq)]
pub struct JitProgram {
    machine_code_length: usize,
}

impl JitProgram {
    pub(crate) fn new(machine_code_length: usize) -> Self {
        JitProgram {
            machine_code_length,
        }
    }

    /// The length of the machine code in bytes.
    pub fn machine_code_length(&self) -> usize {
        self.machine_code_length
    }

    /// The memory the compiled program holds, in bytes (its code, rounded up to pages).
    pub fn mem_size(&self) -> usize {
        self.machine_code_length.div_ceil(4096).saturating_mul(4096)
    }
}

/// A loader: its configuration and the builtins its programs may call (or, for a builtin
/// program, only builtins).
pub struct BuiltinProgram<C: ContextObject> {
    config: Option<Box<Config>>,
    sparse_registry: FunctionRegistry<(BuiltinFunction<C>, BuiltinCodegen<C>)>,
    /// The builtins in key order: the engine reaches builtin `i` through trampoline `i`.
    table: Vec<BuiltinFunction<C>>,
    /// The engine's loader for this configuration and these builtins, made on first use.
    engine: OnceLock<Arc<EngineLoader<C>>>,
}

impl<C: ContextObject> PartialEq for BuiltinProgram<C> {
    fn eq(&self, other: &Self) -> bool {
        self.config == other.config && self.sparse_registry == other.sparse_registry
    }
}

impl<C: ContextObject> Eq for BuiltinProgram<C> {}

impl<C: ContextObject> std::fmt::Debug for BuiltinProgram<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> Result<(), std::fmt::Error> {
        let registry: Vec<(u32, &[u8])> = self
            .sparse_registry
            .iter()
            .map(|(key, (name, _))| (key, name))
            .collect();
        f.debug_struct("BuiltinProgram")
            .field("registry", &registry)
            .finish()
    }
}

impl<C: ContextObject> BuiltinProgram<C> {
    fn with_config(config: Option<Box<Config>>) -> Self {
        Self {
            config,
            sparse_registry: FunctionRegistry::default(),
            table: Vec::new(),
            engine: OnceLock::new(),
        }
    }

    /// A loader with this configuration.
    pub fn new_loader(config: Config) -> Self {
        Self::with_config(Some(Box::new(config)))
    }

    /// A builtin program (no configuration).
    pub fn new_builtin() -> Self {
        Self::with_config(None)
    }

    /// A loader with the default configuration.
    pub fn new_mock() -> Self {
        Self::with_config(Some(Box::default()))
    }

    /// The configuration.
    ///
    /// # Panics
    ///
    /// For a builtin program, which has none (as in the real crate).
    #[allow(
        clippy::expect_used,
        reason = "the documented contract of the real API"
    )]
    pub fn get_config(&self) -> &Config {
        self.config
            .as_ref()
            .expect("a builtin program has no configuration")
    }

    /// The configuration, or the default one for a builtin program.
    pub(crate) fn config_or_default(&self) -> Config {
        self.config.as_deref().cloned().unwrap_or_default()
    }

    /// The builtins by key.
    pub fn get_function_registry(
        &self,
    ) -> &FunctionRegistry<(BuiltinFunction<C>, BuiltinCodegen<C>)> {
        &self.sparse_registry
    }

    /// An estimate of the memory the program holds, in bytes.
    pub fn mem_size(&self) -> usize {
        std::mem::size_of::<Self>()
            .saturating_add(if self.config.is_some() {
                std::mem::size_of::<Config>()
            } else {
                0
            })
            .saturating_add(self.sparse_registry.mem_size())
    }

    /// Registers a builtin under the hash of `name`.
    pub fn register_function(
        &mut self,
        name: &str,
        entry: (BuiltinFunction<C>, BuiltinCodegen<C>),
    ) -> Result<(), ElfError> {
        let key = ebpf::hash_symbol_name(name.as_bytes());
        self.sparse_registry.register_function(key, name, entry)?;
        self.rebuild_table();
        Ok(())
    }

    /// Registers the builtin `BFD` under the hash of `name`.
    pub fn register_definition<BFD: BuiltinFunctionDefinition<C>>(
        &mut self,
        name: &str,
    ) -> Result<(), ElfError> {
        self.register_function(name, (BFD::vm, BFD::codegen))
    }

    /// Removes the builtin named `name`; whether there was one.
    pub fn unregister_function(&mut self, name: &str) -> bool {
        let key = ebpf::hash_symbol_name(name.as_bytes());
        let removed = self.sparse_registry.unregister_function(key);
        self.rebuild_table();
        removed
    }

    fn rebuild_table(&mut self) {
        self.table = self
            .sparse_registry
            .iter()
            .map(|(_, (_, (function, _)))| function)
            .collect();
        self.engine = OnceLock::new();
    }

    /// The builtin the engine calls as number `index` (key order).
    pub(crate) fn builtin(&self, index: usize) -> Option<BuiltinFunction<C>> {
        self.table.get(index).copied()
    }

    /// The engine's loader for this program, made on first use.
    pub(crate) fn engine_loader(&self) -> &Arc<EngineLoader<C>> {
        self.engine
            .get_or_init(|| Arc::new(crate::bridge::engine_loader(self)))
    }
}

/// A builtin function defined by its Rust body; [`crate::declare_builtin_function!`]
/// implements it.
pub trait BuiltinFunctionDefinition<C>
where
    C: ContextObject,
{
    /// The body's error.
    type Error: Into<Box<dyn core::error::Error>>;

    /// The body: the context and r1..r5; the result goes to r0.
    fn rust(
        vm: &mut C,
        arg_a: u64,
        arg_b: u64,
        arg_c: u64,
        arg_d: u64,
        arg_e: u64,
    ) -> Result<u64, Self::Error>;

    /// The wrapper programs call: it settles the instruction meter with the context (the
    /// instructions run since the last settlement), runs the body, stores its result in the
    /// VM's `program_result` (an error as `EbpfError::SyscallError`) and re-reads the budget.
    #[inline]
    fn vm(vm: EncryptedHostAddressToEbpfVm<C>, a: u64, b: u64, c: u64, d: u64, e: u64) {
        crate::bridge::run_builtin_body(vm, Self::rust, [a, b, c, d, e]);
    }

    /// The code generator for the real crate's JIT (never called by bpfvm; see
    /// [`JitCompiler`]).
    fn codegen(jit: &mut JitCompiler<C>) {
        jit.emit_external_call(Self::vm);
    }

    /// Registers this builtin with `program` under the hash of `name`.
    fn register(program: &mut BuiltinProgram<C>, name: &str) -> Result<(), ElfError>
    where
        Self: Sized,
    {
        program.register_definition::<Self>(name)
    }
}

/// Declares a builtin function: a unit struct implementing [`BuiltinFunctionDefinition`] with
/// the given body (and optionally a code generator, which bpfvm never calls).
#[macro_export]
macro_rules! declare_builtin_function {
    (
        $(#[$attr:meta])*
        $name:ident $(<$($generic_ident:tt : $generic_type:tt),+>)?,
        fn rust(
            $vm:ident : &mut $ContextObject:ty,
            $arg_a:ident : u64,
            $arg_b:ident : u64,
            $arg_c:ident : u64,
            $arg_d:ident : u64,
            $arg_e:ident : u64,
        ) -> Result<$Ok:ty, $Err:ty> {
            $($rust:tt)*
        }
        $(fn codegen($jit:ident : &mut JitCompiler<$ContextObject2:ty>) {
            $($codegen:tt)*
        })?
    ) => {
        $(#[$attr])*
        pub struct $name $(<$($generic_ident),+>)? (
            $(std::marker::PhantomData<($($generic_ident,)+)>)?
        );
        impl $(<$($generic_ident : $generic_type),+>)?
            $crate::program::BuiltinFunctionDefinition<$ContextObject> for
            $name $(<$($generic_ident),+>)?
        {
            type Error = $Err;
            fn rust(
                $vm: &mut $ContextObject,
                $arg_a: u64,
                $arg_b: u64,
                $arg_c: u64,
                $arg_d: u64,
                $arg_e: u64,
            ) -> core::result::Result<$Ok, $Err> {
                $($rust)*
            }
            $(fn codegen(
                $jit: &mut $crate::program::JitCompiler<$ContextObject2>,
            ) {
                $($codegen)*
            })?
        }
    };
}
