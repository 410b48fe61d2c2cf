//! The VM a host runs programs in (solana-sbpf 0.26's `vm` module): [`Config`], the
//! [`ContextObject`] a host implements, and [`EbpfVm`], whose `execute_program` runs an
//! executable on bpfvm's interpreter or JIT (see `crate::bridge::run`).
//!
//! [`EbpfVm`] keeps the real crate's `#[repr(C)]` field order, and [`RuntimeEnvironmentSlot`]
//! gives the same offsets, because hosts read and write these fields (registers before a run,
//! `program_result` and the meter fields inside builtins). bpfvm's JIT does not read the
//! struct: it runs over its own environment and hands results back here.

use crate::{
    ebpf,
    elf::Executable,
    error::{EbpfError, ProgramResult},
    memory_region::MemoryMapping,
    program::{BuiltinFunction, BuiltinProgram, FunctionRegistry, SBPFVersion},
    static_analysis::{Analysis, RegisterTraceEntry},
};
use std::{collections::BTreeMap, marker::PhantomData, mem::offset_of, ptr, sync::Arc};

/// The key that hides the VM's address from builtins (a process-wide random value, made once).
/// bpfvm's JIT never hands this address to generated code; it only makes
/// [`EncryptedHostAddressToEbpfVm`] as opaque as the real crate's.
#[inline]
pub fn get_runtime_environment_key() -> i32 {
    static KEY: std::sync::OnceLock<i32> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        (hasher.finish() as i32) >> 1
    })
}

/// The default stack frame size in bytes.
const DEFAULT_STACK_FRAME_SIZE: usize = 4_096;

/// The stack frame size in bytes: 4096, or with the `conf-stack-frame-size` feature the value
/// of `VM_STACK_FRAME_SIZE` (read once; a value that is not a positive integer is ignored).
#[cfg(feature = "conf-stack-frame-size")]
pub fn get_stack_frame_size() -> usize {
    static SIZE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| {
        std::env::var("VM_STACK_FRAME_SIZE")
            .ok()
            .and_then(|value| value.parse::<usize>().ok())
            .filter(|size| *size > 0)
            .unwrap_or(DEFAULT_STACK_FRAME_SIZE)
    })
}

/// The stack frame size in bytes (4096).
#[cfg(not(feature = "conf-stack-frame-size"))]
pub const fn get_stack_frame_size() -> usize {
    DEFAULT_STACK_FRAME_SIZE
}

/// Which backend runs a program.
pub enum ExecutionMode {
    /// bpfvm's interpreter.
    Interpreted,
    /// bpfvm's JIT; the executable must have been compiled.
    Jit,
    /// The JIT if the executable was compiled, else the interpreter.
    PreferJit,
}

/// VM and loader settings (the real crate's fields and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The maximum call depth.
    pub max_call_depth: usize,
    /// The size of one stack frame in bytes.
    pub stack_frame_size: usize,
    /// Translate guest addresses through the memory mapping. bpfvm always translates: with
    /// `false`, `execute_program` refuses to run (see the crate docs).
    pub enable_address_translation: bool,
    /// Unmapped gaps between V0 stack frames.
    pub enable_stack_frame_gaps: bool,
    /// The real JIT's largest distance between meter checks; bpfvm's JIT charges every
    /// straight-line run before it starts, so this changes no result.
    pub instruction_meter_checkpoint_distance: usize,
    /// Count instructions against the context's budget.
    pub enable_instruction_meter: bool,
    /// Keep function and section names.
    pub enable_symbol_and_section_labels: bool,
    /// Stricter ELF checks.
    pub reject_broken_elfs: bool,
    /// JIT diversification: about one random no-op per this many instructions (0: off).
    #[cfg(feature = "jit")]
    pub noop_instruction_rate: u32,
    /// JIT blinding of program-supplied constants.
    #[cfg(feature = "jit")]
    pub sanitize_user_provided_values: bool,
    /// Borrow read-only sections from the file when possible and map only their span.
    pub optimize_rodata: bool,
    /// The aligned mapping (address bits 32.. select the region).
    pub aligned_memory_mapping: bool,
    /// The SBPF versions a loader accepts.
    pub enabled_sbpf_versions: std::ops::RangeInclusive<SBPFVersion>,
}

impl Config {
    /// The size of the stack region: one frame per call level.
    pub fn stack_size(&self) -> usize {
        self.stack_frame_size.saturating_mul(self.max_call_depth)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_call_depth: 64,
            stack_frame_size: get_stack_frame_size(),
            enable_address_translation: true,
            enable_stack_frame_gaps: true,
            instruction_meter_checkpoint_distance: 1000,
            enable_instruction_meter: true,
            enable_symbol_and_section_labels: false,
            reject_broken_elfs: false,
            #[cfg(feature = "jit")]
            noop_instruction_rate: 256,
            #[cfg(feature = "jit")]
            sanitize_user_provided_values: true,
            optimize_rodata: true,
            aligned_memory_mapping: false,
            enabled_sbpf_versions: SBPFVersion::V0..=SBPFVersion::V4,
        }
    }
}

/// Creates an executable from an ELF file or from raw text.
impl<C: ContextObject> Executable<C> {
    /// Loads an ELF file.
    pub fn from_elf(elf_bytes: &[u8], loader: Arc<BuiltinProgram<C>>) -> Result<Self, EbpfError> {
        Ok(Executable::load(elf_bytes, loader)?)
    }

    /// Takes `text_bytes` as the text of a program of `sbpf_version` with the given functions.
    pub fn from_text_bytes(
        text_bytes: &[u8],
        loader: Arc<BuiltinProgram<C>>,
        sbpf_version: SBPFVersion,
        function_registry: FunctionRegistry<usize>,
    ) -> Result<Self, EbpfError> {
        Executable::new_from_text_bytes(text_bytes, loader, sbpf_version, function_registry)
            .map_err(EbpfError::ElfError)
    }
}

/// What a host gives the VM: the instruction meter and the active memory mapping.
pub trait ContextObject {
    /// Charges `amount` instructions.
    fn consume(&mut self, amount: u64);
    /// The instructions left.
    fn get_remaining(&self) -> u64;
    /// The mapping the program runs in (the host owns it, usually in the context itself).
    fn active_mapping_ptr(&mut self) -> ptr::NonNull<MemoryMapping>;
}

/// How often each control-flow edge was taken in a recorded trace.
pub struct DynamicAnalysis {
    /// The largest count.
    pub edge_counter_max: usize,
    /// Counts by source block and destination block.
    pub edges: BTreeMap<usize, BTreeMap<usize, usize>>,
}

impl DynamicAnalysis {
    /// Counts the block-to-block edges of `register_trace` (the pc is entry 11).
    pub fn new(register_trace: &[[u64; 12]], analysis: &Analysis) -> Self {
        let mut result = Self {
            edge_counter_max: 0,
            edges: BTreeMap::new(),
        };
        let mut last_block = usize::MAX;
        for entry in register_trace {
            let pc = entry[11] as usize;
            if analysis.cfg_nodes.contains_key(&pc) {
                let counter = result
                    .edges
                    .entry(last_block)
                    .or_default()
                    .entry(pc)
                    .or_insert(0);
                *counter = counter.saturating_add(1);
                result.edge_counter_max = result.edge_counter_max.max(*counter);
                last_block = pc;
            }
        }
        result
    }
}

/// What a call saves: r6..r9, the caller's frame pointer and the return pc.
#[derive(Clone, Default)]
pub struct CallFrame {
    /// r6..r9 of the caller.
    pub caller_saved_registers: [u64; ebpf::SCRATCH_REGS],
    /// r10 of the caller.
    pub frame_pointer: u64,
    /// The pc after the call.
    pub target_pc: u64,
}

/// A context that owns nothing, for offsets and analyses.
pub(crate) struct DummyContextObject {}

impl ContextObject for DummyContextObject {
    fn consume(&mut self, _amount: u64) {}

    fn get_remaining(&self) -> u64 {
        0
    }

    #[allow(clippy::panic, reason = "never called: the type only names offsets")]
    fn active_mapping_ptr(&mut self) -> ptr::NonNull<MemoryMapping> {
        panic!("DummyContextObject has no memory mapping")
    }
}

/// The byte offsets of [`EbpfVm`]'s fields (the real crate's JIT addresses them).
pub enum RuntimeEnvironmentSlot {
    /// [`EbpfVm::host_stack_pointer`].
    HostStackPointer = offset_of!(EbpfVm<DummyContextObject>, host_stack_pointer) as isize,
    /// [`EbpfVm::call_depth`].
    CallDepth = offset_of!(EbpfVm<DummyContextObject>, call_depth) as isize,
    /// The context object pointer.
    ContextObjectPointer = offset_of!(EbpfVm<DummyContextObject>, context_object_pointer) as isize,
    /// [`EbpfVm::previous_instruction_meter`].
    PreviousInstructionMeter =
        offset_of!(EbpfVm<DummyContextObject>, previous_instruction_meter) as isize,
    /// [`EbpfVm::due_insn_count`].
    DueInsnCount = offset_of!(EbpfVm<DummyContextObject>, due_insn_count) as isize,
    /// [`EbpfVm::stopwatch_numerator`].
    StopwatchNumerator = offset_of!(EbpfVm<DummyContextObject>, stopwatch_numerator) as isize,
    /// [`EbpfVm::stopwatch_denominator`].
    StopwatchDenominator = offset_of!(EbpfVm<DummyContextObject>, stopwatch_denominator) as isize,
    /// [`EbpfVm::registers`].
    Registers = offset_of!(EbpfVm<DummyContextObject>, registers) as isize,
    /// [`EbpfVm::program_result`].
    ProgramResult = offset_of!(EbpfVm<DummyContextObject>, program_result) as isize,
    /// The memory mapping pointer.
    MemoryMapping = offset_of!(EbpfVm<DummyContextObject>, memory_mapping) as isize,
    /// [`EbpfVm::register_trace`].
    RegisterTrace = offset_of!(EbpfVm<DummyContextObject>, register_trace) as isize,
}

/// A VM for one program run: registers, the meter's bookkeeping, the result, and the host's
/// context. `execute_program` runs an executable with bpfvm's interpreter or JIT over the
/// context's active mapping.
#[repr(C)]
pub struct EbpfVm<'a, C: ContextObject> {
    /// Unused by bpfvm (the real JIT's host stack pointer); always null.
    pub host_stack_pointer: *mut u64,
    /// The call depth (0 outside calls; bpfvm does not update it during a run).
    pub call_depth: u64,
    /// The host's context.
    pub(crate) context_object_pointer: ptr::NonNull<C>,
    context_object_lifetime: PhantomData<&'a mut C>,
    /// The budget as last read from the context (set before each builtin call).
    pub previous_instruction_meter: u64,
    /// The meter's outstanding charge as builtins see it (see
    /// [`crate::program::BuiltinFunctionDefinition::vm`]).
    pub due_insn_count: u64,
    /// Unused by bpfvm.
    pub stopwatch_numerator: u64,
    /// Unused by bpfvm.
    pub stopwatch_denominator: u64,
    /// r0..r10 and the pc (entry 11): the host sets r1..r5 (and may set r10) before a run;
    /// after it, entry 11 holds the pc where the run ended (the faulting instruction on an
    /// error).
    pub registers: [u64; 12],
    /// The result a builtin reports.
    pub program_result: ProgramResult,
    /// The host's mapping, from `active_mapping_ptr` when the VM was made.
    pub(crate) memory_mapping: ptr::NonNull<MemoryMapping>,
    /// The loader of the programs this VM runs.
    pub loader: Arc<BuiltinProgram<C>>,
    /// The registers before every instruction (with the `tracer` feature).
    pub register_trace: Vec<RegisterTraceEntry>,
    /// The debugger's TCP port (with the `debugger` feature; see the crate docs).
    #[cfg(feature = "debugger")]
    pub debug_port: Option<u16>,
    /// Text the debugger reports (with the `debugger` feature).
    #[cfg(feature = "debugger")]
    pub debug_metadata: Option<String>,
}

impl<'a, C: ContextObject> EbpfVm<'a, C> {
    /// A VM for programs of `sbpf_version` loaded by `loader`, over `context_object` and its
    /// active mapping, whose stack region is `stack_len` bytes. r10 starts at the top of the
    /// first frame, or of the whole stack for versions with manual frames.
    pub fn new(
        loader: Arc<BuiltinProgram<C>>,
        sbpf_version: SBPFVersion,
        context_object: &'a mut C,
        stack_len: usize,
    ) -> Self {
        let config = loader.get_config();
        let mut registers = [0u64; 12];
        let top = match sbpf_version.manual_stack_frame_bump() {
            true => stack_len,
            false => config.stack_frame_size,
        };
        registers[ebpf::FRAME_PTR_REG] = ebpf::MM_STACK_START.saturating_add(top as u64);
        let memory_mapping = context_object.active_mapping_ptr();
        EbpfVm {
            host_stack_pointer: ptr::null_mut(),
            call_depth: 0,
            context_object_pointer: ptr::NonNull::from(context_object),
            context_object_lifetime: PhantomData,
            previous_instruction_meter: 0,
            due_insn_count: 0,
            stopwatch_numerator: 0,
            stopwatch_denominator: 0,
            registers,
            program_result: ProgramResult::Ok(0),
            memory_mapping,
            loader,
            register_trace: Vec::new(),
            #[cfg(feature = "debugger")]
            debug_port: std::env::var("VM_DEBUG_PORT")
                .ok()
                .and_then(|port| port.parse::<u16>().ok()),
            #[cfg(feature = "debugger")]
            debug_metadata: None,
        }
    }

    /// Runs `executable` from its entry. `mode` picks the backend and is set to the one that
    /// ran; `call_frames` is accepted for compatibility (bpfvm keeps its own frames). Returns
    /// the instructions charged (0 without the meter) and `r0` or the error.
    ///
    /// Always inlined into the host's call, with the common run's path below it (see
    /// `crate::bridge::run`): called out of line, the call alone cost about 20 host
    /// instructions and the result went through memory.
    #[inline(always)]
    pub fn execute_program(
        &mut self,
        executable: &Executable<C>,
        mode: &mut ExecutionMode,
        call_frames: &mut [CallFrame],
    ) -> (u64, ProgramResult) {
        let _ = call_frames;
        crate::bridge::run::execute_program(self, executable, mode)
    }

    /// Calls a builtin function with r1..r5, as a program's `call` would.
    pub fn invoke_function(&mut self, function: BuiltinFunction<C>) {
        let [_, a, b, c, d, e, ..] = self.registers;
        function(self.encrypted_host_address(), a, b, c, d, e);
    }

    /// The address builtins receive.
    pub(crate) fn encrypted_host_address(&mut self) -> EncryptedHostAddressToEbpfVm<C> {
        let address = ptr::from_mut(self).expose_provenance() as isize;
        EncryptedHostAddressToEbpfVm(
            address.wrapping_add(get_runtime_environment_key() as isize) as usize as u64,
            PhantomData,
        )
    }

    /// The host's context.
    pub fn context(&mut self) -> &mut C {
        crate::bridge::context_of(self)
    }
}

/// The address of an [`EbpfVm`] as builtins receive it: opaque to them until
/// [`EncryptedHostAddressToEbpfVm::with_vm`] turns it back into the VM.
#[repr(transparent)]
pub struct EncryptedHostAddressToEbpfVm<C>(pub(crate) u64, PhantomData<C>);
