//! The reference's demonstration syscalls (reference §2.3), which its test ELFs and example
//! programs call, over any context that can take log lines.
//!
//! | name | returns | effect |
//! |---|---|---|
//! | `log` (bpf_syscall_string) | 0 | logs the bytes `[r1, r1+r2)` as UTF-8 (a placeholder if invalid) |
//! | `log_64` (bpf_syscall_u64) | 0 | logs r1..r5 in hex |
//! | `gather_bytes` | `r1<<32 \| r2<<24 \| r3<<16 \| r4<<8 \| r5` (wrapping shifts) | none |
//! | `mem_frob` | 0 | XORs every byte of `[r1, r1+r2)` with 0x2a |
//! | `str_cmp` | `u64::MAX` if a pointer is 0, else the absolute difference of the first differing bytes (0 at a common NUL) | none |
//! | `trace_printf` | 29 + the hex digit counts of r3, r4, r5 (the printed length) | logs them |
//!
//! The last four are also registered under the reference's `bpf_` names.
//!
//! Costs: the reference charges nothing for these. Over a context whose policy is
//! [`ComputeCosts::Solana`] (the default of [`SolanaContext`](super::SolanaContext)) they
//! charge by the runtime's rules for comparable work, so their time is bounded by the budget
//! ([`super::cost`] states the rules); [`TestContext`](crate::TestContext) keeps them free, as
//! the reference's test ELFs were recorded. `str_cmp` cannot know its length in advance: it
//! reads at most as many bytes as the remaining budget pays for and then fails with the
//! budget error, so a long string never costs time the budget did not buy.
//!
//! Two deliberate differences: the reference's `str_cmp` checks only the first byte of each string and then
//! reads host memory unchecked; here every byte goes through the mapping, so a string that
//! runs off its region is an access violation. And `trace_printf`'s digit count is computed
//! with integers that reproduce the reference's floating-point `log16` exactly, including its
//! rounding just below large powers of 16 ([`hex_digits_like_reference`]).

use super::cost;
use super::host::{charge_with, ComputeCosts};
use super::{guest, DemoHost};
use crate::error::{AccessType, RuntimeError};
use crate::load_error::LoadError;
use crate::memory::MemoryMapping;
use crate::program::{SyscallFn, SyscallRegistry};
use bpfvm_isa::MemSize;

/// Registers the demo syscalls under their names (and the `bpf_` aliases).
pub fn register_demo_syscalls<C: DemoHost>(
    registry: &mut SyscallRegistry<C>,
) -> Result<(), LoadError> {
    let table: [(&str, SyscallFn<C>); 10] = [
        ("log", log::<C>),
        ("log_64", log_64::<C>),
        ("gather_bytes", gather_bytes::<C>),
        ("bpf_gather_bytes", gather_bytes::<C>),
        ("mem_frob", mem_frob::<C>),
        ("bpf_mem_frob", mem_frob::<C>),
        ("str_cmp", str_cmp::<C>),
        ("bpf_str_cmp", str_cmp::<C>),
        ("trace_printf", trace_printf::<C>),
        ("bpf_trace_printf", trace_printf::<C>),
    ];
    for (name, function) in table {
        registry.register(name, function)?;
    }
    Ok(())
}

/// Charges `units` under the context's demo policy.
fn charge<C: DemoHost>(context: &mut C, units: u64) -> Result<(), RuntimeError> {
    let costs = context.demo_costs();
    let before = context.remaining();
    let result = charge_with(context, costs, units);
    // What the charge took (all that remained when it failed) counts as syscall units.
    context.note_charge(before.saturating_sub(context.remaining()));
    result.map_err(|error| {
        context.note_failure(&error);
        error.into_runtime()
    })
}

/// `log(addr, len)`: logs the bytes as UTF-8.
pub fn log<C: DemoHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, len, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::log(len))?;
    let bytes = if len == 0 {
        // The reference translates zero-length ranges too.
        mapping.map(AccessType::Load, addr, 0, 0)?;
        Vec::new()
    } else {
        mapping.read_bytes(addr, len)?
    };
    let line = String::from_utf8(bytes).unwrap_or_else(|_| "<invalid UTF-8>".to_owned());
    context.log_line(line);
    Ok(0)
}

/// `log_64(a, b, c, d, e)`: logs the five values.
pub fn log_64<C: DemoHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    [a, b, c, d, e]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::LOG_64)?;
    context.log_line(format!("{a:#x}, {b:#x}, {c:#x}, {d:#x}, {e:#x}"));
    Ok(0)
}

/// `gather_bytes(a, b, c, d, e)`: packs the arguments.
pub fn gather_bytes<C: DemoHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    [a, b, c, d, e]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::SYSCALL_BASE)?;
    Ok(a.wrapping_shl(32) | b.wrapping_shl(24) | c.wrapping_shl(16) | d.wrapping_shl(8) | e)
}

/// `mem_frob(addr, len)`: XORs each byte with 0x2a.
pub fn mem_frob<C: DemoHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, len, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::mem_op(len))?;
    mapping.map(AccessType::Store, addr, len, 0)?;
    let mut bytes = guest::read(mapping, addr, len)?;
    bytes.iter_mut().for_each(|byte| *byte ^= 0x2a);
    guest::write(mapping, addr, &bytes)?;
    Ok(0)
}

/// `str_cmp(a, b)`: compares NUL-terminated strings.
pub fn str_cmp<C: DemoHost>(
    context: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [a, b, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    if a == 0 || b == 0 {
        return Ok(u64::MAX);
    }
    let limit = affordable_positions(context.demo_costs(), context.remaining());
    let mut offset = 0u64;
    loop {
        if offset == limit {
            // One more position costs more than remains: this charge fails.
            charge(
                context,
                cost::mem_op(offset.saturating_add(1).saturating_mul(2)),
            )?;
        }
        let span = STR_CMP_CHUNK.min(limit - offset);
        let (a_at, b_at) = (a.wrapping_add(offset), b.wrapping_add(offset));
        if let Some((index, x, y)) = compare_chunk(mapping, a_at, b_at, span)? {
            let positions = offset.saturating_add(index).saturating_add(1);
            charge(context, cost::mem_op(positions.saturating_mul(2)))?;
            return Ok(u64::from(x.abs_diff(y)));
        }
        offset = offset.wrapping_add(span);
    }
}

/// The positions `str_cmp` compares per step.
const STR_CMP_CHUNK: u64 = 4096;

/// The first position below `span` where the strings at `a` and `b` differ or end, with the
/// two bytes there. Reads both spans whole when they are mapped; otherwise byte by byte, so
/// a string that ends before an unmapped byte still compares, and the first unmapped byte
/// (of `a` before `b`, as the reference reads them) is the access violation.
fn compare_chunk(
    mapping: &MemoryMapping<'_>,
    a: u64,
    b: u64,
    span: u64,
) -> Result<Option<(u64, u8, u8)>, RuntimeError> {
    if let (Ok(x), Ok(y)) = (mapping.read_bytes(a, span), mapping.read_bytes(b, span)) {
        // Equal spans without a NUL (a vectorised compare and search) hold no answer.
        if x == y && !x.contains(&0) {
            return Ok(None);
        }
        let found = x
            .iter()
            .zip(&y)
            .position(|(x, y)| x != y || *x == 0)
            .map(|i| (i as u64, x[i], y[i]));
        return Ok(found);
    }
    for index in 0..span {
        let x = mapping.load(MemSize::B, a.wrapping_add(index), 0)? as u8;
        let y = mapping.load(MemSize::B, b.wrapping_add(index), 0)? as u8;
        if x != y || x == 0 {
            return Ok(Some((index, x, y)));
        }
    }
    Ok(None)
}

/// The most positions `str_cmp` may compare with `remaining` units: the largest n with
/// max(10, 2n / 250) <= remaining (none below 10 units; unlimited when free).
fn affordable_positions(costs: ComputeCosts, remaining: u64) -> u64 {
    match costs {
        ComputeCosts::Free => u64::MAX,
        ComputeCosts::Solana if remaining < cost::MEM_OP_BASE => 0,
        ComputeCosts::Solana => {
            remaining
                .saturating_mul(cost::CPI_BYTES_PER_UNIT)
                .saturating_add(cost::CPI_BYTES_PER_UNIT - 1)
                / 2
        }
    }
}

/// `trace_printf(_, _, a, b, c)`: logs three values; returns the length the reference prints.
pub fn trace_printf<C: DemoHost>(
    context: &mut C,
    _: &mut MemoryMapping<'_>,
    [_, _, a, b, c]: [u64; 5],
) -> Result<u64, RuntimeError> {
    charge(context, cost::LOG_64)?;
    context.log_line(format!("bpf_trace_printf: {a:#x}, {b:#x}, {c:#x}"));
    let fixed = "bpf_trace_printf: 0x, 0x, 0x\n".len() as u64;
    Ok(fixed
        + hex_digits_like_reference(a)
        + hex_digits_like_reference(b)
        + hex_digits_like_reference(c))
}

/// The smallest value the reference counts with k+1 hex digits, for k = 1..=16. Exact powers
/// of 16 up to 16^11; above that, `(x as f64).log(16.0)` reaches k slightly below 16^k.
const DIGIT_THRESHOLDS: [u64; 16] = [
    0x10,
    0x100,
    0x1000,
    0x1_0000,
    0x10_0000,
    0x100_0000,
    0x1000_0000,
    0x1_0000_0000,
    0x10_0000_0000,
    0x100_0000_0000,
    0x1000_0000_0000,
    0xffff_ffff_ffff,
    0xf_ffff_ffff_ffe5,
    0xff_ffff_ffff_fe65,
    0xfff_ffff_ffff_e7c0,
    0xffff_ffff_fffe_9401,
];

/// `floor(log16(x)) + 1` as the reference computes it in floating point (1 for 0).
pub fn hex_digits_like_reference(x: u64) -> u64 {
    1 + DIGIT_THRESHOLDS
        .iter()
        .filter(|&&threshold| x >= threshold)
        .count() as u64
}
