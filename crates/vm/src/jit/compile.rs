//! The compiler driver: one pass over the slots, the compiled program and its tables, and
//! the compile-wide state (code pool, reusable buffers).

use super::engine::Recycler;
use super::hints::{AccessHints, BaseHint};
use super::lower::{self, At, Program};
use super::masm::{
    self, Callx, Hardening, Masm, MeterMode, Pair, PairSearch, RunPosition, Settings, Tables,
    Translation,
};
use super::version;
use super::view::CodeView;
use super::VersionedLoop;
use super::{entry, hoist, shapes, JitEngine, JitError};
use crate::code::{Code, Flow, GuestReg, Op, OpKind};
use crate::config::Config;
use crate::context::ContextObject;
use crate::memory::{AddressMap, GappedFrames, Layout, MappingKind};
use bpfvm_x86::{CodeMemoryError, EncodeError, ExecutableCode};
use std::sync::OnceLock;

impl From<EncodeError> for JitError {
    fn from(error: EncodeError) -> Self {
        JitError::Encode {
            message: error.to_string(),
        }
    }
}

impl From<CodeMemoryError> for JitError {
    fn from(error: CodeMemoryError) -> Self {
        JitError::CodeMemory {
            message: error.to_string(),
        }
    }
}

/// A bail-out site: the return address of a `call` into the shared bail-out path (a code
/// offset) and the guest state it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    /// The code offset right after the `call`.
    pub ret: u32,
    /// The pc the interpreter continues at.
    pub pc: u32,
    /// The instructions the block entry charged that have not run (given back).
    pub refund: u32,
}

/// Where a bail-out site sends the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SiteTarget {
    /// The pc the interpreter continues at.
    pub pc: u64,
    /// The instructions to give back to the meter.
    pub refund: u64,
}

/// A compiled program: read-execute machine code and where each slot's code starts.
#[derive(Debug)]
pub struct JitProgram {
    code: ExecutableCode,
    /// Per slot: the code offset (read with `masm::slot_offset`), or `masm::NONE` (the
    /// second slot of an `lddw`); the bail-out sites, sorted by return address; per slot
    /// the code offset where a `callx` may land, or 0 (empty without `callx`; generated
    /// code reads it through `Env::callx_table`, never writes it).
    tables: Tables,
    /// Where the tables go when the program is dropped (its engine's stock).
    recycler: Recycler,
    /// [`JitProgram::pc_offsets`], built on first use.
    pc_offsets: OnceLock<Vec<Option<usize>>>,
    /// Where the code of the last instruction ends (the out-of-line routines follow).
    body_end: usize,
    /// The stack the r10 fast path was compiled for, if it is used.
    stack: Option<GappedFrames>,
    /// The address map the code was compiled for (its region-table rows name slots of it).
    map: AddressMap,
    /// The loops compiled twice, with their checks hoisted in the second copy.
    versioned: Vec<VersionedLoop>,
}

impl JitProgram {
    /// The machine code (for disassembly).
    pub fn code(&self) -> &[u8] {
        self.code.as_slice()
    }

    /// Per slot: the offset in [`JitProgram::code`] where its machine code starts (`None`
    /// for the second slot of an `lddw`).
    pub fn pc_offsets(&self) -> &[Option<usize>] {
        self.pc_offsets.get_or_init(|| {
            self.tables
                .offsets
                .iter()
                .map(|offset| masm::slot_offset(*offset))
                .collect()
        })
    }

    /// The machine code of the instruction at slot `pc` (its inline part, and any shared
    /// routine emitted right after it when it cannot fall through), for `bpfvm disasm --jit`.
    /// `None` for the second slot of an `lddw` or a pc out of range.
    pub fn slot_code(&self, pc: usize) -> Option<&[u8]> {
        let start = masm::slot_offset(*self.tables.offsets.get(pc)?)?;
        let end = self
            .tables
            .offsets
            .iter()
            .skip(pc + 1)
            .find_map(|offset| masm::slot_offset(*offset))
            .unwrap_or(self.body_end);
        self.code().get(start..end)
    }

    /// The loops compiled a second time with their hoisted checks (see [`hoist`]), in
    /// slot order (`bpfvm disasm --jit` lists their code after the body's).
    pub fn versioned_loops(&self) -> &[VersionedLoop] {
        &self.versioned
    }

    pub(crate) fn executable(&self) -> &ExecutableCode {
        &self.code
    }

    /// The `callx` table's address for `Env::callx_table` (null when there is none).
    pub(crate) fn callx_table(&self) -> *const u32 {
        match self.tables.callx_table.is_empty() {
            true => std::ptr::null(),
            false => self.tables.callx_table.as_ptr(),
        }
    }

    /// The stack the code relies on (see [`GappedFrames`]).
    pub(crate) fn stack(&self) -> Option<GappedFrames> {
        self.stack
    }

    /// The address map the code was compiled for.
    pub(crate) fn map(&self) -> &AddressMap {
        &self.map
    }

    /// The bail-out site whose return address is at code offset `ret`.
    pub(crate) fn site(&self, ret: u64) -> Option<SiteTarget> {
        let ret = u32::try_from(ret).ok()?;
        let index = self
            .tables
            .sites
            .binary_search_by_key(&ret, |site| site.ret)
            .ok()?;
        let site = self.tables.sites.get(index)?;
        Some(SiteTarget {
            pc: u64::from(site.pc),
            refund: u64::from(site.refund),
        })
    }
}

/// A seed for the hardening generator that differs from compile to compile: the engine's
/// seed and compile number mixed with the program size and the environment key
/// (splitmix64-style). It only ever changes machine code.
fn compile_seed((seed, compile): (u64, u64), slots: usize, key: i32) -> u64 {
    let mut z = compile
        .wrapping_add(slots as u64)
        .wrapping_add(seed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(key as u32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1
}

/// The alignment of the code of a loop's head (see [`CodeView::is_loop_header`]): the fetch
/// window of the loop's first instructions then does not depend on what precedes them.
pub(crate) const LOOP_ALIGNMENT: usize = 64;

/// Compiles `code` (the backend-neutral form of a program loaded with `config`) with the
/// buffers, tables and code memory of `engine`.
///
/// One pass over the instructions: each run (the interpreter's straight-line run, which
/// ends at a jump, call, `exit`, syscall or trap) is charged at its first instruction; a
/// jump or call into the middle of a run goes through an entry stub that charges the rest
/// of the run (see [`masm`]).
pub(crate) fn compile<C: ContextObject>(
    engine: &JitEngine,
    code: &Code,
    config: &Config,
) -> Result<JitProgram, JitError> {
    let code = &CodeView::new(code);
    let slots = code.slot_count();
    if i32::try_from(slots).is_err() {
        return Err(JitError::ProgramTooLarge { slots });
    }
    let scratch = engine.take_scratch();
    let layout = code.layout();
    let aligned = layout.mapping == MappingKind::Aligned;
    let program = program(code, config, &layout);
    let stack = program.stack;
    let seed = compile_seed(engine.next_compile(), slots, config.runtime_environment_key);
    let settings = settings::<C>(config, &layout, seed);
    let mut m = Masm::new(slots, settings, program, scratch, engine.take_tables());
    m.prologue(code.entry_pc())?;
    shapes::emit_exits(&mut m)?;
    // Every slot, then the overrun sentinel after the last (the last instruction may fall
    // through into it; it is part of that run).
    let ops = code.ops().get(..=slots).unwrap_or(&[]);
    let mut position = RunPosition::Start;
    // Which accesses probably go to the stack or the input region (only the check's shape
    // depends on it; the aligned mapping's table is what the checks read).
    let mut hints =
        aligned.then(|| AccessHints::new(code.ops(), code.entry_pc(), |pc| code.is_callable(pc)));
    // Loops whose copy with hoisted checks waits for the end of the body, and the last
    // slot of the newest one (whose hints the copy needs).
    let mut versions: Vec<version::Version> = Vec::new();
    let mut recording = 0;
    let mut previous: Option<&Op> = None;
    let mut body_end = 0;
    let mut pc = 0;
    while let Some(op) = ops.get(pc) {
        if pc == slots {
            body_end = m.asm.offset();
        }
        let hint = match hints.as_mut() {
            Some(hints) => hints.at(op, pc),
            None => BaseHint::Unknown,
        };
        let head = match position == RunPosition::Start && code.is_loop_header(pc) {
            true => LoopHead::Yes,
            false => LoopHead::No,
        };
        if head == LoopHead::Yes && previous.is_some_and(falls_through) {
            if let Some(version) = version_loop(&mut m, code, hints.as_ref(), pc)? {
                recording = version.plan.latch;
                versions.push(version);
            }
        }
        if pc <= recording {
            version::record_hint(&mut versions, pc, hint);
        }
        position = emit_slot(&mut m, code, &program, op, pc, position, head, hint)?;
        previous = Some(op);
        pc += op.width();
    }
    m.emit_pending()?;
    let mut versioned = Vec::with_capacity(versions.len());
    for version in versions {
        versioned.push(version::copy(&mut m, code, &program, version)?);
    }
    m.slot_stubs(code)?;
    m.emit_pending()?;
    if m.callx == Callx::Table {
        callx_table(&mut m, code, code.callx_needs_function())?;
    }
    m.resolve()?;
    let (asm, mut tables, mut scratch) = m.into_parts();
    tables.offsets.truncate(slots);
    let bytes = asm.finish()?;
    let mut writable = engine.pool().allocate(bytes.len())?;
    writable.append(&bytes)?;
    scratch.code = bytes;
    engine.give_scratch(scratch);
    let code = writable.make_executable()?;
    Ok(JitProgram {
        code,
        tables,
        recycler: engine.recycler(),
        pc_offsets: OnceLock::new(),
        body_end,
        stack,
        map: layout.map,
        versioned,
    })
}

/// Whether a slot's code starts a tight loop (`CodeView::is_loop_header` at a run's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoopHead {
    Yes,
    No,
}

/// The guard of the tight loop at `head` and the loop waiting for its copy, when its
/// accesses can be hoisted (see [`hoist`]); the guard goes where execution falls into the
/// head.
#[inline(never)]
fn version_loop(
    m: &mut Masm,
    code: &CodeView<'_>,
    hints: Option<&AccessHints>,
    head: usize,
) -> Result<Option<version::Version>, JitError> {
    if code.layout().mapping != MappingKind::Aligned {
        return Ok(None);
    }
    // A base the scan guesses to point into the gapped stack would fail the guard.
    let gapped = m.program.stack.is_some();
    let stack = |reg: GuestReg| gapped && hints.is_some_and(|hints| hints.holds_stack(reg));
    let plan = hoist::plan_of(code, head);
    let plan = plan.and_then(|plan| plan.retain(|g| !stack(g.base)));
    plan.map(|plan| version::guard(m, plan)).transpose()
}

/// Emits the code of `op` at slot `pc` (`position` in its run, `head` whether it starts a
/// tight loop, `hint` the guess for its base register) and returns the next slot's
/// position.
#[allow(
    clippy::too_many_arguments,
    reason = "the state of one pass over the slots"
)]
#[inline(always)]
pub(crate) fn emit_slot(
    m: &mut Masm,
    code: &CodeView<'_>,
    program: &Program,
    op: &Op,
    pc: usize,
    position: RunPosition,
    head: LoopHead,
    hint: BaseHint,
) -> Result<RunPosition, JitError> {
    let refund = code.jit_run_length(pc);
    // Only memory accesses can start a pair.
    if m.pair.is_none() && op.kind() == OpKind::Memory {
        let search = match code.in_loop(pc) {
            true => PairSearch::Neighbours,
            false => PairSearch::ReadModifyWrite,
        };
        m.pair = Pair::find(code, op, pc, search);
    }
    if head == LoopHead::Yes {
        m.align_loop_header();
    }
    m.start_slot(pc, position);
    if position == RunPosition::Start {
        m.block_entry(pc, refund)?;
    }
    m.maybe_nop();
    m.hint = hint;
    let at = At { pc, refund };
    lower::lower(m, program, op, at)?;
    if m.has_pending() && !falls_through(op) {
        m.emit_pending()?;
    }
    // An op ends its run exactly when its run is itself alone.
    Ok(match refund {
        1 => RunPosition::Start,
        _ => RunPosition::Inside,
    })
}

/// Whether execution can continue after the code of `op` (shared routines that wait to be
/// emitted go after one that cannot, out of the way of straight-line code): where the op's
/// flow goes on, except at an eBPF `callx`, whose code always bails out (the interpreter
/// decides between helper and function).
pub(crate) fn falls_through(op: &Op) -> bool {
    match op.flow() {
        Flow::Next | Flow::Branch(_) | Flow::Call(_) | Flow::CallReg | Flow::Syscall => true,
        Flow::Jump(_) | Flow::Exit | Flow::Fault | Flow::CallRegOrHelper => false,
    }
}

/// The macro-assembler settings of `config`.
fn settings<C: ContextObject>(config: &Config, layout: &Layout, seed: u64) -> Settings {
    Settings {
        meter: match config.enable_instruction_meter {
            true => MeterMode::On,
            false => MeterMode::Off,
        },
        translation: match layout.mapping {
            MappingKind::Aligned => Translation::InlineTable,
            MappingKind::Unaligned => Translation::Call,
        },
        hardening: Hardening {
            noop_rate: config.noop_instruction_rate,
            blind: config.sanitize_user_provided_values,
            seed,
        },
        gap_shift: layout.stack.gap_shift(),
        translate_helper: entry::translate_shim as *const () as usize as u64,
        syscall_helper: entry::syscall_shim::<C> as *const () as usize as u64,
    }
}

/// What the lowering needs to know about the program besides its ops.
fn program(code: &CodeView<'_>, config: &Config, layout: &Layout) -> Program {
    let slots = code.slot_count();
    let last_is_call = slots > 0
        && code.ops().get(slots - 1).is_some_and(|op| {
            matches!(
                op.flow(),
                Flow::Call(_) | Flow::CallReg | Flow::CallRegOrHelper
            )
        });
    Program {
        slot_count: slots,
        frames: layout.stack.frame_mode(),
        max_call_depth: config.max_call_depth,
        text_vaddr: code.text_vaddr(),
        call_in_last_slot: last_is_call,
        // The r10 fast path also needs the aligned mapping (its table row of the stack).
        stack: layout
            .stack
            .gapped_frames()
            .filter(|_| layout.mapping == MappingKind::Aligned),
        stack_row: layout.map.stack_row(),
    }
}

/// The `callx` table: per slot, the code offset where `callx` may land (a run start, or
/// the entry stub, emitted here, of a jump target or of a callable slot inside a run),
/// else 0 (the call then bails out). With static syscalls only callable slots are
/// targets. It lives beside the code, not in it (generated code reads it through
/// `Env::callx_table`): code memory holds instructions only, and stays smaller.
fn callx_table(m: &mut Masm, code: &CodeView<'_>, static_syscalls: bool) -> Result<(), JitError> {
    let slots = code.slot_count();
    for pc in 0..slots {
        if code.is_callable(pc) {
            m.ensure_entry(code, pc)?;
        }
    }
    m.emit_pending()?;
    m.callx_entries(slots, |pc| !static_syscalls || code.is_callable(pc));
    Ok(())
}

impl Drop for JitProgram {
    fn drop(&mut self) {
        self.recycler.recycle(core::mem::take(&mut self.tables));
    }
}
