//! The unsafe surface of the memory API: host buffers named by raw pointers, and the places
//! where they become bpfvm regions or are read and written.
//!
//! Invariant (the contract the real crate states on `MemoryMapping::new_uninitialized`, which
//! every unsafe constructor here passes on to its caller): the memory a [`HostBuffer`] of a
//! mapped region names stays allocated while the mapping uses it, is writable when the buffer
//! is `Mutable`, and accepts any bytes being written. bpfvm's regions are made from the same
//! pointers (`bpfvm::MemoryRegion::from_raw_parts`) and touch the bytes only during one
//! access, so the host may keep writing its buffers between accesses.
#![allow(unsafe_code)]

use super::{AccessType, EngineBox, MemoryMapping, MemoryRegion, RunState, RunWord};
use crate::{aligned_memory::Pod, error::EbpfError, program::SBPFVersion, vm::Config};
use std::ptr;

/// Host memory that can back a region.
///
/// # Safety
///
/// The buffer returned by `host` must lie inside the object the implementing value names.
pub unsafe trait HostMemoryObject {
    /// The object's bytes as a host buffer.
    fn host(self) -> HostBuffer;
}

/// Types whose bytes may be mapped into the guest read-only.
pub trait VmExposable {}

/// Types whose bytes may be mapped writable.
///
/// # Safety
///
/// Any bytes the guest writes must leave the value valid (no invariant to break).
pub unsafe trait VmExposableMut {}

// SAFETY: every byte pattern is a valid u8.
unsafe impl VmExposableMut for u8 {}
impl<T: VmExposableMut> VmExposable for T {}

// SAFETY: the buffer is exactly the pointee's bytes.
unsafe impl<T: VmExposable> HostMemoryObject for *const T {
    fn host(self) -> HostBuffer {
        HostBuffer::Immutable(ptr::slice_from_raw_parts(self.cast(), size_of::<T>()))
    }
}

// SAFETY: the buffer is exactly the pointee's bytes.
unsafe impl<T: VmExposableMut> HostMemoryObject for *mut T {
    fn host(self) -> HostBuffer {
        HostBuffer::Mutable(ptr::slice_from_raw_parts_mut(self.cast(), size_of::<T>()))
    }
}

// SAFETY: the buffer is exactly the slice's bytes (the length multiplication cannot overflow
// for a slice that exists; a saturated length would exceed any allocation and is refused by
// no one, so it is checked).
unsafe impl<T: VmExposable> HostMemoryObject for *const [T] {
    #[allow(
        clippy::expect_used,
        reason = "the byte length of a real slice fits in usize"
    )]
    fn host(self) -> HostBuffer {
        let len = self
            .len()
            .checked_mul(size_of::<T>())
            .expect("slice byte length overflows");
        HostBuffer::Immutable(ptr::slice_from_raw_parts(self.cast(), len))
    }
}

// SAFETY: as for `*const [T]`.
unsafe impl<T: VmExposableMut> HostMemoryObject for *mut [T] {
    #[allow(
        clippy::expect_used,
        reason = "the byte length of a real slice fits in usize"
    )]
    fn host(self) -> HostBuffer {
        let len = self
            .len()
            .checked_mul(size_of::<T>())
            .expect("slice byte length overflows");
        HostBuffer::Mutable(ptr::slice_from_raw_parts_mut(self.cast(), len))
    }
}

// SAFETY: the buffer is exactly the array's bytes.
unsafe impl<T: VmExposable, const N: usize> HostMemoryObject for *const [T; N] {
    fn host(self) -> HostBuffer {
        HostBuffer::Immutable(ptr::slice_from_raw_parts(self.cast(), N * size_of::<T>()))
    }
}

// SAFETY: the buffer is exactly the array's bytes.
unsafe impl<T: VmExposableMut, const N: usize> HostMemoryObject for *mut [T; N] {
    fn host(self) -> HostBuffer {
        HostBuffer::Mutable(ptr::slice_from_raw_parts_mut(
            self.cast(),
            N * size_of::<T>(),
        ))
    }
}

// SAFETY: a buffer names itself.
unsafe impl HostMemoryObject for HostBuffer {
    fn host(self) -> HostBuffer {
        self
    }
}

/// Host bytes, read-only or writable, named by a raw slice pointer.
#[derive(PartialEq, Eq, Copy, Clone, Debug)]
pub enum HostBuffer {
    /// Read-only bytes (stores are refused).
    Immutable(*const [u8]),
    /// Writable bytes.
    Mutable(*mut [u8]),
}

impl HostBuffer {
    /// No bytes.
    pub(crate) fn empty() -> Self {
        HostBuffer::Immutable(ptr::slice_from_raw_parts(
            ptr::NonNull::<u8>::dangling().as_ptr(),
            0,
        ))
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.ptr().len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether stores are allowed.
    pub fn is_mutable(&self) -> bool {
        matches!(self, HostBuffer::Mutable(_))
    }

    /// The same bytes, writable.
    ///
    /// # Safety
    ///
    /// The buffer must have been made from a mutable pointer.
    pub unsafe fn mutable(self) -> Self {
        match self {
            HostBuffer::Immutable(bytes) => HostBuffer::Mutable(bytes.cast_mut()),
            HostBuffer::Mutable(_) => self,
        }
    }

    /// The same bytes, read-only.
    pub fn immutable(self) -> Self {
        match self {
            HostBuffer::Immutable(_) => self,
            HostBuffer::Mutable(bytes) => HostBuffer::Immutable(bytes.cast_const()),
        }
    }

    /// The bytes `range`, or `None` when it runs past the end.
    #[inline]
    pub fn get(self, range: std::ops::Range<usize>) -> Option<Self> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        let len = range.end - range.start;
        // SAFETY: `range.start <= self.len()` (checked above), so the offset stays inside the
        // buffer's allocation (or one past its end), as `byte_add` requires; allocations are
        // at most isize::MAX bytes.
        Some(unsafe {
            match self {
                HostBuffer::Immutable(bytes) => HostBuffer::Immutable(ptr::slice_from_raw_parts(
                    bytes.cast::<u8>().byte_add(range.start),
                    len,
                )),
                HostBuffer::Mutable(bytes) => HostBuffer::Mutable(ptr::slice_from_raw_parts_mut(
                    bytes.cast::<u8>().byte_add(range.start),
                    len,
                )),
            }
        })
    }

    /// The bytes' pointer.
    #[inline(always)]
    pub fn ptr(self) -> *const [u8] {
        match self {
            HostBuffer::Immutable(bytes) => bytes,
            HostBuffer::Mutable(bytes) => bytes.cast_const(),
        }
    }

    /// The bytes' pointer for writing (of a read-only buffer too: writing through it is the
    /// caller's responsibility, as in the real crate).
    #[inline(always)]
    pub fn ptr_mut(self) -> *mut [u8] {
        match self {
            HostBuffer::Immutable(bytes) => bytes.cast_mut(),
            HostBuffer::Mutable(bytes) => bytes,
        }
    }
}

impl MemoryRegion {
    /// Points the region at other host memory (writable when `host` is).
    ///
    /// # Safety
    ///
    /// When the region belongs to a mapping, the new memory must satisfy the mapping's
    /// contract (see [`MemoryMapping::new_uninitialized`]).
    pub unsafe fn redirect<HO: HostMemoryObject>(&mut self, host: HO) {
        self.host = host.host();
    }
}

impl MemoryMapping {
    /// A mapping that is not initialized yet (call [`MemoryMapping::initialize`]).
    ///
    /// # Safety
    ///
    /// The memory of every region must stay allocated while the mapping uses it, and writable
    /// regions must accept any bytes being written.
    pub unsafe fn new_uninitialized(
        regions: Vec<MemoryRegion>,
        config: &Config,
        sbpf_version: SBPFVersion,
        access_violation_handler: super::AccessViolationHandler,
    ) -> Self {
        MemoryMapping::uninitialized(regions, config, sbpf_version, access_violation_handler)
    }

    /// An initialized mapping with an access violation handler.
    ///
    /// # Safety
    ///
    /// As [`MemoryMapping::new_uninitialized`]; the handler must leave its region valid.
    pub unsafe fn new_with_access_violation_handler(
        regions: Vec<MemoryRegion>,
        config: &Config,
        sbpf_version: SBPFVersion,
        access_violation_handler: super::AccessViolationHandler,
    ) -> Result<Self, EbpfError> {
        let mut mapping =
            MemoryMapping::uninitialized(regions, config, sbpf_version, access_violation_handler);
        mapping.initialize()?;
        Ok(mapping)
    }

    /// An initialized mapping whose violations always stand.
    ///
    /// # Safety
    ///
    /// As [`MemoryMapping::new_uninitialized`].
    pub unsafe fn new(
        regions: Vec<MemoryRegion>,
        config: &Config,
        sbpf_version: SBPFVersion,
    ) -> Result<Self, EbpfError> {
        // SAFETY: the caller's promise is the same.
        unsafe {
            Self::new_with_access_violation_handler(
                regions,
                config,
                sbpf_version,
                Box::new(super::default_access_violation_handler),
            )
        }
    }

    /// Replaces region `index`: it must keep its address and end before the next region.
    ///
    /// # Safety
    ///
    /// The new region must satisfy the mapping's contract (see
    /// [`MemoryMapping::new_uninitialized`]).
    pub unsafe fn replace_region(
        &mut self,
        index: usize,
        region: MemoryRegion,
    ) -> Result<(), EbpfError> {
        replace_checked(self, index, region)
    }
}

/// `replace_region` after the host's promise: checks the replacement, then updates the host's
/// list and bpfvm's mapping (owned, or lent to a running program).
pub(super) fn replace_checked(
    mapping: &mut MemoryMapping,
    index: usize,
    region: MemoryRegion,
) -> Result<(), EbpfError> {
    mapping.check_replacement(index, &region)?;
    let engine_region = engine_region(&region);
    with_engine_mut(mapping, |engine| match engine {
        Some(engine) => engine
            .replace_region_at(engine_region)
            .map_err(|_| EbpfError::InvalidMemoryRegion(index)),
        None => Ok(()),
    })?;
    if let Some(slot) = mapping.region_slot(index) {
        *slot = region;
    }
    Ok(())
}

/// bpfvm's region over the same host memory.
pub(crate) fn engine_region(region: &MemoryRegion) -> bpfvm::MemoryRegion<'static> {
    let access = match region.host {
        HostBuffer::Mutable(_) => bpfvm::memory::HostAccess::ReadWrite,
        HostBuffer::Immutable(_) => bpfvm::memory::HostAccess::ReadOnly,
    };
    let bytes = region.host.ptr_mut();
    // SAFETY: the region belongs to (or is about to join) a mapping whose constructor's
    // caller promised that this memory stays allocated, is writable when mutable and accepts
    // any bytes, for as long as the mapping uses it (the module invariant); bpfvm's region
    // lives inside that mapping.
    unsafe {
        bpfvm::MemoryRegion::from_raw_parts(
            bytes.cast(),
            bytes.len(),
            access,
            region.vm_addr,
            region.gap_size(),
        )
    }
}

/// bpfvm's mapping, call stacks and run word ([`EngineBox`]) in an allocation owned through
/// a raw pointer, so that a run can borrow the mapping and the call stacks in place for its
/// length while the host's mapping, which owns them, stays reachable through the VM's
/// pointer to it (a `Box` field would claim its allocation whenever the mapping is
/// borrowed). The mapping is reached only through [`with_engine`] and [`with_engine_mut`],
/// which use it only while no run does (`RunState::Idle`), and by the run
/// `MemoryMapping::begin_run` hands its address to; the run word only through shared
/// references ([`EngineSlot::run`], the handler, the run's end), never through a reference
/// to the whole allocation while the mapping or call stacks are borrowed.
pub(crate) struct EngineSlot(ptr::NonNull<EngineBox>);

impl EngineSlot {
    /// The slot owning `engine`.
    fn new(engine: Box<EngineBox>) -> Self {
        EngineSlot(ptr::NonNull::from(Box::leak(engine)))
    }

    /// The allocation's address.
    #[inline(always)]
    pub(super) fn pointer(&self) -> ptr::NonNull<EngineBox> {
        self.0
    }

    /// The engine's run word.
    #[inline(always)]
    pub(super) fn run(&self) -> &RunWord {
        // SAFETY: the slot owns the allocation (made by `new`), which lives as long as the
        // slot; the run word is only ever reached through shared references (the slot's
        // doc), so this one aliases no mutable reference.
        unsafe { &*ptr::addr_of!((*self.0.as_ptr()).run) }
    }

    /// Installs the host's access violation handler in the engine's mapping, pointed at the
    /// run word beside it.
    fn install_handler(&mut self) {
        let engine = self.0.as_ptr();
        let run = ptr::NonNull::from(self.run());
        // SAFETY: the slot owns the allocation and nothing else reaches it yet (it is being
        // built); the mapping is borrowed alone, apart from the run word.
        let mapping = unsafe { &mut *ptr::addr_of_mut!((*engine).mapping) };
        let handler = crate::bridge::HostHandler::new(run);
        mapping.set_violation_handler(Some(Box::new(handler)));
    }
}

impl Drop for EngineSlot {
    fn drop(&mut self) {
        // A slot is dropped only while no run uses it: `get_regions_mut` and `initialize`
        // keep it during a run, and the host's mapping outlives every run over it (the
        // bridge's invariant 2). The handler, dropped with the mapping before the run word,
        // does not read the word when dropped.
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only here, once.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// bpfvm's mapping of the host's (sorted, checked) regions, in its own allocation, with the
/// host's access violation handler installed (it answers only during runs: see `Engine`).
pub(super) fn build_engine_mapping(mapping: &MemoryMapping) -> Result<EngineSlot, EbpfError> {
    let regions = mapping.get_regions().iter().map(engine_region).collect();
    let layout = crate::bridge::layout_for(mapping.config(), mapping.sbpf_version());
    let engine = bpfvm::MemoryMapping::with_layout(regions, &layout)
        .map_err(|error| crate::bridge::errors::runtime_error(error, None))?;
    let mut slot = EngineSlot::new(Box::new(EngineBox {
        mapping: engine,
        stacks: bpfvm::CallStacks::new(),
        run: RunWord::idle(),
    }));
    slot.install_handler();
    Ok(slot)
}

/// Runs `f` on bpfvm's mapping wherever it is: here between runs, or lent to a builtin of a
/// running program (`None` when it is not built, or a run uses it and has not lent it).
#[inline]
pub(super) fn with_engine<R>(
    mapping: &MemoryMapping,
    f: impl FnOnce(Option<&bpfvm::MemoryMapping<'static>>) -> R,
) -> R {
    match (&mapping.engine.built, mapping.run_state()) {
        (Some(slot), RunState::Idle) => {
            // SAFETY: no run uses the slot (`Idle`), so nothing holds a mutable reference to
            // its mapping; the shared one lives as long as this borrow of the mapping, which
            // owns it.
            let engine = unsafe { &*ptr::addr_of!((*slot.0.as_ptr()).mapping) };
            f(Some(engine))
        }
        // SAFETY: `Lent` is set by the bridge only while a builtin runs, from the `&mut` the
        // engine passed to the builtin's trampoline, and cleared before the trampoline
        // returns; nothing else uses that reference meanwhile.
        (_, RunState::Lent(engine)) => f(Some(unsafe { engine.as_ref() })),
        (None, RunState::Idle) | (_, RunState::Running) => f(None),
    }
}

/// Like [`with_engine`], mutably.
#[inline]
pub(super) fn with_engine_mut<R>(
    mapping: &mut MemoryMapping,
    f: impl FnOnce(Option<&mut bpfvm::MemoryMapping<'static>>) -> R,
) -> R {
    let state = mapping.run_state();
    match (&mut mapping.engine.built, state) {
        (Some(slot), RunState::Idle) => {
            // SAFETY: as in `with_engine`; the mutable reference borrows the mapping mutably,
            // and names the engine's mapping alone (not the run word beside it, which the
            // handler may read meanwhile).
            let engine = unsafe { &mut *ptr::addr_of_mut!((*slot.0.as_ptr()).mapping) };
            f(Some(engine))
        }
        // SAFETY: as in `with_engine`.
        (_, RunState::Lent(mut engine)) => f(Some(unsafe { engine.as_mut() })),
        (None, RunState::Idle) | (_, RunState::Running) => f(None),
    }
}

/// The host bytes `region` would give an access, or `None` (the handler's retry).
pub(super) fn region_serves(
    region: &MemoryRegion,
    access: AccessType,
    vm_addr: u64,
    len: u64,
) -> Option<HostBuffer> {
    if access == AccessType::Store && !region.host.is_mutable() {
        return None;
    }
    let probe = engine_region(region);
    let offset = probe.vm_to_host(vm_addr, len)? as usize;
    region.host.get(offset..offset.checked_add(len as usize)?)
}

/// Reads a `T` from a translated buffer of `size_of::<T>()` bytes.
pub(super) fn read_pod<T: Pod>(buffer: HostBuffer) -> T {
    // SAFETY: the buffer came from a successful translation of `size_of::<T>()` bytes, so it
    // is valid for reads of that many bytes (the module invariant); `T: Pod` accepts any
    // bytes, and the read is unaligned.
    unsafe { ptr::read_unaligned(buffer.ptr().cast::<T>()) }
}

/// Writes a `T` into a translated, writable buffer of `size_of::<T>()` bytes.
pub(super) fn write_pod<T: Pod>(buffer: HostBuffer, value: T) {
    // SAFETY: the buffer came from a successful translation of a store of `size_of::<T>()`
    // bytes, so it is writable (stores are refused for read-only regions) and valid for that
    // many bytes (the module invariant); the write is unaligned.
    unsafe { ptr::write_unaligned(buffer.ptr_mut().cast::<T>(), value) }
}
