//! Every setting of the VM and the loader, with the reference's defaults and the presets.
//!
//! `Config` mirrors solana_rbpf 0.2.38 field by field (reference §3): the same names, the same
//! defaults, the same effect. The JIT-hardening fields (`noop_instruction_rate`,
//! `sanitize_user_provided_values`, `runtime_environment_key`) may only ever change machine
//! code, never what a program observes. [`Preset`] names the three configurations users ask
//! for: the reference default, the legacy one deployed programs need, and eBPF.

use bpfvm_isa::Dialect;

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
        }
    }
}

impl Config {
    /// The total stack size: one frame per call level
    /// ([`StackLayout::size`](crate::memory::StackLayout::size)).
    pub fn stack_size(&self) -> usize {
        crate::memory::StackLayout::of(self).size()
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

/// A named pair of configuration and dialect, as the CLI's `--config` chooses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The reference's `Config::default()`, sBPF (loads SBFv2 ELFs).
    Default,
    /// [`Config::legacy`], sBPF (loads the deployed EM_BPF programs).
    Legacy,
    /// RFC 9669 eBPF: the default memory layout and meter with fixed stack frames (eBPF has
    /// no instruction that moves a dynamic frame, so every call needs a frame of its own).
    Ebpf,
}

impl Preset {
    /// The configuration of this preset.
    pub fn config(self) -> Config {
        match self {
            Preset::Default => Config::default(),
            Preset::Legacy => Config::legacy(),
            Preset::Ebpf => Config {
                dynamic_stack_frames: false,
                ..Config::default()
            },
        }
    }

    /// The dialect of this preset.
    pub fn dialect(self) -> Dialect {
        match self {
            Preset::Default | Preset::Legacy => Dialect::Sbpf,
            Preset::Ebpf => Dialect::Ebpf,
        }
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
