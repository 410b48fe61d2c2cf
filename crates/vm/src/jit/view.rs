//! The program as the JIT compiles it: the backend-neutral form ([`Code`]) plus the
//! analyses only the JIT needs, computed when it compiles (never for a program that is only
//! interpreted): its own runs, which also end before every jump or call target and go on
//! past forward branches inside tight loops, and the tight loops themselves (see
//! [`crate::code::runs`]).

use crate::code::runs::{run_lengths, tight_loops, RunSplit};
use crate::code::{Code, Op};

/// A program's neutral form and the JIT's analyses of it.
pub(crate) struct CodeView<'c> {
    code: &'c Code,
    /// Per slot: the JIT's run length ([`CodeView::jit_run_length`]).
    run_lengths: Vec<u64>,
    /// Per slot: whether it is the head of a tight loop.
    loop_headers: Vec<bool>,
    /// Per slot: whether it lies inside a tight loop.
    in_loops: Vec<bool>,
}

impl<'c> CodeView<'c> {
    /// Analyses `code` for a compile.
    pub fn new(code: &'c Code) -> CodeView<'c> {
        let (loop_headers, in_loops) = tight_loops(code.ops());
        let run_lengths = run_lengths(
            code.ops(),
            RunSplit::AtTargets {
                in_loops: &in_loops,
            },
        );
        CodeView {
            code,
            run_lengths,
            loop_headers,
            in_loops,
        }
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

    /// Like [`Code::run_length`], for the JIT's runs, which also end before every jump or
    /// call target (so jumps land at run starts and need no entry stub) and go on past
    /// forward conditional jumps inside tight loops (a taken one gives the rest back).
    #[inline(always)]
    pub fn jit_run_length(&self, pc: usize) -> u64 {
        self.run_lengths.get(pc).copied().unwrap_or(0)
    }

    /// Whether slot `pc` is the head of a tight loop: a backward jump at most
    /// [`crate::code::runs::TIGHT_LOOP`] slots after it goes back to it (the JIT aligns its
    /// code).
    #[inline(always)]
    pub fn is_loop_header(&self, pc: usize) -> bool {
        self.loop_headers.get(pc).copied().unwrap_or(false)
    }

    /// Whether slot `pc` lies inside a tight loop: between a backward jump's target and the
    /// jump.
    #[inline(always)]
    pub fn in_loop(&self, pc: usize) -> bool {
        self.in_loops.get(pc).copied().unwrap_or(false)
    }
}
