//! The Solana syscalls on solana-sbpf 0.26 for the short-run bench, equivalent to bpfvm's:
//! [`SolanaSet::Runtime`] is the part of the runtime's set SPL Token's instructions call,
//! with the runtime's compute costs charged before the work (`bpfvm::syscalls::cost`), and
//! [`SolanaSet::Vectors`] is the harness the corpus's production vectors were recorded with
//! (`sol_log_` logs, `abort` and `sol_panic_` fail, every other name returns 0, nothing is
//! charged), bpfvm's `SolanaSyscallOptions::REFERENCE_VECTORS` with free costs.
//!
//! Log lines go to [`Context26::logs`] framed as the runtime frames them (`Program log: ...`),
//! as bpfvm's `SolanaContext` records them. Memory is touched only through 0.26's safe
//! `MemoryMapping` accessors (one `map` per range, then loads and stores), which costs 0.26 a
//! little time per byte: the syscalls SPL Token's instructions make move a few dozen bytes.

use super::Context26;
use bpfvm::syscalls::cost;
use bpfvm::syscalls::solana::{SOLANA_SYSCALLS, UNSUPPORTED_SYSCALLS};
use solana_sbpf::declare_builtin_function;
use solana_sbpf::error::{EbpfError, StableResult};
use solana_sbpf::memory_region::{AccessType, MemoryMapping};
use solana_sbpf::program::{BuiltinFunctionDefinition, BuiltinProgram};

/// Which syscalls a loader gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SolanaSet {
    /// The runtime's logging and memory syscalls with their costs.
    Runtime,
    /// The vectors' recording harness.
    Vectors,
}

/// A syscall's failure.
#[derive(Debug)]
struct Failed(&'static str);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Failed {}

type Outcome = Result<u64, Box<dyn std::error::Error>>;

fn checked<T>(result: StableResult<T, EbpfError>) -> Result<T, Box<dyn std::error::Error>> {
    Result::from(result).map_err(|error| Box::new(error) as Box<dyn std::error::Error>)
}

/// Charges `units` before the work, as the runtime does: more than remains drains the budget
/// and fails.
fn charge(context: &mut Context26, units: u64) -> Result<(), Box<dyn std::error::Error>> {
    if units > context.remaining {
        context.remaining = 0;
        return Err(Box::new(Failed("compute budget exceeded")));
    }
    context.remaining -= units;
    Ok(())
}

/// The `len` bytes at `vaddr`, after checking the range once.
fn read(
    mapping: &mut MemoryMapping,
    vaddr: u64,
    len: u64,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    checked(mapping.map(AccessType::Load, vaddr, len))?;
    (0..len)
        .map(|offset| {
            checked(mapping.load::<u8>(vaddr.wrapping_add(offset))).map(|byte| byte as u8)
        })
        .collect()
}

/// Writes `bytes` at `vaddr`, after checking the range once.
fn write(
    mapping: &mut MemoryMapping,
    vaddr: u64,
    bytes: &[u8],
) -> Result<(), Box<dyn std::error::Error>> {
    checked(mapping.map(AccessType::Store, vaddr, bytes.len() as u64))?;
    for (offset, byte) in bytes.iter().enumerate() {
        checked(mapping.store::<u8>(*byte, vaddr.wrapping_add(offset as u64)))?;
    }
    Ok(())
}

/// Logs the UTF-8 text (lossily) at `addr`.
fn log(context: &mut Context26, addr: u64, len: u64) -> Outcome {
    let bytes = read(&mut context.mapping, addr, len)?;
    let line = format!("Program log: {}", String::from_utf8_lossy(&bytes));
    context.logs.push(line);
    Ok(0)
}

declare_builtin_function!(
    /// `sol_log_(addr, len)` with its cost.
    SolLog,
    fn rust(
        context: &mut Context26,
        addr: u64,
        len: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        charge(context, cost::log(len))?;
        log(context, addr, len)
    }
);

declare_builtin_function!(
    /// `sol_log_(addr, len)` without a cost (the vectors' harness).
    SolLogFree,
    fn rust(
        context: &mut Context26,
        addr: u64,
        len: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        log(context, addr, len)
    }
);

declare_builtin_function!(
    /// `sol_log_64_(a, b, c, d, e)`: logs five values in hex.
    SolLog64,
    fn rust(
        context: &mut Context26,
        a: u64,
        b: u64,
        c: u64,
        d: u64,
        e: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        charge(context, cost::LOG_64)?;
        context
            .logs
            .push(format!("Program log: {a:#x}, {b:#x}, {c:#x}, {d:#x}, {e:#x}"));
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_memcpy_(dst, src, n)` and `sol_memmove_` (overlap is not refused here).
    SolMemcpy,
    fn rust(
        context: &mut Context26,
        dst: u64,
        src: u64,
        n: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        charge(context, cost::mem_op(n))?;
        let bytes = read(&mut context.mapping, src, n)?;
        write(&mut context.mapping, dst, &bytes)?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_memset_(s, c, n)`.
    SolMemset,
    fn rust(
        context: &mut Context26,
        s: u64,
        c: u64,
        n: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        charge(context, cost::mem_op(n))?;
        let bytes = vec![c as u8; usize::try_from(n)?];
        write(&mut context.mapping, s, &bytes)?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `sol_memcmp_(a, b, n, out)`: the first difference as an i32 at `out`.
    SolMemcmp,
    fn rust(
        context: &mut Context26,
        a: u64,
        b: u64,
        n: u64,
        out: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        charge(context, cost::mem_op(n))?;
        let left = read(&mut context.mapping, a, n)?;
        let right = read(&mut context.mapping, b, n)?;
        let difference = left
            .iter()
            .zip(&right)
            .find(|(x, y)| x != y)
            .map_or(0, |(x, y)| i32::from(*x) - i32::from(*y));
        write(&mut context.mapping, out, &difference.to_le_bytes())?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// `abort` and `sol_panic_`: fail.
    Abort,
    fn rust(
        _context: &mut Context26,
        _a1: u64,
        _a2: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Err(Box::new(Failed("aborted")))
    }
);

declare_builtin_function!(
    /// Any other name in the vectors' harness: returns 0.
    ReturnZero,
    fn rust(
        _context: &mut Context26,
        _a1: u64,
        _a2: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Ok(0)
    }
);

declare_builtin_function!(
    /// A syscall outside the runtime set this adapter models: fails (the bench would see it).
    Unsupported,
    fn rust(
        _context: &mut Context26,
        _a1: u64,
        _a2: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Err(Box::new(Failed("unsupported syscall")))
    }
);

fn add<S: BuiltinFunctionDefinition<Context26>>(
    loader: &mut BuiltinProgram<Context26>,
    name: &str,
) {
    if let Err(error) = S::register(loader, name) {
        panic!("registering {name}: {error}");
    }
}

/// Registers a set: every name of bpfvm's Solana set and of the unsupported imports it names.
pub fn register(loader: &mut BuiltinProgram<Context26>, set: SolanaSet) {
    for name in SOLANA_SYSCALLS.iter().chain(&UNSUPPORTED_SYSCALLS) {
        match (set, *name) {
            (_, "abort" | "sol_panic_") => add::<Abort>(loader, name),
            (SolanaSet::Vectors, "sol_log_") => add::<SolLogFree>(loader, name),
            (SolanaSet::Vectors, _) => add::<ReturnZero>(loader, name),
            (SolanaSet::Runtime, "sol_log_") => add::<SolLog>(loader, name),
            (SolanaSet::Runtime, "sol_log_64_") => add::<SolLog64>(loader, name),
            (SolanaSet::Runtime, "sol_memcpy_" | "sol_memmove_") => add::<SolMemcpy>(loader, name),
            (SolanaSet::Runtime, "sol_memset_") => add::<SolMemset>(loader, name),
            (SolanaSet::Runtime, "sol_memcmp_") => add::<SolMemcmp>(loader, name),
            (SolanaSet::Runtime, _) => add::<Unsupported>(loader, name),
        }
    }
}
