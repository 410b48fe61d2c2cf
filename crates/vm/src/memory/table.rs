//! The region table: the aligned mapping's regions as rows machine code can read, and the
//! rules that make reading them safe. This is the contract between memory and the JIT: the
//! JIT's code reads these rows (embedded, `#[repr(C)]`, in its run's environment) and never
//! looks at a [`MemoryRegion`] itself, so what a row means, when an access may be translated
//! from it without asking the mapping, and the 4 GiB cut-off are defined, and tested, here.
//!
//! Row `slot` describes the region of the 4 GiB slot `slot` (`vaddr >> 32`), for the first
//! [`ROWS`] slots (higher slots always take the slow path):
//!
//! - [`InlineRows`]: `delta` (host minus guest address) and the `load_limit` and
//!   `store_limit` an access must end at or below (exclusive end addresses). A limit of 0
//!   sends every access of the row to the slow path: slot 0, a gapped region, a region not
//!   starting at its slot's first address, and every row of the unaligned mapping; stores
//!   into a read-only region get the region's own start, at or below which no access of a
//!   byte or more ends. A limit never passes its slot's end, so an access that ends
//!   inside the row also starts in the row's slot: a check of a whole span against one row
//!   (the JIT's hoisted checks) vouches for every address in it.
//! - [`GapRows`]: a region's guest and host address, log2 of its gap (0: not gapped) and the
//!   host bytes loads and stores may touch, for the gapped translation of region §5.2.
//! - [`InputRow`]: the input region alone, for accesses through registers that probably hold
//!   input addresses: its guest and host address and, per access kind and size, the bound
//!   `vaddr - vm` must stay below.
//!
//! [`frame_host`] is the other half of the contract: the host address that makes the current
//! frame of a [`CurrentFrame`] stack reachable from r10 with no check.

use super::layout::{AddressMap, CurrentFrame, Gaps};
use super::{MemoryMapping, MemoryRegion};
use core::sync::atomic::{AtomicU64, Ordering};

/// Rows of the region table (regions at higher slots always take the slow path).
pub(crate) const ROWS: usize = 8;

/// Per slot: how an access may be translated inline (see the module doc).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InlineRows {
    /// Host address minus guest address of the region (0 for slot 0).
    pub delta: [u64; ROWS],
    /// The guest address inline loads must end at or below, or 0.
    pub load_limit: [u64; ROWS],
    /// The guest address inline stores must end at or below, or 0.
    pub store_limit: [u64; ROWS],
}

/// Per slot: the gapped translation's parameters (see the module doc).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GapRows {
    /// The region's guest address.
    pub vm_addr: [u64; ROWS],
    /// The region's host address.
    pub host_addr: [u64; ROWS],
    /// log2 of the gap size (0: not gapped).
    pub gap_shift: [u64; ROWS],
    /// The host bytes loads may touch.
    pub load_len: [u64; ROWS],
    /// The host bytes stores may touch.
    pub store_len: [u64; ROWS],
}

/// The input region's row (see the module doc).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct InputRow {
    /// The region's guest address, or 0 when no access is inline.
    pub vm: u64,
    /// The region's host address, or 0.
    pub host: u64,
    /// Per access kind and log2 of the size (`kind * 4 + log`, loads 0 and stores 1): an
    /// access at `vaddr` is inside the region when `vaddr - vm` is below this (the region's
    /// length for that kind, at most 4 GiB, minus the size, plus 1), 0 when none is.
    pub limit: [u64; 8],
}

/// The slot size in bytes.
const SLOT: u64 = 1 << 32;

/// The rows a mapping's regions give, whatever the address map (the mapping keeps them
/// until a region is replaced).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TableRows {
    inline: InlineRows,
    gaps: GapRows,
    /// Names these rows: no other rows made in this process share it (see
    /// [`MemoryMapping::table_stamp`]).
    stamp: u64,
}

/// The next stamp [`next_stamp`] gives (0 is never given).
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);

/// A number no other call in this process returns (a count, taken atomically): the names of
/// region table rows and of what a JIT run's kept table was filled for. Only equality of
/// stamps is ever used, so their values never reach a result.
pub(crate) fn next_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, Ordering::Relaxed)
}

impl MemoryMapping<'_> {
    /// Fills the region table from this mapping (all limits 0 for the unaligned mapping,
    /// whose accesses always take the slow path); `map` names the input region's slot.
    pub(crate) fn fill_region_table(
        &self,
        map: &AddressMap,
        inline: &mut InlineRows,
        gaps: &mut GapRows,
        input: &mut InputRow,
    ) {
        let rows = self.table.get_or_init(|| self.table_rows());
        *inline = rows.inline;
        *gaps = rows.gaps;
        fill_input_row(map.input_row(), inline, gaps, input);
    }

    /// The stamp of the rows [`MemoryMapping::fill_region_table`] copies, once it has made
    /// them: equal stamps mean the same rows of the same regions, so a run that kept a
    /// table filled from rows with this stamp need not fill it again. `None` until the
    /// rows are made, and again after a region is replaced (see [`next_stamp`]).
    #[inline]
    pub(crate) fn table_stamp(&self) -> Option<u64> {
        self.table.get().map(|rows| rows.stamp)
    }

    /// The rows of this mapping's regions (the first [`ROWS`] slots of the aligned
    /// mapping; none of the unaligned one).
    fn table_rows(&self) -> TableRows {
        let mut rows = TableRows {
            stamp: next_stamp(),
            ..TableRows::default()
        };
        if self.is_aligned() {
            let regions = self.regions().iter().enumerate().take(ROWS).skip(1);
            for (slot, region) in regions {
                fill_row(slot, region, &mut rows.inline, &mut rows.gaps);
            }
        }
        rows
    }

    /// Whether this is the aligned mapping (whose storage order is by slot).
    fn is_aligned(&self) -> bool {
        matches!(self.lookup, super::Lookup::Aligned(_))
    }
}

/// Row `slot` of the table for `region`.
fn fill_row(slot: usize, region: &MemoryRegion<'_>, inline: &mut InlineRows, gaps: &mut GapRows) {
    let host = region.host_addr() as u64;
    let vm = region.vm_addr();
    let store_len = match region.is_writable() {
        true => region.len(),
        false => 0,
    };
    gaps.vm_addr[slot] = vm;
    gaps.host_addr[slot] = host;
    match region.gap_size() {
        None => {
            // Inline only when the region starts at its slot's first address (then
            // `vaddr >> 32 == slot` implies `vaddr >= vm`), and only up to the slot's end.
            let limit = |len: u64| match vm == (slot as u64) << 32 {
                true => vm.checked_add(len.min(SLOT)).unwrap_or(0),
                false => 0,
            };
            inline.delta[slot] = host.wrapping_sub(vm);
            inline.load_limit[slot] = limit(region.len());
            inline.store_limit[slot] = limit(store_len);
        }
        Some(gap) => {
            gaps.gap_shift[slot] = u64::from(gap.trailing_zeros());
            gaps.load_len[slot] = region.len();
            gaps.store_len[slot] = store_len;
        }
    }
}

/// The input region's row, from the table's row of its slot `row`: only when that row takes
/// inline accesses, and never past the slot's 4 GiB (an address beyond belongs to the next
/// slot).
fn fill_input_row(row: usize, inline: &InlineRows, gaps: &GapRows, input: &mut InputRow) {
    *input = InputRow::default();
    let (Some(vm), Some(load_limit), Some(store_limit), Some(host)) = (
        gaps.vm_addr.get(row),
        inline.load_limit.get(row),
        inline.store_limit.get(row),
        gaps.host_addr.get(row),
    ) else {
        return;
    };
    let len = |limit: u64| match limit {
        0 => 0,
        _ => limit.wrapping_sub(*vm).min(SLOT),
    };
    let load_len = len(*load_limit);
    if load_len == 0 {
        return;
    }
    let store_len = len(*store_limit);
    input.vm = *vm;
    input.host = *host;
    for log in 0..4 {
        let size = 1u64 << log;
        input.limit[log] = (load_len + 1).saturating_sub(size);
        input.limit[4 + log] = (store_len + 1).saturating_sub(size);
    }
}

/// The host address the JIT's current-frame accesses are relative to, if `mapping`'s stack
/// is the stack `frames` describes at `map.stack`: the aligned mapping's stack slot holds a
/// writable region there, gapped by the frame size when the frames have gaps and not gapped
/// otherwise, with host bytes for every frame. Then, at depth i < `depth`, `[r10 + off]` for
/// `-F <= off <= -size` is host byte `i·F + F + off` of the region: with gaps r10 = stack +
/// F + 2F·i and that is `(r10 + 2·off) / 2 + frame_host`; without, r10 = stack + F + F·i and
/// it is `r10 + off + frame_host`. `None` means code relying on that must not run.
pub(crate) fn frame_host(
    mapping: &MemoryMapping<'_>,
    map: &AddressMap,
    frames: CurrentFrame,
) -> Option<u64> {
    let region = mapping.regions().get(map.stack_row())?;
    let gap = match frames.gaps {
        Gaps::On => Some(frames.frame),
        Gaps::Off => None,
    };
    let standard = mapping.is_aligned()
        && region.vm_addr() == map.stack
        && region.gap_size() == gap
        && region.is_writable()
        && region.len() >= frames.frame.checked_mul(frames.depth)?;
    let host = region.host_addr() as u64;
    standard.then(|| match frames.gaps {
        Gaps::On => host
            .wrapping_sub(map.stack / 2)
            .wrapping_add(frames.frame / 2),
        Gaps::Off => host.wrapping_sub(map.stack),
    })
}

#[cfg(test)]
mod tests {
    use super::super::Layout;
    use super::*;
    use crate::config::Config;
    use crate::program::{MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};

    const GIB4: u64 = 1 << 32;

    struct Table {
        inline: InlineRows,
        gaps: GapRows,
        input: InputRow,
    }

    fn table(mapping: &MemoryMapping<'_>) -> Table {
        let mut table = Table {
            inline: InlineRows::default(),
            gaps: GapRows::default(),
            input: InputRow::default(),
        };
        // Rows left over from an earlier fill must not survive.
        table.inline.delta = [7; ROWS];
        table.input.limit = [7; 8];
        let map = AddressMap::STANDARD;
        mapping.fill_region_table(&map, &mut table.inline, &mut table.gaps, &mut table.input);
        table
    }

    #[test]
    fn aligned_rows_say_what_is_inline() {
        let program = [0u8; 64];
        let mut stack = vec![0u8; 4 * 4096];
        let mut heap = vec![0u8; 100];
        let mut input = vec![0u8; 16];
        let regions = vec![
            MemoryRegion::readonly(&program, MM_PROGRAM_START + 8),
            MemoryRegion::writable_gapped(&mut stack, MM_STACK_START, 4096),
            MemoryRegion::writable(&mut heap, MM_HEAP_START),
            MemoryRegion::writable(&mut input, MM_INPUT_START),
        ];
        let mapping = MemoryMapping::new(regions, &Config::legacy()).unwrap();
        let host = |index: usize| mapping.regions()[index].host_addr() as u64;
        let table = table(&mapping);
        let rows = &table.inline;
        // Slot 0 and the slots past the regions take nothing inline.
        assert_eq!(
            (rows.load_limit[0], rows.store_limit[0], rows.delta[0]),
            (0, 0, 0)
        );
        assert_eq!(rows.load_limit[5..], [0, 0, 0]);
        // The program starts 8 bytes into its slot: never inline.
        assert_eq!((rows.load_limit[1], rows.store_limit[1]), (0, 0));
        // The gapped stack: never inline; its gapped row instead.
        assert_eq!((rows.load_limit[2], rows.store_limit[2]), (0, 0));
        assert_eq!(table.gaps.gap_shift[2], 12);
        assert_eq!(table.gaps.vm_addr[2], MM_STACK_START);
        assert_eq!(table.gaps.host_addr[2], host(2));
        assert_eq!(
            (table.gaps.load_len[2], table.gaps.store_len[2]),
            (16384, 16384)
        );
        // The heap: loads and stores end at its end, host = vaddr + delta.
        assert_eq!(rows.load_limit[3], MM_HEAP_START + 100);
        assert_eq!(rows.store_limit[3], MM_HEAP_START + 100);
        assert_eq!(rows.delta[3], host(3).wrapping_sub(MM_HEAP_START));
        // The input row: `vaddr - vm` below the length minus the size, plus 1.
        assert_eq!(table.input.vm, MM_INPUT_START);
        assert_eq!(table.input.host, host(4));
        assert_eq!(table.input.limit, [16, 15, 13, 9, 16, 15, 13, 9]);
    }

    #[test]
    fn read_only_rows_take_no_inline_store() {
        let bytes = [0u8; 8];
        let regions = vec![MemoryRegion::readonly(&bytes, MM_PROGRAM_START)];
        let mapping = MemoryMapping::new(regions, &Config::default()).unwrap();
        let table = table(&mapping);
        assert_eq!(table.inline.load_limit[1], MM_PROGRAM_START + 8);
        // No store of a byte or more ends at or below the region's start.
        assert_eq!(table.inline.store_limit[1], MM_PROGRAM_START);
    }

    #[test]
    fn limits_never_pass_their_slot() {
        // A region longer than 4 GiB cannot be allocated here; its rows are computed from
        // the region's length alone, so a 4 GiB + 1 byte length is checked through the
        // input row's rule on a plain row instead.
        let mut inline = InlineRows::default();
        let mut gaps = GapRows::default();
        gaps.vm_addr[4] = MM_INPUT_START;
        inline.load_limit[4] = MM_INPUT_START + GIB4 + 1;
        inline.store_limit[4] = MM_INPUT_START + 10;
        let mut input = InputRow::default();
        fill_input_row(4, &inline, &gaps, &mut input);
        assert_eq!(input.limit[0], GIB4);
        assert_eq!(input.limit[3], GIB4 - 7);
        assert_eq!(input.limit[4], 10);
    }

    #[test]
    fn the_unaligned_mapping_takes_nothing_inline() {
        let mut input = vec![0u8; 16];
        let regions = vec![MemoryRegion::writable(&mut input, MM_INPUT_START)];
        let config = Config {
            aligned_memory_mapping: false,
            ..Config::default()
        };
        let mapping = MemoryMapping::new(regions, &config).unwrap();
        let table = table(&mapping);
        assert_eq!(table.inline, InlineRows::default());
        assert_eq!(table.gaps, GapRows::default());
        assert_eq!(table.input, InputRow::default());
    }

    #[test]
    fn the_current_frame_is_reachable_only_on_the_stack_it_was_compiled_for() {
        let layout = Layout::of(&Config::legacy(), bpfvm_isa::Dialect::Sbpf);
        let frames = layout.stack.current_frame().unwrap();
        let map = layout.map;
        let mut stack = vec![0u8; 20 * 4096];
        let mut other = vec![0u8; 20 * 4096];
        let mut short = vec![0u8; 19 * 4096];
        let regions = vec![
            MemoryRegion::readonly(&[], MM_PROGRAM_START),
            MemoryRegion::writable_gapped(&mut stack, MM_STACK_START, 4096),
        ];
        let mut mapping = MemoryMapping::new(regions, &Config::legacy()).unwrap();
        let host = mapping.regions()[2].host_addr() as u64;
        let frame_host = frame_host(&mapping, &map, frames).unwrap();
        // r10 at the top of frame 1: [r10 - 8] is host byte 4096 + 4096 - 8.
        let r10 = MM_STACK_START + 4096 + 2 * 4096;
        let expected = host + 4096 + 4096 - 8;
        assert_eq!((r10 - 2 * 8) / 2 + frame_host, expected);
        // Another gap, or fewer frames than the depth: the fast path must not run.
        let replaced = MemoryRegion::writable_gapped(&mut other, MM_STACK_START, 2048);
        mapping.replace_region(2, replaced).unwrap();
        assert_eq!(super::frame_host(&mapping, &map, frames), None);
        let replaced = MemoryRegion::writable_gapped(&mut short, MM_STACK_START, 4096);
        mapping.replace_region(2, replaced).unwrap();
        assert_eq!(super::frame_host(&mapping, &map, frames), None);
    }

    #[test]
    fn contiguous_frames_reach_the_current_frame_without_a_shift() {
        let config = Config::agave();
        let layout = Layout::of(
            &config,
            bpfvm_isa::Dialect::Sbpf26(bpfvm_isa::SbpfVersion::V3),
        );
        let frames = layout.stack.current_frame().unwrap();
        assert_eq!(frames.gaps, Gaps::Off);
        assert_eq!(layout.stack.gapped_frames(), None);
        let map = layout.map;
        let mut stack = vec![0u8; 64 * 4096];
        let mut gapped = vec![0u8; 64 * 4096];
        let regions = vec![
            MemoryRegion::readonly(&[], MM_PROGRAM_START),
            MemoryRegion::writable(&mut stack, MM_STACK_START),
        ];
        let mut mapping = MemoryMapping::new(regions, &config).unwrap();
        let host = mapping.regions()[map.stack_row()].host_addr() as u64;
        let frame_host = frame_host(&mapping, &map, frames).unwrap();
        // r10 at the top of frame 2: [r10 - 8] is host byte 3 * 4096 - 8.
        let r10 = MM_STACK_START + 3 * 4096;
        assert_eq!(r10 - 8 + frame_host, host + 3 * 4096 - 8);
        // A gapped stack in its place: the fast path must not run.
        let replaced = MemoryRegion::writable_gapped(&mut gapped, MM_STACK_START, 4096);
        mapping.replace_region(map.stack_row(), replaced).unwrap();
        assert_eq!(super::frame_host(&mapping, &map, frames), None);
    }
}
