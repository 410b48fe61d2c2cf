//! A small static linker for sBPF: one relocatable BPF object, as stock clang writes it
//! (`clang -O2 -target bpf -mcpu=v2 -c`), into an SBPF program that solana-sbpf 0.26 loads.
//! The text is read as sBPF of 2022 (`bpfvm_isa`'s `Dialect::Sbpf`, what `-mcpu=v1` and `v2`
//! emit); `-mcpu=v3`'s JMP32 instructions and atomics are refused as unsupported.
//!
//! Debian's clang 14 emits only upstream-BPF objects, and its lld can neither resolve BPF
//! relocations into a shared object nor write the SIMD-0189 layout of SBPF V3. This crate does
//! both, for one object at a time:
//!
//! - [`Target::V0`]: an `ET_DYN` shared object like the Solana toolchain's (`e_machine` 247,
//!   `e_flags` 0): `.text` at the file offset it is linked at, the read-only data after it,
//!   and a `.dynamic` table whose relocations the lenient loader applies: `R_BPF_64_RELATIVE`
//!   for addresses (in `lddw` and in data) and `R_BPF_64_32` against an imported symbol for
//!   each syscall. Internal calls are pc-relative (the loader turns them into hashed keys).
//! - [`Target::V3`]: the strict format of spec `sbpf-0.26.md` §1.7 and §D: `e_machine` 247,
//!   `e_flags` 3, a read-only data segment (`PF_R`, vaddr 0, only when there is data) and
//!   the bytecode segment (`PF_X`, vaddr `1 << 32`), offsets and sizes multiples of 8, the
//!   entry point inside the bytecode, and no relocations left for the loader: internal calls
//!   become `call` with src 1 and a pc-relative immediate, imports become `call` with src 0
//!   and the Murmur3-32 of the name, `lddw` of data addresses get their 0-based address,
//!   addresses of code (in `lddw` or in data) their `1 << 32`-based one, and `callx` carries
//!   its register in the dst field.
//!
//! The work is done in three passes, one module each:
//!
//! 1. [`input`] reads the object: the executable sections become the text, every other
//!    allocated section the read-only data (writable data is refused: a program's globals are
//!    read-only in sBPF), and the relocations of both are collected against their symbols.
//! 2. [`resolve`] applies them for the target: it walks the text's instructions (decoded by
//!    `bpfvm_isa`), rewrites calls, `callx` and `lddw` immediates, patches pointers in the data,
//!    and for V0 lists the dynamic relocations the loader must still apply.
//! 3. [`v0`] or [`v3`] writes the file; [`out`] holds the ELF record writers both share.
//!
//! Every input, hostile or not, gives a file or a named [`LinkError`]; nothing panics, and
//! the output is at most a small multiple of the input's size.
//!
//! From the command line: `cargo run -p bpfvm-link --example link -- prog.o prog.so v3`.

mod error;
mod input;
mod out;
mod resolve;
mod v0;
mod v3;

#[cfg(test)]
mod tests;

pub use error::LinkError;

/// The SBPF version to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A V0 shared object for the lenient (relocating) loader.
    V0,
    /// A V3 file in the strict program-header format (SIMD-0189).
    V3,
}

/// `MM_BYTECODE_START`: where V3 bytecode lives, and where V0's read-only image starts.
pub const BYTECODE_START: u64 = 1 << 32;

/// Links one relocatable BPF object into a program of `target`.
pub fn link(object: &[u8], target: Target) -> Result<Vec<u8>, LinkError> {
    let object = input::read(object)?;
    match target {
        Target::V0 => {
            let layout = v0::Layout::new(&object);
            let image = resolve::resolve(&object, resolve::Addressing::V0(layout.addresses()))?;
            Ok(v0::write(&image, &layout))
        }
        Target::V3 => {
            let image = resolve::resolve(&object, resolve::Addressing::V3)?;
            Ok(v3::write(&image))
        }
    }
}
