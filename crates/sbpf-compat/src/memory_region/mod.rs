//! Guest memory as the host builds it (solana-sbpf 0.26's `memory_region` module): regions
//! over host buffers named by raw pointers, and the [`MemoryMapping`] that translates guest
//! addresses through bpfvm's mapping.
//!
//! A [`MemoryMapping`] keeps two views of the same regions: the host's list of
//! [`MemoryRegion`]s (sorted by address, with empty fillers in the aligned mapping's unused
//! slots, as the real crate keeps it, so that indices and `get_regions` agree with it), and
//! bpfvm's mapping built from that list by `initialize`, which does every translation and
//! names every violation. A run uses bpfvm's mapping in place; while a builtin runs, the
//! engine lends it back (see `crate::bridge`), so a host's translations, region
//! replacements and loads during a syscall reach the mapping the program runs in.
//!
//! The unsafe parts of the API (raw host buffers, mapping construction, region replacement)
//! live in [`raw`]; everything here is safe code over them.

mod raw;

pub use raw::{HostBuffer, HostMemoryObject, VmExposable, VmExposableMut};

use crate::{
    aligned_memory::Pod,
    ebpf,
    error::{EbpfError, ProgramResult, StableResult},
    program::SBPFVersion,
    vm::Config,
};
use std::{fmt, ops::Range};

/// Called before an access violation is raised: it may redirect the region (for example to
/// make a copy-on-write account writable); the access is then tried again. Its arguments are
/// the region, the address space the region may grow into, the access, the address and the
/// length.
pub type AccessViolationHandler = Box<dyn Fn(&mut MemoryRegion, u64, AccessType, u64, u64)>;

/// The handler that changes nothing (every violation stands).
pub fn default_access_violation_handler(
    _region: &mut MemoryRegion,
    _region_max_len: u64,
    _access_type: AccessType,
    _vm_addr: u64,
    _len: u64,
) {
}

/// The gap shift that means "no gaps".
const NO_GAPS: u8 = 63;

/// Host memory placed at a guest address, optionally spread out with gaps (the V0 stack).
#[derive(Eq, PartialEq, Clone)]
pub struct MemoryRegion {
    host: HostBuffer,
    vm_addr: u64,
    vm_gap_shift: u8,
    /// The host's own tag for its [`AccessViolationHandler`].
    pub access_violation_handler_payload: Option<u16>,
}

impl MemoryRegion {
    fn with_gap(host: HostBuffer, vm_addr: u64, vm_gap_size: u64) -> Self {
        let vm_gap_shift = match vm_gap_size {
            0 => NO_GAPS,
            size => NO_GAPS.saturating_sub(size.leading_zeros() as u8),
        };
        MemoryRegion {
            host,
            vm_addr,
            vm_gap_shift,
            access_violation_handler_payload: None,
        }
    }

    /// An empty region at `vm_addr` (no host memory).
    pub fn new_empty(vm_addr: u64) -> Self {
        Self::with_gap(HostBuffer::empty(), vm_addr, 0)
    }

    /// A region over `host` at `vm_addr`, writable when `host` is a mutable buffer. The host
    /// memory must stay allocated while the region is used.
    pub fn new<HO: HostMemoryObject>(host: HO, vm_addr: u64) -> Self {
        Self::with_gap(host.host(), vm_addr, 0)
    }

    /// Like [`MemoryRegion::new`], with an unmapped gap of `vm_gap_size` bytes (a power of
    /// two) after every `vm_gap_size` bytes of host memory.
    pub fn new_gapped<HO: HostMemoryObject>(host: HO, vm_addr: u64, vm_gap_size: u64) -> Self {
        Self::with_gap(host.host(), vm_addr, vm_gap_size)
    }

    /// Makes the region read-only.
    pub fn make_immutable(&mut self) {
        self.host = self.host.immutable();
    }

    /// The guest addresses the region spans (twice the host length when gapped).
    pub fn vm_addr_range(&self) -> Range<u64> {
        let bytes = self.len() as u64;
        let span = match self.vm_gap_shift {
            NO_GAPS => bytes,
            _ => bytes.saturating_mul(2),
        };
        self.vm_addr..self.vm_addr.saturating_add(span)
    }

    /// The host memory the region points at.
    pub fn host_buffer(&self) -> HostBuffer {
        self.host
    }

    /// The host length in bytes.
    pub fn len(&self) -> usize {
        self.host.len()
    }

    /// Whether the region has no host memory.
    pub fn is_empty(&self) -> bool {
        self.host.is_empty()
    }

    /// The gap size the region was made with (0 for none).
    pub fn gap_size(&self) -> u64 {
        match self.vm_gap_shift {
            NO_GAPS => 0,
            shift => 1 << shift,
        }
    }
}

impl fmt::Debug for MemoryRegion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let range = self.vm_addr_range();
        let host_addr = self.host.ptr().addr() as u64;
        let len = self.len() as u64;
        write!(
            f,
            "host_addr: {:#x?}-{:#x?}, vm_addr: {:#x?}-{:#x?}, len: {}, writable: {}, payload {:?}",
            host_addr,
            host_addr.saturating_add(len),
            range.start,
            range.end,
            len,
            self.host.is_mutable(),
            self.access_violation_handler_payload,
        )
    }
}

impl PartialOrd for MemoryRegion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MemoryRegion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.vm_addr.cmp(&other.vm_addr)
    }
}

/// A load or a store.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AccessType {
    /// A load.
    Load,
    /// A store.
    Store,
}

impl fmt::Display for AccessType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Self::Load => "reading",
            Self::Store => "writing",
        })
    }
}

impl AccessType {
    pub(crate) fn engine(self) -> bpfvm::AccessType {
        match self {
            AccessType::Load => bpfvm::AccessType::Load,
            AccessType::Store => bpfvm::AccessType::Store,
        }
    }

    pub(crate) fn from_engine(access: bpfvm::AccessType) -> Self {
        match access {
            bpfvm::AccessType::Load => AccessType::Load,
            bpfvm::AccessType::Store => AccessType::Store,
        }
    }
}

/// Which lookup a mapping uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMappingType {
    /// The upper 32 address bits select the region (forced for V4).
    Aligned,
    /// A search over the sorted regions.
    Unaligned,
}

/// bpfvm's side of a mapping: its mapping, call stacks and run word ([`EngineBox`], built
/// by `initialize`, in an allocation of their own, [`raw::EngineSlot`]). A run uses the
/// parts in place: it marks the engine running in its run word, borrows the mapping and the
/// call stacks for its length and marks it idle again, moving nothing. The engine's mapping
/// keeps the host's access violation handler ([`crate::bridge::HostHandler`]) installed from
/// the build on; the handler finds the host's mapping in the same run word, which the bridge
/// points at it for each run. That one word is also the mark: an engine is running exactly
/// while its handler has a target (see [`MemoryMapping::run_state`]), so a run sets and
/// clears one word, reached through the engine's allocation, which the run holds anyway.
pub(crate) struct Engine {
    /// The engine's parts (`None` before `initialize` and after `get_regions_mut`).
    built: Option<raw::EngineSlot>,
}

/// Whether a run uses a mapping's engine, and where the host reaches it meanwhile (read off
/// the engine's [`RunWord`] by [`MemoryMapping::run_state`]).
#[derive(Clone, Copy)]
pub(crate) enum RunState {
    /// No run: the host's mapping uses its engine itself.
    Idle,
    /// A run uses the engine in place; the host cannot reach it.
    Running,
    /// A builtin of the run is running: the run lent the engine's mapping at this address
    /// for the length of the call.
    Lent(std::ptr::NonNull<bpfvm::MemoryMapping<'static>>),
}

/// Whether a run uses an engine, kept in the engine's allocation beside the parts the run
/// uses (so a run reaches it through the pointer it holds anyway): the host's mapping while
/// a run is in progress (the access violation handler's target, and the mark of a run), and
/// the engine's mapping while a builtin of the run has it lent. Reached only through shared
/// references (the run borrows the parts beside it, never the whole allocation).
pub(crate) struct RunWord {
    /// The host's mapping (invariant 2 of the bridge: it outlives the run) while a run is in
    /// progress, else `None`.
    target: std::cell::Cell<Option<std::ptr::NonNull<MemoryMapping>>>,
    /// The engine's mapping while a builtin of the run runs (`None` otherwise; meaningful
    /// only while a run is in progress).
    lent: std::cell::Cell<Option<std::ptr::NonNull<bpfvm::MemoryMapping<'static>>>>,
}

impl RunWord {
    /// No run.
    fn idle() -> Self {
        RunWord {
            target: std::cell::Cell::new(None),
            lent: std::cell::Cell::new(None),
        }
    }

    /// Marks a run of the engine as begun, with `host` as the handler's target; `false` when
    /// a run is already in progress.
    #[inline(always)]
    fn begin(&self, host: std::ptr::NonNull<MemoryMapping>) -> bool {
        if self.target.get().is_some() {
            return false;
        }
        self.target.set(Some(host));
        true
    }

    /// Marks the run as ended (also when a builtin's panic unwound through it while the
    /// engine's mapping was lent): idle, no target, nothing lent.
    #[inline(always)]
    pub(crate) fn end(&self) {
        self.target.set(None);
        self.lent.set(None);
    }

    /// The host's mapping the handler answers for: `Some` exactly while a run is in progress.
    #[inline(always)]
    pub(crate) fn target(&self) -> Option<std::ptr::NonNull<MemoryMapping>> {
        self.target.get()
    }

    /// The state this word records.
    #[inline(always)]
    fn state(&self) -> RunState {
        match (self.target.get(), self.lent.get()) {
            (None, _) => RunState::Idle,
            (Some(_), None) => RunState::Running,
            (Some(_), Some(mapping)) => RunState::Lent(mapping),
        }
    }
}

/// What a run uses in place: bpfvm's mapping and the call-frame storage runs over it reuse
/// (so that a run allocates none, whichever VM runs it), and the word that says whether a
/// run uses them.
pub(crate) struct EngineBox {
    /// bpfvm's translation of the host's regions.
    pub mapping: bpfvm::MemoryMapping<'static>,
    /// The engine's call frames, kept from run to run.
    pub stacks: bpfvm::CallStacks,
    /// Whether a run uses the parts (see [`RunWord`]).
    pub run: RunWord,
}

/// Guest memory: the host's regions and bpfvm's translation of them.
pub struct MemoryMapping {
    regions: Vec<MemoryRegion>,
    engine: Engine,
    handler: AccessViolationHandler,
    config: Config,
    sbpf_version: SBPFVersion,
    kind: MemoryMappingType,
}

impl fmt::Debug for MemoryMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMapping")
            .field("max_call_depth", &self.config.max_call_depth)
            .field("stack_frame_size", &self.config.stack_frame_size)
            .field("sbpf_version", &self.sbpf_version)
            .field("ty", &self.kind)
            .field("regions", &self.regions)
            .finish()
    }
}

impl MemoryMapping {
    /// The mapping before `initialize` (see [`raw`] for the unsafe constructors).
    fn uninitialized(
        regions: Vec<MemoryRegion>,
        config: &Config,
        sbpf_version: SBPFVersion,
        handler: AccessViolationHandler,
    ) -> Self {
        let kind = if sbpf_version >= SBPFVersion::V4 || config.aligned_memory_mapping {
            MemoryMappingType::Aligned
        } else {
            MemoryMappingType::Unaligned
        };
        MemoryMapping {
            regions,
            engine: Engine { built: None },
            handler,
            config: config.clone(),
            sbpf_version,
            kind,
        }
    }

    /// Which lookup this mapping uses.
    pub fn mapping_type(&self) -> MemoryMappingType {
        self.kind
    }

    /// The SBPF version the mapping names violations for.
    pub(crate) fn sbpf_version(&self) -> SBPFVersion {
        self.sbpf_version
    }

    /// The configuration the mapping was made with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Translates an access of `len` bytes at `vm_addr` to host memory, or the violation.
    #[inline]
    pub fn map(
        &self,
        access_type: AccessType,
        vm_addr: u64,
        len: u64,
    ) -> StableResult<HostBuffer, EbpfError> {
        self.translate(access_type, vm_addr, len).into()
    }

    /// Like [`MemoryMapping::map`], but a violation first goes to the access violation
    /// handler, which may redirect the region; the access is then tried again.
    #[inline]
    pub fn map_with_access_violation_handler(
        &mut self,
        access_type: AccessType,
        vm_addr: u64,
        len: u64,
    ) -> StableResult<HostBuffer, EbpfError> {
        match self.translate(access_type, vm_addr, len) {
            Ok(buffer) => StableResult::Ok(buffer),
            Err(error) => self
                .handle_violation(error, access_type, vm_addr, len)
                .into(),
        }
    }

    /// Loads `size_of::<T>()` bytes at `vm_addr`, zero-extended.
    #[inline]
    pub fn load<T: Pod + Into<u64>>(&mut self, vm_addr: u64) -> ProgramResult {
        let len = std::mem::size_of::<T>() as u64;
        match self.map_with_access_violation_handler(AccessType::Load, vm_addr, len) {
            StableResult::Ok(buffer) => ProgramResult::Ok(raw::read_pod::<T>(buffer).into()),
            StableResult::Err(error) => ProgramResult::Err(error),
        }
    }

    /// Stores `value` at `vm_addr`.
    #[inline]
    pub fn store<T: Pod>(&mut self, value: T, vm_addr: u64) -> ProgramResult {
        let len = std::mem::size_of::<T>() as u64;
        match self.map_with_access_violation_handler(AccessType::Store, vm_addr, len) {
            StableResult::Ok(buffer) => {
                raw::write_pod(buffer, value);
                ProgramResult::Ok(0)
            }
            StableResult::Err(error) => ProgramResult::Err(error),
        }
    }

    /// The region that may hold `vm_addr` and its index: in the aligned mapping the region of
    /// the address's slot, otherwise the last region starting at or below the address.
    #[inline]
    pub fn find_region(&self, vm_addr: u64) -> Option<(usize, &MemoryRegion)> {
        let index = match self.kind {
            MemoryMappingType::Aligned => (vm_addr >> ebpf::VIRTUAL_ADDRESS_BITS) as usize,
            MemoryMappingType::Unaligned => self
                .regions
                .partition_point(|region| region.vm_addr <= vm_addr)
                .checked_sub(1)?,
        };
        self.regions.get(index).map(|region| (index, region))
    }

    /// The regions, sorted by address.
    pub fn get_regions(&self) -> &[MemoryRegion] {
        &self.regions
    }

    /// The regions, mutably. The mapping must be initialized again before it is used. During
    /// a run (a builtin asking), the running program keeps the engine it runs over.
    pub fn get_regions_mut(&mut self) -> &mut [MemoryRegion] {
        if let RunState::Idle = self.run_state() {
            self.engine.built = None;
        }
        &mut self.regions
    }

    /// Sorts and checks the regions and builds bpfvm's mapping of them:
    /// `InvalidMemoryRegion` when they overlap (or, aligned, two share a slot). During a run
    /// (a builtin asking), the running program keeps the engine it runs over.
    pub fn initialize(&mut self) -> Result<(), EbpfError> {
        self.regions.sort();
        match self.kind {
            MemoryMappingType::Aligned => self.fill_slots()?,
            MemoryMappingType::Unaligned => self.check_overlaps()?,
        }
        if let RunState::Idle = self.run_state() {
            self.engine.built = Some(raw::build_engine_mapping(self)?);
        }
        Ok(())
    }

    /// The aligned rule: one region per 4 GiB slot, empty fillers in the unused slots below
    /// the highest.
    fn fill_slots(&mut self) -> Result<(), EbpfError> {
        let mut filled = Vec::with_capacity(self.regions.len());
        for region in self.regions.drain(..) {
            let slot = (region.vm_addr >> ebpf::VIRTUAL_ADDRESS_BITS) as usize;
            if slot < filled.len() {
                return Err(EbpfError::InvalidMemoryRegion(slot));
            }
            if slot > (1 << 16) {
                return Err(EbpfError::InvalidMemoryRegion(slot));
            }
            while filled.len() < slot {
                let vm_addr = (filled.len() as u64).saturating_mul(ebpf::MM_REGION_SIZE);
                filled.push(MemoryRegion::new_empty(vm_addr));
            }
            filled.push(region);
        }
        self.regions = filled;
        Ok(())
    }

    /// The unaligned rule: no region may start before the previous one ends.
    fn check_overlaps(&self) -> Result<(), EbpfError> {
        for (index, pair) in self.regions.windows(2).enumerate() {
            if let [first, second] = pair {
                if first.vm_addr_range().end > second.vm_addr {
                    return Err(EbpfError::InvalidMemoryRegion(index + 1));
                }
            }
        }
        Ok(())
    }

    /// The guest address where the region after `index` starts (`u64::MAX` for the last).
    fn next_start(&self, index: usize) -> u64 {
        self.regions
            .get(index.saturating_add(1))
            .map_or(u64::MAX, |next| next.vm_addr)
    }

    /// The checks of `replace_region`: the index exists, the address stays, and the region
    /// ends before the next one starts.
    fn check_replacement(&self, index: usize, region: &MemoryRegion) -> Result<(), EbpfError> {
        match self.regions.get(index) {
            Some(existing)
                if existing.vm_addr == region.vm_addr
                    && region.vm_addr_range().end <= self.next_start(index) =>
            {
                Ok(())
            }
            _ => Err(EbpfError::InvalidMemoryRegion(index)),
        }
    }

    /// Hands a violation to the handler; if the redirected region serves the access, it
    /// replaces the old one and the access succeeds.
    fn handle_violation(
        &mut self,
        error: EbpfError,
        access: AccessType,
        vm_addr: u64,
        len: u64,
    ) -> Result<HostBuffer, EbpfError> {
        let Some((index, region)) = self.find_region(vm_addr) else {
            return Err(error);
        };
        let mut candidate = region.clone();
        let max_len = self.next_start(index).saturating_sub(candidate.vm_addr);
        (self.handler)(&mut candidate, max_len, access, vm_addr, len);
        if candidate == *region {
            return Err(error);
        }
        let serves = raw::region_serves(&candidate, access, vm_addr, len);
        match serves {
            Some(buffer) => {
                raw::replace_checked(self, index, candidate)?;
                Ok(buffer)
            }
            None => Err(error),
        }
    }

    /// The translation itself, through bpfvm's mapping.
    #[inline]
    fn translate(
        &self,
        access: AccessType,
        vm_addr: u64,
        len: u64,
    ) -> Result<HostBuffer, EbpfError> {
        if !self.config.enable_address_translation {
            crate::unsupported::address_translation_off();
        }
        raw::with_engine(self, |engine| match engine {
            Some(engine) => match engine.map(access.engine(), vm_addr, len, 0) {
                Ok(range) => self.host_buffer_of(engine, range),
                Err(error) => Err(crate::bridge::errors::runtime_error(error, None)),
            },
            None => Err(EbpfError::InvalidMemoryRegion(0)),
        })
    }

    /// The host bytes of a translated access, as a window into the host's own buffer.
    #[inline]
    fn host_buffer_of(
        &self,
        engine: &bpfvm::MemoryMapping<'_>,
        range: bpfvm::memory::HostRange,
    ) -> Result<HostBuffer, EbpfError> {
        let engine_region = engine
            .regions()
            .get(range.region_index())
            .ok_or_else(|| EbpfError::InvalidMemoryRegion(range.region_index()))?;
        let vm_addr = engine_region.vm_addr();
        // The aligned mappings keep the regions in the same places (one per slot); the
        // unaligned engine orders its own for its search.
        let index = match self.regions.get(range.region_index()) {
            Some(region) if region.vm_addr == vm_addr => range.region_index(),
            _ => self
                .regions
                .binary_search_by_key(&vm_addr, |region| region.vm_addr)
                .map_err(|_| EbpfError::InvalidMemoryRegion(range.region_index()))?,
        };
        let start = range.offset() as usize;
        let end = start.saturating_add(range.len() as usize);
        self.regions
            .get(index)
            .and_then(|region| region.host.get(start..end))
            .ok_or_else(|| EbpfError::InvalidMemoryRegion(index))
    }

    /// Marks a run of the engine as begun and points the access violation handler at
    /// `host` (this mapping's address as the VM keeps it): the engine's parts, for the run
    /// to use in place until their [`RunWord::end`]; `None` when the mapping is not built or
    /// a run of it is already in progress.
    #[inline(always)]
    pub(crate) fn begin_run(
        &mut self,
        host: std::ptr::NonNull<MemoryMapping>,
    ) -> Option<std::ptr::NonNull<EngineBox>> {
        let built = self.engine.built.as_ref()?;
        built.run().begin(host).then(|| built.pointer())
    }

    /// Lends the running engine's mapping to the host for a builtin call (`Some`), or takes
    /// it back (`None`).
    #[inline(always)]
    pub(crate) fn lend_engine(
        &mut self,
        lent: Option<std::ptr::NonNull<bpfvm::MemoryMapping<'static>>>,
    ) {
        if let Some(built) = &self.engine.built {
            built.run().lent.set(lent);
        }
    }

    /// Whether a run uses the engine: running exactly while the handler has a target (set
    /// by `begin_run`, cleared by the run's end), lent while a builtin of the run runs.
    #[inline(always)]
    pub(crate) fn run_state(&self) -> RunState {
        match &self.engine.built {
            Some(built) => built.run().state(),
            None => RunState::Idle,
        }
    }

    /// The access violation handler's answer to a program's failed access during a run:
    /// the region it redirected (the host's list is updated; the engine, which asked, puts
    /// the returned region in place), or `None` when the violation stands. As
    /// `map_with_access_violation_handler`, a redirection counts only when the redirected
    /// region serves the access.
    pub(crate) fn redirect_for_engine(
        &mut self,
        access: AccessType,
        vm_addr: u64,
        len: u64,
    ) -> Option<bpfvm::MemoryRegion<'static>> {
        let (index, region) = self.find_region(vm_addr)?;
        let mut candidate = region.clone();
        let max_len = self.next_start(index).saturating_sub(candidate.vm_addr);
        (self.handler)(&mut candidate, max_len, access, vm_addr, len);
        if candidate == *region {
            return None;
        }
        raw::region_serves(&candidate, access, vm_addr, len)?;
        self.check_replacement(index, &candidate).ok()?;
        let engine = raw::engine_region(&candidate);
        *self.regions.get_mut(index)? = candidate;
        Some(engine)
    }

    /// The region at `index`, mutably, without touching the engine (the caller keeps both
    /// views in step).
    pub(crate) fn region_slot(&mut self, index: usize) -> Option<&mut MemoryRegion> {
        self.regions.get_mut(index)
    }
}
