//! Guest memory: regions, the two mappings, and the access-violation classification.
//!
//! A program sees a 64-bit address space in which the host places [`MemoryRegion`]s: the
//! program's read-only data, the stack, the heap and the host's input (reference §5). A
//! [`MemoryMapping`] translates a guest access `(vaddr, len)` to host bytes in one of two
//! ways, chosen by `Config::aligned_memory_mapping`:
//! - aligned ([`aligned`]): the upper 32 address bits index the region directly;
//! - unaligned ([`unaligned`]): a search over sorted regions, behind a 4-entry cache.
//!
//! Either way the region then translates the address itself ([`region`], including the
//! gapped-stack layout and its first-byte-only gap test), and a failure becomes the error
//! [`violation`] classifies. [`MemoryMapping::map`] is the one translation primitive; loads,
//! stores and the syscall helpers are built on it.
//!
//! Where regions live and how the stack is laid out is one value, the [`Layout`]
//! ([`layout`]), derived once from the configuration and used by the loader, the VM, both
//! backends and the classifier. The JIT reads the mapping through the region table
//! ([`table`]), whose rows and rules are defined here too.
//!
//! A host that makes a VM per invocation can keep the stack and heap in a [`VmMemory`]
//! ([`pages`]), which lends them all-zero each time without zeroing them whole.
//!
//! **Architecture invariant:** host memory is only ever touched in [`host`] (regions' bytes)
//! and [`pages`] (mapping and resetting reusable memory), the two files of this module
//! allowed `unsafe`. Everything else here is safe code over checked offsets.

mod aligned;
mod host;
pub mod layout;
mod pages;
mod region;
#[cfg_attr(
    not(bpfvm_jit),
    allow(
        dead_code,
        reason = "the JIT reads the table; a build without it only interprets"
    )
)]
pub(crate) mod table;
mod unaligned;
mod violation;

use host::DirectRows;
pub use host::{HostAccess, HOST_ALIGN};
pub use layout::{
    AddressMap, CurrentFrame, FrameMode, GappedFrames, Gaps, Layout, MappingKind, MemoryRules,
    StackFrames, StackLayout,
};
pub use pages::VmMemory;
pub use region::MemoryRegion;
pub use violation::region_name;

use crate::config::Config;
use crate::error::{AccessType, RuntimeError};
use aligned::AlignedMapping;
use bpfvm_isa::{Dialect, MemSize};
use unaligned::UnalignedMapping;
use violation::ViolationPolicy;

/// A translated access: which region and which host bytes. Only the mapping that made it
/// can resolve it to bytes ([`MemoryMapping::slice`]); the bounds are checked again then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRange {
    region: usize,
    offset: u64,
    len: u64,
}

impl HostRange {
    /// Whether `byte` (a one-byte range) is this range's last byte: same region, right
    /// after the others.
    fn ends_with(&self, byte: &HostRange) -> bool {
        self.region == byte.region
            && self.offset.checked_add(self.len.saturating_sub(1)) == Some(byte.offset)
    }

    /// The length of the access in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The index, in [`MemoryMapping::regions`] order, of the region the access lies in.
    pub fn region_index(&self) -> usize {
        self.region
    }

    /// Where the access starts in that region's host bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the access is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which lookup strategy a mapping uses.
#[derive(Debug)]
enum Lookup<'a> {
    Aligned(AlignedMapping<'a>),
    Unaligned(UnalignedMapping<'a>),
}

/// A host's say before a program's load or store fails: it may hand back a region to put in
/// place of the one that starts at the same guest address (solana-sbpf 0.26's access
/// violation handler, which Solana runtimes use to make copy-on-write account data writable
/// or to grow it); the access is then tried once more.
/// Its regions are host memory the host keeps alive itself (`MemoryRegion::from_raw_parts`),
/// hence `'static`.
pub trait ViolationHandler {
    /// The replacement region for a failed `access` of `len` bytes at `vaddr`, if any.
    fn handle(&mut self, access: AccessType, vaddr: u64, len: u64)
        -> Option<MemoryRegion<'static>>;
}

/// Guest memory as the program sees it.
pub struct MemoryMapping<'a> {
    lookup: Lookup<'a>,
    /// The interpreter's direct lookup of the regions (`host::DirectRows`): made with the
    /// mapping and again whenever a region is replaced, so it always describes `lookup`'s
    /// regions.
    direct: DirectRows,
    policy: ViolationPolicy,
    /// Asked before a program's load or store fails (see [`ViolationHandler`]).
    handler: Option<Box<dyn ViolationHandler>>,
    /// The region table's rows of these regions, made on the first JIT run and kept until
    /// a region is replaced ([`MemoryMapping::replace_region`], the one way a region's
    /// place, length or writability changes), so that runs copy them instead of making them.
    #[cfg_attr(
        not(bpfvm_jit),
        allow(dead_code, reason = "only the JIT reads the table")
    )]
    table: core::cell::OnceCell<table::TableRows>,
}

impl core::fmt::Debug for MemoryMapping<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryMapping")
            .field("lookup", &self.lookup)
            .field("policy", &self.policy)
            .field("handler", &self.handler.is_some())
            .finish()
    }
}

/// The pc that accesses made by syscalls report, as the reference's syscalls do.
const SYSCALL_PC: usize = 0;

impl<'a> MemoryMapping<'a> {
    /// Builds the mapping the configuration selects, with the 2022 rules of sBPF (reference
    /// §5.3). Fails with `InvalidMemoryRegion` when the regions do not fit it.
    pub fn new(regions: Vec<MemoryRegion<'a>>, config: &Config) -> Result<Self, RuntimeError> {
        Self::with_layout(regions, &Layout::of(config, Dialect::Sbpf))
    }

    /// Builds the mapping a layout selects (its lookup, its rules and its classification of
    /// violations): what a VM builds for a program of any dialect.
    pub fn with_layout(
        regions: Vec<MemoryRegion<'a>>,
        layout: &Layout,
    ) -> Result<Self, RuntimeError> {
        let lookup = match layout.mapping {
            MappingKind::Aligned => Lookup::Aligned(AlignedMapping::new(regions, layout.rules)?),
            MappingKind::Unaligned => Lookup::Unaligned(UnalignedMapping::new(regions)?),
        };
        let direct = DirectRows::of(direct_regions(&lookup));
        Ok(MemoryMapping {
            lookup,
            direct,
            policy: ViolationPolicy::new(*layout),
            handler: None,
            table: core::cell::OnceCell::new(),
        })
    }

    #[inline]
    fn find(&self, access: AccessType, vaddr: u64, len: u64) -> Option<(usize, u64)> {
        match &self.lookup {
            Lookup::Aligned(mapping) => mapping.find(access, vaddr, len),
            Lookup::Unaligned(mapping) => mapping.find(access, vaddr, len),
        }
    }

    fn region_mut(&mut self, index: usize) -> Option<&mut MemoryRegion<'a>> {
        match &mut self.lookup {
            Lookup::Aligned(mapping) => mapping.region_mut(index),
            Lookup::Unaligned(mapping) => mapping.region_mut(index),
        }
    }

    /// Translates an `access` of `len` bytes at `vaddr` by the instruction at `pc`. Fails
    /// with `AccessViolation` or `StackAccessViolation` (reference §5.4).
    #[inline]
    pub fn map(
        &self,
        access: AccessType,
        vaddr: u64,
        len: u64,
        pc: usize,
    ) -> Result<HostRange, RuntimeError> {
        match self.find(access, vaddr, len) {
            Some((region, offset)) => Ok(HostRange {
                region,
                offset,
                len,
            }),
            None => Err(self.violation(access, vaddr, len, pc)),
        }
    }

    /// The error for a failed access: the policy's classification, told whether a mapped
    /// region holds the address (0.26 names the region "unallocated" when none does).
    #[cold]
    fn violation(&self, access: AccessType, vaddr: u64, len: u64, pc: usize) -> RuntimeError {
        let held = self.regions().iter().any(|region| region.contains(vaddr));
        self.policy.error(access, vaddr, len, pc, held)
    }

    /// Translates `len` bytes at `vaddr` only if every byte is addressable and the bytes
    /// are contiguous in host memory (no byte lies in a gap), whereas [`MemoryMapping::map`]
    /// judges a gapped region by the first byte alone: the rule for a span that stands in
    /// for two accesses (the JIT's pairs). Errors are not classified (`None`).
    pub fn map_every_byte(&self, access: AccessType, vaddr: u64, len: u64) -> Option<HostRange> {
        let range = self.map(access, vaddr, len, SYSCALL_PC).ok()?;
        let last = vaddr.wrapping_add(len.saturating_sub(1));
        let byte = self.map(access, last, 1, SYSCALL_PC).ok()?;
        range.ends_with(&byte).then_some(range)
    }

    /// Loads `size` bytes at `vaddr`, little-endian, zero-extended.
    #[inline]
    pub fn load(&self, size: MemSize, vaddr: u64, pc: usize) -> Result<u64, RuntimeError> {
        self.find(AccessType::Load, vaddr, size.bytes())
            .and_then(|(index, offset)| {
                self.regions()
                    .get(index)
                    .and_then(|region| region.host.load_le(offset, size))
            })
            .ok_or_else(|| self.violation(AccessType::Load, vaddr, size.bytes(), pc))
    }

    /// Stores the low `size` bytes of `value` at `vaddr`, little-endian.
    #[inline]
    pub fn store(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        let done = self
            .find(AccessType::Store, vaddr, size.bytes())
            .and_then(|(index, offset)| {
                self.region_mut(index)
                    .and_then(|region| region.host.store_le(offset, size, value))
            });
        done.ok_or_else(|| self.violation(AccessType::Store, vaddr, size.bytes(), pc))
    }

    /// [`load`](Self::load) with the aligned mapping's lookup inlined (its direct rows): the
    /// interpreter's hot path. Same results and errors; anything the rows do not give takes
    /// `load`, and a failing one asks the [`ViolationHandler`] first.
    #[inline(always)]
    pub fn load_inline(
        &mut self,
        size: MemSize,
        vaddr: u64,
        pc: usize,
    ) -> Result<u64, RuntimeError> {
        if let Some(value) = self.direct.load(size, vaddr) {
            return Ok(value);
        }
        self.load_general(size, vaddr, pc)
    }

    /// [`store`](Self::store) with the aligned mapping's lookup inlined (its direct rows): the
    /// interpreter's hot path. Same results and errors; anything the rows do not give takes
    /// `store`, and a failing one asks the [`ViolationHandler`] first.
    #[inline(always)]
    pub fn store_inline(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        if self.direct.store(size, vaddr, value).is_some() {
            return Ok(());
        }
        self.store_general(size, vaddr, value, pc)
    }

    /// The aligned mapping's inlined lookup alone (the direct rows): the value of a valid
    /// aligned load of a region that starts at its slot's first address, below slot 8, or
    /// `None` for anything [`load_inline`](Self::load_inline) hands to its general path
    /// ([`load_general`](Self::load_general)).
    #[inline(always)]
    pub(crate) fn load_aligned(&self, size: MemSize, vaddr: u64) -> Option<u64> {
        self.direct.load(size, vaddr)
    }

    /// The aligned mapping's inlined lookup alone (the direct rows): `Some` when a valid
    /// aligned store was made, `None` for anything [`store_inline`](Self::store_inline) hands to its general
    /// path ([`store_general`](Self::store_general)).
    #[inline(always)]
    pub(crate) fn store_aligned(&mut self, size: MemSize, vaddr: u64, value: u64) -> Option<()> {
        self.direct.store(size, vaddr, value)
    }

    /// The aligned mapping's inlined lookup alone for a load and a store of the same `size`
    /// bytes at `vaddr`: `Some(step(loaded))` when both were made (the store writing its
    /// low bytes), `None`, with neither made, for a store
    /// [`store_aligned`](Self::store_aligned) would not make (its load is then the caller's
    /// to make, as it would be alone).
    #[inline(always)]
    pub(crate) fn modify_aligned(
        &mut self,
        size: MemSize,
        vaddr: u64,
        step: impl FnOnce(u64) -> u64,
    ) -> Option<u64> {
        self.direct.modify(size, vaddr, step)
    }

    /// The general path of [`load_inline`](Self::load_inline).
    #[inline(never)]
    pub(crate) fn load_general(
        &mut self,
        size: MemSize,
        vaddr: u64,
        pc: usize,
    ) -> Result<u64, RuntimeError> {
        match self.load(size, vaddr, pc) {
            Err(error) if self.handled(AccessType::Load, vaddr, size.bytes()) => {
                self.load(size, vaddr, pc).map_err(|_| error)
            }
            result => result,
        }
    }

    /// Sets (or with `None` removes) the host's [`ViolationHandler`], which the interpreter's
    /// loads and stores (and so the JIT's, which hand a failing access to the interpreter)
    /// ask before they fail.
    pub fn set_violation_handler(&mut self, handler: Option<Box<dyn ViolationHandler>>) {
        self.handler = handler;
    }

    /// Asks the handler about a failed access and puts its region in place; whether the
    /// mapping changed (the access is then worth trying again).
    #[cold]
    fn handled(&mut self, access: AccessType, vaddr: u64, len: u64) -> bool {
        let Some(region) = self
            .handler
            .as_mut()
            .and_then(|handler| handler.handle(access, vaddr, len))
        else {
            return false;
        };
        self.replace_region_at(region).is_ok()
    }

    /// The general path of [`store_inline`](Self::store_inline).
    #[inline(never)]
    pub(crate) fn store_general(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        match self.store(size, vaddr, value, pc) {
            Err(error) if self.handled(AccessType::Store, vaddr, size.bytes()) => {
                self.store(size, vaddr, value, pc).map_err(|_| error)
            }
            result => result,
        }
    }

    /// The bytes of a translated load or store.
    pub fn slice(&self, range: HostRange) -> Option<&[u8]> {
        self.regions()
            .get(range.region)?
            .host
            .slice(range.offset, range.len)
    }

    /// The bytes of a translated store, writable. `None` for a read-only region.
    pub fn slice_mut(&mut self, range: HostRange) -> Option<&mut [u8]> {
        self.region_mut(range.region)?
            .host
            .slice_mut(range.offset, range.len)
    }

    /// Copies `len` guest bytes at `vaddr` out, as a syscall does (errors carry pc 0).
    pub fn read_bytes(&self, vaddr: u64, len: u64) -> Result<Vec<u8>, RuntimeError> {
        let range = self.map(AccessType::Load, vaddr, len, SYSCALL_PC)?;
        self.slice(range)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| self.violation(AccessType::Load, vaddr, len, SYSCALL_PC))
    }

    /// Copies `bytes` into guest memory at `vaddr`, as a syscall does (errors carry pc 0).
    pub fn write_bytes(&mut self, vaddr: u64, bytes: &[u8]) -> Result<(), RuntimeError> {
        let len = bytes.len() as u64;
        let range = self.map(AccessType::Store, vaddr, len, SYSCALL_PC)?;
        if let Some(target) = self.slice_mut(range) {
            target.copy_from_slice(bytes);
            return Ok(());
        }
        Err(self.violation(AccessType::Store, vaddr, len, SYSCALL_PC))
    }

    /// The layout this mapping was built for (its rules name violations and place regions).
    pub fn layout(&self) -> &Layout {
        self.policy.layout()
    }

    /// A copy of the host bytes of the region that starts at `vaddr` (all of them, without
    /// the gaps of a gapped region), for hosts that inspect memory after a run.
    pub fn region_bytes(&self, vaddr: u64) -> Option<Vec<u8>> {
        let region = self
            .regions()
            .iter()
            .find(|region| region.vm_addr() == vaddr && !region.is_empty())?;
        region.host.slice(0, region.len()).map(<[u8]>::to_vec)
    }

    /// The regions, in the mapping's storage order: the aligned mapping puts an empty region
    /// at index 0 and then one region per 4 GiB slot; the unaligned mapping keeps Eytzinger
    /// order. Indices here are the ones `replace_region` takes.
    pub fn regions(&self) -> &[MemoryRegion<'a>] {
        match &self.lookup {
            Lookup::Aligned(mapping) => mapping.regions(),
            Lookup::Unaligned(mapping) => mapping.regions(),
        }
    }

    /// Replaces the region at `index` (reference §5.3 rules): aligned, the new region must
    /// lie in slot `index`; unaligned, it must keep the guest address. Otherwise
    /// `InvalidMemoryRegion(index)`.
    pub fn replace_region(
        &mut self,
        index: usize,
        region: MemoryRegion<'a>,
    ) -> Result<(), RuntimeError> {
        self.table.take();
        let replaced = match &mut self.lookup {
            Lookup::Aligned(mapping) => mapping.replace_region(index, region),
            Lookup::Unaligned(mapping) => mapping.replace_region(index, region),
        };
        // The old region is gone: the rows are made again from the regions held now.
        self.direct = DirectRows::of(direct_regions(&self.lookup));
        replaced
    }

    /// Replaces the region that starts at `region.vm_addr()` (whatever its index in
    /// [`MemoryMapping::regions`] order): for hosts that name regions by address.
    /// `InvalidMemoryRegion` when no region starts there or the new one does not fit.
    pub fn replace_region_at(&mut self, region: MemoryRegion<'a>) -> Result<(), RuntimeError> {
        let vm_addr = region.vm_addr();
        let index = self
            .regions()
            .iter()
            .position(|existing| existing.vm_addr() == vm_addr)
            .ok_or(RuntimeError::InvalidMemoryRegion {
                index: (vm_addr >> 32) as usize,
            })?;
        self.replace_region(index, region)
    }

    /// Whether `vaddr` is in the unaligned mapping's lookup cache (always false for the
    /// aligned mapping); for tests of the cache.
    #[cfg(test)]
    fn is_cached(&self, vaddr: u64) -> bool {
        match &self.lookup {
            Lookup::Aligned(_) => false,
            Lookup::Unaligned(mapping) => mapping.is_cached(vaddr),
        }
    }
}

/// The regions the direct rows describe: the aligned mapping's, one per slot; none for the
/// unaligned mapping, whose accesses all take the general path.
fn direct_regions<'m, 'a>(lookup: &'m Lookup<'a>) -> &'m [MemoryRegion<'a>] {
    match lookup {
        Lookup::Aligned(mapping) => mapping.regions(),
        Lookup::Unaligned(_) => &[],
    }
}

#[cfg(test)]
mod tests;
