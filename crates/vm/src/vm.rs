//! One execution environment: a verified program, its memory, a context, and the backends.
//!
//! [`Vm::new`] sets up what reference §2.2 describes, at the addresses of the program's
//! memory [`Layout`](crate::memory::Layout): a zeroed stack of `config.stack_size()` bytes
//! owned by the VM (16-byte aligned), and the regions [program read-only data at its
//! address, the stack (gapped by the frame size when frames are fixed and gaps are on), the
//! heap, then the host's regions]. The program region is the executable's bytes in place,
//! or, for an eBPF object with writable globals ([`ProgramRegion::Writable`]), a writable
//! copy this VM owns. [`Vm::run`] starts every run clean: r1 = the input's address
//! (`MM_INPUT_START`), r10 = the initial frame pointer (the top of the stack with dynamic
//! frames, the top of frame 0 otherwise), everything else 0, no call frames. In the eBPF dialect r2 also holds the length of the
//! host's first region (the conformance contract). Unlike the reference, depth and stack
//! pointer are reset between runs, so a VM can be run again after an error; memory is not.

use crate::code::Semantics;
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::interpreter::exec::Machine;
use crate::interpreter::StepHook;
use crate::jit::JitProgram;
use crate::memory::{MemoryMapping, MemoryRegion};
use crate::program::{ProgramRegion, SyscallFn};
use crate::runtime::{Frame, Meter, Metering, Settings, Tracing};
use crate::verified::VerifiedProgram;
use bpfvm_isa::Dialect;

/// Which engine runs the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The interpreter (the executable specification).
    Interpreter,
    /// The x86-64 JIT (`JitNotCompiled` unless `VerifiedProgram::jit_compile` ran).
    Jit,
}

impl Backend {
    /// The backends this build can run: both, or only the interpreter in a build without the
    /// JIT (a host that is not x86-64, or `bpfvm` without its `jit` feature).
    pub const AVAILABLE: &'static [Backend] = if crate::jit::AVAILABLE {
        &[Backend::Interpreter, Backend::Jit]
    } else {
        &[Backend::Interpreter]
    };
}

/// The outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// Instructions charged to the context (0 with metering off).
    pub instruction_count: u64,
    /// `Ok(r0)` or the error that ended the run.
    pub result: Result<u64, RuntimeError>,
}

/// A program ready to run against its memory and context.
pub struct Vm<'a, C: ContextObject> {
    program: &'a VerifiedProgram<C>,
    context: &'a mut C,
    mapping: MemoryMapping<'a>,
    /// The host functions, parallel to the program's syscall keys.
    syscalls: Vec<Option<SyscallFn<C>>>,
    frames: Vec<Frame>,
    settings: Settings,
    initial_stack_pointer: u64,
    /// r1 at entry: where the input region starts.
    input_start: u64,
    /// r2 at entry: 0 in sBPF, the first host region's length in eBPF.
    initial_r2: u64,
}

impl<'a, C: ContextObject> Vm<'a, C> {
    /// Sets up memory for `program`. Fails with `InvalidMemoryRegion` when the regions do
    /// not form a valid mapping (or the stack cannot be allocated).
    pub fn new(
        program: &'a VerifiedProgram<C>,
        context: &'a mut C,
        heap: &'a mut [u8],
        regions: Vec<MemoryRegion<'a>>,
    ) -> Result<Self, RuntimeError> {
        let config = program.config();
        let executable = program.executable();
        let layout = executable.layout();
        let map = layout.map;
        let initial_r2 = match program.dialect() {
            Dialect::Sbpf | Dialect::Sbpf26(_) => 0,
            Dialect::Ebpf => regions.first().map_or(0, MemoryRegion::len),
        };
        let stack = MemoryRegion::owned_zeroed(layout.stack.size(), map.stack, layout.stack.gap())
            .ok_or(RuntimeError::InvalidMemoryRegion {
                index: map.stack_row(),
            })?;
        let program_region = match executable.program_region() {
            ProgramRegion::ReadOnly => {
                MemoryRegion::readonly(executable.ro_data(), executable.ro_vaddr())
            }
            ProgramRegion::Writable => {
                MemoryRegion::owned_copy(executable.ro_data(), executable.ro_vaddr()).ok_or(
                    RuntimeError::InvalidMemoryRegion {
                        index: (map.program >> 32) as usize,
                    },
                )?
            }
        };
        let mut all = vec![
            program_region,
            stack,
            MemoryRegion::writable(heap, map.heap),
        ];
        all.extend(regions);
        let mapping = MemoryMapping::with_layout(all, &layout)?;
        let registry = &executable.loader().syscalls;
        let syscalls = program
            .code()
            .syscall_keys()
            .iter()
            .map(|&key| registry.get(key).map(|syscall| syscall.function))
            .collect();
        let settings = Settings {
            frames: layout.stack.frame_mode(),
            max_call_depth: config.max_call_depth,
            static_syscalls: program.code().callx_needs_function(),
            tracing: match config.enable_instruction_tracing {
                true => Tracing::On,
                false => Tracing::Off,
            },
        };
        Ok(Vm {
            program,
            context,
            mapping,
            syscalls,
            frames: Vec::with_capacity(config.max_call_depth.min(64)),
            settings,
            initial_stack_pointer: layout.initial_frame_pointer(),
            input_start: map.input,
            initial_r2,
        })
    }

    /// Runs the program from its entry with the chosen backend.
    ///
    /// # Panics
    ///
    /// Never because of the program; only when a host syscall panics, whose panic then
    /// unwinds out of `run` on either backend (the JIT stops the run first: unwinding never
    /// crosses generated code). The `Vm` can run again afterwards.
    pub fn run(&mut self, backend: Backend) -> Run {
        if let Some(run) = self.exhausted_before_start() {
            return run;
        }
        match backend {
            Backend::Interpreter => self.interpret(None),
            Backend::Jit => self.run_jit(),
        }
    }

    /// Under 0.26's rules the meter is checked before the first instruction too: a run with
    /// no budget left executes nothing and stops at the entry (both backends, here).
    fn exhausted_before_start(&mut self) -> Option<Run> {
        let code = self.program.code();
        let before_each = code.semantics() == Semantics::Sbpf26;
        let empty = self.metering() == Metering::On && self.context.remaining() == 0;
        (before_each && empty).then(|| Run {
            instruction_count: 0,
            result: Err(RuntimeError::ExceededMaxInstructions {
                pc: code.entry_pc(),
                budget: 0,
            }),
        })
    }

    /// The JIT backend; tracing runs are delegated to the interpreter (see `jit`).
    fn run_jit(&mut self) -> Run {
        let Some(jit) = self.program.jit_program() else {
            return Run {
                instruction_count: 0,
                result: Err(RuntimeError::JitNotCompiled),
            };
        };
        if self.settings.tracing == Tracing::On {
            return self.interpret(None);
        }
        self.run_compiled(jit)
    }

    /// Runs the JIT's code for this program.
    #[cfg(bpfvm_jit)]
    fn run_compiled(&mut self, jit: &JitProgram) -> Run {
        use crate::jit::run::RunParts;
        let metering = self.metering();
        let regs = self.start_registers();
        self.frames.clear();
        let parts = RunParts {
            code: self.program.code(),
            settings: self.settings,
            context: &mut *self.context,
            mapping: &mut self.mapping,
            syscalls: &self.syscalls,
            frames: &mut self.frames,
            regs,
            stack_pointer: self.initial_stack_pointer,
            metering,
        };
        let (result, meter) = jit.execute(parts);
        self.finish(result, meter)
    }

    /// A build without the JIT has no [`JitProgram`] to run.
    #[cfg(not(bpfvm_jit))]
    fn run_compiled(&mut self, jit: &JitProgram) -> Run {
        jit.absurd()
    }

    /// Whether this program's runs are metered.
    fn metering(&self) -> Metering {
        match self.program.config().enable_instruction_meter {
            true => Metering::On,
            false => Metering::Off,
        }
    }

    /// The registers at the entry of a run: r1 the input region, r2 0 (sBPF) or the input
    /// length (eBPF), r10 the top of the first frame, the rest zero.
    fn start_registers(&self) -> [u64; 16] {
        let mut regs = [0u64; 16];
        regs[1] = self.input_start;
        regs[2] = self.initial_r2;
        regs[10] = self.initial_stack_pointer;
        regs
    }

    /// Charges the rest of the meter and fixes the budget field of a meter error.
    fn finish(&mut self, result: Result<u64, RuntimeError>, meter: Meter) -> Run {
        let initial = meter.initial();
        let instruction_count = meter.finish(&mut *self.context);
        let result = match result {
            Err(RuntimeError::ExceededMaxInstructions { pc, .. }) => {
                Err(RuntimeError::ExceededMaxInstructions {
                    pc,
                    budget: initial,
                })
            }
            other => other,
        };
        Run {
            instruction_count,
            result,
        }
    }

    /// Runs on the interpreter, calling `hook` before every instruction (the slow, exact
    /// path: same results and count as `run`).
    pub fn run_with_hook(&mut self, hook: &mut dyn StepHook) -> Run {
        if let Some(run) = self.exhausted_before_start() {
            return run;
        }
        self.interpret(Some(hook))
    }

    fn interpret(&mut self, hook: Option<&mut dyn StepHook>) -> Run {
        let meter = Meter::start(self.metering(), &*self.context);
        let code = self.program.code();
        let regs = self.start_registers();
        self.frames.clear();
        let mut machine = Machine {
            code,
            settings: self.settings,
            context: &mut *self.context,
            mapping: &mut self.mapping,
            syscalls: &self.syscalls,
            frames: &mut self.frames,
            regs,
            stack_pointer: self.initial_stack_pointer,
            meter,
        };
        let result = match hook {
            None => machine.run(code.entry_pc()),
            Some(hook) => machine.run_hooked(code.entry_pc(), hook),
        };
        let meter = machine.meter;
        self.finish(result, meter)
    }

    /// The context object (the meter and whatever state the host keeps in it).
    pub fn context(&mut self) -> &mut C {
        self.context
    }

    /// Guest memory.
    pub fn mapping(&self) -> &MemoryMapping<'a> {
        &self.mapping
    }

    /// Guest memory, mutably (to prepare inputs between runs or replace regions).
    pub fn mapping_mut(&mut self) -> &mut MemoryMapping<'a> {
        &mut self.mapping
    }
}
