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
//!
//! A VM owns its mapping by default; it can also borrow one the host keeps
//! (`Vm<'_, C, &mut MemoryMapping<'_>>`, through [`Vm::with_mapping`]), as solana-sbpf 0.26's
//! hosts keep theirs, so that a host making a VM per call moves nothing; and a host that keeps
//! every part itself (context, mapping, call stacks, entry registers) runs a program over them
//! with [`run_lent`], without making a `Vm` at all (a `Vm` is the same `Runner` of parts,
//! owning its call stacks). Nothing a
//! run needs is allocated per run: the host functions and the run settings are resolved once
//! per program ([`VerifiedProgram::syscall_table`]) and the call frames live in [`CallStacks`]
//! the VM keeps between runs (and a host can carry from one VM to the next). What a run reads
//! of the program (its neutral form, settings, host functions, machine code and metering) is
//! gathered once in a [`Prepared`]: a `Vm` makes it when it is made, and a host that keeps
//! one runs with [`run_prepared`], so that neither checks per run what was resolved before.

use crate::code::{Code, Semantics};
use crate::context::ContextObject;
use crate::error::RuntimeError;
use crate::interpreter::exec::Machine;
use crate::interpreter::StepHook;
use crate::jit::JitProgram;
use crate::memory::{MemoryMapping, MemoryRegion, VmMemory};
use crate::program::{ProgramRegion, SyscallFn};
use crate::runtime::{Frame, Meter, Metering, Settings, Tracing};
use crate::verified::VerifiedProgram;
use bpfvm_isa::Dialect;
use core::borrow::{Borrow, BorrowMut};

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

/// Where a run keeps its call frames: the interpreter's frames and the JIT's frame records.
/// Both grow to the call depth runs reach (the JIT's to the configured depth on its first
/// run) and are reused by every later run, so that a run allocates nothing. Their contents
/// never carry from one run to the next: every run starts with no frames and reads only
/// frames it wrote.
#[derive(Debug, Default)]
pub struct CallStacks {
    frames: Vec<Frame>,
    /// The JIT's environment (its region table filled) and frame records.
    #[cfg(bpfvm_jit)]
    seat: crate::jit::seat::Seat,
}

impl CallStacks {
    /// Empty stacks (nothing is allocated until a run needs it).
    pub fn new() -> Self {
        Self::default()
    }
}

/// A program ready to run against its memory and context. `M` is the memory: a
/// [`MemoryMapping`] the VM owns (the default, what [`Vm::new`] builds), or a
/// `&mut MemoryMapping` the host keeps and lends for the VM's life.
pub struct Vm<'a, C: ContextObject, M = MemoryMapping<'a>> {
    /// The parts every run uses; the VM owns its call-frame storage.
    core: Runner<'a, C, M, CallStacks>,
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
        let layout = program.layout();
        let stack =
            MemoryRegion::owned_zeroed(layout.stack.size(), layout.map.stack, layout.stack.gap())
                .ok_or(RuntimeError::InvalidMemoryRegion {
                index: layout.map.stack_row(),
            })?;
        Self::assemble(program, context, stack, heap, regions)
    }

    /// As [`Vm::new`], with the stack and a zeroed heap of `heap_size` bytes lent by
    /// `memory`, which the host keeps from one VM to the next: the same runs as a `Vm::new`
    /// over fresh memory, without zeroing the whole stack and heap each time (see
    /// [`VmMemory`]). Fails with `InvalidMemoryRegion` when the regions do not form a valid
    /// mapping or the memory cannot be mapped.
    pub fn new_in(
        program: &'a VerifiedProgram<C>,
        context: &'a mut C,
        memory: &'a mut VmMemory,
        heap_size: usize,
        regions: Vec<MemoryRegion<'a>>,
    ) -> Result<Self, RuntimeError> {
        let layout = program.layout();
        let (stack, heap) = memory.lend(layout.stack.size(), heap_size).ok_or(
            RuntimeError::InvalidMemoryRegion {
                index: layout.map.stack_row(),
            },
        )?;
        let stack = MemoryRegion::writable_gapped(stack, layout.map.stack, layout.stack.gap());
        Self::assemble(program, context, stack, heap, regions)
    }

    /// The VM over the program's region, `stack`, `heap` and the host's `regions`.
    fn assemble(
        program: &'a VerifiedProgram<C>,
        context: &'a mut C,
        stack: MemoryRegion<'a>,
        heap: &'a mut [u8],
        regions: Vec<MemoryRegion<'a>>,
    ) -> Result<Self, RuntimeError> {
        let executable = program.executable();
        let layout = program.layout();
        let map = layout.map;
        let initial_r2 = match program.dialect() {
            Dialect::Sbpf | Dialect::Sbpf26(_) => 0,
            Dialect::Ebpf => regions.first().map_or(0, MemoryRegion::len),
        };
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
        let mut vm = Self::with_mapping(program, context, mapping);
        vm.core.entry_registers[2] = initial_r2;
        Ok(vm)
    }
}

impl<'a, 'g, C: ContextObject, M: BorrowMut<MemoryMapping<'g>>> Vm<'a, C, M> {
    /// A VM over a mapping the host built in full: the host owns the program, stack, heap
    /// and input regions (solana-sbpf 0.26's model, where the host allocates the stack and
    /// keeps the mapping). `mapping` is the mapping itself, or a `&mut` to one the host
    /// keeps (then making the VM moves and allocates nothing). The mapping should follow the
    /// program's layout (`executable().layout()`); the entry registers are the layout's (r1
    /// the input, r10 the first frame pointer) until [`Vm::set_entry_registers`] changes
    /// them.
    pub fn with_mapping(program: &'a VerifiedProgram<C>, context: &'a mut C, mapping: M) -> Self {
        let layout = program.layout();
        let mut entry_registers = [0; 11];
        entry_registers[1] = layout.map.input;
        entry_registers[10] = layout.initial_frame_pointer();
        Vm {
            core: Runner {
                program: program.prepared(),
                context,
                mapping,
                stacks: CallStacks::new(),
                entry_registers,
            },
        }
    }

    /// This VM with `stacks` as its call-frame storage (for a host that makes a VM per call
    /// and keeps the storage of the last one: see [`Vm::take_call_stacks`]).
    pub fn with_call_stacks(mut self, stacks: CallStacks) -> Self {
        self.core.stacks = stacks;
        self
    }

    /// The VM's call-frame storage, leaving it empty storage (to hand to the next VM).
    pub fn take_call_stacks(&mut self) -> CallStacks {
        core::mem::take(&mut self.core.stacks)
    }

    /// Sets r0..r10 for the next runs (a host that passes more than the input address, as
    /// Agave passes the instruction data's offset in r2). r10 is where the first frame
    /// ends; calls and returns move it from there by the layout's rules.
    pub fn set_entry_registers(&mut self, registers: [u64; 11]) {
        self.core.entry_registers = registers;
    }

    /// The registers the next run starts with (see [`Vm::set_entry_registers`]).
    pub fn entry_registers(&self) -> [u64; 11] {
        self.core.entry_registers
    }

    /// Ends the VM and gives back its guest memory (the mapping, or the borrow of it).
    pub fn into_mapping(self) -> M {
        self.core.mapping
    }

    /// Runs the program from its entry with the chosen backend.
    ///
    /// # Panics
    ///
    /// Never because of the program; only when a host syscall panics, whose panic then
    /// unwinds out of `run` on either backend (the JIT stops the run first: unwinding never
    /// crosses generated code). The `Vm` can run again afterwards.
    #[inline]
    pub fn run(&mut self, backend: Backend) -> Run {
        self.core.run(backend)
    }

    /// Runs on the interpreter, calling `hook` before every instruction (the slow, exact
    /// path: same results and count as `run`).
    pub fn run_with_hook(&mut self, hook: &mut dyn StepHook) -> Run {
        self.core.run_hooked(hook)
    }

    /// The context object (the meter and whatever state the host keeps in it).
    pub fn context(&mut self) -> &mut C {
        self.core.context
    }

    /// Guest memory.
    pub fn mapping(&self) -> &MemoryMapping<'g> {
        self.core.mapping.borrow()
    }

    /// Guest memory, mutably (to prepare inputs between runs or replace regions).
    pub fn mapping_mut(&mut self) -> &mut MemoryMapping<'g> {
        self.core.mapping.borrow_mut()
    }
}

/// What a host lends one run of [`run_lent`]: the parts a [`Vm`] would hold, kept by the host
/// between runs (solana-sbpf 0.26's hosts keep their context, mapping and registers in their
/// own VM struct and run a different executable each time).
pub struct Lent<'r, 'g, C, R = &'r [u64; 11]> {
    /// The context object (the meter, the host's state).
    pub context: &'r mut C,
    /// Guest memory; it should follow the program's layout (see [`Vm::with_mapping`]).
    pub mapping: &'r mut MemoryMapping<'g>,
    /// The call-frame storage, reused from run to run.
    pub stacks: &'r mut CallStacks,
    /// r0..r10 at entry (see [`Vm::set_entry_registers`]): a reference, or any `R` that
    /// borrows them where the host keeps them. The run borrows them once, when it starts,
    /// and copies them; it holds no borrow of them afterwards, so a host whose syscalls
    /// write those registers during the run (solana-sbpf 0.26's builtins see the VM's
    /// registers) can lend a handle to them instead of a copy.
    pub registers: R,
}

/// Runs `program` from its entry on `backend` over the lent parts: the same run, result and
/// count as a [`Vm::with_mapping`] over the same parts with these entry registers, without
/// making the `Vm` (nothing is moved or allocated; a host that runs a different
/// program each call pays only the run and the look-up of what the program resolved once:
/// a host that keeps a [`Prepared`] program calls [`run_prepared`] and skips that too). It is
/// always inlined into the host's call, with the run path below it (`Runner::run`, the JIT's
/// entry, the interpreter's), so that the parts go from where the host keeps them straight
/// to the run: left to the caller crate's heuristics, it was inlined in one binary and
/// called out of line in another (solana-sbpf's API bench: about 50 host instructions more
/// per call, spent passing the parts and the `Run` through memory). Each backend resolves
/// the program in its own arm, where the backend is a constant, so that a JIT run does not
/// load what only the interpreter reads (the host functions' slice: a tracing run, which
/// the JIT hands to the interpreter, looks it up itself).
///
/// # Panics
///
/// As [`Vm::run`]: only when a host syscall panics.
#[inline(always)]
pub fn run_lent<C: ContextObject, R: Borrow<[u64; 11]>>(
    program: &VerifiedProgram<C>,
    lent: Lent<'_, '_, C, R>,
    backend: Backend,
) -> Run {
    match backend {
        Backend::Interpreter => run_prepared(&program.prepared(), lent, Backend::Interpreter),
        Backend::Jit => run_prepared(&program.prepared(), lent, Backend::Jit),
    }
}

/// [`run_lent`] of a program whose run inputs were resolved before
/// ([`VerifiedProgram::prepared`]): the same run, result and count, with nothing looked up
/// (the program's parts are read where the [`Prepared`] keeps them). Always inlined, as
/// `run_lent`.
///
/// # Panics
///
/// As [`Vm::run`]: only when a host syscall panics.
#[inline(always)]
pub fn run_prepared<C: ContextObject, R: Borrow<[u64; 11]>>(
    program: &Prepared<'_, C>,
    lent: Lent<'_, '_, C, R>,
    backend: Backend,
) -> Run {
    Runner {
        program: *program,
        context: lent.context,
        mapping: lent.mapping,
        stacks: lent.stacks,
        entry_registers: lent.registers,
    }
    .run(backend)
}

/// A verified program with what its runs read resolved ([`VerifiedProgram::prepared`]): its
/// neutral form, run settings, host functions, machine code (if it was compiled) and
/// whether runs are metered. Borrowing the program keeps it from being compiled again, so
/// what a `Prepared` holds stays what the program has. A [`Vm`] makes one when it is made; a
/// host that keeps its own parts keeps one per program and runs it with [`run_prepared`].
pub struct Prepared<'p, C> {
    program: &'p VerifiedProgram<C>,
    /// The program's neutral form.
    code: &'p Code,
    /// The program's run settings (see [`VerifiedProgram::syscall_table`]).
    settings: &'p Settings,
    /// The host functions, parallel to the program's syscall keys.
    syscalls: &'p [Option<SyscallFn<C>>],
    /// The machine code, when the program was compiled.
    jit: Option<&'p JitProgram>,
    /// Whether runs count instructions against the context's budget.
    metering: Metering,
}

impl<C> Clone for Prepared<'_, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Prepared<'_, C> {}

impl<'p, C> Prepared<'p, C> {
    /// What `program`'s runs read, resolved now (its neutral form and run inputs are built
    /// on the first call for the program).
    #[inline(always)]
    pub(crate) fn of(program: &'p VerifiedProgram<C>) -> Self {
        let (settings, syscalls) = program.run_inputs();
        Prepared {
            program,
            code: program.code(),
            settings,
            syscalls,
            jit: program.jit_program(),
            metering: program.metering(),
        }
    }

    /// The program.
    pub fn program(&self) -> &'p VerifiedProgram<C> {
        self.program
    }
}

/// What every run uses: the program and what it resolved once, the context, the memory `M`
/// (a mapping or a `&mut` to one), the call-frame storage `S` and the entry registers `R`
/// (owned by a [`Vm`], or borrowed from the host by [`run_lent`]).
struct Runner<'r, C: ContextObject, M, S, R = [u64; 11]> {
    program: Prepared<'r, C>,
    context: &'r mut C,
    mapping: M,
    stacks: S,
    /// r0..r10 at entry: r1 where the input region starts, r2 0 in sBPF and the first host
    /// region's length in eBPF, r10 the initial frame pointer; a host may set its own
    /// ([`Vm::set_entry_registers`]).
    entry_registers: R,
}

impl<'g, C, M, S, R> Runner<'_, C, M, S, R>
where
    C: ContextObject,
    M: BorrowMut<MemoryMapping<'g>>,
    S: BorrowMut<CallStacks>,
    R: Borrow<[u64; 11]>,
{
    /// Runs from the entry on `backend` (inlined into `Vm::run` and `run_lent`, so that the
    /// parts need not be gathered in memory first).
    ///
    /// The meter starts here, once, for both the check before the first instruction and the
    /// run: the context's budget is read once per run.
    #[inline(always)]
    fn run(&mut self, backend: Backend) -> Run {
        let meter = Meter::start(self.metering(), &*self.context);
        if let Some(run) = self.exhausted_before_start(&meter) {
            return run;
        }
        match backend {
            Backend::Interpreter => self.interpret(None, meter),
            Backend::Jit => self.run_jit(meter),
        }
    }

    /// Runs from the entry on the interpreter, calling `hook` before every instruction.
    fn run_hooked(&mut self, hook: &mut dyn StepHook) -> Run {
        let meter = Meter::start(self.metering(), &*self.context);
        if let Some(run) = self.exhausted_before_start(&meter) {
            return run;
        }
        self.interpret(Some(hook), meter)
    }

    /// Under 0.26's rules the meter is checked before the first instruction too: a run with
    /// no budget left executes nothing and stops at the entry (both backends, here). `meter`
    /// is the run's, just started: its initial budget is the context's.
    fn exhausted_before_start(&self, meter: &Meter) -> Option<Run> {
        let code = self.program.code;
        let before_each = code.semantics() == Semantics::Sbpf26;
        let empty = self.metering() == Metering::On && meter.initial() == 0;
        (before_each && empty).then(|| Run {
            instruction_count: 0,
            result: Err(RuntimeError::ExceededMaxInstructions {
                pc: code.entry_pc(),
                budget: 0,
            }),
        })
    }

    /// The JIT backend; tracing runs are delegated to the interpreter (see `jit`).
    #[inline(always)]
    fn run_jit(&mut self, meter: Meter) -> Run {
        let Some(jit) = self.program.jit else {
            return Run {
                instruction_count: 0,
                result: Err(RuntimeError::JitNotCompiled),
            };
        };
        if self.program.settings.tracing == Tracing::On {
            // The host functions are looked up here, off the JIT's path, so that `run_lent`'s
            // JIT arm never loads them (see `run_lent`).
            let syscalls = self.program.program.syscall_table();
            return self.interpret_with(None, meter, syscalls);
        }
        self.run_compiled(jit, meter)
    }

    /// Runs the JIT's code for this program, metered by `meter` (just started).
    #[cfg(bpfvm_jit)]
    #[inline(always)]
    fn run_compiled(&mut self, jit: &JitProgram, meter: Meter) -> Run {
        use crate::jit::run::RunParts;
        let stacks = self.stacks.borrow_mut();
        let parts = RunParts {
            program: self.program.program,
            code: self.program.code,
            settings: self.program.settings,
            context: &mut *self.context,
            mapping: self.mapping.borrow_mut(),
            frames: &mut stacks.frames,
            seat: &mut stacks.seat,
            registers: &self.entry_registers,
            meter,
        };
        jit.execute(parts)
    }

    /// A build without the JIT has no [`JitProgram`] to run.
    #[cfg(not(bpfvm_jit))]
    fn run_compiled(&mut self, jit: &JitProgram, _meter: Meter) -> Run {
        jit.absurd()
    }

    /// Whether this program's runs are metered.
    fn metering(&self) -> Metering {
        self.program.metering
    }

    /// Runs from the entry on the interpreter, metered by `meter` (just started).
    #[inline(always)]
    fn interpret(&mut self, hook: Option<&mut dyn StepHook>, meter: Meter) -> Run {
        let syscalls = self.program.syscalls;
        self.interpret_with(hook, meter, syscalls)
    }

    /// [`Runner::interpret`] with the program's host functions, `syscalls`, given.
    #[inline(always)]
    fn interpret_with(
        &mut self,
        hook: Option<&mut dyn StepHook>,
        meter: Meter,
        syscalls: &[Option<SyscallFn<C>>],
    ) -> Run {
        let code = self.program.code;
        let regs = start_registers(self.entry_registers.borrow());
        let frames = &mut self.stacks.borrow_mut().frames;
        frames.clear();
        let mut machine = Machine {
            code,
            settings: *self.program.settings,
            context: &mut *self.context,
            mapping: self.mapping.borrow_mut(),
            syscalls,
            frames,
            regs,
            stack_pointer: regs[10],
            meter,
        };
        let result = match hook {
            None => machine.run(code.entry_pc()),
            Some(hook) => machine.run_hooked(code.entry_pc(), hook),
        };
        let meter = machine.meter;
        finish(self.context, result, meter)
    }
}

/// The `Run` of a run that ended with `result`: charges the rest of the meter to `context`
/// and fixes the budget field of a meter error. A run that ended in `Ok` builds its `Run`
/// from the value alone (copying the whole `Result`, the size of the largest error, cost the
/// common path about 20 host instructions), and the JIT calls this where each way out of
/// generated code has its result, so that no `Result` is gathered from them first.
#[inline(always)]
pub(crate) fn finish<C: ContextObject>(
    context: &mut C,
    result: Result<u64, RuntimeError>,
    meter: Meter,
) -> Run {
    let initial = meter.initial();
    let instruction_count = meter.finish(context);
    match result {
        Ok(value) => Run {
            instruction_count,
            result: Ok(value),
        },
        Err(error) => failed(error, initial, instruction_count),
    }
}

/// The `Run` of a run that ended in `error`, charged `instruction_count`: a meter error
/// carries the budget the run started with, `initial`.
#[cold]
fn failed(mut error: RuntimeError, initial: u64, instruction_count: u64) -> Run {
    // Fixed in place: the error is not rebuilt on the way out.
    if let RuntimeError::ExceededMaxInstructions { budget, .. } = &mut error {
        *budget = initial;
    }
    Run {
        instruction_count,
        result: Err(error),
    }
}

/// The registers at the entry of a run: the entry registers r0..r10 (by default r1 the input
/// region, r2 0 (sBPF) or the input length (eBPF), r10 the top of the first frame, the rest
/// zero), and zero for the engine's scratch registers above them.
#[inline(always)]
fn start_registers(entry: &[u64; 11]) -> [u64; 16] {
    let mut regs = [0u64; 16];
    regs[..11].copy_from_slice(entry);
    regs
}
