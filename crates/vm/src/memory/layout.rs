//! The memory contract: where each region lives in guest address space and how the stack
//! is laid out and moved by calls, derived once from the configuration ([`Layout::of`]) and
//! read by everything that places, translates or classifies guest addresses: the loader
//! (where the program region starts), the VM (which regions it maps, r1 and r10 at entry),
//! both backends (how `call` and `exit` move the stack), the violation classifier (which
//! frame or region an address names) and the JIT's region table and current-frame fast path
//! (see [`super::table`]).
//!
//! A layout is one value: a configuration and a dialect give one [`Layout`] ([`Layout::of`]),
//! and nothing else in the crate knows region addresses or frame arithmetic. The SBPF
//! versions of solana-sbpf 0.26 have layouts of their own: V1 and V2 one contiguous stack
//! moved by the program's `add64 r10` ([`StackFrames::Manual`]), V3 and V4 fixed frames
//! without gaps and read-only data at address 0 with the bytecode unreadable at `1 << 32`
//! ([`AddressMap::LOWER_RODATA`]), and all of them 0.26's rules for the aligned mapping and
//! for naming a violation's region ([`MemoryRules::Sbpf26`]). The `MM_*` constants of
//! [`crate::program`] are the standard map's values, for hosts and tests that name them.
//!
//! ```text
//! guest address   0x0          1 << 32       2 << 32          3 << 32   4 << 32
//!                 | (unmapped) | program     | stack           | heap    | input ...
//! fixed frames with gaps:        frame 0 | gap | frame 1 | gap | ...
//! V3, V4:         | rodata     | (bytecode)  | frame 0 | frame 1 | ...
//! ```

use crate::config::Config;
use bpfvm_isa::Dialect;

/// Where each region starts in guest address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressMap {
    /// The program's read-only data: with the text for every dialect but V3 and V4, which
    /// map it alone at 0.
    pub rodata: u64,
    /// The program's text (readable at this address unless the read-only data lies elsewhere).
    pub program: u64,
    /// The stack.
    pub stack: u64,
    /// The heap.
    pub heap: u64,
    /// The host's input; r1 holds this address at entry.
    pub input: u64,
}

impl AddressMap {
    /// The map of solana_rbpf 0.2.38, which both 2022 profiles and eBPF use: one 4 GiB slot
    /// per region, program, stack, heap and input in slots 1 to 4.
    pub const STANDARD: AddressMap = AddressMap {
        rodata: 1 << 32,
        program: 1 << 32,
        stack: 2 << 32,
        heap: 3 << 32,
        input: 4 << 32,
    };

    /// The map of SBPF V3 and V4 (SIMD-0189): read-only data at 0, the bytecode at `1 << 32`
    /// (not mapped for the program), the other regions where they always were.
    pub const LOWER_RODATA: AddressMap = AddressMap {
        rodata: 0,
        ..AddressMap::STANDARD
    };

    /// Whether the text is readable: it is part of the read-only region.
    pub const fn text_is_mapped(&self) -> bool {
        self.rodata == self.program
    }

    /// The name of the region slot (the upper 32 bits) holding `vaddr`: `program`, `stack`,
    /// `heap`, `input`, or `unknown`.
    pub fn region_name(&self, vaddr: u64) -> &'static str {
        let slot = vaddr >> 32;
        let named = [
            (self.program, "program"),
            (self.stack, "stack"),
            (self.heap, "heap"),
            (self.input, "input"),
        ];
        named
            .iter()
            .find(|(start, _)| *start >> 32 == slot)
            .map_or("unknown", |(_, name)| name)
    }

    /// The region-table row (the 4 GiB slot) of the stack.
    pub const fn stack_row(&self) -> usize {
        (self.stack >> 32) as usize
    }

    /// The region-table row (the 4 GiB slot) of the input.
    pub const fn input_row(&self) -> usize {
        (self.input >> 32) as usize
    }
}

/// How calls move the stack pointer (sBPF's r11) and r10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameMode {
    /// One stack moved by r11; calls leave the stack pointer alone and set r10 to it.
    Dynamic,
    /// One stack moved by the program's `add64 r10, imm` (SBPF V1, V2): calls leave r10
    /// alone, `exit` restores the caller's.
    Manual,
    /// Calls move the stack pointer up by this many bytes, returns move it back.
    Fixed {
        /// The frame size, twice it when frames are followed by gaps.
        bump: u64,
    },
}

/// Whether fixed frames are followed by an unmapped gap of their own size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gaps {
    /// Each frame is followed by a gap (the reference's default).
    On,
    /// Frames are contiguous.
    Off,
}

/// How the stack is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackFrames {
    /// One contiguous stack moved by r11: calls leave the stack pointer alone, r10 starts at
    /// the top.
    Dynamic,
    /// One contiguous stack moved by `add64 r10, imm` (SBPF V1, V2): r10 starts at the top
    /// and calls leave it alone.
    Manual,
    /// One frame per call level, r10 at the top of the current one.
    Fixed {
        /// Whether an unmapped gap follows each frame.
        gaps: Gaps,
    },
}

/// The stack: its frames, their size and their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StackLayout {
    /// Dynamic or fixed frames.
    pub frames: StackFrames,
    /// Bytes per frame (also the gap size, and the divisor that classifies stack faults).
    pub frame_size: u64,
    /// The number of frames, the maximum call depth.
    pub depth: u64,
}

/// A stack of fixed frames of a power-of-two size with gaps: the stack whose current frame
/// the JIT addresses through r10 without a check (see [`StackLayout::gapped_frames`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GappedFrames {
    /// The frame size, a power of two from 8 to 2^30.
    pub frame: u64,
    /// How many frames the stack holds.
    pub depth: u64,
}

/// A stack of fixed frames of a power-of-two size, gapped or contiguous, whose current frame
/// the JIT addresses through r10 without a check (see [`StackLayout::current_frame`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CurrentFrame {
    /// The frame size, a power of two from 8 to 2^30.
    pub frame: u64,
    /// How many frames the stack holds.
    pub depth: u64,
    /// Whether each frame is followed by a gap.
    pub gaps: Gaps,
}

impl StackLayout {
    /// The stack of `config` in `dialect`: the 2022 dialects follow the configuration's
    /// flags, an SBPF version its features (manual frames in V1 and V2; gaps, when the
    /// configuration enables them, only in V0).
    pub fn of(config: &Config, dialect: Dialect) -> StackLayout {
        let gaps = match config.enable_stack_frame_gaps {
            true => Gaps::On,
            false => Gaps::Off,
        };
        let frames = match dialect {
            Dialect::Sbpf | Dialect::Ebpf if config.dynamic_stack_frames => StackFrames::Dynamic,
            Dialect::Sbpf | Dialect::Ebpf => StackFrames::Fixed { gaps },
            Dialect::Sbpf26(version) if version.manual_stack_frame_bump() => StackFrames::Manual,
            Dialect::Sbpf26(version) if version.stack_frame_gaps() => StackFrames::Fixed { gaps },
            Dialect::Sbpf26(_) => StackFrames::Fixed { gaps: Gaps::Off },
        };
        StackLayout {
            frames,
            frame_size: config.stack_frame_size as u64,
            depth: config.max_call_depth as u64,
        }
    }

    /// The host bytes of the stack: one frame per call level.
    pub fn size(&self) -> usize {
        usize::try_from(self.frame_size.saturating_mul(self.depth)).unwrap_or(usize::MAX)
    }

    /// The gap of the stack region: the frame size with gapped fixed frames, else 0.
    pub fn gap(&self) -> u64 {
        match self.frames {
            StackFrames::Fixed { gaps: Gaps::On } => self.frame_size,
            StackFrames::Fixed { gaps: Gaps::Off } | StackFrames::Dynamic | StackFrames::Manual => {
                0
            }
        }
    }

    /// How calls move the stack pointer.
    pub fn frame_mode(&self) -> FrameMode {
        match self.frames {
            StackFrames::Dynamic => FrameMode::Dynamic,
            StackFrames::Manual => FrameMode::Manual,
            StackFrames::Fixed { gaps } => FrameMode::Fixed {
                bump: match gaps {
                    Gaps::On => self.frame_size.wrapping_mul(2),
                    Gaps::Off => self.frame_size,
                },
            },
        }
    }

    /// r10 at entry for a stack starting at `start`: the top of the stack with dynamic or
    /// manual frames, the top of frame 0 otherwise.
    pub fn initial_frame_pointer(&self, start: u64) -> u64 {
        start.saturating_add(match self.frames {
            StackFrames::Dynamic | StackFrames::Manual => {
                self.frame_size.saturating_mul(self.depth)
            }
            StackFrames::Fixed { .. } => self.frame_size,
        })
    }

    /// The frame number an access at `vaddr` falls in, for a stack starting at `start`, when
    /// it classifies as a stack access (reference §5.4): with fixed frames, the frame
    /// `(vaddr as i64 - start) / frame_size` (truncating toward zero, so up to one frame
    /// below the stack counts as frame 0 or -1) when it lies in `[-1, depth]`. A frame size
    /// that does not fit (or is 0) gives frame 0, as the reference's conversions do.
    pub fn frame_of(&self, start: u64, vaddr: u64) -> Option<i64> {
        if matches!(self.frames, StackFrames::Dynamic | StackFrames::Manual) {
            return None;
        }
        let frame = (vaddr as i64)
            .saturating_sub(start as i64)
            .checked_div(self.frame_size as i64)
            .unwrap_or(0);
        let end = (self.depth as i64).saturating_add(1);
        (-1..end).contains(&frame).then_some(frame)
    }

    /// log2 of the gap size, when the stack is gapped (a frame size that is not a power of
    /// two rounds down, as the region's gap does).
    pub fn gap_shift(&self) -> Option<u8> {
        match self.gap() {
            0 => None,
            gap => Some((63 - gap.leading_zeros()) as u8),
        }
    }

    /// This stack as [`CurrentFrame`], when it is one: fixed frames, gapped or contiguous, of
    /// a power-of-two size from 8 to 2^30, at least one of them, whose total size fits 64
    /// bits. r10 is then only ever moved by calls and returns (no version with fixed frames
    /// lets a program write it), so it is always the top of frame `i` (start + F + 2F·i with
    /// gaps, start + F + F·i without, i below the depth), and `[r10 + off]` with
    /// `-F <= off <= -size` lies in the current frame whatever `i` is.
    pub fn current_frame(&self) -> Option<CurrentFrame> {
        let StackFrames::Fixed { gaps } = self.frames else {
            return None;
        };
        let frame = self.frame_size;
        let fits = frame.is_power_of_two() && (8..=1 << 30).contains(&frame);
        let sized = self.depth > 0 && frame.checked_mul(self.depth).is_some();
        (fits && sized).then_some(CurrentFrame {
            frame,
            depth: self.depth,
            gaps,
        })
    }

    /// This stack as [`GappedFrames`], when it is one: fixed frames with gaps, of a
    /// power-of-two size from 8 to 2^30, at least one of them, whose total size fits 64 bits.
    /// Then r10 is always the top of frame `i` (start + F + 2F·i, i below the depth), so
    /// `[r10 + off]` with `-F <= off <= -size` lies in the current frame whatever `i` is.
    pub fn gapped_frames(&self) -> Option<GappedFrames> {
        let frame = self.frame_size;
        let gapped = self.frames == StackFrames::Fixed { gaps: Gaps::On };
        let fits = frame.is_power_of_two() && (8..=1 << 30).contains(&frame);
        let sized = self.depth > 0 && frame.checked_mul(self.depth).is_some();
        (gapped && fits && sized).then_some(GappedFrames {
            frame,
            depth: self.depth,
        })
    }
}

/// Whose rules the mapping and the violation classifier follow where 0.26 changed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemoryRules {
    /// solana_rbpf 0.2.38 (the 2022 dialects and eBPF): the aligned mapping wants one region
    /// per slot from slot 1 up with no hole and never maps slot 0; a violation names the
    /// region slot of the address (`program`, `stack`, `heap`, `input`, `unknown`).
    Reference2022,
    /// solana-sbpf 0.26 (the SBPF versions): the aligned mapping fills holes with empty
    /// regions and may map slot 0; a violation names `unallocated` when no mapped region
    /// holds the address, else the slot's name (`allocated` for slots without one).
    Sbpf26,
}

/// Which lookup the mapping uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MappingKind {
    /// The upper 32 address bits pick the region.
    Aligned,
    /// A search over the sorted regions.
    Unaligned,
}

/// The memory contract of one configuration: the address map and the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Where each region starts.
    pub map: AddressMap,
    /// How the stack is laid out.
    pub stack: StackLayout,
    /// Whose mapping and classification rules apply.
    pub rules: MemoryRules,
    /// The mapping's lookup.
    pub mapping: MappingKind,
}

impl Layout {
    /// The layout of `config` in `dialect`.
    pub fn of(config: &Config, dialect: Dialect) -> Layout {
        let version = dialect.version();
        let map = match version {
            Some(version) if version.enable_lower_rodata_vaddr() => AddressMap::LOWER_RODATA,
            Some(_) | None => AddressMap::STANDARD,
        };
        let aligned = config.aligned_memory_mapping
            || version.is_some_and(|version| version.forces_aligned_memory_mapping());
        Layout {
            map,
            stack: StackLayout::of(config, dialect),
            rules: match version {
                Some(_) => MemoryRules::Sbpf26,
                None => MemoryRules::Reference2022,
            },
            mapping: match aligned {
                true => MappingKind::Aligned,
                false => MappingKind::Unaligned,
            },
        }
    }

    /// r10 at entry ([`StackLayout::initial_frame_pointer`] at the stack's address).
    pub fn initial_frame_pointer(&self) -> u64 {
        self.stack.initial_frame_pointer(self.map.stack)
    }

    /// The frame of a stack access at `vaddr` ([`StackLayout::frame_of`]).
    pub fn stack_frame_of(&self, vaddr: u64) -> Option<i64> {
        self.stack.frame_of(self.map.stack, vaddr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};

    #[test]
    fn the_standard_map_is_the_reference_constants() {
        let map = Layout::of(&Config::default(), Dialect::Sbpf).map;
        assert_eq!(map, AddressMap::STANDARD);
        assert_eq!(
            [map.program, map.stack, map.heap, map.input],
            [
                MM_PROGRAM_START,
                MM_STACK_START,
                MM_HEAP_START,
                MM_INPUT_START
            ]
        );
        assert_eq!((map.stack_row(), map.input_row()), (2, 4));
        let names = [0, 1, 2, 3, 4, 5].map(|slot: u64| map.region_name((slot << 32) + 7));
        assert_eq!(
            names,
            ["unknown", "program", "stack", "heap", "input", "unknown"]
        );
    }

    #[test]
    fn the_stack_of_each_profile() {
        // The default: one dynamic stack, r10 at its top.
        let dynamic = Layout::of(&Config::default(), Dialect::Sbpf);
        assert_eq!(dynamic.stack.frames, StackFrames::Dynamic);
        assert_eq!(dynamic.stack.size(), 20 * 4096);
        assert_eq!(dynamic.stack.gap(), 0);
        assert_eq!(dynamic.stack.frame_mode(), FrameMode::Dynamic);
        assert_eq!(dynamic.initial_frame_pointer(), MM_STACK_START + 20 * 4096);
        assert_eq!(dynamic.stack.gapped_frames(), None);
        assert_eq!(dynamic.stack_frame_of(MM_STACK_START), None);
        // Legacy: gapped fixed frames, r10 at the top of frame 0, calls move by two frames.
        let legacy = Layout::of(&Config::legacy(), Dialect::Sbpf);
        assert_eq!(legacy.stack.frames, StackFrames::Fixed { gaps: Gaps::On });
        assert_eq!(legacy.stack.gap(), 4096);
        assert_eq!(legacy.stack.gap_shift(), Some(12));
        assert_eq!(legacy.stack.frame_mode(), FrameMode::Fixed { bump: 8192 });
        assert_eq!(legacy.initial_frame_pointer(), MM_STACK_START + 4096);
        assert_eq!(
            legacy.stack.gapped_frames(),
            Some(GappedFrames {
                frame: 4096,
                depth: 20
            })
        );
        // Without gaps: calls move by one frame, and the region has no gap.
        let contiguous = Layout::of(
            &Config {
                enable_stack_frame_gaps: false,
                ..Config::legacy()
            },
            Dialect::Sbpf,
        );
        assert_eq!(contiguous.stack.gap(), 0);
        assert_eq!(contiguous.stack.gap_shift(), None);
        assert_eq!(
            contiguous.stack.frame_mode(),
            FrameMode::Fixed { bump: 4096 }
        );
        assert_eq!(contiguous.stack.gapped_frames(), None);
    }

    #[test]
    fn each_sbpf_version_has_its_layout() {
        use bpfvm_isa::SbpfVersion::{V0, V1, V2, V3, V4};
        let config = Config::agave();
        let layout = |version| Layout::of(&config, Dialect::Sbpf26(version));
        // V0: gapped fixed frames, calls move r10 by two frames, the standard map.
        let v0 = layout(V0);
        assert_eq!(v0.stack.frames, StackFrames::Fixed { gaps: Gaps::On });
        assert_eq!(v0.stack.frame_mode(), FrameMode::Fixed { bump: 8192 });
        assert_eq!(v0.initial_frame_pointer(), MM_STACK_START + 4096);
        assert_eq!(v0.map, AddressMap::STANDARD);
        assert_eq!(v0.rules, MemoryRules::Sbpf26);
        assert_eq!(v0.stack.size(), 64 * 4096);
        // V1, V2: one stack, r10 at its top, moved by the program; no stack violations.
        for version in [V1, V2] {
            let manual = layout(version);
            assert_eq!(manual.stack.frames, StackFrames::Manual);
            assert_eq!(manual.stack.frame_mode(), FrameMode::Manual);
            assert_eq!(manual.initial_frame_pointer(), MM_STACK_START + 64 * 4096);
            assert_eq!(manual.stack.gap(), 0);
            assert_eq!(manual.stack_frame_of(MM_STACK_START), None);
        }
        // V3, V4: contiguous fixed frames whatever the gap setting, rodata at 0.
        for version in [V3, V4] {
            let fixed = layout(version);
            assert_eq!(fixed.stack.frames, StackFrames::Fixed { gaps: Gaps::Off });
            assert_eq!(fixed.stack.frame_mode(), FrameMode::Fixed { bump: 4096 });
            assert_eq!(fixed.initial_frame_pointer(), MM_STACK_START + 4096);
            assert_eq!(fixed.map, AddressMap::LOWER_RODATA);
            assert!(!fixed.map.text_is_mapped());
            assert_eq!(fixed.stack_frame_of(MM_STACK_START + 4096 * 3), Some(3));
        }
        // V4 forces the aligned mapping; the others follow the configuration.
        let unaligned = Config {
            aligned_memory_mapping: false,
            ..config
        };
        let mapping = |version| Layout::of(&unaligned, Dialect::Sbpf26(version)).mapping;
        assert_eq!(mapping(V4), MappingKind::Aligned);
        assert_eq!(mapping(V3), MappingKind::Unaligned);
        assert_eq!(
            Layout::of(&Config::legacy(), Dialect::Sbpf).rules,
            MemoryRules::Reference2022
        );
    }

    #[test]
    fn stack_faults_classify_by_truncated_frame_number() {
        let legacy = Layout::of(&Config::legacy(), Dialect::Sbpf);
        assert_eq!(legacy.stack_frame_of(MM_STACK_START), Some(0));
        assert_eq!(
            legacy.stack_frame_of(MM_STACK_START + 3 * 4096 + 1),
            Some(3)
        );
        // Truncation toward zero: up to one frame below the stack is frame 0, then -1.
        assert_eq!(legacy.stack_frame_of(MM_STACK_START - 1), Some(0));
        assert_eq!(legacy.stack_frame_of(MM_STACK_START - 4097), Some(-1));
        assert_eq!(legacy.stack_frame_of(MM_STACK_START - 2 * 4096 - 1), None);
        assert_eq!(legacy.stack_frame_of(MM_STACK_START + 20 * 4096), Some(20));
        assert_eq!(legacy.stack_frame_of(MM_STACK_START + 21 * 4096), None);
        // A frame size of 0 divides to frame 0, as the reference's checked division does.
        let zero = Layout::of(
            &Config {
                stack_frame_size: 0,
                ..Config::legacy()
            },
            Dialect::Sbpf,
        );
        assert_eq!(zero.stack_frame_of(MM_HEAP_START), Some(0));
    }

    #[test]
    fn only_power_of_two_frames_from_8_bytes_to_1_gib_are_gapped_frames() {
        for (frame, depth, gapped) in [
            (4096, 20, true),
            (8, 1, true),
            (1 << 30, 2, true),
            (4, 20, false),
            (1 << 31, 2, false),
            (4095, 20, false),
            (4096, 0, false),
        ] {
            let layout = Layout::of(
                &Config {
                    stack_frame_size: frame,
                    max_call_depth: depth,
                    ..Config::legacy()
                },
                Dialect::Sbpf,
            );
            assert_eq!(
                layout.stack.gapped_frames().is_some(),
                gapped,
                "{frame} x {depth}"
            );
        }
    }
}
