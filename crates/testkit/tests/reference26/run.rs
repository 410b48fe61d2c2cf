//! Running a prepared executable: the host memory of a run, the mapping over it as Agave's
//! `create_vm` builds it, and a VM that can run the program again and again (the benches
//! time it that way; the tests run each case once, on fresh memory).

use super::{describe, Case26, Context26};
use bpfvm_testkit::sbpf26::{Engine, VersionedOutcome, WritableMemory};
use solana_sbpf::aligned_memory::AlignedMemory;
use solana_sbpf::ebpf::{self, HOST_ALIGN};
use solana_sbpf::elf::Executable;
use solana_sbpf::error::{EbpfError, ProgramResult};
use solana_sbpf::memory_region::{MemoryMapping, MemoryRegion};
use solana_sbpf::vm::{CallFrame, Config, EbpfVm, ExecutionMode};
use std::sync::Arc;

/// The host memory of one run; outlives the mapping that points into it.
pub struct Memory {
    /// The stack (all frames, without gaps).
    pub stack: AlignedMemory<HOST_ALIGN>,
    /// The heap.
    pub heap: AlignedMemory<HOST_ALIGN>,
    /// The input.
    pub input: AlignedMemory<HOST_ALIGN>,
}

impl Memory {
    /// Zeroed stack and heap, and a copy of the input.
    pub fn new(config: &Config, heap_size: usize, input: &[u8]) -> Memory {
        Memory {
            stack: AlignedMemory::zero_filled(config.stack_size()),
            heap: AlignedMemory::zero_filled(heap_size),
            input: AlignedMemory::from_slice(input),
        }
    }

    /// The regions' bytes.
    pub fn snapshot(&self) -> WritableMemory {
        WritableMemory {
            stack: self.stack.as_slice().to_vec(),
            heap: self.heap.as_slice().to_vec(),
            input: self.input.as_slice().to_vec(),
        }
    }
}

/// The memory mapping of an executable over `memory`, as Agave's `create_vm` builds it:
/// the read-only region, the stack (gapped for V0), the heap and the input.
#[allow(unsafe_code, reason = "0.26's MemoryMapping::new is unsafe")]
pub fn map_memory(
    executable: &Executable<Context26>,
    memory: &mut Memory,
) -> Result<MemoryMapping, EbpfError> {
    let config = executable.get_config();
    let version = executable.get_sbpf_version();
    let gap = if version.stack_frame_gaps() && config.enable_stack_frame_gaps {
        config.stack_frame_size as u64
    } else {
        0
    };
    let regions = vec![
        executable.get_ro_region(),
        MemoryRegion::new_gapped(
            &raw mut *memory.stack.as_slice_mut(),
            ebpf::MM_STACK_START,
            gap,
        ),
        MemoryRegion::new(&raw mut *memory.heap.as_slice_mut(), ebpf::MM_HEAP_START),
        MemoryRegion::new(&raw mut *memory.input.as_slice_mut(), ebpf::MM_INPUT_START),
    ];
    // SAFETY: the regions point into `memory`'s heap buffers (stack, heap, input: plain
    // bytes, any value is valid), which do not move when `Memory` moves, and into the
    // executable's read-only image. `Session` keeps the memory beside the context that
    // holds this mapping, drops them together, and reads the memory only when no VM
    // borrows the context.
    unsafe { MemoryMapping::new(regions, config, version) }
}

/// Fresh memory mapped for an executable, with the context (budget and mapping) a VM runs in.
pub struct Session {
    context: Context26,
    memory: Memory,
}

impl Session {
    /// Memory for `executable` with a heap of `heap_size` bytes and a copy of `input`.
    pub fn new(
        executable: &Executable<Context26>,
        heap_size: usize,
        input: &[u8],
    ) -> Result<Session, EbpfError> {
        let mut memory = Memory::new(executable.get_config(), heap_size, input);
        let mapping = map_memory(executable, &mut memory)?;
        Ok(Session {
            context: Context26::new(0, mapping),
            memory,
        })
    }

    /// A VM over this session's memory.
    pub fn runner<'a>(&'a mut self, executable: &'a Executable<Context26>) -> Runner<'a> {
        let config = executable.get_config();
        let mut vm = EbpfVm::new(
            Arc::clone(executable.get_loader()),
            executable.get_sbpf_version(),
            &mut self.context,
            config.stack_size(),
        );
        vm.registers[1] = ebpf::MM_INPUT_START;
        Runner {
            executable,
            initial_registers: vm.registers,
            frames: vec![CallFrame::default(); config.max_call_depth],
            vm,
        }
    }

    /// The writable regions' bytes.
    pub fn snapshot(&self) -> WritableMemory {
        self.memory.snapshot()
    }
}

/// A VM that runs one executable, as often as asked.
pub struct Runner<'a> {
    executable: &'a Executable<Context26>,
    vm: EbpfVm<'a, Context26>,
    initial_registers: [u64; 12],
    frames: Vec<CallFrame>,
}

impl Runner<'_> {
    /// Runs the program from its entry with `budget`: (instructions charged, result,
    /// register 11). The JIT needs `jit_compile` first.
    pub fn run(&mut self, engine: Engine, budget: u64) -> (u64, ProgramResult, u64) {
        self.vm.registers = self.initial_registers;
        self.vm.call_depth = 0;
        self.vm.context().remaining = budget;
        let mut mode = match engine {
            Engine::Interpreter => ExecutionMode::Interpreted,
            Engine::Jit => ExecutionMode::Jit,
        };
        let (count, result) = self
            .vm
            .execute_program(self.executable, &mut mode, &mut self.frames);
        (count, result, self.vm.registers[11])
    }
}

/// One run of a prepared executable on `engine`, on fresh memory.
pub fn execute(
    executable: &Executable<Context26>,
    case: &Case26<'_>,
    engine: Engine,
) -> VersionedOutcome {
    let mut session = match Session::new(executable, case.heap_size, case.input) {
        Ok(session) => session,
        Err(error) => return VersionedOutcome::not_run(describe(&error), case.input),
    };
    let (count, result, pc) = session.runner(executable).run(engine, case.budget);
    VersionedOutcome {
        result: match result {
            ProgramResult::Ok(r0) => Ok(r0),
            ProgramResult::Err(error) => Err(describe(&error)),
        },
        pc: Some(pc),
        instruction_count: count,
        memory: session.snapshot(),
    }
}
