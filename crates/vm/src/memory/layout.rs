//! The memory contract: where each region lives in guest address space and how the stack
//! is laid out and moved by calls, derived once from the configuration ([`Layout::of`]) and
//! read by everything that places, translates or classifies guest addresses: the loader
//! (where the program region starts), the VM (which regions it maps, r1 and r10 at entry),
//! both backends (how `call` and `exit` move the stack), the violation classifier (which
//! frame or region an address names) and the JIT's region table and current-frame fast path
//! (see [`super::table`]).
//!
//! A layout is one value: a configuration (and, later, an SBPF version with a layout of its
//! own, such as read-only data at 0 or one contiguous stack moved by `add64 r10`) gives one
//! [`Layout`], and nothing else in the crate knows region addresses or frame arithmetic. The
//! `MM_*` constants of [`crate::program`] are the standard map's values, for hosts and tests
//! that name them.
//!
//! ```text
//! guest address   0x0          1 << 32       2 << 32          3 << 32   4 << 32
//!                 | (unmapped) | program     | stack           | heap    | input ...
//! fixed frames with gaps:        frame 0 | gap | frame 1 | gap | ...
//! ```

use crate::config::Config;

/// Where each region starts in guest address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressMap {
    /// The program's read-only data and text.
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
        program: 1 << 32,
        stack: 2 << 32,
        heap: 3 << 32,
        input: 4 << 32,
    };

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
    /// One stack moved by r11; calls leave the stack pointer alone.
    Dynamic,
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

impl StackLayout {
    /// The stack of `config`.
    pub fn of(config: &Config) -> StackLayout {
        let frames = match (config.dynamic_stack_frames, config.enable_stack_frame_gaps) {
            (true, _) => StackFrames::Dynamic,
            (false, true) => StackFrames::Fixed { gaps: Gaps::On },
            (false, false) => StackFrames::Fixed { gaps: Gaps::Off },
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
            StackFrames::Fixed { gaps: Gaps::Off } | StackFrames::Dynamic => 0,
        }
    }

    /// How calls move the stack pointer.
    pub fn frame_mode(&self) -> FrameMode {
        match self.frames {
            StackFrames::Dynamic => FrameMode::Dynamic,
            StackFrames::Fixed { gaps } => FrameMode::Fixed {
                bump: match gaps {
                    Gaps::On => self.frame_size.wrapping_mul(2),
                    Gaps::Off => self.frame_size,
                },
            },
        }
    }

    /// r10 at entry for a stack starting at `start`: the top of the stack with dynamic
    /// frames, the top of frame 0 otherwise.
    pub fn initial_frame_pointer(&self, start: u64) -> u64 {
        start.saturating_add(match self.frames {
            StackFrames::Dynamic => self.frame_size.saturating_mul(self.depth),
            StackFrames::Fixed { .. } => self.frame_size,
        })
    }

    /// The frame number an access at `vaddr` falls in, for a stack starting at `start`, when
    /// it classifies as a stack access (reference §5.4): with fixed frames, the frame
    /// `(vaddr as i64 - start) / frame_size` (truncating toward zero, so up to one frame
    /// below the stack counts as frame 0 or -1) when it lies in `[-1, depth]`. A frame size
    /// that does not fit (or is 0) gives frame 0, as the reference's conversions do.
    pub fn frame_of(&self, start: u64, vaddr: u64) -> Option<i64> {
        if self.frames == StackFrames::Dynamic {
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

/// The memory contract of one configuration: the address map and the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// Where each region starts.
    pub map: AddressMap,
    /// How the stack is laid out.
    pub stack: StackLayout,
}

impl Layout {
    /// The layout of `config` (every configuration uses the standard map today).
    pub fn of(config: &Config) -> Layout {
        Layout {
            map: AddressMap::STANDARD,
            stack: StackLayout::of(config),
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
        let map = Layout::of(&Config::default()).map;
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
        let dynamic = Layout::of(&Config::default());
        assert_eq!(dynamic.stack.frames, StackFrames::Dynamic);
        assert_eq!(dynamic.stack.size(), 20 * 4096);
        assert_eq!(dynamic.stack.gap(), 0);
        assert_eq!(dynamic.stack.frame_mode(), FrameMode::Dynamic);
        assert_eq!(dynamic.initial_frame_pointer(), MM_STACK_START + 20 * 4096);
        assert_eq!(dynamic.stack.gapped_frames(), None);
        assert_eq!(dynamic.stack_frame_of(MM_STACK_START), None);
        // Legacy: gapped fixed frames, r10 at the top of frame 0, calls move by two frames.
        let legacy = Layout::of(&Config::legacy());
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
        let contiguous = Layout::of(&Config {
            enable_stack_frame_gaps: false,
            ..Config::legacy()
        });
        assert_eq!(contiguous.stack.gap(), 0);
        assert_eq!(contiguous.stack.gap_shift(), None);
        assert_eq!(
            contiguous.stack.frame_mode(),
            FrameMode::Fixed { bump: 4096 }
        );
        assert_eq!(contiguous.stack.gapped_frames(), None);
    }

    #[test]
    fn stack_faults_classify_by_truncated_frame_number() {
        let legacy = Layout::of(&Config::legacy());
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
        let zero = Layout::of(&Config {
            stack_frame_size: 0,
            ..Config::legacy()
        });
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
            let layout = Layout::of(&Config {
                stack_frame_size: frame,
                max_call_depth: depth,
                ..Config::legacy()
            });
            assert_eq!(
                layout.stack.gapped_frames().is_some(),
                gapped,
                "{frame} x {depth}"
            );
        }
    }
}
