//! Random programs that pass the verifier, deterministic from a `u64` seed.
//!
//! A program is generated in two passes. The first pass (`pick`) chooses, per function, a
//! list of `Item`s: concrete instructions, plus placeholders whose encoding depends on the
//! final layout (jumps, internal calls, the address of a text slot for `callx`). Every item
//! has a known slot count, so after the first pass the start pc of every instruction and
//! function is known. The second pass (`layout`) resolves the placeholders: jump targets are
//! drawn from the instruction starts (never the second slot of an `lddw`, so the verifier's
//! jump rules hold by construction), calls get the key the configuration expects (the pc with
//! static syscalls and in eBPF, Murmur3 of the pc otherwise).
//!
//! Termination: with the meter on, loops and recursion are fine (the budget ends them, as
//! `ExceededMaxInstructions`). With the meter off ([`Profile::MeterOff`]) the program is a DAG:
//! jumps only go forward and calls only reach functions that come later, except the back edges
//! of the tight loops (`pick::loops`), which leave after a bounded number of rounds whatever
//! the counter held on entry.
//!
//! The configurations ([`Profile`]) cover the reference default, the legacy preset, fixed
//! frames with and without gaps, the unaligned mapping, tiny budgets, tracing, metering off
//! and random mixes of the flags that change behaviour.

mod layout;
pub use layout::function_name;
mod pick;
mod rng;

pub use rng::Rng;

use crate::harness::{Program, TestCase};
use crate::syscalls::SyscallSet;
use bpfvm::Config;
use bpfvm_isa::{Dialect, Insn};

/// A family of configurations a program is generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The reference's `Config::default()`.
    Default,
    /// The legacy preset (fixed frames with gaps, hashed calls, no sdiv, callx r10 allowed).
    Legacy,
    /// The default with fixed frames and gaps.
    FixedGaps,
    /// The default with fixed frames and no gaps.
    FixedNoGaps,
    /// The unaligned (search) memory mapping, frames chosen at random.
    Unaligned,
    /// A budget of 1 to 40 instructions.
    SmallBudget,
    /// Instruction tracing on.
    Tracing,
    /// Metering off: the program is generated loop-free.
    MeterOff,
    /// Every behaviour-changing flag drawn at random, small call depths and frame sizes.
    Random,
}

impl Profile {
    /// Every profile, in the order [`generate`] cycles through them.
    pub const ALL: [Profile; 9] = [
        Profile::Default,
        Profile::Legacy,
        Profile::FixedGaps,
        Profile::FixedNoGaps,
        Profile::Unaligned,
        Profile::SmallBudget,
        Profile::Tracing,
        Profile::MeterOff,
        Profile::Random,
    ];

    fn config(self, rng: &mut Rng) -> Config {
        let default = Config::default();
        match self {
            Profile::Default | Profile::SmallBudget => default,
            Profile::Legacy => Config::legacy(),
            Profile::FixedGaps => Config {
                dynamic_stack_frames: false,
                ..default
            },
            Profile::FixedNoGaps => Config {
                dynamic_stack_frames: false,
                enable_stack_frame_gaps: false,
                ..default
            },
            Profile::Unaligned => Config {
                aligned_memory_mapping: false,
                dynamic_stack_frames: rng.chance(1, 2),
                ..default
            },
            Profile::Tracing => Config {
                enable_instruction_tracing: true,
                dynamic_stack_frames: rng.chance(1, 2),
                ..default
            },
            Profile::MeterOff => Config {
                enable_instruction_meter: false,
                dynamic_stack_frames: rng.chance(1, 2),
                static_syscalls: rng.chance(1, 2),
                ..default
            },
            Profile::Random => random_config(rng),
        }
    }
}

fn random_config(rng: &mut Rng) -> Config {
    Config {
        max_call_depth: rng.range(1, 8) as usize,
        stack_frame_size: rng.pick(&[64, 256, 4096]).unwrap_or(4096),
        enable_stack_frame_gaps: rng.chance(1, 2),
        dynamic_stack_frames: rng.chance(1, 2),
        enable_sdiv: rng.chance(1, 2),
        static_syscalls: rng.chance(1, 2),
        reject_callx_r10: rng.chance(1, 2),
        aligned_memory_mapping: rng.chance(2, 3),
        enable_instruction_tracing: rng.chance(1, 4),
        ..Config::default()
    }
}

/// A generated program with everything needed to run it.
#[derive(Clone, Debug)]
pub struct GeneratedProgram {
    /// The seed it came from.
    pub seed: u64,
    /// The configuration family.
    pub profile: Profile,
    /// The dialect.
    pub dialect: Dialect,
    /// The configuration.
    pub config: Config,
    /// The instructions, in order (an `lddw` is one entry).
    pub insns: Vec<Insn>,
    /// The encoded text.
    pub text: Vec<u8>,
    /// Start pcs of the internal functions besides the entry (pc 0), to register.
    pub functions: Vec<usize>,
    /// The input region's initial bytes.
    pub input: Vec<u8>,
    /// The heap size in bytes.
    pub heap_size: usize,
    /// The instruction budget.
    pub budget: u64,
    /// The syscalls to register.
    pub syscalls: SyscallSet,
    /// Instructions the encoder refused (replaced by `exit`); a generator bug when non-zero.
    pub encode_failures: usize,
}

impl GeneratedProgram {
    /// The program as a harness test case.
    pub fn case(&self) -> TestCase<'_> {
        TestCase {
            program: Program::Text(&self.text),
            functions: &self.functions,
            dialect: self.dialect,
            config: self.config,
            input: &self.input,
            heap_size: self.heap_size,
            syscalls: self.syscalls,
            budget: self.budget,
        }
    }
}

/// Generates the program of `seed`, with the profile chosen by the seed.
pub fn generate(seed: u64, dialect: Dialect) -> GeneratedProgram {
    let profile = Profile::ALL[(seed % Profile::ALL.len() as u64) as usize];
    generate_with(seed, dialect, profile)
}

/// Generates the program of `seed` for a given profile.
pub fn generate_with(seed: u64, dialect: Dialect, profile: Profile) -> GeneratedProgram {
    let mut rng = Rng::new(seed);
    let config = profile.config(&mut rng);
    let input_len = rng.pick(&[0usize, 3, 16, 32, 32, 64, 64]).unwrap_or(16);
    let input: Vec<u8> = (0..input_len).map(|_| rng.next_u64() as u8).collect();
    let heap_size = rng.pick(&[0usize, 0, 32, 64]).unwrap_or(0);
    let budget = match profile {
        // Not 0: the reference's test context asserts in debug builds when a run charges
        // more than the budget, which a budget of 0 does (its first instruction always runs).
        Profile::SmallBudget => rng.range(1, 40),
        _ => rng.pick(&[100, 500, 2000, 5000]).unwrap_or(1000),
    };
    let shape = pick::Shape {
        dialect,
        config,
        loop_free: profile == Profile::MeterOff,
        input_len: input_len as u64,
        heap_size: heap_size as u64,
    };
    let functions = pick::functions(&mut rng, &shape);
    let laid_out = layout::resolve(&shape, &functions);
    GeneratedProgram {
        seed,
        profile,
        dialect,
        config,
        insns: laid_out.insns,
        text: laid_out.text,
        functions: laid_out.function_pcs,
        input,
        heap_size,
        budget,
        syscalls: SyscallSet::Standard,
        encode_failures: laid_out.encode_failures,
    }
}

/// The placeholder-or-instruction unit of the first pass.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Item {
    /// A finished instruction.
    Fixed(Insn),
    /// `ja` or a conditional branch (given with offset 0) to a target chosen at layout.
    Jump {
        /// The instruction with a placeholder offset.
        template: Insn,
        /// How far and in which direction.
        target: JumpTarget,
    },
    /// A call to internal function number `function` (sBPF keyed call or eBPF local call).
    CallFunction {
        /// Index into the function list.
        function: usize,
    },
    /// `lddw dst, <address of a text slot>`, for a following `callx`.
    TextAddress {
        /// The register loaded.
        dst: bpfvm_isa::Reg,
        /// Which address.
        target: TextTarget,
    },
}

impl Item {
    fn slot_count(&self) -> usize {
        match self {
            Item::Fixed(insn) => insn.slot_count(),
            Item::Jump { .. } | Item::CallFunction { .. } => 1,
            Item::TextAddress { .. } => 2,
        }
    }
}

/// A jump target relative to the instruction list.
#[derive(Clone, Copy, Debug)]
pub(crate) enum JumpTarget {
    /// 1 + n instructions ahead (clamped to the last instruction after this one).
    Forward(usize),
    /// n instructions back (0 is a jump to itself).
    Backward(usize),
    /// Any instruction of the program.
    Anywhere(usize),
}

/// Which text address a `callx` register gets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TextTarget {
    /// The start of internal function number n.
    Function(usize),
    /// The start of function n plus 1..7 bytes (the slot rounds down).
    Misaligned(usize, u64),
    /// Instruction start number n (mod the count), registered or not.
    AnyInsn(usize),
    /// A slot past the end of the text.
    PastEnd(u64),
    /// An address below the text.
    Below(u64),
}
