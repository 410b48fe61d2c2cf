//! The target-neutral driver of a compile: one pass over the slots, deciding everything
//! that does not depend on the machine, and asking the backend's [`MacroAssembler`] to
//! encode it.
//!
//! - **Runs and the meter.** The JIT's runs ([`CodeView::jit_run_length`]) end before every
//!   jump or call target, so a jump always lands at a run's start. The first instruction of
//!   a run charges the whole run ([`MacroAssembler::charge`]); at every instruction the
//!   instructions charged but not yet run are its run length, which a bail-out there gives
//!   back ([`At::refund`]).
//! - **Pairs** ([`Pair`]): a memory access may start a pair with a later access of its run
//!   through the same base; the driver finds it, hands the first access the form that
//!   checks the whole span ([`AccessForm::PairFirst`]) and the second the span the first
//!   left ([`AccessForm::PairSecond`]), and marks the slots in between as ones nothing may
//!   enter ([`Carried::Yes`]).
//! - **Versioned loops** ([`hoist`](super::hoist)): where execution falls into the head of a tight loop
//!   whose accesses through an invariant base plus a bounded index can be checked once, the
//!   driver asks for the loop's guard; after the body it emits the loop a second time, its
//!   hoisted accesses in [`AccessForm::Hoisted`] form, and points the guard at it.
//! - **Out-of-line code** (shared routines, stubs) waits until an instruction that cannot
//!   fall through ([`SlotFacts::falls`](super::view::SlotFacts::falls)), out of the way of
//!   straight-line code.
//! - **Bail-out sites** are recorded by the backend in the program's site table
//!   ([`super::tables::SiteTable`]) with each instruction's [`At`].

use super::compiled::Compiled;
use super::engine::Engine;
use super::hardening::Hardening;
use super::hints::{BaseHint, HintTable};
use super::hoist::Plan;
use super::kept::{Kept, Pairs, Plans};
use super::lower::{lower, Lowering};
use super::masm::{
    AccessForm, At, Backend, Carried, MacroAssembler, MeterMode, Program, R10Use, RunPosition,
    Translation,
};
use super::pair::Pair;
use super::view::{CodeView, Falls};
use super::{JitError, VersionedLoop};
use crate::code::{Flow, GuestReg, Op, OpKind};
use crate::config::Config;
use crate::context::ContextObject;
use crate::memory::{Layout, MappingKind};
use std::sync::OnceLock;

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

/// Compiles `code` (the backend-neutral form of a program loaded with `config`, with the
/// JIT's analyses of it) for backend `B` with `engine`'s buffers, tables and code memory,
/// the syscall shim instantiated for context type `C`.
pub(crate) fn compile<C: ContextObject, B: Backend>(
    engine: &Engine<B>,
    code: &CodeView<'_>,
    kept: &Kept,
    config: &Config,
) -> Result<Compiled<B>, JitError> {
    let slots = code.slot_count();
    if i32::try_from(slots).is_err() {
        return Err(JitError::ProgramTooLarge { slots });
    }
    let layout = code.layout();
    let program = program(code, config, &layout);
    let seed = compile_seed(engine.next_compile(), slots, config.runtime_environment_key);
    let hardening = Hardening::new(
        config.noop_instruction_rate,
        config.sanitize_user_provided_values,
        seed,
    );
    let mut m = B::masm::<C>(engine.state(), program, hardening, engine.take_tables());
    m.prologue(code.entry_pc())?;
    let (body_end, versions, interpreted) = body(&mut m, code, kept, &program)?;
    let mut versioned = Vec::with_capacity(versions.len());
    for version in versions {
        versioned.push(copy(&mut m, code, kept, &program, version)?);
    }
    m.entry_stubs(code)?;
    m.emit_pending()?;
    m.callx_entries(code, code.callx_needs_function())?;
    let (executable, mut tables) = B::finish(engine.state(), m)?;
    tables.offsets.truncate(slots);
    Ok(Compiled {
        code: executable,
        tables,
        recycler: engine.recycler(),
        pc_offsets: OnceLock::new(),
        body_end,
        frame: program.frame,
        map: layout.map,
        stamp: crate::memory::table::next_stamp(),
        versioned,
        interpreted,
    })
}

/// What the pass over the body leaves: where the last instruction's code ends, the loops
/// whose second copies wait, and the slots lowered to nothing but a bail-out.
type Body<G> = (usize, Vec<Version<G>>, Vec<usize>);

/// The pass over the body: every slot, then the overrun sentinel after the last (the last
/// instruction may fall through into it; it is part of that run). Returns where the last
/// instruction's code ends, the loops whose second copies wait and the slots the
/// interpreter always runs.
fn body<M: MacroAssembler>(
    m: &mut M,
    code: &CodeView<'_>,
    kept: &Kept,
    program: &Program,
) -> Result<Body<M::Guard>, JitError> {
    let slots = code.slot_count();
    let ops = code.ops().get(..=slots).unwrap_or(&[]);
    let mut pass = Pass::new(kept, 0);
    // The loop plans of an earlier compile, or the ones this pass makes.
    let mut plans = Plans::of(kept);
    // Which accesses probably go to the stack or the input region (only the check's shape
    // depends on it; the aligned mapping's table is what the checks read).
    let hints = (program.translation == Translation::InlineTable).then(|| code.hints());
    // The guesses read in slot order.
    let mut guesses = hints.map(HintTable::in_order);
    // Loops whose copy with hoisted checks waits for the end of the body.
    let mut versions: Vec<Version<M::Guard>> = Vec::new();
    // Whether execution falls from the previous slot into this one.
    let mut fall_in = false;
    let mut body_end = 0;
    let mut pc = 0;
    while let Some(op) = ops.get(pc) {
        // One read of the slot's packed facts: its run, kind, width, whether it falls
        // through and whether it heads a tight loop.
        let facts = code.slot(pc);
        let (kind, falls) = (facts.kind(), facts.falls());
        if pc == slots {
            body_end = m.offset();
        }
        // Only an access's form reads the hint.
        let hint = match guesses.as_mut().filter(|_| kind == OpKind::Memory) {
            Some(guesses) => guesses.hint(pc),
            None => BaseHint::Unknown,
        };
        let head = match pass.position == RunPosition::Start && facts.loop_head() {
            true => LoopHead::Yes,
            false => LoopHead::No,
        };
        if head == LoopHead::Yes && fall_in {
            if let Some(version) = version_loop(m, code, program, hints, &mut plans, pc)? {
                versions.push(version);
            }
        }
        let slot = Slot {
            op,
            kind,
            falls,
            pc,
            refund: facts.run(),
            head,
            hint,
        };
        emit_slot(m, code, program, &mut pass, slot, Copy::No)?;
        fall_in = falls == Falls::Through;
        pc += facts.width();
    }
    m.emit_pending()?;
    // What this pass searched for, the program's later compiles look up.
    let interpreted = core::mem::take(&mut pass.interpreted);
    pass.pairs.keep(kept);
    plans.keep(kept);
    Ok((body_end, versions, interpreted))
}

/// Whether a slot's code starts a tight loop ([`CodeView::is_loop_header`] at a run's
/// start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoopHead {
    Yes,
    No,
}

/// Whether a versioned loop's second copy is being emitted (its hoisted accesses then go
/// unchecked).
#[derive(Clone, Copy, Debug)]
enum Copy<'p> {
    No,
    Of(&'p Plan),
}

/// One slot to emit.
#[derive(Clone, Copy)]
struct Slot<'o> {
    op: &'o Op,
    /// The op's kind and whether execution can continue after it (from one look at its
    /// facts).
    kind: OpKind,
    falls: Falls,
    pc: usize,
    /// Its JIT run length ([`CodeView::jit_run_length`]).
    refund: u64,
    head: LoopHead,
    /// The guess for its base register.
    hint: BaseHint,
}

/// The state the pass carries from slot to slot: where the next slot sits in its run, and
/// the pair being lowered with the span its first access left.
struct Pass<'p, S> {
    position: RunPosition,
    pair: Option<Pair>,
    /// The slots `pair` carries a span across (after its first access, up to and including
    /// its second), as a start and a length, empty without a pair: one subtraction and one
    /// compare per slot ([`Pass::carried`]).
    carrying: Carrying,
    span: Option<S>,
    /// The pairs of accesses the pass meets.
    pairs: Pairs<'p>,
    /// The slots lowered to nothing but a bail-out, in order.
    interpreted: Vec<usize>,
}

impl<'p, S> Pass<'p, S> {
    /// A pass that starts at slot `from`, meeting the pairs `kept` holds or searching.
    fn new(kept: &'p Kept, from: usize) -> Pass<'p, S> {
        Pass {
            position: RunPosition::Start,
            pair: None,
            carrying: Carrying::NONE,
            span: None,
            pairs: Pairs::of(kept, from),
            interpreted: Vec::new(),
        }
    }
}

impl<S> Pass<'_, S> {
    /// Starts lowering `pair` (or nothing).
    #[inline(always)]
    fn begin_pair(&mut self, pair: Option<Pair>) {
        self.pair = pair;
        self.carrying = pair.map_or(Carrying::NONE, |pair| Carrying::of(pair.load, pair.store));
    }

    /// Ends the pair being lowered (at its second access).
    #[inline(always)]
    fn end_pair(&mut self) {
        self.pair = None;
        self.carrying = Carrying::NONE;
    }

    /// Whether the slot at `pc` lies in the pair's span (after its first access, up to and
    /// including its second), where nothing may enter.
    #[inline(always)]
    fn carried(&self, pc: usize) -> Carried {
        match pc.wrapping_sub(self.carrying.from) < self.carrying.len {
            true => Carried::Yes,
            false => Carried::No,
        }
    }
}

/// The slots `from..from + len` a pair carries its span across.
#[derive(Clone, Copy)]
struct Carrying {
    from: usize,
    len: usize,
}

impl Carrying {
    /// No slot.
    const NONE: Carrying = Carrying { from: 0, len: 0 };

    /// The slots after a pair's first access at `load`, up to and including its second at
    /// `store`.
    fn of(load: u32, store: u32) -> Carrying {
        let (load, store) = (load as usize, store as usize);
        Carrying {
            from: load + 1,
            len: store.saturating_sub(load),
        }
    }
}

/// Emits the code of `slot` and moves `pass` on to the next slot.
#[inline(always)]
fn emit_slot<M: MacroAssembler>(
    m: &mut M,
    code: &CodeView<'_>,
    program: &Program,
    pass: &mut Pass<'_, M::Span>,
    slot: Slot<'_>,
    copy: Copy<'_>,
) -> Result<(), JitError> {
    let Slot {
        op,
        kind,
        falls,
        pc,
        refund,
        head,
        hint,
    } = slot;
    // Only memory accesses can start a pair.
    if pass.pair.is_none() && kind == OpKind::Memory {
        let pair = pass.pairs.at(code, op, pc);
        pass.begin_pair(pair);
    }
    if head == LoopHead::Yes {
        m.align_loop_head();
    }
    let carried = pass.carried(pc);
    m.start_slot(pc, pass.position, carried);
    let at = At { pc, refund };
    if pass.position == RunPosition::Start && program.meter == MeterMode::On && refund > 0 {
        m.charge(refund, at)?;
    }
    m.hardening_nop();
    let form = match kind {
        OpKind::Memory => access_form(pass, copy, pc, hint)?,
        // Only loads, stores and atomics have an access (and only they start or end a
        // pair, or are hoisted): the others ignore the form.
        OpKind::Alu
        | OpKind::Divide
        | OpKind::Control
        | OpKind::StackPointer
        | OpKind::Nop
        | OpKind::Fault => AccessForm::Checked {
            hint: BaseHint::Unknown,
        },
    };
    match lower(m, program, op, at, form)? {
        Lowering::Native(Some(span)) => pass.span = Some(span),
        Lowering::Native(None) => {}
        // The overrun sentinel after the last slot is not an instruction of the text.
        Lowering::Interpreted if pc < code.slot_count() => pass.interpreted.push(pc),
        Lowering::Interpreted => {}
    }
    if m.has_pending() && falls == Falls::Never {
        m.emit_pending()?;
    }
    // An op ends its run exactly when its run is itself alone.
    pass.position = match refund {
        1 => RunPosition::Start,
        _ => RunPosition::Inside,
    };
    Ok(())
}

/// How the access of the slot at `pc` (if it has one) is translated: as one of the pass's
/// pair, hoisted in a versioned loop's copy, or checked on its own.
#[inline(always)]
fn access_form<S>(
    pass: &mut Pass<'_, S>,
    copy: Copy<'_>,
    pc: usize,
    hint: BaseHint,
) -> Result<AccessForm<S>, JitError> {
    let group = |pc: usize| match copy {
        Copy::Of(plan) => plan.group_of(pc),
        Copy::No => None,
    };
    Ok(match pass.pair {
        Some(pair) if pair.load as usize == pc => {
            // Both accesses of a pair hoisted into one group share the group's delta.
            let second = group(pair.store as usize);
            match group(pc).filter(|group| Some(*group) == second) {
                Some(group) => AccessForm::HoistedPairFirst { pair, group },
                None => AccessForm::PairFirst { pair, hint },
            }
        }
        Some(pair) if pair.store as usize == pc => {
            pass.end_pair();
            let span = pass.span.take().ok_or_else(|| JitError::Internal {
                message: format!("the pair ending at {pc} has no span"),
            })?;
            AccessForm::PairSecond { span }
        }
        Some(_) | None => match group(pc) {
            Some(group) => AccessForm::Hoisted { group },
            None => AccessForm::Checked { hint },
        },
    })
}

/// A loop whose guard is emitted and whose second copy waits for the end of the body.
struct Version<G> {
    plan: Plan,
    guard: G,
}

/// The guard of the tight loop at `head` and the loop waiting for its copy, when its
/// accesses can be hoisted (see [`hoist`](super::hoist)); the guard goes where execution falls into the
/// head.
#[inline(never)]
fn version_loop<M: MacroAssembler>(
    m: &mut M,
    code: &CodeView<'_>,
    program: &Program,
    hints: Option<&HintTable>,
    plans: &mut Plans<'_>,
    head: usize,
) -> Result<Option<Version<M::Guard>>, JitError> {
    if code.layout().mapping != MappingKind::Aligned {
        return Ok(None);
    }
    // A base the scan guesses to point into the gapped stack would fail the guard.
    let gapped = program.stack.is_some();
    let stack = |reg: GuestReg| gapped && hints.is_some_and(|hints| hints.holds_stack(head, reg));
    let plan = plans.plan(code, head);
    let plan = plan.and_then(|plan| plan.retain(|g| !stack(g.base)));
    let Some(plan) = plan else {
        return Ok(None);
    };
    let guard = m.version_guard(&plan)?;
    Ok(Some(Version { plan, guard }))
}

/// Emits the second copy of `version`'s loop (after the body, where execution cannot fall
/// through), points its guard at it and says where it went. Jumps to the loop's own slots
/// stay in the copy; every other jump, entry and `callx` goes to the first copy.
fn copy<M: MacroAssembler>(
    m: &mut M,
    code: &CodeView<'_>,
    kept: &Kept,
    program: &Program,
    version: Version<M::Guard>,
) -> Result<VersionedLoop, JitError> {
    let Version { plan, guard } = version;
    let hints = (program.translation == Translation::InlineTable).then(|| code.hints());
    let (head, latch) = (plan.head, plan.latch);
    let mark = m.begin_copy(&plan);
    let mut pass = Pass::new(kept, head);
    let mut pc = head;
    let mut last = None;
    while pc <= latch {
        let Some(op) = code.ops().get(pc) else { break };
        let facts = code.slot(pc);
        let (kind, falls) = (facts.kind(), facts.falls());
        let slot = Slot {
            op,
            kind,
            falls,
            pc,
            refund: facts.run(),
            head: match pc == head {
                true => LoopHead::Yes,
                false => LoopHead::No,
            },
            hint: match hints.filter(|_| kind == OpKind::Memory) {
                Some(hints) => hints.hint(pc),
                None => BaseHint::Unknown,
            },
        };
        emit_slot(m, code, program, &mut pass, slot, Copy::Of(&plan))?;
        last = Some(falls);
        pc += facts.width();
    }
    if last == Some(Falls::Through) {
        m.jump(latch + 1)?;
    }
    // The copy's bail-out stubs (and any routine first needed in it) follow it.
    m.emit_pending()?;
    let end = m.offset();
    let start = m.end_copy(mark, guard)?;
    Ok(VersionedLoop {
        head,
        latch,
        code: start..end,
    })
}

/// Whether some op reads r10 (calls and exits move it without reading it as an operand).
fn reads_r10(code: &CodeView<'_>) -> bool {
    code.ops()
        .iter()
        .any(|op| op.facts().uses.contains(GuestReg::R10))
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
    let r10 = match reads_r10(code) {
        true => R10Use::Read,
        false => R10Use::Unread,
    };
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
        // A program that never reads r10 has no access the current frame's fast path could
        // serve (the stack hint starts from r10 too), so its calls and exits need not keep
        // `Env::frame_top`.
        frame: layout
            .stack
            .current_frame()
            .filter(|_| layout.mapping == MappingKind::Aligned)
            .filter(|_| r10 == R10Use::Read),
        r10,
        stack_row: layout.map.stack_row(),
        gap_shift: layout.stack.gap_shift(),
        meter: match config.enable_instruction_meter {
            true => MeterMode::On,
            false => MeterMode::Off,
        },
        translation: match layout.mapping {
            MappingKind::Aligned => Translation::InlineTable,
            MappingKind::Unaligned => Translation::Call,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jit::access::{Access, SpanRule};

    /// The pass's window says what the pair's bounds say: a slot is carried exactly when it
    /// comes after the first access and no later than the second, and nothing is once the
    /// pair ends.
    #[test]
    fn a_pair_carries_the_slots_after_its_first_access_through_its_second() {
        let kept = Kept::default();
        let mut pass: Pass<'_, ()> = Pass::new(&kept, 0);
        let carried = |pass: &Pass<'_, ()>| {
            (0..130)
                .filter(|pc| pass.carried(*pc) == Carried::Yes)
                .collect::<Vec<usize>>()
        };
        assert_eq!(carried(&pass), []);
        for (load, store) in [(0u32, 1u32), (0, 5), (7, 8), (7, 20), (100, 103)] {
            pass.begin_pair(Some(Pair {
                load,
                store,
                start: 0,
                span: 8,
                access: Access::Store,
                rule: SpanRule::FirstByte,
            }));
            let inside = (load as usize + 1..=store as usize).collect::<Vec<_>>();
            assert_eq!(carried(&pass), inside, "pair {load}..{store}");
            pass.end_pair();
            assert_eq!(carried(&pass), [], "after the pair {load}..{store}");
        }
    }
}
