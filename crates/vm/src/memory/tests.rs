//! Tables for every rule of reference §5: region translation, both mappings, the
//! access-violation classification, `replace_region` and the unaligned cache.

use super::*;
use crate::program::{MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};
use AccessType::{Load, Store};

/// Which mapping a table row runs under.
#[derive(Clone, Copy, Debug)]
enum Mapping {
    Aligned,
    Unaligned,
}

const BOTH: [Mapping; 2] = [Mapping::Aligned, Mapping::Unaligned];

fn config(mapping: Mapping, dynamic: bool) -> Config {
    Config {
        aligned_memory_mapping: matches!(mapping, Mapping::Aligned),
        dynamic_stack_frames: dynamic,
        ..Config::default()
    }
}

#[test]
fn region_translation_table() {
    let mut bytes = [0u8; 16];
    // (gap size, vaddr offset from start, len, expected host offset)
    let rows: &[(u64, i64, u64, Option<u64>)] = &[
        (0, 0, 1, Some(0)),
        (0, 15, 1, Some(15)),
        (0, 15, 2, None),
        (0, 16, 0, Some(16)), // a zero-length access at the end is fine
        (0, 17, 0, None),
        (0, -1, 1, None), // below the start
        (0, 0, 16, Some(0)),
        (0, 0, u64::MAX, None), // overflow
        // gapped with frames of 4 bytes: guest [0,4) [8,12) [16,20) [24,28)
        (4, 0, 4, Some(0)),
        (4, 4, 1, None), // first gap
        (4, 8, 1, Some(4)),
        (4, 11, 1, Some(7)),
        (4, 12, 1, None),
        (4, 24, 4, Some(12)),
        (4, 28, 1, None),
        (4, 32, 1, None), // past the host bytes
        // the straddle quirk: starts in frame 0, runs through the gap into frame 1's bytes
        (4, 2, 4, Some(2)),
        (4, 10, 4, Some(6)),
        (4, 26, 4, None), // ... but not past the host end
        // a gap size that is not a power of two rounds down (6 -> 4)
        (6, 8, 1, Some(4)),
    ];
    for &(gap, delta, len, expected) in rows {
        let region = MemoryRegion::writable_gapped(&mut bytes, 0x1000, gap);
        let vaddr = 0x1000u64.wrapping_add_signed(delta);
        assert_eq!(
            region.vm_to_host(vaddr, len),
            expected,
            "gap {gap} vaddr {vaddr:#x} len {len}"
        );
    }
}

#[test]
fn region_accessors() {
    let mut bytes = [0u8; 8];
    let ro = MemoryRegion::readonly(&[1, 2, 3], 7);
    assert_eq!((ro.vm_addr(), ro.len(), ro.is_writable()), (7, 3, false));
    assert_eq!(ro.gap_size(), None);
    let rw = MemoryRegion::writable_gapped(&mut bytes, 9, 4);
    assert_eq!(
        (rw.len(), rw.is_writable(), rw.gap_size()),
        (8, true, Some(4))
    );
    let empty = MemoryRegion::readonly(&[], 0);
    assert!(empty.is_empty());
    let owned = MemoryRegion::owned_zeroed(32, MM_STACK_START, 0).unwrap();
    assert_eq!((owned.len(), owned.is_writable()), (32, true));
    assert_eq!(owned.host.host_addr() % HOST_ALIGN, 0);
    assert!(MemoryRegion::owned_zeroed(usize::MAX, 0, 0).is_none());
}

/// The VM's usual layout: program, fixed-frame gapped stack of 2 frames of 16 bytes, empty
/// heap, input.
struct Layout {
    program: Vec<u8>,
    stack: Vec<u8>,
    heap: Vec<u8>,
    input: Vec<u8>,
}

impl Layout {
    fn new() -> Self {
        Layout {
            program: (0u8..16).collect(),
            stack: vec![0; 32],
            heap: Vec::new(),
            input: (0x40u8..0x48).collect(),
        }
    }

    fn mapping(&mut self, config: &Config) -> MemoryMapping<'_> {
        let regions = vec![
            MemoryRegion::readonly(&self.program, MM_PROGRAM_START),
            MemoryRegion::writable_gapped(&mut self.stack, MM_STACK_START, 16),
            MemoryRegion::writable(&mut self.heap, MM_HEAP_START),
            MemoryRegion::writable(&mut self.input, MM_INPUT_START),
        ];
        MemoryMapping::new(regions, config).unwrap()
    }
}

fn small_stack_config(mapping: Mapping, dynamic: bool) -> Config {
    Config {
        stack_frame_size: 16,
        max_call_depth: 2,
        ..config(mapping, dynamic)
    }
}

fn av(access: AccessType, vaddr: u64, len: u64, region: &'static str) -> RuntimeError {
    RuntimeError::AccessViolation {
        pc: 7,
        access,
        vaddr,
        len,
        region,
    }
}

fn sav(access: AccessType, vaddr: u64, len: u64, frame: i64) -> RuntimeError {
    RuntimeError::StackAccessViolation {
        pc: 7,
        access,
        vaddr,
        len,
        frame,
    }
}

#[test]
fn loads_on_both_mappings() {
    // (dynamic frames, vaddr, size, expected)
    let rows: &[(bool, u64, MemSize, Result<u64, RuntimeError>)] = &[
        (true, MM_PROGRAM_START, MemSize::DW, Ok(0x0706050403020100)),
        (true, MM_PROGRAM_START + 14, MemSize::H, Ok(0x0f0e)),
        (
            true,
            MM_PROGRAM_START + 15,
            MemSize::H,
            Err(av(Load, MM_PROGRAM_START + 15, 2, "program")),
        ),
        (true, MM_INPUT_START + 4, MemSize::W, Ok(0x47464544)),
        (true, MM_INPUT_START + 7, MemSize::B, Ok(0x47)),
        (
            true,
            MM_INPUT_START + 8,
            MemSize::B,
            Err(av(Load, MM_INPUT_START + 8, 1, "input")),
        ),
        // the empty heap
        (
            true,
            MM_HEAP_START,
            MemSize::B,
            Err(av(Load, MM_HEAP_START, 1, "heap")),
        ),
        // below every region and at addresses with no region slot
        (true, 0x2, MemSize::B, Err(av(Load, 0x2, 1, "unknown"))),
        (
            true,
            0x8002,
            MemSize::B,
            Err(av(Load, 0x8002, 1, "unknown")),
        ),
        (
            true,
            0x8000_0002,
            MemSize::B,
            Err(av(Load, 0x8000_0002, 1, "unknown")),
        ),
        (
            true,
            0x8000_0000_0000_0002,
            MemSize::B,
            Err(av(Load, 0x8000_0000_0000_0002, 1, "unknown")),
        ),
        (false, 0x2, MemSize::B, Err(av(Load, 0x2, 1, "unknown"))),
        (
            false,
            0x8000_0000_0000_0002,
            MemSize::B,
            Err(av(Load, 0x8000_0000_0000_0002, 1, "unknown")),
        ),
        (
            true,
            0x5_0000_0000,
            MemSize::B,
            Err(av(Load, 0x5_0000_0000, 1, "unknown")),
        ),
        // dynamic frames: the byte below the stack names "program", the stack top "stack"
        (
            true,
            MM_STACK_START - 1,
            MemSize::B,
            Err(av(Load, MM_STACK_START - 1, 1, "program")),
        ),
        (
            true,
            MM_STACK_START + 64,
            MemSize::B,
            Err(av(Load, MM_STACK_START + 64, 1, "stack")),
        ),
        // fixed frames: stack faults carry the frame (truncating division)
        (
            false,
            MM_STACK_START + 16,
            MemSize::B,
            Err(sav(Load, MM_STACK_START + 16, 1, 1)),
        ),
        (
            false,
            MM_STACK_START - 1,
            MemSize::B,
            Err(sav(Load, MM_STACK_START - 1, 1, 0)),
        ),
        (
            false,
            MM_STACK_START - 16,
            MemSize::B,
            Err(sav(Load, MM_STACK_START - 16, 1, -1)),
        ),
        (
            false,
            MM_STACK_START - 32,
            MemSize::B,
            Err(av(Load, MM_STACK_START - 32, 1, "program")),
        ),
        (
            false,
            MM_STACK_START + 44,
            MemSize::DW,
            Err(sav(Load, MM_STACK_START + 44, 8, 2)),
        ),
        (
            false,
            MM_STACK_START + 48,
            MemSize::B,
            Err(av(Load, MM_STACK_START + 48, 1, "stack")),
        ),
        (
            false,
            MM_STACK_START + 64,
            MemSize::B,
            Err(av(Load, MM_STACK_START + 64, 1, "stack")),
        ),
        // the gapped stack: frame 1 lives at guest offset 32
        (false, MM_STACK_START + 32, MemSize::B, Ok(0)),
    ];
    for mapping in BOTH {
        for (dynamic, vaddr, size, expected) in rows {
            let config = small_stack_config(mapping, *dynamic);
            let mut layout = Layout::new();
            let memory = layout.mapping(&config);
            assert_eq!(
                memory.load(*size, *vaddr, 7),
                *expected,
                "{mapping:?} dynamic {dynamic} vaddr {vaddr:#x}"
            );
        }
    }
}

#[test]
fn stores_on_both_mappings() {
    // (vaddr, size, value, expected, bytes of the stack afterwards [0..8], [16..24])
    type Row = (u64, MemSize, u64, Result<(), RuntimeError>);
    let rows: &[Row] = &[
        (MM_STACK_START, MemSize::DW, 0x1122334455667788, Ok(())),
        (MM_STACK_START + 33, MemSize::H, 0xaabb, Ok(())),
        (
            MM_PROGRAM_START,
            MemSize::B,
            1,
            Err(av(Store, MM_PROGRAM_START, 1, "program")),
        ),
        (
            MM_HEAP_START,
            MemSize::W,
            1,
            Err(av(Store, MM_HEAP_START, 4, "heap")),
        ),
        (MM_INPUT_START + 6, MemSize::H, 0xbeef, Ok(())),
        (
            MM_INPUT_START + 7,
            MemSize::H,
            0xbeef,
            Err(av(Store, MM_INPUT_START + 7, 2, "input")),
        ),
        // r10 - 4 with an 8-byte store: starts in frame 0, straddles into the gap, and
        // lands in frame 1's host bytes (reference Appendix A.6)
        (MM_STACK_START + 12, MemSize::DW, 0x0102030405060708, Ok(())),
        (
            MM_STACK_START + 16,
            MemSize::B,
            1,
            Err(sav(Store, MM_STACK_START + 16, 1, 1)),
        ),
    ];
    for mapping in BOTH {
        for (vaddr, size, value, expected) in rows {
            let config = small_stack_config(mapping, false);
            let mut layout = Layout::new();
            let mut memory = layout.mapping(&config);
            assert_eq!(
                memory.store(*size, *vaddr, *value, 7),
                *expected,
                "{vaddr:#x}"
            );
            if expected.is_ok() {
                let back = memory.load(*size, *vaddr, 7).unwrap();
                let mask = u64::MAX >> (64 - 8 * size.bytes());
                assert_eq!(back, value & mask, "{mapping:?} {vaddr:#x}");
            }
        }
    }
    // The straddling store's upper half really is in frame 1's first bytes.
    let config = small_stack_config(Mapping::Aligned, false);
    let mut layout = Layout::new();
    let mut memory = layout.mapping(&config);
    memory
        .store(MemSize::DW, MM_STACK_START + 12, 0x0102030405060708, 0)
        .unwrap();
    assert_eq!(
        memory.load(MemSize::W, MM_STACK_START + 32, 0),
        Ok(0x01020304)
    );
    drop(memory);
    assert_eq!(&layout.stack[12..20], &[8, 7, 6, 5, 4, 3, 2, 1]);
}

#[test]
fn classification_table() {
    // (dynamic, frame size, depth, vaddr, expected frame or region)
    type Row = (bool, usize, usize, u64, Result<i64, &'static str>);
    let rows: &[Row] = &[
        (false, 4096, 20, 0x1_FFFF_FFFF, Ok(0)),
        (false, 4096, 20, 0x1_FFFF_F001, Ok(0)),
        (false, 4096, 20, 0x1_FFFF_F000, Ok(-1)),
        (false, 4096, 20, 0x1_FFFF_EFFF, Ok(-1)),
        (false, 4096, 20, 0x1_FFFF_E001, Ok(-1)),
        (false, 4096, 20, 0x1_FFFF_E000, Err("program")),
        (false, 4096, 20, 0x1_FFFF_DFFF, Err("program")),
        (false, 4096, 20, MM_STACK_START + 20 * 4096, Ok(20)),
        (false, 4096, 20, MM_STACK_START + 21 * 4096, Err("stack")),
        (false, 0, 20, MM_STACK_START + 5, Ok(0)), // a zero frame size gives frame 0
        (true, 4096, 20, 0x1_FFFF_FFFF, Err("program")),
        (true, 4096, 20, MM_STACK_START, Err("stack")),
        (true, 4096, 20, MM_HEAP_START + 3, Err("heap")),
        (true, 4096, 20, MM_INPUT_START, Err("input")),
        (true, 4096, 20, 0, Err("unknown")),
        (true, 4096, 20, u64::MAX, Err("unknown")),
    ];
    for &(dynamic, frame_size, depth, vaddr, expected) in rows {
        let config = Config {
            dynamic_stack_frames: dynamic,
            stack_frame_size: frame_size,
            max_call_depth: depth,
            ..Config::default()
        };
        let layout = crate::memory::Layout::of(&config, bpfvm_isa::Dialect::Sbpf);
        let error = ViolationPolicy::new(layout).error(Store, vaddr, 8, 3, false);
        let want = match expected {
            Ok(frame) => RuntimeError::StackAccessViolation {
                pc: 3,
                access: Store,
                vaddr,
                len: 8,
                frame,
            },
            Err(region) => RuntimeError::AccessViolation {
                pc: 3,
                access: Store,
                vaddr,
                len: 8,
                region: match region {
                    "program" => "program",
                    "stack" => "stack",
                    "heap" => "heap",
                    "input" => "input",
                    _ => "unknown",
                },
            },
        };
        assert_eq!(error, want, "{vaddr:#x}");
    }
}

#[test]
fn construction_table() {
    // (mapping, region addresses and lengths, expected error index)
    type Row = (Mapping, &'static [(u64, usize)], Option<usize>);
    let rows: &[Row] = &[
        (
            Mapping::Aligned,
            &[(MM_PROGRAM_START, 4), (MM_STACK_START, 4)],
            None,
        ),
        // regions are sorted first
        (
            Mapping::Aligned,
            &[(MM_STACK_START, 4), (MM_PROGRAM_START, 4)],
            None,
        ),
        (Mapping::Aligned, &[], None),
        // a hole at slot 2
        (
            Mapping::Aligned,
            &[(MM_PROGRAM_START, 4), (MM_HEAP_START, 4)],
            Some(2),
        ),
        // two regions in slot 1
        (
            Mapping::Aligned,
            &[(MM_PROGRAM_START, 4), (MM_PROGRAM_START + 8, 4)],
            Some(2),
        ),
        // a region in slot 0 collides with the empty region
        (Mapping::Aligned, &[(0x10, 4)], Some(1)),
        // not at the start of its slot is fine
        (Mapping::Aligned, &[(MM_PROGRAM_START + 0x100, 4)], None),
        (
            Mapping::Unaligned,
            &[(0x10, 4), (0x14, 4), (0x100, 1)],
            None,
        ),
        (Mapping::Unaligned, &[(0x10, 5), (0x14, 4)], Some(1)),
        (
            Mapping::Unaligned,
            &[(0x100, 1), (0x10, 4), (0x12, 4)],
            Some(1),
        ),
        (Mapping::Unaligned, &[], None),
    ];
    for (mapping, specs, expected) in rows {
        let mut buffers: Vec<Vec<u8>> = specs.iter().map(|&(_, len)| vec![0; len]).collect();
        let regions = buffers
            .iter_mut()
            .zip(specs.iter())
            .map(|(bytes, &(vaddr, _))| MemoryRegion::writable(bytes, vaddr))
            .collect();
        let result = MemoryMapping::new(regions, &config(*mapping, true));
        assert_eq!(
            result.err(),
            expected.map(|index| RuntimeError::InvalidMemoryRegion { index }),
            "{mapping:?} {specs:x?}"
        );
    }
}

#[test]
fn unaligned_lookup_over_many_regions() {
    // Regions of 4 bytes every 16 bytes; each byte holds its region number.
    let count = 37u8;
    let mut buffers: Vec<Vec<u8>> = (0..count).map(|i| vec![i; 4]).collect();
    let regions = buffers
        .iter_mut()
        .enumerate()
        .map(|(i, bytes)| MemoryRegion::writable(bytes, 0x1000 + 16 * i as u64))
        .collect();
    let memory = MemoryMapping::new(regions, &config(Mapping::Unaligned, true)).unwrap();
    for i in 0..u64::from(count) {
        for delta in 0..16u64 {
            let vaddr = 0x1000 + 16 * i + delta;
            let got = memory.load(MemSize::B, vaddr, 0).ok();
            let want = (delta < 4).then_some(i);
            assert_eq!(got, want, "{vaddr:#x}");
        }
    }
    assert!(memory.load(MemSize::B, 0xfff, 0).is_err());
}

#[test]
fn unaligned_cache_keeps_the_four_newest() {
    let replacement = [9u8; 2];
    let mut buffers: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 8]).collect();
    let regions = buffers
        .iter_mut()
        .enumerate()
        .map(|(i, bytes)| MemoryRegion::writable(bytes, 0x100 * (i as u64 + 1)))
        .collect();
    let mut memory = MemoryMapping::new(regions, &config(Mapping::Unaligned, true)).unwrap();
    assert!(!memory.is_cached(0x100));
    for i in 1..=5u64 {
        assert_eq!(memory.load(MemSize::B, 0x100 * i, 0), Ok(i - 1));
    }
    // 0x100 was pushed out by the four newer regions; 0x200..0x500 are cached.
    assert!(!memory.is_cached(0x100));
    assert!((2..=5).all(|i| memory.is_cached(0x100 * i + 7)));
    assert!(!memory.is_cached(0x208)); // the cached range is [start, start + len)
                                       // A cache hit gives the same answer, a failed access caches nothing.
    assert_eq!(memory.load(MemSize::B, 0x300, 0), Ok(2));
    assert!(memory.load(MemSize::B, 0x608, 0).is_err());
    assert!(!memory.is_cached(0x600));
    // Replacing a region flushes the cache.
    let index = memory
        .regions()
        .iter()
        .position(|r| r.vm_addr() == 0x300)
        .unwrap();
    memory
        .replace_region(index, MemoryRegion::readonly(&replacement, 0x300))
        .unwrap();
    assert!(!memory.is_cached(0x500));
    assert_eq!(memory.load(MemSize::B, 0x301, 0), Ok(9));
    assert!(memory.load(MemSize::B, 0x302, 0).is_err());
}

#[test]
fn replace_region_rules() {
    let new_at = |vaddr: u64, len: usize| (vaddr, len);
    // (mapping, index, new region (vaddr, len), ok)
    let rows: &[(Mapping, usize, (u64, usize), bool)] = &[
        (Mapping::Aligned, 1, new_at(MM_PROGRAM_START, 8), true),
        (Mapping::Aligned, 1, new_at(MM_PROGRAM_START + 16, 8), true),
        (Mapping::Aligned, 1, new_at(MM_STACK_START, 8), false),
        // the last byte must stay in the slot too
        (Mapping::Aligned, 1, new_at(MM_STACK_START - 4, 8), false),
        (Mapping::Aligned, 1, new_at(MM_STACK_START - 8, 8), true),
        (Mapping::Aligned, 3, new_at(MM_HEAP_START, 8), false), // no such index
        (Mapping::Aligned, 0, new_at(0, 0), true),              // the empty region's slot
        (Mapping::Unaligned, 0, new_at(MM_PROGRAM_START, 8), false),
        (Mapping::Unaligned, 2, new_at(MM_PROGRAM_START, 8), false),
    ];
    for (mapping, index, (vaddr, len), ok) in rows {
        let mut bytes = vec![5u8; *len];
        let mut program = [0u8; 4];
        let mut stack = [0u8; 4];
        let regions = vec![
            MemoryRegion::writable(&mut program, MM_PROGRAM_START),
            MemoryRegion::writable(&mut stack, MM_STACK_START),
        ];
        let mut memory = MemoryMapping::new(regions, &config(*mapping, true)).unwrap();
        let result = memory.replace_region(*index, MemoryRegion::writable(&mut bytes, *vaddr));
        let want = if *ok {
            Ok(())
        } else {
            Err(RuntimeError::InvalidMemoryRegion { index: *index })
        };
        assert_eq!(result, want, "{mapping:?} {index} {vaddr:#x}");
        if *ok && *index != 0 {
            assert_eq!(memory.load(MemSize::B, *vaddr, 0), Ok(5));
        }
    }
    // Unaligned: the stored index of the region that keeps its address.
    let bigger = [6u8; 8];
    let mut program = [0u8; 4];
    let regions = vec![MemoryRegion::writable(&mut program, MM_PROGRAM_START)];
    let mut memory = MemoryMapping::new(regions, &config(Mapping::Unaligned, true)).unwrap();
    memory
        .replace_region(0, MemoryRegion::readonly(&bigger, MM_PROGRAM_START))
        .unwrap();
    assert_eq!(memory.load(MemSize::B, MM_PROGRAM_START + 7, 0), Ok(6));
    assert!(memory.store(MemSize::B, MM_PROGRAM_START, 0, 0).is_err());
}

#[test]
fn syscall_byte_access() {
    for mapping in BOTH {
        let config = small_stack_config(mapping, true);
        let mut layout = Layout::new();
        let mut memory = layout.mapping(&config);
        assert_eq!(
            memory.read_bytes(MM_INPUT_START + 2, 3),
            Ok(vec![0x42, 0x43, 0x44])
        );
        assert_eq!(memory.read_bytes(MM_INPUT_START + 8, 0), Ok(vec![]));
        assert_eq!(memory.read_bytes(MM_HEAP_START, 0), Ok(vec![]));
        assert_eq!(
            memory.read_bytes(MM_INPUT_START + 6, 3),
            Err(RuntimeError::AccessViolation {
                pc: 0,
                access: Load,
                vaddr: MM_INPUT_START + 6,
                len: 3,
                region: "input"
            })
        );
        memory.write_bytes(MM_INPUT_START + 1, &[9, 9]).unwrap();
        assert_eq!(memory.load(MemSize::H, MM_INPUT_START + 1, 0), Ok(0x0909));
        assert!(memory.write_bytes(MM_PROGRAM_START, &[1]).is_err());
        memory.write_bytes(MM_INPUT_START + 8, &[]).unwrap();
        let range = memory.map(Store, MM_INPUT_START, 4, 0).unwrap();
        assert_eq!(range.len(), 4);
        memory
            .slice_mut(range)
            .unwrap()
            .copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(memory.slice(range), Some(&[1u8, 2, 3, 4][..]));
        let program = memory.map(Load, MM_PROGRAM_START, 2, 0).unwrap();
        assert!(memory.slice_mut(program).is_none()); // read-only bytes
        drop(memory);
        assert_eq!(&layout.input[..4], &[1, 2, 3, 4]);
    }
}

/// The direct rows against the general path: at every offset near each region's start,
/// end and frames, for every size, the rows give a load or store exactly when the general
/// path makes it (for the regions that start at their slot's first address), with the same
/// bytes; a region elsewhere in its slot, slot 0 and slots without a region get nothing;
/// and a replaced region is what the rows describe afterwards.
#[test]
fn direct_rows_agree_with_the_general_path() {
    const SIZES: [MemSize; 4] = [MemSize::B, MemSize::H, MemSize::W, MemSize::DW];
    let text = [7u8; 24];
    let short = [9u8; 4];
    let mut stack: Vec<u8> = (0..64).collect();
    let mut heap = [0u8; 0];
    let mut input: Vec<u8> = (100..140).collect();
    let mut late = [1u8; 8];
    const LATE: u64 = (5 << 32) + 8;
    let regions = vec![
        MemoryRegion::readonly(&text, MM_PROGRAM_START),
        MemoryRegion::writable_gapped(&mut stack, MM_STACK_START, 16),
        MemoryRegion::writable(&mut heap, MM_HEAP_START),
        MemoryRegion::writable(&mut input, MM_INPUT_START),
        MemoryRegion::writable(&mut late, LATE),
    ];
    let mut mapping = MemoryMapping::new(regions, &Config::default()).unwrap();
    let bases = [
        0,
        MM_PROGRAM_START,
        MM_STACK_START,
        MM_HEAP_START,
        MM_INPUT_START,
    ];
    let mut made = 0;
    for base in bases.into_iter().chain([5 << 32, LATE, 6 << 32, 9 << 32]) {
        for offset in 0..140 {
            let vaddr = base + offset;
            let direct_slot = base >> 32 != 5;
            for size in SIZES {
                let general = mapping.load(size, vaddr, 0).ok();
                let direct = mapping.load_aligned(size, vaddr);
                let want = if direct_slot { general } else { None };
                assert_eq!(direct, want, "load {size:?} at {vaddr:#x}");
                let value = 0x8877_6655_4433_2211 ^ vaddr;
                let storable = mapping.map(Store, vaddr, size.bytes(), 0).is_ok();
                let stored = mapping.store_aligned(size, vaddr, value).is_some();
                assert_eq!(
                    stored,
                    storable && direct_slot,
                    "store {size:?} at {vaddr:#x}"
                );
                if stored {
                    made += 1;
                    let mask = u64::MAX >> (64 - 8 * size.bytes());
                    assert_eq!(mapping.load(size, vaddr, 0), Ok(value & mask));
                }
            }
        }
    }
    assert!(made > 100, "the rows made {made} stores");
    // The input shrinks to 4 read-only bytes: a word at 0 loads, at 1 it does not, and no
    // store is direct any more.
    mapping
        .replace_region_at(MemoryRegion::readonly(&short, MM_INPUT_START))
        .unwrap();
    assert_eq!(
        mapping.load_aligned(MemSize::W, MM_INPUT_START),
        Some(0x0909_0909)
    );
    assert_eq!(mapping.load_aligned(MemSize::W, MM_INPUT_START + 1), None);
    assert_eq!(mapping.store_aligned(MemSize::B, MM_INPUT_START, 1), None);
}
