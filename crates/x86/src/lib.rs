//! The x86-64 foundations of the bpfvm JIT: a typed instruction encoder and W^X code memory.
//!
//! # Layers
//!
//! From the bottom up:
//!
//! 1. **The opcode table** (`opcodes.rs`): every Intel opcode byte the crate emits, once, named
//!    in Intel-manual notation. Nothing else spells an opcode.
//! 2. **The byte layout** (`encode.rs`): the one place that knows prefixes, REX, ModRM, SIB and
//!    displacements, including the RSP/R12 (SIB needed) and RBP/R13 (displacement needed)
//!    quirks and the REX needed to reach SPL/BPL/SIL/DIL.
//! 3. **Labels and fixups** (`label.rs`): forward and backward references with 8- and 32-bit
//!    displacements, patched when a label is bound; its module doc explains the scheme. A
//!    compiler that keeps its own table of code offsets can instead branch to an offset or
//!    take a [`Rel32`] field handle and patch it later (`control.rs`), with no label at all.
//! 4. **The [`Assembler`]** (`assembler.rs`, `arith.rs`, `control.rs`): one named method per
//!    instruction family, taking enums ([`Gpr`], [`Size`], [`AluKind`], [`ShiftKind`],
//!    [`Cond`], [`Lock`]) and operand types ([`Mem`], [`RegMem`], [`Operand`]). An operand
//!    combination x86 cannot encode is either unrepresentable or an [`EncodeError`]; the
//!    encoder never panics and never leaves half an instruction in the buffer.
//! 5. **Code memory** (`code_memory/`, the crate's only `unsafe`): [`WritableCode`] is
//!    read-write, [`ExecutableCode`] is read-execute, and the only way from one to the other is
//!    [`WritableCode::make_executable`], which consumes the writable value. A [`CodePool`]
//!    recycles mappings by size class. An [`Assembler`] writes into a [`CodeBuffer`], on the
//!    heap or ([`Assembler::in_code_memory`]) straight in read-write code memory, which
//!    [`CodeBuffer::into_writable`] then hands over without a copy.
//!
//! The encoder is checked against the iced-x86 disassembler by round trip (`tests/roundtrip.rs`)
//! and by byte snapshots (`tests/snapshots.rs`).
//!
//! **Architecture invariant:** this crate knows x86, not eBPF. The register map, calling
//! convention and lowering of eBPF instructions belong to the JIT in `bpfvm`.
//!
//! ```
//! use bpfvm_x86::{AluKind, Assembler, Cond, Gpr, Operand, RegMem, Size};
//!
//! let mut asm = Assembler::new();
//! let done = asm.new_label();
//! asm.alu(AluKind::Cmp, Size::S64, RegMem::Reg(Gpr::Rdi), Operand::Imm(0))?;
//! asm.jcc(Cond::E, done)?;
//! asm.alu(AluKind::Sub, Size::S64, RegMem::Reg(Gpr::Rdi), Operand::Imm(1))?;
//! asm.bind(done)?;
//! asm.ret();
//! let code = asm.finish()?;
//! assert_eq!(code.len(), 4 + 6 + 4 + 1);
//! # Ok::<(), bpfvm_x86::EncodeError>(())
//! ```

mod arith;
mod assembler;
mod code_memory;
mod control;
mod encode;
mod error;
mod label;
mod opcodes;
mod operand;

pub use assembler::Assembler;
pub use code_memory::{
    CodeBuffer, CodeMemoryError, CodePool, ExecutableCode, LibcCall, WritableCode,
};
pub use control::Rel32;
pub use error::{EncodeError, Reach};
pub use label::Label;
pub use operand::{
    AluKind, Cond, Gpr, Lock, Mem, Operand, RegMem, Scale, ShiftAmount, ShiftKind, Size,
};
