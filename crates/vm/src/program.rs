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
use crate::memory::{AddressMap, Layout, MemoryMapping};
use crate::RuntimeError;
use bpfvm_isa::{call_operands, hash_symbol_name, Dialect, Slot, SLOT_SIZE};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where the program region starts in the standard address map ([`AddressMap::STANDARD`]).
pub const MM_PROGRAM_START: u64 = AddressMap::STANDARD.program;
/// Where the stack region starts in the standard address map.
pub const MM_STACK_START: u64 = AddressMap::STANDARD.stack;
/// Where the heap region starts in the standard address map.
pub const MM_HEAP_START: u64 = AddressMap::STANDARD.heap;
/// Where the input region starts in the standard address map; r1 holds this address at entry.
pub const MM_INPUT_START: u64 = AddressMap::STANDARD.input;

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

    /// The memory layout of the programs of `dialect` this loader loads (where the program
    /// region starts, and everything the VM and the backends need about the stack).
    pub fn layout(&self, dialect: Dialect) -> Layout {
        Layout::of(&self.config, dialect)
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
        let key = function_key(loader, dialect, pc, name)?;
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

    /// Inserts a function under a key the host chose (solana-sbpf 0.26's
    /// `register_function`): the same key again with the same pc is accepted and keeps the
    /// first name, with another pc it is `SymbolHashCollision`.
    pub fn insert(&mut self, key: u32, function: Function) -> Result<(), LoadError> {
        match self.entries.entry(key) {
            Entry::Occupied(existing) if existing.get().pc != function.pc => {
                Err(LoadError::SymbolHashCollision { key })
            }
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(vacant) => {
                vacant.insert(function);
                Ok(())
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

/// The key the function at `pc` named `name` registers under, or the error registering it
/// gives before the registry is consulted.
fn function_key<C>(
    loader: &Loader<C>,
    dialect: Dialect,
    pc: usize,
    name: &str,
) -> Result<u32, LoadError> {
    let config = &loader.config;
    // 0.26 always refuses a function key equal to a syscall's (the option is gone).
    let check_collision = match dialect {
        Dialect::Sbpf => config.external_internal_function_hash_collision,
        Dialect::Sbpf26(_) | Dialect::Ebpf => true,
    };
    if keys_are_pcs(loader, dialect) {
        return u32::try_from(pc).map_err(|_| LoadError::ValueOutOfBounds);
    }
    let key = hash_internal_function(pc, name);
    if check_collision && loader.syscalls.contains(key) {
        return Err(LoadError::SymbolHashCollision { key });
    }
    Ok(key)
}

/// Whether functions are keyed by their pc (static syscalls in 2022, eBPF, SBPF V3 and V4,
/// whose calls are pc-relative) rather than by a hash of it.
fn keys_are_pcs<C>(loader: &Loader<C>, dialect: Dialect) -> bool {
    match dialect {
        Dialect::Sbpf => loader.config.static_syscalls,
        Dialect::Sbpf26(version) => version.static_syscalls(),
        Dialect::Ebpf => true,
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

/// Whether a program may store into its own region (`MM_PROGRAM_START`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramRegion {
    /// Loads only: the VM maps the executable's bytes in place. Every sBPF program, and every
    /// eBPF program without writable data.
    ReadOnly,
    /// Loads and stores: each VM maps its own copy of the bytes, so writes last as long as
    /// the VM. An eBPF object with writable globals (`.data`, `.bss`) gets this.
    Writable,
}

/// Where the text lies relative to the mapped read-only bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextPlacement {
    /// The text is part of the mapped bytes, at `text_offset` from their start (every
    /// dialect but SBPF V3 and V4).
    Mapped,
    /// SBPF V3 and V4: the mapped bytes are `ro_len` bytes from `ro_start` (the read-only
    /// data alone); the text lies at `text_offset` of `ro_data`, outside them, and runs at
    /// guest address `text_vaddr` (the program cannot read it).
    Apart {
        /// The length of the mapped read-only data.
        ro_len: usize,
        /// The guest address of the first text slot.
        text_vaddr: u64,
    },
}

/// A loaded program, ready for the verifier. Its bytes are shared, not copied, by its clones
/// and by hosts that hand them out ([`Executable::shared_bytes`]).
pub struct Executable<C> {
    loader: Arc<Loader<C>>,
    dialect: Dialect,
    program_region: ProgramRegion,
    /// The mapped bytes are `ro_data[ro_start..ro_end]`.
    ro_data: Arc<Vec<u8>>,
    ro_start: usize,
    ro_end: usize,
    ro_vaddr: u64,
    /// The text's offset inside `ro_data` (not inside the mapped bytes).
    text_offset: usize,
    text_len: usize,
    text_vaddr: u64,
    entry_pc: usize,
    functions: FunctionRegistry,
}

impl<C> Clone for Executable<C> {
    /// Another handle on the same program: the bytes are shared, the function registry is
    /// copied.
    fn clone(&self) -> Self {
        Executable {
            loader: self.loader.clone(),
            dialect: self.dialect,
            program_region: self.program_region,
            ro_data: self.ro_data.clone(),
            ro_start: self.ro_start,
            ro_end: self.ro_end,
            ro_vaddr: self.ro_vaddr,
            text_offset: self.text_offset,
            text_len: self.text_len,
            text_vaddr: self.text_vaddr,
            entry_pc: self.entry_pc,
            functions: self.functions.clone(),
        }
    }
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
    /// Whether the program region is writable.
    pub program_region: ProgramRegion,
    /// Whether the text is part of the mapped bytes.
    pub text_placement: TextPlacement,
}

impl<C> Executable<C> {
    /// Builds an executable from parts the ELF loader computed. The text range and the
    /// mapped range must lie inside `ro_data`.
    pub fn from_parts(
        loader: Arc<Loader<C>>,
        dialect: Dialect,
        parts: ExecutableParts,
    ) -> Result<Self, LoadError> {
        let out_of_bounds = || LoadError::ValueOutOfBounds;
        let (text_offset, text_vaddr, ro_end) = match parts.text_placement {
            TextPlacement::Mapped => (
                parts
                    .ro_start
                    .checked_add(parts.text_offset)
                    .ok_or_else(out_of_bounds)?,
                parts
                    .ro_vaddr
                    .checked_add(parts.text_offset as u64)
                    .ok_or_else(out_of_bounds)?,
                parts.ro_data.len(),
            ),
            TextPlacement::Apart { ro_len, text_vaddr } => (
                parts.text_offset,
                text_vaddr,
                parts
                    .ro_start
                    .checked_add(ro_len)
                    .ok_or_else(out_of_bounds)?,
            ),
        };
        let end = text_offset
            .checked_add(parts.text_len)
            .ok_or_else(out_of_bounds)?;
        if end > parts.ro_data.len() || ro_end > parts.ro_data.len() || parts.ro_start > ro_end {
            return Err(LoadError::ValueOutOfBounds);
        }
        Ok(Executable {
            loader,
            dialect,
            program_region: parts.program_region,
            ro_data: Arc::new(parts.ro_data),
            ro_start: parts.ro_start,
            ro_end,
            ro_vaddr: parts.ro_vaddr,
            text_offset,
            text_len: parts.text_len,
            text_vaddr,
            entry_pc: parts.entry_pc,
            functions: parts.functions,
        })
    }

    /// The reference's `from_text_bytes`: the bytes become both the read-only data and the
    /// text at the start of the program region, unrelocated (in SBPF V3 and V4 the read-only
    /// copy lies at 0 and the text runs at `1 << 32`, as solana-sbpf 0.26 places them). The entry is the function named
    /// "entrypoint", or pc 0 (registered under that name) when there is none.
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
        let map = loader.layout(dialect).map;
        // V3 and V4 map the bytes as read-only data at 0 and run them at `1 << 32`, as 0.26's
        // `from_text_bytes` does.
        let text_placement = match map.text_is_mapped() {
            true => TextPlacement::Mapped,
            false => TextPlacement::Apart {
                ro_len: text.len(),
                text_vaddr: map.program,
            },
        };
        Self::from_parts(
            loader,
            dialect,
            ExecutableParts {
                ro_data: text.to_vec(),
                ro_start: 0,
                ro_vaddr: map.rodata,
                text_offset: 0,
                text_len: text.len(),
                entry_pc,
                functions,
                program_region: ProgramRegion::ReadOnly,
                text_placement,
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
        let relative_calls_are_keyed = match dialect {
            Dialect::Sbpf => true,
            Dialect::Sbpf26(version) => !version.static_syscalls(),
            Dialect::Ebpf => false,
        };
        if relative_calls_are_keyed {
            fixup_relative_calls(&mut text, &mut functions, &loader, dialect)?;
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

    /// The memory layout this program runs in (its loader's configuration in its dialect).
    pub fn layout(&self) -> Layout {
        self.loader.layout(self.dialect)
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
        // `from_parts` checked the range.
        self.ro_data.get(self.ro_start..self.ro_end).unwrap_or(&[])
    }

    /// All the bytes the executable holds, shared: the relocated file (or the read-only
    /// image the loader built), of which the mapped bytes are [`Executable::ro_range`] and
    /// the text [`Executable::text_range`]. A host that hands these out (as solana-sbpf
    /// 0.26's accessors do) keeps a clone instead of copying them.
    pub fn shared_bytes(&self) -> &Arc<Vec<u8>> {
        &self.ro_data
    }

    /// Where the mapped read-only bytes lie in [`Executable::shared_bytes`].
    pub fn ro_range(&self) -> core::ops::Range<usize> {
        self.ro_start..self.ro_end
    }

    /// Where the text lies in [`Executable::shared_bytes`].
    pub fn text_range(&self) -> core::ops::Range<usize> {
        self.text_offset..self.text_offset + self.text_len
    }

    /// The guest address of the read-only bytes.
    pub fn ro_vaddr(&self) -> u64 {
        self.ro_vaddr
    }

    /// Whether the program region is writable.
    pub fn program_region(&self) -> ProgramRegion {
        self.program_region
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
///
/// Programs call a few targets many times, and registering a pc again gives the same key
/// without error (fix-up names are never "entrypoint", so the key depends only on the pc), so
/// a small cache of recent targets skips the registry and the hash for most calls.
pub fn fixup_relative_calls<C>(
    text: &mut [u8],
    functions: &mut FunctionRegistry,
    loader: &Loader<C>,
    dialect: Dialect,
) -> Result<(), LoadError> {
    let static_syscalls = keys_are_pcs(loader, dialect);
    let slot_count = text.len() / SLOT_SIZE;
    // Byte arrays have alignment 1, so the view always exists.
    let slots: &mut [[u8; SLOT_SIZE]] =
        object::pod::slice_from_bytes_mut(text, slot_count).map_or(&mut [][..], |(slots, _)| slots);
    let mut keys = KeyCache::new();
    let mut pc = 0;
    while let Some(found) = slots.get(pc..).and_then(next_call) {
        pc += found;
        let Some(bytes) = slots.get_mut(pc) else {
            break;
        };
        let slot = Slot::from_u64(u64::from_le_bytes(*bytes));
        if let Some((src, imm)) = call_operands(slot) {
            if imm != -1 && !(static_syscalls && src == 0) {
                let target = (pc as i64 + 1 + i64::from(imm))
                    .try_into()
                    .ok()
                    .filter(|&target: &usize| target < slot_count)
                    .ok_or(LoadError::RelativeJumpOutOfBounds { pc })?;
                let key = keys.key(target, || {
                    register_call_target(functions, loader, dialect, target)
                })?;
                *bytes = Slot {
                    imm: key as i32,
                    ..slot
                }
                .to_bytes();
            }
        }
        pc += 1;
    }
    Ok(())
}

/// Whether a slot holds a `call imm` (the scan's test, kept to the opcode).
#[inline(always)]
fn is_call(bytes: &[u8; SLOT_SIZE]) -> bool {
    call_operands(Slot::from_u64(u64::from_le_bytes(*bytes))).is_some()
}

/// The index of the first `call imm` in `slots`. Calls are a few percent of the slots, so the
/// scan tests four slots per branch.
fn next_call(slots: &[[u8; SLOT_SIZE]]) -> Option<usize> {
    let quads = slots.chunks_exact(4);
    let rest = quads.remainder();
    let quad = quads.clone().position(|quad| match quad {
        [a, b, c, d] => is_call(a) | is_call(b) | is_call(c) | is_call(d),
        _ => false,
    });
    let (base, within) = match quad {
        Some(quad) => (quad * 4, slots.get(quad * 4..)?),
        None => (quads.len() * 4, rest),
    };
    within
        .iter()
        .take(4)
        .position(is_call)
        .map(|index| base + index)
}

/// Registers the target of a relative call; its name is kept (and so built) only with labels
/// on.
fn register_call_target<C>(
    functions: &mut FunctionRegistry,
    loader: &Loader<C>,
    dialect: Dialect,
    target: usize,
) -> Result<u32, LoadError> {
    let name = if loader.config.enable_symbol_and_section_labels {
        format!("function_{target}")
    } else {
        String::new()
    };
    functions.register(loader, dialect, target, &name)
}

/// A direct-mapped cache of the keys of recent call targets, by pc. A miss (a pc not seen, or
/// evicted) registers again, which gives the same key, so the cache never changes a result.
struct KeyCache {
    entries: [(usize, u32); KeyCache::SIZE],
}

impl KeyCache {
    const SIZE: usize = 512;

    fn new() -> Self {
        KeyCache {
            entries: [(usize::MAX, 0); KeyCache::SIZE],
        }
    }

    /// The key of `pc`: cached, or computed by `register` and remembered.
    #[inline(always)]
    fn key(
        &mut self,
        pc: usize,
        register: impl FnOnce() -> Result<u32, LoadError>,
    ) -> Result<u32, LoadError> {
        let entry = &mut self.entries[pc % KeyCache::SIZE];
        if entry.0 == pc {
            return Ok(entry.1);
        }
        let key = register()?;
        *entry = (pc, key);
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fix-up as the reference writes it: every call registers its target.
    fn fixup_oracle<C>(
        text: &mut [u8],
        functions: &mut FunctionRegistry,
        loader: &Loader<C>,
    ) -> Result<(), LoadError> {
        let slot_count = text.len() / SLOT_SIZE;
        for pc in 0..slot_count {
            let slot = Slot::at(text, pc).unwrap();
            let Some((src, imm)) = call_operands(slot) else {
                continue;
            };
            if imm == -1 || (loader.config.static_syscalls && src == 0) {
                continue;
            }
            let target = usize::try_from(pc as i64 + 1 + i64::from(imm))
                .ok()
                .filter(|&target| target < slot_count)
                .ok_or(LoadError::RelativeJumpOutOfBounds { pc })?;
            let name = if loader.config.enable_symbol_and_section_labels {
                format!("function_{target}")
            } else {
                String::new()
            };
            let key = functions.register(loader, Dialect::Sbpf, target, &name)?;
            let fixed = Slot {
                imm: key as i32,
                ..slot
            };
            text[pc * SLOT_SIZE..][..SLOT_SIZE].copy_from_slice(&fixed.to_bytes());
        }
        Ok(())
    }

    fn call(src: u8, imm: i32) -> Slot {
        let call_opcode = bpfvm_isa::encode(&bpfvm_isa::Insn::Call { src, imm }, Dialect::Sbpf)
            .unwrap()[0]
            .opcode;
        Slot {
            opcode: call_opcode,
            dst: 0,
            src,
            off: 0,
            imm,
        }
    }

    /// A text of `len` slots whose calls (one in three slots) go to a few targets that share
    /// cache lines (`t` and `t + 512`), again and again, with syscall-like calls mixed in.
    fn text(len: usize, seed: u64) -> Vec<u8> {
        let targets = [3usize, 515, 1027, 7, 519, 1500, 12, 1800];
        let mut state = seed;
        let mut bytes = Vec::new();
        for pc in 0..len {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let pick = (state >> 33) as usize;
            let slot = match pc % 3 {
                0 => {
                    let target = targets[pick % targets.len()].min(len - 1);
                    let imm = target as i64 - pc as i64 - 1;
                    let src = u8::from(pick % 5 != 0);
                    call(src, if pick % 11 == 0 { -1 } else { imm as i32 })
                }
                _ => Slot::default(),
            };
            bytes.extend_from_slice(&slot.to_bytes());
        }
        bytes
    }

    #[test]
    fn fixup_agrees_with_registering_every_call() {
        let labels = Config {
            enable_symbol_and_section_labels: true,
            ..Config::legacy()
        };
        let mut checked = 0;
        for config in [Config::legacy(), Config::default(), labels] {
            let loader = Loader::<()>::new(config);
            for (len, seed) in [(2000, 1), (2000, 2), (600, 3), (40, 4)] {
                let mut ours = text(len, seed);
                let mut theirs = ours.clone();
                // A call out of the text, late in some texts, to check the error too.
                if seed == 2 {
                    let bad = call(1, 1_000_000).to_bytes();
                    ours[1500 * SLOT_SIZE..][..SLOT_SIZE].copy_from_slice(&bad);
                    theirs[1500 * SLOT_SIZE..][..SLOT_SIZE].copy_from_slice(&bad);
                }
                let (mut ours_functions, mut theirs_functions) =
                    (FunctionRegistry::new(), FunctionRegistry::new());
                let ours_result =
                    fixup_relative_calls(&mut ours, &mut ours_functions, &loader, Dialect::Sbpf);
                let theirs_result = fixup_oracle(&mut theirs, &mut theirs_functions, &loader);
                assert_eq!(ours_result, theirs_result, "{len} {seed}");
                assert_eq!(ours_functions, theirs_functions, "{len} {seed}");
                if ours_result.is_ok() {
                    assert_eq!(ours, theirs, "{len} {seed}");
                    assert!(ours_functions.len() >= 3);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 9);
    }

    #[test]
    fn call_scan_finds_every_call() {
        for len in 0..12 {
            for at in 0..len {
                let mut slots = vec![[0u8; SLOT_SIZE]; len];
                slots[at] = call(1, 0).to_bytes();
                assert_eq!(next_call(&slots), Some(at), "{len} {at}");
            }
            assert_eq!(next_call(&vec![[0u8; SLOT_SIZE]; len]), None);
        }
    }

    #[test]
    fn fixup_ignores_a_trailing_partial_slot() {
        let loader = Loader::<()>::new(Config::legacy());
        let mut text = [call(1, -1).to_bytes(), call(1, -2).to_bytes()].concat();
        text.extend_from_slice(&call(1, -3).to_bytes()[..7]);
        let original = text.clone();
        let mut functions = FunctionRegistry::new();
        fixup_relative_calls(&mut text, &mut functions, &loader, Dialect::Sbpf).unwrap();
        assert_eq!(functions.len(), 1);
        assert_eq!(functions.iter().next().unwrap().1.pc, 0);
        assert_eq!(text[..8], original[..8]);
        assert_ne!(text[8..16], original[8..16]);
        assert_eq!(text[16..], original[16..]);
    }
}
