//! The syscalls test programs call, and the sets they come in.
//!
//! The differential tests register the same syscalls on bpfvm and on the reference (the
//! reference side lives in the differential test and mirrors these definitions), so generated
//! programs can exercise the syscall path of the meter and memory translation from a syscall:
//! `bpf_gather_bytes` is pure arithmetic, `bpf_mem_frob` writes guest memory (and faults with
//! pc 0 when the range is bad), `bpfvm_burn` charges budget of its own, `bpfvm_abort` fails.
//! The conformance set is the library's eBPF helper set of bpf_conformance plugins
//! (`bpfvm::syscalls::helpers`: helpers 0 to 5, 5 being `unwind`).

use bpfvm::memory::MemoryRules;
use bpfvm::{
    AccessType, ContextObject, MemoryMapping, RuntimeError, SyscallFn, SyscallRegistry, TestContext,
};
use bpfvm_isa::{hash_symbol_name, MemSize};

/// Which syscalls a case registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyscallSet {
    /// None at all (the reference's conformance runs).
    None,
    /// The eBPF helpers of bpf_conformance plugins by number (helper 5 is `unwind`).
    Conformance,
    /// The four test syscalls registered by name (sBPF keys: Murmur3 of the name).
    Standard,
    /// The logging syscalls the sbpf_elfs checklist was produced with ([`LOGGING_NAMES`]):
    /// `log` and `sol_log_` check that their string is readable and return 0, `log_64` and
    /// `sol_log_64_` return 0, `abort` and `sol_panic_` fail.
    Logging,
}

/// The name of the gather syscall.
pub const GATHER_BYTES: &str = "bpf_gather_bytes";
/// The name of the frob syscall.
pub const MEM_FROB: &str = "bpf_mem_frob";
/// The name of the budget-burning syscall.
pub const BURN: &str = "bpfvm_burn";
/// The name of the failing syscall.
pub const ABORT: &str = "bpfvm_abort";
/// The message `bpfvm_abort` fails with.
pub const ABORT_MESSAGE: &str = "aborted by the program";
/// The helper number of `unwind` in the conformance set.
pub const UNWIND_HELPER: u32 = bpfvm::syscalls::helpers::UNWIND;

/// The names of [`SyscallSet::Standard`], in a fixed order.
pub const STANDARD_NAMES: [&str; 4] = [GATHER_BYTES, MEM_FROB, BURN, ABORT];

/// The names of [`SyscallSet::Logging`], in a fixed order.
pub const LOGGING_NAMES: [&str; 6] = [
    "log",
    "sol_log_",
    "log_64",
    "sol_log_64_",
    "abort",
    "sol_panic_",
];

/// The keys of [`SyscallSet::Standard`] (Murmur3-32 of each name).
pub fn standard_keys() -> [u32; 4] {
    STANDARD_NAMES.map(|name| hash_symbol_name(name.as_bytes()))
}

/// `a1 << 32 | a2 << 24 | a3 << 16 | a4 << 8 | a5`, with wrapping shifts.
pub fn gather_bytes(
    _context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    let [a1, a2, a3, a4, a5] = args;
    Ok(a1.wrapping_shl(32) | a2.wrapping_shl(24) | a3.wrapping_shl(16) | a4.wrapping_shl(8) | a5)
}

/// XORs the `a2` bytes at `a1` with 0x2a; the range is translated as one store first. Like
/// each oracle's version: 0.2.38's `bpf_mem_frob` then XORs the translated host bytes (a range
/// that starts in a stack frame runs on into the next frame's bytes), the 0.26 adapter's
/// loads and stores each byte through the mapping (so it stops at a gap), which is what the
/// SBPF version profiles get.
pub fn mem_frob(
    _context: &mut TestContext,
    memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    let [vaddr, len, ..] = args;
    memory.map(AccessType::Store, vaddr, len, 0)?;
    if memory.layout().rules == MemoryRules::Sbpf26 {
        for offset in 0..len {
            let address = vaddr.wrapping_add(offset);
            let byte = memory.load(MemSize::B, address, 0)?;
            memory.store(MemSize::B, address, byte ^ 0x2a, 0)?;
        }
        return Ok(0);
    }
    let mut bytes = memory.read_bytes(vaddr, len)?;
    for byte in &mut bytes {
        *byte ^= 0x2a;
    }
    memory.write_bytes(vaddr, &bytes)?;
    Ok(0)
}

/// Charges `a1 & 0x3f` instructions (at most what remains) and returns what remains after.
pub fn burn(
    context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    let amount = (args[0] & 0x3f).min(context.remaining());
    context.consume(amount);
    Ok(context.remaining())
}

/// Always fails with a `UserError`.
pub fn abort(
    _context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    _args: [u64; 5],
) -> Result<u64, RuntimeError> {
    Err(RuntimeError::UserError {
        message: ABORT_MESSAGE.to_owned(),
    })
}

/// Checks that the `a2` bytes at `a1` are readable; returns 0 (`log`, `sol_log_`).
pub fn log(
    _context: &mut TestContext,
    memory: &mut MemoryMapping<'_>,
    args: [u64; 5],
) -> Result<u64, RuntimeError> {
    let [vaddr, len, ..] = args;
    memory.map(AccessType::Load, vaddr, len, 0)?;
    Ok(0)
}

/// Returns 0 (`log_64`, `sol_log_64_`).
pub fn log_64(
    _context: &mut TestContext,
    _memory: &mut MemoryMapping<'_>,
    _args: [u64; 5],
) -> Result<u64, RuntimeError> {
    Ok(0)
}

/// Builds the registry of a set.
pub fn registry(set: SyscallSet) -> SyscallRegistry<TestContext> {
    let mut registry = SyscallRegistry::new();
    match set {
        SyscallSet::None => {}
        SyscallSet::Conformance => {
            // A fresh registry cannot hold the numbers already.
            let _ = bpfvm::syscalls::register_conformance_helpers(&mut registry);
        }
        SyscallSet::Standard => {
            let functions: [SyscallFn<TestContext>; 4] = [gather_bytes, mem_frob, burn, abort];
            for (name, function) in STANDARD_NAMES.iter().zip(functions) {
                // The four names hash to distinct keys (checked by a test).
                let _ = registry.register(name, function);
            }
        }
        SyscallSet::Logging => {
            let functions: [SyscallFn<TestContext>; 6] = [log, log, log_64, log_64, abort, abort];
            for (name, function) in LOGGING_NAMES.iter().zip(functions) {
                // The six names hash to distinct keys (checked by a test).
                let _ = registry.register(name, function);
            }
        }
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_keys_are_distinct() {
        let mut keys = standard_keys().to_vec();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 4);
        assert_eq!(registry(SyscallSet::Standard).len(), 4);
        assert_eq!(registry(SyscallSet::Conformance).len(), 6);
        assert_eq!(registry(SyscallSet::Logging).len(), LOGGING_NAMES.len());
    }
}
