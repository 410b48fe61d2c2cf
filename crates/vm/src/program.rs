//! What a program is before it runs: its syscalls, its functions, its bytes and its entry.
//!
//! A [`Loader`] holds the configuration and the syscalls a host offers. An [`Executable`] is a
//! loaded program: read-only bytes mapped in the program region, the text inside them, the
//! function registry and the entry pc, plus the loader it was loaded for and its [`Dialect`].
//! Executables come from raw text here ([`Executable::from_text_bytes`],
//! [`Executable::from_raw_program`]), from ELF files (`crate::elf`), or from assembly text
//! (the `bpfvm-asm` crate). Only the verifier turns one into something a backend accepts.

use crate::config::Config;
use crate::load_error::LoadError;
use crate::memory::MemoryMapping;
use crate::RuntimeError;
use bpfvm_isa::{call_operands, hash_symbol_name, Dialect, Slot, SLOT_SIZE};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the program region starts in guest memory.
pub const MM_PROGRAM_START: u64 = 0x1_0000_0000;
/// Where the stack region starts.
pub const MM_STACK_START: u64 = 0x2_0000_0000;
/// Where the heap region starts.
pub const MM_HEAP_START: u64 = 0x3_0000_0000;
/// Where the input region starts; r1 holds this address at entry.
pub const MM_INPUT_START: u64 = 0x4_0000_0000;

/// A syscall: the host function a `call` with a registered key invokes. It receives the
/// context, the guest memory and r1..r5, and returns r0 or an error that ends the run.
pub type SyscallFn<C> = fn(&mut C, &mut MemoryMapping<'_>, [u64; 5]) -> Result<u64, RuntimeError>;

/// One registered syscall.
pub struct Syscall<C> {
    /// The name it was registered under.
    pub name: String,
    /// The host function.
    pub function: SyscallFn<C>,
}

impl<C> Clone for Syscall<C> {
    fn clone(&self) -> Self {
        Syscall {
            name: self.name.clone(),
            function: self.function,
        }
    }
}

/// The syscalls a host offers, keyed by Murmur3-32 of their names (sBPF) or by helper number
/// (eBPF).
pub struct SyscallRegistry<C> {
    entries: BTreeMap<u32, Syscall<C>>,
    unwind_key: Option<u32>,
}

impl<C> Default for SyscallRegistry<C> {
    fn default() -> Self {
        SyscallRegistry {
            entries: BTreeMap::new(),
            unwind_key: None,
        }
    }
}

impl<C> Clone for SyscallRegistry<C> {
    fn clone(&self) -> Self {
        SyscallRegistry {
            entries: self.entries.clone(),
            unwind_key: self.unwind_key,
        }
    }
}

impl<C> SyscallRegistry<C> {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a syscall under the hash of its name and returns the key.
    pub fn register(&mut self, name: &str, function: SyscallFn<C>) -> Result<u32, LoadError> {
        self.register_key(hash_symbol_name(name.as_bytes()), name, function)
    }

    /// Registers a syscall under an explicit key (an eBPF helper number, for example).
    pub fn register_key(
        &mut self,
        key: u32,
        name: &str,
        function: SyscallFn<C>,
    ) -> Result<u32, LoadError> {
        if self.entries.contains_key(&key) {
            return Err(LoadError::FunctionAlreadyRegistered { key });
        }
        self.entries.insert(
            key,
            Syscall {
                name: name.to_owned(),
                function,
            },
        );
        Ok(key)
    }

    /// The syscall with this key.
    pub fn get(&self, key: u32) -> Option<&Syscall<C>> {
        self.entries.get(&key)
    }

    /// Whether a syscall has this key.
    pub fn contains(&self, key: u32) -> bool {
        self.entries.contains_key(&key)
    }

    /// All syscalls in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Syscall<C>)> {
        self.entries.iter().map(|(key, syscall)| (*key, syscall))
    }

    /// The number of syscalls.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Marks the syscall with this key as "unwind" (ubpf's helper 5, which the conformance
    /// corpus uses): when it returns 0, the program ends at once with `Ok(0)`.
    pub fn set_unwind_key(&mut self, key: u32) {
        self.unwind_key = Some(key);
    }

    /// The key set by [`SyscallRegistry::set_unwind_key`], if any.
    pub fn unwind_key(&self) -> Option<u32> {
        self.unwind_key
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The configuration and syscalls that programs are loaded against.
pub struct Loader<C> {
    /// VM and loader settings.
    pub config: Config,
    /// The syscalls on offer.
    pub syscalls: SyscallRegistry<C>,
}

impl<C> Loader<C> {
    /// A loader with no syscalls.
    pub fn new(config: Config) -> Self {
        Loader {
            config,
            syscalls: SyscallRegistry::new(),
        }
    }

    /// A loader with the given syscalls.
    pub fn with_syscalls(config: Config, syscalls: SyscallRegistry<C>) -> Self {
        Loader { config, syscalls }
    }
}

/// One internal function: its entry pc and (when labels are kept) its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// The first slot of the function.
    pub pc: usize,
    /// Its name; empty unless labels are kept or it is the entrypoint.
    pub name: String,
}

/// The name the entry function is registered under.
pub const ENTRYPOINT: &str = "entrypoint";

/// Internal functions by key: the pc itself with static syscalls (and in eBPF), otherwise
/// Murmur3 of the pc (reference §8.5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionRegistry {
    entries: BTreeMap<u32, Function>,
}

impl FunctionRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The function with this key.
    pub fn get(&self, key: u32) -> Option<&Function> {
        self.entries.get(&key)
    }

    /// Removes the entry with this key.
    pub fn remove(&mut self, key: u32) -> Option<Function> {
        self.entries.remove(&key)
    }

    /// All functions in key order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Function)> {
        self.entries.iter().map(|(key, function)| (*key, function))
    }

    /// The number of functions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether some function starts at `pc`.
    pub fn has_pc(&self, pc: usize) -> bool {
        self.entries.values().any(|function| function.pc == pc)
    }

    /// Registers the function at `pc` as the reference's `register_internal_function` does and
    /// returns its key. `keep_name` is true when labels are on; the entrypoint's name is always
    /// kept.
    pub fn register<C>(
        &mut self,
        loader: &Loader<C>,
        dialect: Dialect,
        pc: usize,
        name: &str,
    ) -> Result<u32, LoadError> {
        let config = &loader.config;
        let key = if config.static_syscalls || dialect == Dialect::Ebpf {
            u32::try_from(pc).map_err(|_| LoadError::ValueOutOfBounds)?
        } else {
            let key = hash_internal_function(pc, name);
            if config.external_internal_function_hash_collision && loader.syscalls.contains(key) {
                return Err(LoadError::SymbolHashCollision { key });
            }
            key
        };
        // One search of the map, whether the key is new or not.
        match self.entries.entry(key) {
            Entry::Occupied(existing) if existing.get().pc != pc => {
                Err(LoadError::SymbolHashCollision { key })
            }
            Entry::Occupied(_) => Ok(key),
            Entry::Vacant(vacant) => {
                let keep = config.enable_symbol_and_section_labels || name == ENTRYPOINT;
                vacant.insert(Function {
                    pc,
                    name: if keep { name.to_owned() } else { String::new() },
                });
                Ok(key)
            }
        }
    }

    /// The pc of the function named "entrypoint", if any.
    pub fn entrypoint_pc(&self) -> Option<usize> {
        self.entries
            .values()
            .find(|function| function.name == ENTRYPOINT)
            .map(|function| function.pc)
    }
}

/// The key of an internal function without static syscalls: Murmur3 of "entrypoint" for the
/// entrypoint, else Murmur3 of the pc as 8 little-endian bytes.
pub fn hash_internal_function(pc: usize, name: &str) -> u32 {
    if name == ENTRYPOINT {
        hash_symbol_name(ENTRYPOINT.as_bytes())
    } else {
        hash_symbol_name(&(pc as u64).to_le_bytes())
    }
}

/// A loaded program, ready for the verifier.
pub struct Executable<C> {
    loader: Arc<Loader<C>>,
    dialect: Dialect,
    /// The mapped bytes are `ro_data[ro_start..]`.
    ro_data: Vec<u8>,
    ro_start: usize,
    ro_vaddr: u64,
    /// The text's offset inside `ro_data` (not inside the mapped bytes).
    text_offset: usize,
    text_len: usize,
    text_vaddr: u64,
    entry_pc: usize,
    functions: FunctionRegistry,
}

/// The parts an [`Executable`] is built from; the ELF loader fills one in.
pub struct ExecutableParts {
    /// Bytes mapped read-only in the program region: `ro_data[ro_start..]`.
    pub ro_data: Vec<u8>,
    /// How many leading bytes of `ro_data` are not mapped (the ELF loader keeps the relocated
    /// file and maps a span of it, rather than copying the span out).
    pub ro_start: usize,
    /// Guest address of `ro_data[ro_start]`.
    pub ro_vaddr: u64,
    /// Byte offset of the text inside the mapped bytes.
    pub text_offset: usize,
    /// Length of the text in bytes.
    pub text_len: usize,
    /// The entry slot.
    pub entry_pc: usize,
    /// The internal functions.
    pub functions: FunctionRegistry,
}

impl<C> Executable<C> {
    /// Builds an executable from parts the ELF loader computed. The text range must lie
    /// inside `ro_data`.
    pub fn from_parts(
        loader: Arc<Loader<C>>,
        dialect: Dialect,
        parts: ExecutableParts,
    ) -> Result<Self, LoadError> {
        let text_offset = parts
            .ro_start
            .checked_add(parts.text_offset)
            .ok_or(LoadError::ValueOutOfBounds)?;
        let end = text_offset
            .checked_add(parts.text_len)
            .ok_or(LoadError::ValueOutOfBounds)?;
        if end > parts.ro_data.len() {
            return Err(LoadError::ValueOutOfBounds);
        }
        let text_vaddr = parts
            .ro_vaddr
            .checked_add(parts.text_offset as u64)
            .ok_or(LoadError::ValueOutOfBounds)?;
        Ok(Executable {
            loader,
            dialect,
            ro_data: parts.ro_data,
            ro_start: parts.ro_start,
            ro_vaddr: parts.ro_vaddr,
            text_offset,
            text_len: parts.text_len,
            text_vaddr,
            entry_pc: parts.entry_pc,
            functions: parts.functions,
        })
    }

    /// The reference's `from_text_bytes`: the bytes become both the read-only data and the
    /// text at `MM_PROGRAM_START`, unrelocated. The entry is the function named "entrypoint",
    /// or pc 0 (registered under that name) when there is none.
    pub fn from_text_bytes(
        text: &[u8],
        loader: Arc<Loader<C>>,
        dialect: Dialect,
        mut functions: FunctionRegistry,
    ) -> Result<Self, LoadError> {
        let entry_pc = match functions.entrypoint_pc() {
            Some(pc) => pc,
            None => {
                functions.register(&loader, dialect, 0, ENTRYPOINT)?;
                0
            }
        };
        Self::from_parts(
            loader,
            dialect,
            ExecutableParts {
                ro_data: text.to_vec(),
                ro_start: 0,
                ro_vaddr: MM_PROGRAM_START,
                text_offset: 0,
                text_len: text.len(),
                entry_pc,
                functions,
            },
        )
    }

    /// Loads raw bytecode the way the ELF loader treats a `.text` with its entry at slot 0:
    /// in sBPF, relative calls are fixed up first (reference §8.4 step 1).
    pub fn from_raw_program(
        text: &[u8],
        loader: Arc<Loader<C>>,
        dialect: Dialect,
    ) -> Result<Self, LoadError> {
        let mut text = text.to_vec();
        let mut functions = FunctionRegistry::new();
        if dialect == Dialect::Sbpf {
            fixup_relative_calls(&mut text, &mut functions, &loader)?;
        }
        functions.register(&loader, dialect, 0, ENTRYPOINT)?;
        Self::from_text_bytes(&text, loader, dialect, functions)
    }

    /// The loader this program was loaded for.
    pub fn loader(&self) -> &Arc<Loader<C>> {
        &self.loader
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.loader.config
    }

    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The text bytes.
    pub fn text(&self) -> &[u8] {
        // The range was checked in `from_parts`.
        self.ro_data
            .get(self.text_offset..self.text_offset + self.text_len)
            .unwrap_or(&[])
    }

    /// The guest address of the first text slot.
    pub fn text_vaddr(&self) -> u64 {
        self.text_vaddr
    }

    /// The read-only bytes mapped in the program region.
    pub fn ro_data(&self) -> &[u8] {
        // `ro_start` is at most the text offset, which `from_parts` checked.
        self.ro_data.get(self.ro_start..).unwrap_or(&[])
    }

    /// The guest address of the read-only bytes.
    pub fn ro_vaddr(&self) -> u64 {
        self.ro_vaddr
    }

    /// The entry slot.
    pub fn entry_pc(&self) -> usize {
        self.entry_pc
    }

    /// The internal functions.
    pub fn functions(&self) -> &FunctionRegistry {
        &self.functions
    }
}

/// Rewrites every relative `call` in `text` to the key of its target, registering the target
/// as a function (reference §8.4 step 1). A call is relative when its immediate is not -1 and,
/// under static syscalls, its source field is not 0.
pub fn fixup_relative_calls<C>(
    text: &mut [u8],
    functions: &mut FunctionRegistry,
    loader: &Loader<C>,
) -> Result<(), LoadError> {
    let config = &loader.config;
    let slot_count = text.len() / SLOT_SIZE;
    for pc in 0..slot_count {
        let start = pc * SLOT_SIZE;
        let mut bytes = [0u8; SLOT_SIZE];
        bytes.copy_from_slice(&text[start..start + SLOT_SIZE]);
        let slot = Slot::from_bytes(bytes);
        let Some((src, imm)) = call_operands(slot) else {
            continue;
        };
        if imm == -1 || (config.static_syscalls && src == 0) {
            continue;
        }
        let target = (pc as i64 + 1 + i64::from(imm))
            .try_into()
            .ok()
            .filter(|&target: &usize| target < slot_count)
            .ok_or(LoadError::RelativeJumpOutOfBounds { pc })?;
        // The name is kept only with labels on, so it is only built then.
        let name = if config.enable_symbol_and_section_labels {
            format!("function_{target}")
        } else {
            String::new()
        };
        let key = functions.register(loader, Dialect::Sbpf, target, &name)?;
        let fixed = Slot {
            imm: key as i32,
            ..slot
        };
        text[start..start + SLOT_SIZE].copy_from_slice(&fixed.to_bytes());
    }
    Ok(())
}
