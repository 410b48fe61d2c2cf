//! The JIT engine: the state compiles share, owned by a value the host holds instead of by
//! the process. It keeps what its backend keeps between compiles (the pool code memory comes
//! from, the scratch buffers of finished compiles, whose pages stay mapped and warm), the
//! tables of dropped programs (a fresh table of a large program is hundreds of KiB whose
//! pages fault in anew each time: 5% of a compile of spl_token) and the compile counter that
//! seeds the hardening generator.
//!
//! Nothing here is process-wide: two engines share nothing, so the machine code a program
//! gets depends only on its engine's history (a fresh engine compiles the same program to
//! the same bytes), and dropping an engine frees everything it kept once its programs are
//! gone. An engine is cheap to clone (clones share), and compiles on several threads may
//! use one engine at once. A compiled program does not borrow its engine: it runs, and is
//! shared between threads, on its own.

use super::masm::Backend;
use super::tables::Tables;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// How many dropped programs' tables an engine keeps.
const RECYCLED_MAX: usize = 8;

/// The largest program (in slots) whose tables an engine keeps (about 1 MiB of them).
const RECYCLED_SLOTS: usize = 1 << 16;

/// The state compiles for backend `B` share (see the module doc).
pub(crate) struct Engine<B: Backend> {
    shared: Arc<Shared<B>>,
}

/// The state of an engine and its clones.
struct Shared<B: Backend> {
    /// Mixed into every compile's hardening seed.
    seed: u64,
    /// What the backend keeps between compiles.
    state: B::State,
    /// Tables of dropped programs.
    tables: TableStock,
    /// How many compiles this engine started.
    compiles: AtomicU64,
}

impl<B: Backend> Clone for Engine<B> {
    fn clone(&self) -> Self {
        Engine {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<B: Backend> Default for Engine<B> {
    fn default() -> Self {
        Engine::with_seed(0)
    }
}

impl<B: Backend> fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("seed", &self.shared.seed)
            .field("compiles", &self.compiles())
            .field("state", &self.shared.state)
            .finish()
    }
}

impl<B: Backend> Engine<B> {
    /// A fresh engine whose hardening generator also depends on `seed`.
    pub fn with_seed(seed: u64) -> Engine<B> {
        Engine {
            shared: Arc::new(Shared {
                seed,
                state: B::State::default(),
                tables: TableStock::default(),
                compiles: AtomicU64::new(0),
            }),
        }
    }

    /// How many compiles this engine (and its clones) started.
    pub fn compiles(&self) -> u64 {
        self.shared.compiles.load(Ordering::Relaxed)
    }

    /// The seed of a new compile: the engine's seed and the compile's number (0 for the
    /// engine's first), which is counted.
    pub fn next_compile(&self) -> (u64, u64) {
        let number = self.shared.compiles.fetch_add(1, Ordering::Relaxed);
        (self.shared.seed, number)
    }

    /// What the backend keeps between compiles.
    pub fn state(&self) -> &B::State {
        &self.shared.state
    }

    /// Tables to fill: a dropped program's, else empty ones.
    pub fn take_tables(&self) -> Tables {
        self.shared.tables.take()
    }

    /// A handle through which a compiled program gives its tables back when it is dropped
    /// (without keeping the engine alive).
    pub fn recycler(&self) -> Recycler {
        self.shared.tables.recycler()
    }
}

/// The tables of dropped programs an engine keeps for its next compiles (whatever its
/// backend).
#[derive(Debug, Default)]
struct TableStock {
    recycled: Arc<Mutex<Vec<Tables>>>,
}

impl TableStock {
    /// A dropped program's tables, else empty ones.
    fn take(&self) -> Tables {
        lock(&self.recycled).pop().unwrap_or_default()
    }

    /// A handle that gives tables back to this stock while it exists.
    fn recycler(&self) -> Recycler {
        Recycler {
            stock: Arc::downgrade(&self.recycled),
        }
    }
}

/// Where a dropped program's tables go: back to its engine, if the engine still exists.
#[derive(Debug, Default)]
pub(crate) struct Recycler {
    stock: Weak<Mutex<Vec<Tables>>>,
}

impl Recycler {
    /// Keeps `tables` for the engine's next compile (unless the engine is gone, keeps enough
    /// already, or they belong to a very large program).
    pub fn recycle(&self, tables: Tables) {
        if tables.offsets.capacity() > RECYCLED_SLOTS + 1 {
            return;
        }
        if let Some(stock) = self.stock.upgrade() {
            let mut stock = lock(&stock);
            if stock.len() < RECYCLED_MAX {
                stock.push(tables);
            }
        }
    }
}

/// Locks `mutex`; a panic while it was held cannot leave the buffers inconsistent (each is
/// cleared before use), so a poisoned lock is used as it is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
        let stock = TableStock::default();
        let recycler = stock.recycler();
        recycler.recycle(tables(1000));
        assert!(stock.take().offsets.capacity() >= 1000);
        assert_eq!(stock.take().offsets.capacity(), 0, "the stock is empty");
        // The tables of a very large program are not kept.
        recycler.recycle(tables(RECYCLED_SLOTS + 2));
        assert_eq!(stock.take().offsets.capacity(), 0);
        // Nor more than a few.
        for _ in 0..RECYCLED_MAX + 3 {
            recycler.recycle(tables(10));
        }
        assert_eq!(lock(&stock.recycled).len(), RECYCLED_MAX);
    }

    #[test]
    fn a_program_outliving_its_engine_drops_its_tables() {
        let stock = TableStock::default();
        let recycler = stock.recycler();
        drop(stock);
        recycler.recycle(tables(10));
        assert!(recycler.stock.upgrade().is_none());
    }
}
