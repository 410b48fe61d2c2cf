//! The syscalls of testkit's [`SyscallSet`]s for solana-sbpf 0.26, and the context object
//! they run in.
//!
//! They mirror `bpfvm_testkit::syscalls` (the same names, so the same Murmur3 keys, and the
//! same effects): `bpf_gather_bytes` is arithmetic, `bpf_mem_frob` checks its whole range as
//! one store and then XORs each byte with 0x2a, `bpfvm_burn` charges budget of its own,
//! `bpfvm_abort` fails. The logging set is the one the sbpf_elfs checklist was produced with
//! (`log` and `sol_log_` check that their string is readable and return 0, `log_64` and
//! `sol_log_64_` return 0, `abort` and `sol_panic_` fail). Memory is touched only through
//! 0.26's safe `MemoryMapping` accessors.

use bpfvm_testkit::syscalls::{
    SyscallSet, ABORT, ABORT_MESSAGE, BURN, GATHER_BYTES, LOGGING_NAMES, MEM_FROB,
};
use solana_sbpf::declare_builtin_function;
use solana_sbpf::error::{EbpfError, StableResult};
use solana_sbpf::memory_region::{AccessType, MemoryMapping};
use solana_sbpf::program::{BuiltinFunctionDefinition, BuiltinProgram};

/// The context object of a run: the remaining budget, the memory mapping and the log lines
/// of the Solana syscalls (`reference26::solana`).
pub struct Context26 {
    /// Instructions that may still run.
    pub remaining: u64,
    /// The run's memory.
    pub mapping: MemoryMapping,
    /// What the Solana syscalls logged, framed as the runtime frames it.
    pub logs: Vec<String>,
}

impl Context26 {
    /// A context with `budget` instructions over `mapping`.
    pub fn new(budget: u64, mapping: MemoryMapping) -> Context26 {
        Context26 {
            remaining: budget,
            mapping,
            logs: Vec::new(),
        }
    }
}

/// The failure of the aborting syscalls.
#[derive(Debug)]
struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ABORT_MESSAGE)
    }
}

impl std::error::Error for Aborted {}

fn checked<T>(result: StableResult<T, EbpfError>) -> Result<T, Box<dyn std::error::Error>> {
    Result::from(result).map_err(|error| Box::new(error) as Box<dyn std::error::Error>)
}

declare_builtin_function!(
    /// `a1 << 32 | a2 << 24 | a3 << 16 | a4 << 8 | a5`, with wrapping shifts.
    GatherBytes,
    fn rust(
        _context: &mut Context26,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Ok(a1.wrapping_shl(32)
            | a2.wrapping_shl(24)
            | a3.wrapping_shl(16)
            | a4.wrapping_shl(8)
            | a5)
    }
);

declare_builtin_function!(
    /// XORs the `len` bytes at `vaddr` with 0x2a after checking the range as one store.
    MemFrob,
    fn rust(
        context: &mut Context26,
        vaddr: u64,
        len: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        checked(context.mapping.map(AccessType::Store, vaddr, len))?;
        for offset in 0..len {
            let address = vaddr.wrapping_add(offset);
            let byte = checked(context.mapping.load::<u8>(address))?;
            checked(context.mapping.store::<u8>(byte as u8 ^ 0x2a, address))?;
        }
        Ok(0)
    }
);

declare_builtin_function!(
    /// Charges `a1 & 0x3f` instructions (at most what remains); returns what remains after.
    Burn,
    fn rust(
        context: &mut Context26,
        amount: u64,
        _a2: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        let amount = (amount & 0x3f).min(context.remaining);
        context.remaining -= amount;
        Ok(context.remaining)
    }
);

declare_builtin_function!(
    /// Always fails.
    Abort,
    fn rust(
        _context: &mut Context26,
        _a1: u64,
        _a2: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        Err(Box::new(Aborted))
    }
);

declare_builtin_function!(
    /// Checks that the `len` bytes at `vaddr` are readable; returns 0.
    Log,
    fn rust(
        context: &mut Context26,
        vaddr: u64,
        len: u64,
        _a3: u64,
        _a4: u64,
        _a5: u64,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        checked(context.mapping.map(AccessType::Load, vaddr, len))?;
        Ok(0)
    }
);

declare_builtin_function!(
    /// Returns 0.
    Log64,
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

/// How each name of [`LOGGING_NAMES`] registers, in that order.
const LOGGING: [fn(&mut BuiltinProgram<Context26>, &str); 6] = [
    add::<Log>,
    add::<Log>,
    add::<Log64>,
    add::<Log64>,
    add::<Abort>,
    add::<Abort>,
];

fn add<S: BuiltinFunctionDefinition<Context26>>(
    loader: &mut BuiltinProgram<Context26>,
    name: &str,
) {
    // Each set's names hash to distinct keys (testkit's syscalls tests check the names).
    if let Err(error) = S::register(loader, name) {
        panic!("registering {name}: {error}");
    }
}

/// Registers a set's syscalls by name.
pub fn register(loader: &mut BuiltinProgram<Context26>, set: SyscallSet) {
    match set {
        SyscallSet::None => {}
        SyscallSet::Conformance => panic!("solana-sbpf 0.26 has no eBPF helpers by number"),
        SyscallSet::Standard => {
            add::<GatherBytes>(loader, GATHER_BYTES);
            add::<MemFrob>(loader, MEM_FROB);
            add::<Burn>(loader, BURN);
            add::<Abort>(loader, ABORT);
        }
        SyscallSet::Logging => {
            for (name, register) in LOGGING_NAMES.into_iter().zip(LOGGING) {
                register(loader, name);
            }
        }
    }
}
