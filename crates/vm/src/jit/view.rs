//! The program as the JIT compiles it: the backend-neutral form ([`Code`]) plus the
//! analyses only the JIT needs ([`Analyses`]), computed when it first compiles the program
//! (never for a program that is only interpreted) and kept for its later compiles: its own
//! runs, which also end before every jump or call target and go on past forward branches
//! inside tight loops, and the tight loops themselves (see [`crate::code::runs`]).

use super::hints::HintTable;
use crate::code::runs::{run_lengths, tight_loops, Loops, RunSplit};
use crate::code::{Code, Op};
use std::sync::OnceLock;

/// The JIT's analyses of one program's neutral form: computed on the program's first
/// compile and kept beside its machine code for later ones (a program is compiled again
/// with another engine or seed, never with another form).
#[derive(Debug)]
pub(crate) struct Analyses {
    /// Per slot: the JIT's run length ([`CodeView::jit_run_length`]).
    run_lengths: Vec<u64>,
    /// Per slot: whether it is the head of a tight loop.
    loop_headers: Vec<bool>,
    /// Per slot: whether it lies inside a tight loop.
    in_loops: Vec<bool>,
    /// The slots of the backward jumps, in order.
    back_jumps: Vec<usize>,
    /// The hints scan's results ([`CodeView::hints`]), once a compile asked for them.
    hints: OnceLock<HintTable>,
}

impl Analyses {
    /// Analyses `code`.
    pub fn of(code: &Code) -> Analyses {
        let Loops {
            heads,
            inside,
            back_jumps,
        } = tight_loops(code.ops());
        let run_lengths = run_lengths(code.ops(), RunSplit::AtTargets { in_loops: &inside });
        Analyses {
            run_lengths,
            loop_headers: heads,
            in_loops: inside,
            back_jumps,
            hints: OnceLock::new(),
        }
    }
}

/// A program's neutral form and the JIT's analyses of it.
pub(crate) struct CodeView<'c> {
    code: &'c Code,
    analyses: &'c Analyses,
}

impl<'c> CodeView<'c> {
    /// `code` with `analyses`, which must be [`Analyses::of`] it.
    pub fn new(code: &'c Code, analyses: &'c Analyses) -> CodeView<'c> {
        debug_assert_eq!(
            analyses.run_lengths.len(),
            code.ops().len(),
            "the analyses of another program"
        );
        CodeView { code, analyses }
    }

    /// The ops, one per slot, followed by the overrun sentinel.
    #[inline(always)]
    pub fn ops(&self) -> &'c [Op] {
        self.code.ops()
    }

    /// The number of slots.
    #[inline(always)]
    pub fn slot_count(&self) -> usize {
        self.code.slot_count()
    }

    /// The slot execution starts at.
    #[inline(always)]
    pub fn entry_pc(&self) -> usize {
        self.code.entry_pc()
    }

    /// Whether a function is registered at slot `pc`.
    #[inline(always)]
    pub fn is_callable(&self, pc: usize) -> bool {
        self.code.is_callable(pc)
    }

    /// The guest address of slot 0.
    #[inline(always)]
    pub fn text_vaddr(&self) -> u64 {
        self.code.text_vaddr()
    }

    /// The memory layout the program runs in.
    #[inline(always)]
    pub fn layout(&self) -> crate::memory::Layout {
        self.code.layout()
    }

    /// Whether `callx` may only land on a registered function.
    #[inline(always)]
    pub fn callx_needs_function(&self) -> bool {
        self.code.callx_needs_function()
    }

    /// Like [`Code::run_length`], for the JIT's runs, which also end before every jump or
    /// call target (so jumps land at run starts and need no entry stub) and go on past
    /// forward conditional jumps inside tight loops (a taken one gives the rest back).
    #[inline(always)]
    pub fn jit_run_length(&self, pc: usize) -> u64 {
        self.analyses.run_lengths.get(pc).copied().unwrap_or(0)
    }

    /// Whether slot `pc` is the head of a tight loop: a backward jump at most
    /// [`crate::code::runs::TIGHT_LOOP`] slots after it goes back to it (the JIT aligns its
    /// code).
    #[inline(always)]
    pub fn is_loop_header(&self, pc: usize) -> bool {
        self.analyses.loop_headers.get(pc).copied().unwrap_or(false)
    }

    /// Whether slot `pc` lies inside a tight loop: between a backward jump's target and the
    /// jump.
    #[inline(always)]
    pub fn in_loop(&self, pc: usize) -> bool {
        self.analyses.in_loops.get(pc).copied().unwrap_or(false)
    }

    /// The hints scan's guesses (see `hints`), scanned on the first call.
    pub fn hints(&self) -> &'c HintTable {
        let code = self.code;
        let analyses = self.analyses;
        analyses.hints.get_or_init(|| {
            HintTable::of(
                code.ops(),
                &analyses.back_jumps,
                code.entry_pc(),
                code.callable_pcs(),
                |pc| analyses.loop_headers.get(pc).copied().unwrap_or(false),
            )
        })
    }
}
