//! Assembler and disassembler for bpfvm, in two syntaxes.
//!
//! [`assemble`] turns source text into instruction bytes; [`format_insn`] prints one decoded
//! instruction and [`disassemble`] prints a whole text section as a labelled listing. Both
//! directions go through the typed [`bpfvm_isa::Insn`]: this crate never writes or reads an
//! opcode byte itself, it only names the parts of an instruction (see `mnemonic.rs`, whose
//! tables serve both directions).
//!
//! # The sBPF syntax ([`Dialect::Sbpf`])
//!
//! The syntax of the reference, solana_rbpf 0.2.38, whose programs this assembler turns into
//! exactly the reference's bytes:
//!
//! * one statement per line: `name:` labels (several may precede an instruction on the same
//!   line), then a mnemonic and comma-separated operands;
//! * registers `r0`..`r15`; integers in decimal or `0x` hex with an optional sign; memory
//!   operands `[r1]`, `[r1+8]`, `[r1-0x10]`; labels `[A-Za-z0-9_]+`;
//! * ALU mnemonics `add sub mul div sdiv or and lsh rsh mod xor mov arsh` (bare = 64-bit, or
//!   with a `32`/`64` suffix), `neg`/`neg32`/`neg64`, `le16`..`be64`, `lddw`,
//!   `ldx{b,h,w,dw}`, `st{b,h,w,dw}`, `stx{b,h,w,dw}`, `ldabs*`, `ldind*`, `ja`, the eleven
//!   conditional jumps, `call`, `syscall`, `callx`, `exit`;
//! * `call imm` is relative: it targets `pc + 1 + imm`, encodes the absolute target with
//!   src = 1 and registers `function_<target>`; `call label` encodes the label's pc with
//!   src = 1; `syscall name` encodes src = 0 and the Murmur3 hash of the name; `callx rN`
//!   puts N in the immediate; `sdiv` uses sBPF's own opcodes;
//! * labels named `entrypoint` or starting with `function_` are function entries
//!   ([`Assembled::functions`]); `entrypoint` resolves to pc 0 when the source does not
//!   define it (the loader, not the assembler, registers that default entry);
//! * an immediate must lie in the i32 range (hex literals are read as u64 and reinterpreted
//!   as i64 first, as the reference does), an offset in the i16 range.
//!
//! # The SBPF versions of solana-sbpf 0.26 ([`Dialect::Sbpf26`])
//!
//! The sBPF syntax above, with each version's mnemonics (spec `sbpf-0.26.md` §1.3); whether a
//! version has an instruction is the encoder's answer, so `lddw` in V2 or `jeq32` in V0 is
//! an error that names the version:
//!
//! * V2's PQR class: `lmul`, `uhmul`, `shmul`, `udiv`, `urem`, `sdiv`, `srem` with a `32` or
//!   `64` suffix (bare = 64-bit; `uhmul` and `shmul` exist only in 64 bits), `hor64 rD, imm`
//!   (also `hor`), and the moved loads and stores under the usual `ldx*`/`st*`/`stx*` names;
//! * V3's JMP32 class: the conditional jumps with a `32` suffix (`jeq64` also names the
//!   64-bit compare);
//! * `callx rN` puts N where the version reads it (immediate, src or dst);
//! * in V3 and V4 `call imm` and `call label` are pc-relative with src 1, as 0.26 encodes
//!   them (the target is registered as a function), and `syscall` takes a name or a key
//!   (src 0); in V0 to V2 calls are written as in the 2022 syntax;
//! * `sdiv` is the PQR one: the 2022 signed division does not exist in any version.
//!
//! # The eBPF syntax ([`Dialect::Ebpf`])
//!
//! The syntax of the bpf_conformance test vectors: registers `%r0`..`%r10`, the ALU names
//! above plus `smod` and `movsx{8,16,32}{32,64}` (`sdiv`/`smod` encode offset 1), `ldxs{b,h,w}`,
//! `swap`/`bswap{16,32,64}`, conditional jumps with a `32` suffix for JMP32, `ja32`,
//! `lock [fetch] {add,or,and,xor}[32]`, `lock xchg[32]`, `lock cmpxchg[32]`, `call N` (a
//! helper by number, src = 0), `call local L` (src = 1, pc-relative immediate) and
//! `call %rX` (callx with the register in dst). Jump offsets may be written `+N`/`-N`.
//! Immediates may be written as unsigned 32-bit values (`0xffffffff`); they are truncated.
//! As in the conformance assembler, an undefined label `exit` names the first `exit`
//! instruction.
//!
//! # Extensions (both dialects)
//!
//! * `#` starts a comment that runs to the end of the line (the reference has no comments);
//! * `r1` and `%r1` are both accepted;
//! * blanks are allowed inside memory brackets;
//! * `callx rN` is accepted in eBPF and `call rN` in sBPF, both meaning `callx`;
//! * `ldabs*`/`ldind*` are accepted in eBPF too.
//!
//! Deliberate differences from the reference: a decimal literal beyond i64 is an error (the
//! reference silently reads 0), a label defined twice is an error (the reference keeps the
//! last), a call to a negative pc is an error, and a line holds at most one instruction.

mod assembler;
mod format;
mod lexer;
mod listing;
mod mnemonic;
mod parser;

pub use assembler::assemble;
pub use bpfvm_isa::Dialect;
pub use format::format_insn;
pub use listing::{disassemble, SymbolTable};

use core::fmt;

/// The output of [`assemble`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The instruction bytes (8 per slot).
    pub bytes: Vec<u8>,
    /// The function entries a loader must register, in pc order, one per pc.
    pub functions: Vec<FunctionLabel>,
}

/// A function entry: a label named `entrypoint` or `function_*`, or the target of a relative
/// sBPF `call imm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionLabel {
    /// The label's name.
    pub name: String,
    /// The slot index it names.
    pub pc: usize,
}

/// Why a source does not assemble, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for AsmError {}

/// What the disassembler needs to know about names.
pub trait Symbols {
    /// The name of the syscall with this key, if there is one.
    fn syscall_name(&self, key: u32) -> Option<&str>;
    /// The label of a pc (a function name or `lbb_<pc>`), if it has one.
    fn label_at(&self, pc: usize) -> Option<String>;
    /// The entry pc of the function a `call` immediate names. With static syscalls (and in
    /// the assembler's output) the key is the pc itself; without them it is a hash the
    /// loader's function registry resolves.
    fn function_pc(&self, key: u32) -> Option<usize> {
        usize::try_from(key).ok()
    }
}
