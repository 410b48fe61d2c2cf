//! The JIT engine: the state compiles share, owned by a value the host holds instead of by
//! the process. It keeps the pool code memory comes from, the scratch buffers of finished
//! compiles (their pages stay mapped and warm for the next one), the tables of dropped
//! programs (a fresh table of a large program is hundreds of KiB whose pages fault in anew
//! each time: 5% of a compile of spl_token) and the compile counter that seeds the hardening
//! generator.
//!
//! Nothing here is process-wide: two engines share nothing, so the machine code a program
//! gets depends only on its engine's history (a fresh engine compiles the same program to
//! the same bytes), and dropping an engine frees everything it kept once its programs are
//! gone. An engine is cheap to clone (clones share), and compiles on several threads may
//! use one engine at once. A compiled [`JitProgram`](super::JitProgram) does not borrow its
//! engine: it runs, and is shared between threads, on its own.

use super::masm::{Scratch, Tables};
use bpfvm_x86::CodePool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// How many dropped programs' tables an engine keeps.
const RECYCLED_MAX: usize = 8;

/// The largest program (in slots) whose tables an engine keeps (about 1 MiB of them).
const RECYCLED_SLOTS: usize = 1 << 16;

/// How many sets of scratch buffers an engine keeps (one per compile running at once).
const SCRATCH_MAX: usize = 4;

/// Owns what JIT compiles share (see the module doc). `JitEngine::default()` is a fresh one.
#[derive(Clone, Debug, Default)]
pub struct JitEngine {
    shared: Arc<Shared>,
}

/// The state of an engine and its clones.
#[derive(Debug, Default)]
struct Shared {
    /// Mixed into every compile's hardening seed ([`JitEngine::with_seed`]).
    seed: u64,
    /// Where code memory comes from and returns to.
    pool: CodePool,
    /// Buffers of finished compiles.
    scratch: Mutex<Vec<Scratch>>,
    /// Tables of dropped programs.
    recycled: Mutex<Vec<Tables>>,
    /// How many compiles this engine started.
    compiles: AtomicU64,
}

impl JitEngine {
    /// A fresh engine: an empty code pool, no buffers, a compile counter at 0.
    pub fn new() -> JitEngine {
        JitEngine::default()
    }

    /// A fresh engine whose hardening generator (the random `nop`s and blinding keys of
    /// `noop_instruction_rate` and `sanitize_user_provided_values`) also depends on `seed`:
    /// a host that wants machine code an attacker cannot predict passes entropy here. The
    /// generator only ever changes machine code, never behaviour.
    pub fn with_seed(seed: u64) -> JitEngine {
        JitEngine {
            shared: Arc::new(Shared {
                seed,
                ..Shared::default()
            }),
        }
    }

    /// How many compiles this engine (and its clones) started.
    pub fn compiles(&self) -> u64 {
        self.shared.compiles.load(Ordering::Relaxed)
    }

    /// The seed of a new compile: the engine's seed and the compile's number (0 for the
    /// engine's first), which is counted.
    pub(crate) fn next_compile(&self) -> (u64, u64) {
        let number = self.shared.compiles.fetch_add(1, Ordering::Relaxed);
        (self.shared.seed, number)
    }

    /// The pool code memory comes from.
    pub(crate) fn pool(&self) -> &CodePool {
        &self.shared.pool
    }

    /// Buffers for a compile: a finished compile's, else empty ones.
    pub(crate) fn take_scratch(&self) -> Scratch {
        lock(&self.shared.scratch).pop().unwrap_or_default()
    }

    /// Gives a compile's buffers back for the next one.
    pub(crate) fn give_scratch(&self, scratch: Scratch) {
        let mut stock = lock(&self.shared.scratch);
        if stock.len() < SCRATCH_MAX {
            stock.push(scratch);
        }
    }

    /// Tables to fill: a dropped program's, else empty ones.
    pub(crate) fn take_tables(&self) -> Tables {
        lock(&self.shared.recycled).pop().unwrap_or_default()
    }

    /// A handle through which a compiled program gives its tables back when it is dropped
    /// (without keeping the engine alive).
    pub(crate) fn recycler(&self) -> Recycler {
        Recycler {
            shared: Arc::downgrade(&self.shared),
        }
    }
}

/// Where a dropped program's tables go: back to its engine, if the engine still exists.
#[derive(Debug, Default)]
pub(crate) struct Recycler {
    shared: Weak<Shared>,
}

impl Recycler {
    /// Keeps `tables` for the engine's next compile (unless the engine is gone, keeps enough
    /// already, or they belong to a very large program).
    pub(crate) fn recycle(&self, tables: Tables) {
        if tables.offsets.capacity() > RECYCLED_SLOTS + 1 {
            return;
        }
        if let Some(shared) = self.shared.upgrade() {
            let mut stock = lock(&shared.recycled);
            if stock.len() < RECYCLED_MAX {
                stock.push(tables);
            }
        }
    }
}

/// Locks `mutex`; a panic while it was held cannot leave the buffers inconsistent (each is
/// cleared before use), so a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(slots: usize) -> Tables {
        let mut tables = Tables::default();
        tables.offsets.reserve(slots);
        tables
    }

    #[test]
    fn a_dropped_programs_tables_serve_the_engines_next_compile() {
        let engine = JitEngine::new();
        let recycler = engine.recycler();
        recycler.recycle(tables(1000));
        assert!(engine.take_tables().offsets.capacity() >= 1000);
        assert_eq!(
            engine.take_tables().offsets.capacity(),
            0,
            "the stock is empty"
        );
        // The tables of a very large program are not kept.
        recycler.recycle(tables(RECYCLED_SLOTS + 2));
        assert_eq!(engine.take_tables().offsets.capacity(), 0);
        // Nor more than a few.
        for _ in 0..RECYCLED_MAX + 3 {
            recycler.recycle(tables(10));
        }
        assert_eq!(lock(&engine.shared.recycled).len(), RECYCLED_MAX);
    }

    #[test]
    fn a_program_outliving_its_engine_drops_its_tables() {
        let engine = JitEngine::new();
        let recycler = engine.recycler();
        drop(engine);
        recycler.recycle(tables(10));
        assert!(recycler.shared.upgrade().is_none());
    }

    #[test]
    fn scratch_buffers_come_back_bounded() {
        let engine = JitEngine::new();
        let mut first = engine.take_scratch();
        first.code.reserve(4096);
        engine.give_scratch(first);
        assert!(engine.take_scratch().code.capacity() >= 4096);
        for _ in 0..SCRATCH_MAX + 2 {
            engine.give_scratch(Scratch::default());
        }
        assert_eq!(lock(&engine.shared.scratch).len(), SCRATCH_MAX);
    }
}
