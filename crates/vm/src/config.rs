//! Every setting of the VM and the loader, with the reference's defaults and the presets.
//!
//! `Config` mirrors solana_rbpf 0.2.38 field by field (reference §3): the same names, the same
//! defaults, the same effect. The JIT-hardening fields (`noop_instruction_rate`,
//! `sanitize_user_provided_values`, `runtime_environment_key`) may only ever change machine
//! code, never what a program observes. [`Preset`] names the configurations users ask for:
//! the reference default and the legacy one of 2022, eBPF, and one per SBPF version of
//! solana-sbpf 0.26 ([`Config::agave`], the settings Agave executes programs with).
//!
//! For the SBPF versions of 0.26 the version, not the configuration, decides what the 2022
//! flags decided (dynamic frames, signed division, static syscalls, `callx r10`, ELF virtual
//! addresses): those flags are read only under [`Dialect::Sbpf`], and [`Config::agave`] sets
//! them to the values 0.26 fixed (for the record, not because anything reads them there).

use bpfvm_isa::{Dialect, SbpfVersion};
use core::fmt;

/// The SBPF versions a loader accepts, inclusive (0.26's `enabled_sbpf_versions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// The oldest version accepted.
    pub min: SbpfVersion,
    /// The newest version accepted.
    pub max: SbpfVersion,
}

impl VersionRange {
    /// Every version, V0 to V4 (0.26's default).
    pub const ALL: VersionRange = VersionRange {
        min: SbpfVersion::V0,
        max: SbpfVersion::V4,
    };

    /// The versions Agave enables on every cluster: V0 to V3.
    pub const AGAVE: VersionRange = VersionRange {
        min: SbpfVersion::V0,
        max: SbpfVersion::V3,
    };

    /// Whether `version` is accepted.
    pub fn contains(&self, version: SbpfVersion) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

/// VM and loader settings. See the field docs for the effect of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of call frames. A call that raises the depth to this value fails with
    /// `CallDepthExceeded`. Also sets the stack size (`stack_frame_size * max_call_depth`).
    pub max_call_depth: usize,
    /// Bytes per stack frame; also the gap size and the divisor that classifies stack faults.
    pub stack_frame_size: usize,
    /// Fixed frames only: each frame is followed by an unmapped gap of the same size.
    pub enable_stack_frame_gaps: bool,
    /// JIT only: the largest run of instructions without a meter check (0: check every one).
    /// In the reference it bounds how far its JIT may run past the budget. bpfvm's JIT charges
    /// every straight-line run before entering it (and leaves the last instructions of the
    /// budget to the interpreter), so it never runs past the budget whatever this says; the
    /// field is kept for the reference's configurations and changes nothing observable.
    pub instruction_meter_checkpoint_distance: usize,
    /// Count instructions against the context's budget.
    pub enable_instruction_meter: bool,
    /// Call `ContextObject::trace` before every instruction.
    pub enable_instruction_tracing: bool,
    /// Keep function and section names; also register every FUNC symbol of `.symtab`.
    pub enable_symbol_and_section_labels: bool,
    /// Stricter ELF checks (unresolved syscalls, section offsets, overlapping sections).
    pub reject_broken_elfs: bool,
    /// JIT diversification: about one random 1-byte `nop` per this many BPF instructions
    /// (0: off). Machine code only.
    pub noop_instruction_rate: u32,
    /// JIT constant blinding of program-supplied immediates that are not small (emitted as
    /// `value - key` plus an add of a random key). Memory offsets and the value of `st` are
    /// emitted in the clear. Machine code only.
    pub sanitize_user_provided_values: bool,
    /// JIT: mixed into the seed of the hardening generator (which decides the `nop`s and the
    /// blinding keys). In the reference it also displaces the environment base register;
    /// bpfvm's JIT does not displace its `Env`, so this changes machine code only through the
    /// seed. For keys an attacker cannot predict, use
    /// [`JitEngine::with_seed`](crate::jit::JitEngine::with_seed).
    pub runtime_environment_key: i32,
    /// Without static syscalls: an internal function whose key equals a syscall's is an error.
    pub external_internal_function_hash_collision: bool,
    /// The verifier rejects `callx r10`.
    pub reject_callx_r10: bool,
    /// One contiguous downward-growing stack moved by r11, instead of fixed frames.
    pub dynamic_stack_frames: bool,
    /// The verifier accepts sBPF's signed division opcodes (0xe4, 0xec, 0xe7, 0xef).
    pub enable_sdiv: bool,
    /// Borrow read-only sections from the ELF when possible and map only their span.
    pub optimize_rodata: bool,
    /// `call` with src 0 is a syscall and with src != 0 an internal call keyed by pc.
    pub static_syscalls: bool,
    /// Honour ELF virtual addresses (sh_addr != sh_offset).
    pub enable_elf_vaddr: bool,
    /// Kept for compatibility: one strict parser serves both values.
    pub new_elf_parser: bool,
    /// Check the end, not only the start, of read-only sections against the stack.
    pub reject_rodata_stack_overlap: bool,
    /// The aligned mapping (address bits 32.. select the region) instead of the search mapping.
    pub aligned_memory_mapping: bool,
    /// The SBPF versions an ELF file may name (read by the 0.26 profiles' loader only).
    pub enabled_sbpf_versions: VersionRange,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_call_depth: 20,
            stack_frame_size: 4096,
            enable_stack_frame_gaps: true,
            instruction_meter_checkpoint_distance: 10000,
            enable_instruction_meter: true,
            enable_instruction_tracing: false,
            enable_symbol_and_section_labels: false,
            reject_broken_elfs: false,
            noop_instruction_rate: 256,
            sanitize_user_provided_values: true,
            runtime_environment_key: 0,
            external_internal_function_hash_collision: true,
            reject_callx_r10: true,
            dynamic_stack_frames: true,
            enable_sdiv: true,
            optimize_rodata: true,
            static_syscalls: true,
            enable_elf_vaddr: true,
            new_elf_parser: true,
            reject_rodata_stack_overlap: true,
            aligned_memory_mapping: true,
            enabled_sbpf_versions: VersionRange::ALL,
        }
    }
}

impl Config {
    /// The total stack size: one frame per call level
    /// ([`StackLayout::size`](crate::memory::StackLayout::size)).
    pub fn stack_size(&self) -> usize {
        crate::memory::StackLayout::of(self, Dialect::Sbpf).size()
    }

    /// The settings Agave executes programs with under solana-sbpf 0.26 (spec `sbpf-0.26.md`
    /// §1.10): call depth 64, 4 KiB frames, gaps (for V0), the meter on, `optimize_rodata`
    /// and `reject_broken_elfs` off, the aligned mapping, versions V0 to V3 enabled. The 2022
    /// flags are set to what 0.26 fixed: no dynamic frames or signed division (the version
    /// decides), hashed calls, `callx r10` refused, no ELF virtual addresses.
    pub fn agave() -> Self {
        Config {
            max_call_depth: 64,
            stack_frame_size: 4096,
            enable_stack_frame_gaps: true,
            instruction_meter_checkpoint_distance: 10000,
            enable_instruction_meter: true,
            enable_instruction_tracing: false,
            enable_symbol_and_section_labels: false,
            reject_broken_elfs: false,
            noop_instruction_rate: 256,
            sanitize_user_provided_values: true,
            runtime_environment_key: 0,
            external_internal_function_hash_collision: true,
            reject_callx_r10: true,
            dynamic_stack_frames: false,
            enable_sdiv: false,
            optimize_rodata: false,
            static_syscalls: false,
            enable_elf_vaddr: false,
            new_elf_parser: true,
            reject_rodata_stack_overlap: true,
            aligned_memory_mapping: true,
            enabled_sbpf_versions: VersionRange::AGAVE,
        }
    }

    /// The configuration of the sBPF v1 programs deployed on the network (EM_BPF,
    /// `e_flags == 0`): the default with fixed frames, no sBPF `sdiv`, hashed internal calls
    /// and `callx r10` allowed.
    pub fn legacy() -> Self {
        Config {
            dynamic_stack_frames: false,
            enable_sdiv: false,
            static_syscalls: false,
            reject_callx_r10: false,
            ..Config::default()
        }
    }
}

/// A named pair of configuration and dialect (a profile), as the CLI's `--config` chooses
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The reference's `Config::default()`, sBPF (loads SBFv2 ELFs).
    Default,
    /// [`Config::legacy`], sBPF (loads the deployed EM_BPF programs).
    Legacy,
    /// RFC 9669 eBPF: the default memory layout and meter with fixed stack frames (eBPF has
    /// no instruction that moves a dynamic frame, so every call needs a frame of its own).
    Ebpf,
    /// An SBPF version as solana-sbpf 0.26 runs it, with Agave's settings
    /// ([`Config::agave`]); the V4 profile also enables V4, which no cluster does.
    Sbpf26(SbpfVersion),
}

impl Preset {
    /// Every profile: the 2022 ones, eBPF, then V0 to V4.
    pub const ALL: [Preset; 8] = [
        Preset::Default,
        Preset::Legacy,
        Preset::Ebpf,
        Preset::Sbpf26(SbpfVersion::V0),
        Preset::Sbpf26(SbpfVersion::V1),
        Preset::Sbpf26(SbpfVersion::V2),
        Preset::Sbpf26(SbpfVersion::V3),
        Preset::Sbpf26(SbpfVersion::V4),
    ];

    /// The configuration of this preset.
    pub fn config(self) -> Config {
        match self {
            Preset::Default => Config::default(),
            Preset::Legacy => Config::legacy(),
            Preset::Ebpf => Config {
                dynamic_stack_frames: false,
                ..Config::default()
            },
            Preset::Sbpf26(version) => {
                let mut config = Config::agave();
                if !config.enabled_sbpf_versions.contains(version) {
                    config.enabled_sbpf_versions.max = version;
                }
                config
            }
        }
    }

    /// The dialect of this preset.
    pub fn dialect(self) -> Dialect {
        match self {
            Preset::Default | Preset::Legacy => Dialect::Sbpf,
            Preset::Ebpf => Dialect::Ebpf,
            Preset::Sbpf26(version) => Dialect::Sbpf26(version),
        }
    }

    /// The profile's name as the CLI spells it: `default`, `legacy`, `ebpf`, `v0`..`v4`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Default => "default",
            Preset::Legacy => "legacy",
            Preset::Ebpf => "ebpf",
            Preset::Sbpf26(version) => version.name(),
        }
    }

    /// The profile named `name` (see [`Preset::name`]).
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|preset| preset.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_reference() {
        let config = Config::default();
        assert_eq!(config.max_call_depth, 20);
        assert_eq!(config.stack_size(), 81920);
        assert!(config.dynamic_stack_frames && config.static_syscalls && config.enable_sdiv);
        assert!(!config.reject_broken_elfs && !config.enable_instruction_tracing);
    }

    #[test]
    fn agave_is_the_execution_environment_of_spec_1_10() {
        let agave = Config::agave();
        assert_eq!((agave.max_call_depth, agave.stack_frame_size), (64, 4096));
        assert!(agave.enable_stack_frame_gaps && agave.enable_instruction_meter);
        assert!(!agave.optimize_rodata && !agave.reject_broken_elfs);
        assert!(agave.aligned_memory_mapping);
        assert_eq!(agave.instruction_meter_checkpoint_distance, 10000);
        assert_eq!(agave.enabled_sbpf_versions, VersionRange::AGAVE);
        assert!(!agave.enabled_sbpf_versions.contains(SbpfVersion::V4));
        // The V4 profile opts in to V4; the others keep Agave's range.
        let v4 = Preset::Sbpf26(SbpfVersion::V4).config();
        assert!(v4.enabled_sbpf_versions.contains(SbpfVersion::V4));
        assert_eq!(Preset::Sbpf26(SbpfVersion::V3).config(), agave);
        for preset in Preset::ALL {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
        }
        assert_eq!(Preset::from_name("v5"), None);
    }

    #[test]
    fn legacy_differs_in_four_fields() {
        let legacy = Config::legacy();
        let default = Config::default();
        assert_eq!(
            legacy,
            Config {
                dynamic_stack_frames: false,
                enable_sdiv: false,
                static_syscalls: false,
                reject_callx_r10: false,
                ..default
            }
        );
        assert_ne!(legacy, default);
    }
}
