//! eBPF helpers: host functions a program calls by number, and the set bpf_conformance
//! plugins offer.
//!
//! In the eBPF dialect `call imm` with src 0 calls the helper registered under the key `imm`
//! (and `callx` on a register holding a registered key calls that helper). A host registers
//! its own helpers with [`SyscallRegistry::register_key`]`(number, name, function)`: the
//! number is what `call` names, and the name is what a clang object's calls to an undefined
//! function of that name resolve to when the object is linked. A call of a number nobody
//! registered fails with `UnsupportedInstruction` at the call when it runs.
//!
//! [`register_conformance_helpers`] registers the helpers that bpf_conformance plugins
//! offer (uBPF's test helpers), by number:
//!
//! | number | name | returns | effect |
//! |---|---|---|---|
//! | 0 | `gather_bytes` | `(r1 & 0xff) << 32 \| (r2 & 0xff) << 24 \| (r3 & 0xff) << 16 \| (r4 & 0xff) << 8 \| (r5 & 0xff)` | none |
//! | 1 | `memfrob` | 0 | XORs each byte of `[r1, r1 + r2)` with 42 |
//! | 2 | `no_op` | 0 | none |
//! | 3 | `sqrti` | `floor(sqrt(r1))` | none |
//! | 4 | `strcmp_ext` | 0 for equal NUL-terminated strings at r1 and r2, else their first differing bytes subtracted (signed, as 64 bits) | none |
//! | 5 | `unwind` | r1 | when r1 is 0 the program ends at once with r0 = 0 |
//!
//! Two deliberate differences from uBPF: `sqrti` is the exact integer square root (uBPF goes
//! through a `double`, which rounds above 2^52; nothing on the execution path uses floats),
//! and every byte the helpers touch goes through the memory mapping, so a bad pointer is an
//! `AccessViolation` at pc 0 rather than a host fault.

use super::guest;
use crate::error::RuntimeError;
use crate::load_error::LoadError;
use crate::memory::MemoryMapping;
use crate::program::{SyscallFn, SyscallRegistry};
use bpfvm_isa::MemSize;

/// The number of the `unwind` helper.
pub const UNWIND: u32 = 5;

/// The conformance helpers: number, name, function.
pub fn conformance_helpers<C>() -> [(u32, &'static str, SyscallFn<C>); 6] {
    [
        (0, "gather_bytes", gather_bytes::<C>),
        (1, "memfrob", memfrob::<C>),
        (2, "no_op", no_op::<C>),
        (3, "sqrti", sqrti::<C>),
        (4, "strcmp_ext", strcmp_ext::<C>),
        (UNWIND, "unwind", unwind::<C>),
    ]
}

/// Registers the conformance helpers by number and marks helper 5 as `unwind`. Fails with
/// `FunctionAlreadyRegistered` when a number is taken.
pub fn register_conformance_helpers<C>(registry: &mut SyscallRegistry<C>) -> Result<(), LoadError> {
    for (number, name, function) in conformance_helpers::<C>() {
        registry.register_key(number, name, function)?;
    }
    registry.set_unwind_key(UNWIND);
    Ok(())
}

/// Helper 0: packs the low bytes of the five arguments.
pub fn gather_bytes<C>(
    _: &mut C,
    _: &mut MemoryMapping<'_>,
    [a, b, c, d, e]: [u64; 5],
) -> Result<u64, RuntimeError> {
    Ok((a & 0xff) << 32 | (b & 0xff) << 24 | (c & 0xff) << 16 | (d & 0xff) << 8 | (e & 0xff))
}

/// Helper 1: XORs each byte of `[addr, addr + len)` with 42; nothing for `len` 0.
pub fn memfrob<C>(
    _: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [addr, len, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    guest::check_writable(mapping, addr, len)?;
    let mut bytes = guest::read(mapping, addr, len)?;
    bytes.iter_mut().for_each(|byte| *byte ^= 42);
    guest::write(mapping, addr, &bytes)?;
    Ok(0)
}

/// Helper 2: does nothing and returns 0.
pub fn no_op<C>(_: &mut C, _: &mut MemoryMapping<'_>, _: [u64; 5]) -> Result<u64, RuntimeError> {
    Ok(0)
}

/// Helper 3: the integer square root of r1, rounded down.
pub fn sqrti<C>(
    _: &mut C,
    _: &mut MemoryMapping<'_>,
    [value, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    Ok(value.isqrt())
}

/// Helper 4: compares the NUL-terminated strings at r1 and r2.
pub fn strcmp_ext<C>(
    _: &mut C,
    mapping: &mut MemoryMapping<'_>,
    [a, b, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    let mut offset = 0u64;
    loop {
        let x = mapping.load(MemSize::B, a.wrapping_add(offset), 0)?;
        let y = mapping.load(MemSize::B, b.wrapping_add(offset), 0)?;
        if x != y || x == 0 {
            return Ok((x as i64).wrapping_sub(y as i64) as u64);
        }
        offset = offset.wrapping_add(1);
    }
}

/// Helper 5: returns r1; the VM ends the program with r0 = 0 when that is 0 (see
/// [`SyscallRegistry::set_unwind_key`]).
pub fn unwind<C>(
    _: &mut C,
    _: &mut MemoryMapping<'_>,
    [value, ..]: [u64; 5],
) -> Result<u64, RuntimeError> {
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::error::AccessType;
    use crate::{Config, MemoryRegion, MM_INPUT_START};

    fn with_memory<T>(bytes: &mut [u8], body: impl FnOnce(&mut MemoryMapping<'_>) -> T) -> T {
        let regions = vec![MemoryRegion::writable(bytes, MM_INPUT_START)];
        // The unaligned mapping takes a lone region at any address.
        let config = Config {
            aligned_memory_mapping: false,
            ..Config::default()
        };
        let mut mapping = MemoryMapping::new(regions, &config).unwrap();
        body(&mut mapping)
    }

    fn call(function: SyscallFn<()>, bytes: &mut [u8], args: [u64; 5]) -> Result<u64, String> {
        with_memory(bytes, |mapping| {
            function(&mut (), mapping, args).map_err(|error| error.to_string())
        })
    }

    #[test]
    fn gather_bytes_takes_the_low_byte_of_each_argument() {
        let args = [0x1ff, 0x102, 0x203, 0x304, 0x4405];
        assert_eq!(call(gather_bytes, &mut [], args), Ok(0xff_0203_0405));
    }

    #[test]
    fn memfrob_xors_in_place_and_checks_the_range() {
        let mut bytes = *b"\x00\x2a\xff\x01";
        let args = [MM_INPUT_START + 1, 2, 0, 0, 0];
        assert_eq!(call(memfrob, &mut bytes, args), Ok(0));
        assert_eq!(bytes, *b"\x00\x00\xd5\x01");
        let outside = [MM_INPUT_START + 2, 3, 0, 0, 0];
        assert!(call(memfrob, &mut bytes, outside).is_err());
        assert_eq!(bytes, *b"\x00\x00\xd5\x01", "nothing written on a fault");
        assert_eq!(call(memfrob, &mut bytes, [0, 0, 0, 0, 0]), Ok(0));
    }

    #[test]
    fn sqrti_rounds_down_exactly() {
        for (value, root) in [(0, 0), (1, 1), (15, 3), (16, 4), (u64::MAX, 0xffff_ffff)] {
            assert_eq!(
                call(sqrti, &mut [], [value, 0, 0, 0, 0]),
                Ok(root),
                "{value}"
            );
        }
        // A double rounds (2^32 - 1)^2 + 2^32 - 2 up to 2^64 and its root to 2^32.
        let below = (1u64 << 32) - 1;
        let value = below * below + 2 * below;
        assert_eq!(call(sqrti, &mut [], [value, 0, 0, 0, 0]), Ok(below));
    }

    #[test]
    fn strcmp_ext_subtracts_the_first_differing_bytes() {
        let mut bytes = *b"abc\0abd\0ab\0";
        let at = |offset: u64| MM_INPUT_START + offset;
        let cases = [
            (at(0), at(0), 0),
            (at(0), at(4), (b'c' as i64 - b'd' as i64) as u64),
            (at(4), at(0), 1),
            (at(0), at(8), u64::from(b'c')),
        ];
        for (a, b, expected) in cases {
            assert_eq!(call(strcmp_ext, &mut bytes, [a, b, 0, 0, 0]), Ok(expected));
        }
        assert!(call(strcmp_ext, &mut bytes, [at(0), 0, 0, 0, 0]).is_err());
        let mut unterminated = *b"aaaa";
        let same = [at(0), at(0), 0, 0, 0];
        assert!(call(strcmp_ext, &mut unterminated, same).is_err());
    }

    #[test]
    fn registration_numbers_and_unwind() {
        let mut registry = SyscallRegistry::<()>::new();
        register_conformance_helpers(&mut registry).unwrap();
        let names: Vec<(u32, &str)> = registry
            .iter()
            .map(|(key, syscall)| (key, syscall.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "gather_bytes"),
                (1, "memfrob"),
                (2, "no_op"),
                (3, "sqrti"),
                (4, "strcmp_ext"),
                (5, "unwind")
            ]
        );
        assert_eq!(registry.unwind_key(), Some(UNWIND));
        assert_eq!(
            register_conformance_helpers(&mut registry),
            Err(LoadError::FunctionAlreadyRegistered { key: 0 })
        );
        let mut input = [0u8; 4];
        with_memory(&mut input, |mapping| {
            assert!(mapping.map(AccessType::Store, MM_INPUT_START, 4, 0).is_ok());
            assert_eq!(unwind(&mut (), mapping, [9, 0, 0, 0, 0]).unwrap(), 9);
            assert_eq!(no_op(&mut (), mapping, [9, 1, 2, 3, 4]).unwrap(), 0);
        });
    }
}
