//! The mnemonic tables: names of operations, sizes and conditions, defined once.
//!
//! The assembler reads these tables to turn a mnemonic into a [`Mnemonic`] (which operation,
//! which width, which operand shapes); the disassembler reads the same tables backwards to
//! name an [`Insn`](bpfvm_isa::Insn)'s parts. A mnemonic is composed from parts (`add` +
//! `32`, `ldx` + `dw`, `jeq` + `32`, `lock fetch` + `xor` + `32`), so every combination is
//! derived from a short list instead of being spelt out. Each entry says which dialects know
//! it ([`Avail`]).

use bpfvm_isa::{
    AluOp, AtomicOp, Cond, Dialect, EndianOp, Extend, MemSize, PacketMode, PqrOp, Width,
};

/// Which dialects accept a table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Avail {
    /// Every dialect.
    Both,
    /// Only the sBPF syntax (2022 and the SBPF versions of 0.26).
    Sbpf,
    /// Only the sBPF syntax of 2022 (solana_rbpf 0.2.38).
    Sbpf2022,
    /// Only the bpf_conformance (eBPF) syntax.
    Ebpf,
}

impl Avail {
    fn allows(self, dialect: Dialect) -> bool {
        match (self, dialect) {
            (Avail::Both, _)
            | (Avail::Sbpf | Avail::Sbpf2022, Dialect::Sbpf)
            | (Avail::Sbpf, Dialect::Sbpf26(_))
            | (Avail::Ebpf, Dialect::Ebpf) => true,
            (Avail::Sbpf | Avail::Sbpf2022, Dialect::Ebpf)
            | (Avail::Sbpf2022, Dialect::Sbpf26(_))
            | (Avail::Ebpf, Dialect::Sbpf | Dialect::Sbpf26(_)) => false,
        }
    }
}

/// Binary ALU operation names (without the width suffix).
pub(crate) const ALU_OPS: [(&str, AluOp, Avail); 15] = [
    ("add", AluOp::Add, Avail::Both),
    ("sub", AluOp::Sub, Avail::Both),
    ("mul", AluOp::Mul, Avail::Both),
    ("div", AluOp::Div, Avail::Both),
    // In the SBPF versions `sdiv` is the PQR class's (see `PQR_OPS`).
    ("sdiv", AluOp::SDiv, Avail::Sbpf2022),
    ("sdiv", AluOp::SDiv, Avail::Ebpf),
    ("mod", AluOp::Mod, Avail::Both),
    ("smod", AluOp::SMod, Avail::Ebpf),
    ("or", AluOp::Or, Avail::Both),
    ("and", AluOp::And, Avail::Both),
    ("lsh", AluOp::Lsh, Avail::Both),
    ("rsh", AluOp::Rsh, Avail::Both),
    ("arsh", AluOp::Arsh, Avail::Both),
    ("xor", AluOp::Xor, Avail::Both),
    ("mov", AluOp::Mov, Avail::Both),
];

/// The names of SBPF V2's PQR operations (without the width suffix; a bare name is 64-bit).
pub(crate) const PQR_OPS: [(&str, PqrOp); 7] = [
    ("lmul", PqrOp::Lmul),
    ("uhmul", PqrOp::Uhmul),
    ("shmul", PqrOp::Shmul),
    ("udiv", PqrOp::Udiv),
    ("urem", PqrOp::Urem),
    ("sdiv", PqrOp::Sdiv),
    ("srem", PqrOp::Srem),
];

/// `movsx<from>` names; the width suffix follows (`movsx832`, `movsx3264`).
pub(crate) const MOVSX: [(&str, MemSize); 3] = [
    ("movsx8", MemSize::B),
    ("movsx16", MemSize::H),
    ("movsx32", MemSize::W),
];

/// Width suffixes of ALU and atomic mnemonics, tried in this order.
const WIDTH_SUFFIXES: [(&str, Width); 3] =
    [("32", Width::W32), ("64", Width::W64), ("", Width::W64)];

/// Memory access size suffixes.
pub(crate) const SIZES: [(&str, MemSize); 4] = [
    ("b", MemSize::B),
    ("h", MemSize::H),
    ("w", MemSize::W),
    ("dw", MemSize::DW),
];

/// Branch condition names (without the `32` suffix of JMP32).
pub(crate) const CONDS: [(&str, Cond); 11] = [
    ("jeq", Cond::Eq),
    ("jgt", Cond::Gt),
    ("jge", Cond::Ge),
    ("jset", Cond::Set),
    ("jne", Cond::Ne),
    ("jsgt", Cond::Sgt),
    ("jsge", Cond::Sge),
    ("jlt", Cond::Lt),
    ("jle", Cond::Le),
    ("jslt", Cond::Slt),
    ("jsle", Cond::Sle),
];

/// Byte-order conversion names; the bit width follows (`be16`, `bswap64`).
pub(crate) const ENDIANS: [(&str, EndianOp, Avail); 4] = [
    ("le", EndianOp::ToLe, Avail::Both),
    ("be", EndianOp::ToBe, Avail::Both),
    ("bswap", EndianOp::Swap, Avail::Ebpf),
    ("swap", EndianOp::Swap, Avail::Ebpf),
];

/// The widths a byte-order mnemonic may name.
const ENDIAN_BITS: [(&str, i32); 3] = [("16", 16), ("32", 32), ("64", 64)];

/// Memory mnemonic prefixes; the size follows (`ldxdw`, `stb`).
const MEMORY: [(&str, MemoryKind, Avail); 6] = [
    ("ldxs", MemoryKind::Load(Extend::Sign), Avail::Ebpf),
    ("ldx", MemoryKind::Load(Extend::Zero), Avail::Both),
    ("stx", MemoryKind::StoreReg, Avail::Both),
    ("st", MemoryKind::StoreImm, Avail::Both),
    ("ldabs", MemoryKind::Packet(PacketMode::Abs), Avail::Both),
    ("ldind", MemoryKind::Packet(PacketMode::Ind), Avail::Both),
];

/// Atomic operation names after `lock ` or `lock fetch `; the width suffix follows.
pub(crate) const ATOMICS: [(&str, AtomicOp, AtomicOp); 6] = [
    ("add", AtomicOp::Add, AtomicOp::FetchAdd),
    ("or", AtomicOp::Or, AtomicOp::FetchOr),
    ("and", AtomicOp::And, AtomicOp::FetchAnd),
    ("xor", AtomicOp::Xor, AtomicOp::FetchXor),
    ("xchg", AtomicOp::Xchg, AtomicOp::Xchg),
    ("cmpxchg", AtomicOp::CmpXchg, AtomicOp::CmpXchg),
];

/// Mnemonics that are a single fixed word.
const FIXED: [(&str, Mnemonic, Avail); 12] = [
    ("exit", Mnemonic::Exit, Avail::Both),
    ("ja", Mnemonic::Ja, Avail::Both),
    ("ja32", Mnemonic::JaLong, Avail::Ebpf),
    ("lddw", Mnemonic::Lddw, Avail::Both),
    ("call", Mnemonic::Call, Avail::Both),
    ("call local", Mnemonic::CallLocal, Avail::Ebpf),
    ("syscall", Mnemonic::Syscall, Avail::Sbpf),
    ("callx", Mnemonic::CallX, Avail::Both),
    ("neg", Mnemonic::Neg(Width::W64), Avail::Both),
    ("neg32", Mnemonic::Neg(Width::W32), Avail::Both),
    ("hor64", Mnemonic::Hor64, Avail::Sbpf),
    ("hor", Mnemonic::Hor64, Avail::Sbpf),
];

/// The kinds of memory mnemonic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemoryKind {
    Load(Extend),
    StoreImm,
    StoreReg,
    Packet(PacketMode),
}

/// What a mnemonic asks for: the instruction family and its fixed parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mnemonic {
    /// `op rD, rS|imm`.
    Alu(Width, AluOp),
    /// `neg rD`.
    Neg(Width),
    /// `uhmul64 rD, rS|imm` and the other PQR operations.
    Pqr(Width, PqrOp),
    /// `hor64 rD, imm`.
    Hor64,
    /// `be32 rD`.
    Endian(EndianOp, i32),
    /// `lddw rD, imm64`.
    Lddw,
    /// `ldx* rD, [rS+off]`.
    Load(MemSize, Extend),
    /// `st* [rD+off], imm`.
    StoreImm(MemSize),
    /// `stx* [rD+off], rS`.
    StoreReg(MemSize),
    /// `ldabs* imm` or `ldind* rS, imm`.
    Packet(PacketMode, MemSize),
    /// `lock [fetch] op [rD+off], rS`.
    Atomic(MemSize, AtomicOp),
    /// `ja off|label`.
    Ja,
    /// `ja32 off|label`.
    JaLong,
    /// `jcc rD, rS|imm, off|label`.
    Branch(Width, Cond),
    /// `call imm|label|reg`.
    Call,
    /// `call local label|off`.
    CallLocal,
    /// `syscall name`.
    Syscall,
    /// `callx rN`.
    CallX,
    /// `exit`.
    Exit,
}

impl Mnemonic {
    /// The operand shapes this mnemonic accepts, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Mnemonic::Alu(..) | Mnemonic::Pqr(..) => "a register, then a register or an immediate",
            Mnemonic::Hor64 => "a register, then an immediate",
            Mnemonic::Neg(_) | Mnemonic::Endian(..) | Mnemonic::CallX => "one register",
            Mnemonic::Lddw => "a register, then an immediate",
            Mnemonic::Load(..) => "a register, then a memory operand [rN+off]",
            Mnemonic::StoreImm(_) => "a memory operand [rN+off], then an immediate",
            Mnemonic::StoreReg(_) | Mnemonic::Atomic(..) => {
                "a memory operand [rN+off], then a register"
            }
            Mnemonic::Packet(PacketMode::Abs, _) => "an immediate",
            Mnemonic::Packet(PacketMode::Ind, _) => "a register, then an immediate",
            Mnemonic::Ja | Mnemonic::JaLong | Mnemonic::CallLocal => "an offset or a label",
            Mnemonic::Branch(..) => {
                "a register, a register or an immediate, then an offset or a label"
            }
            Mnemonic::Call => "an immediate, a label or a register",
            Mnemonic::Syscall => "a syscall name or key",
            Mnemonic::Exit => "no operands",
        }
    }

    /// How many slots the instruction takes.
    pub(crate) fn slot_count(self) -> usize {
        match self {
            Mnemonic::Lddw => 2,
            _ => 1,
        }
    }
}

fn find<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// Looks a mnemonic (already lower-case as written; multi-word forms joined by one space) up
/// in the tables of a dialect.
pub(crate) fn lookup(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    let fixed = FIXED
        .iter()
        .find(|(n, _, avail)| *n == name && avail.allows(dialect))
        .map(|(_, m, _)| *m);
    fixed
        .or_else(|| lookup_neg64(name))
        .or_else(|| lookup_pqr(name, dialect))
        .or_else(|| lookup_alu(name, dialect))
        .or_else(|| lookup_endian(name, dialect))
        .or_else(|| lookup_memory(name, dialect))
        .or_else(|| lookup_branch(name, dialect))
        .or_else(|| lookup_atomic(name, dialect))
}

fn lookup_neg64(name: &str) -> Option<Mnemonic> {
    (name == "neg64").then_some(Mnemonic::Neg(Width::W64))
}

/// The PQR names, known in the SBPF versions (whether a version has the class is the
/// encoder's question).
fn lookup_pqr(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    if !matches!(dialect, Dialect::Sbpf26(_)) {
        return None;
    }
    WIDTH_SUFFIXES.iter().find_map(|(suffix, width)| {
        let base = name.strip_suffix(suffix)?;
        find(&PQR_OPS, base).map(|op| Mnemonic::Pqr(*width, op))
    })
}

fn lookup_alu(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    WIDTH_SUFFIXES.iter().find_map(|(suffix, width)| {
        let base = name.strip_suffix(suffix)?;
        let plain = ALU_OPS
            .iter()
            .find(|(n, _, avail)| *n == base && avail.allows(dialect))
            .map(|(_, op, _)| Mnemonic::Alu(*width, *op));
        let movsx = match (dialect, suffix.is_empty()) {
            (Dialect::Ebpf, false) => {
                find(&MOVSX, base).map(|from| Mnemonic::Alu(*width, AluOp::MovSx(from)))
            }
            (Dialect::Ebpf | Dialect::Sbpf | Dialect::Sbpf26(_), _) => None,
        };
        plain.or(movsx)
    })
}

fn lookup_endian(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    ENDIANS.iter().find_map(|(prefix, op, avail)| {
        let bits = find(&ENDIAN_BITS, name.strip_prefix(prefix)?)?;
        avail.allows(dialect).then_some(Mnemonic::Endian(*op, bits))
    })
}

fn lookup_memory(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    MEMORY.iter().find_map(|(prefix, kind, avail)| {
        let size = find(&SIZES, name.strip_prefix(prefix)?)?;
        if !avail.allows(dialect) {
            return None;
        }
        Some(match kind {
            MemoryKind::Load(Extend::Sign) if size == MemSize::DW => return None,
            MemoryKind::Load(extend) => Mnemonic::Load(size, *extend),
            MemoryKind::StoreImm => Mnemonic::StoreImm(size),
            MemoryKind::StoreReg => Mnemonic::StoreReg(size),
            MemoryKind::Packet(mode) => Mnemonic::Packet(*mode, size),
        })
    })
}

fn lookup_branch(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    let (base, width) = match (name.strip_suffix("32"), name.strip_suffix("64"), dialect) {
        (Some(base), _, Dialect::Ebpf | Dialect::Sbpf26(_)) => (base, Width::W32),
        (Some(_), _, Dialect::Sbpf) => return None,
        // The SBPF versions' assembler also knows `jeq64` for the 64-bit compare.
        (None, Some(base), Dialect::Sbpf26(_)) => (base, Width::W64),
        (None, _, _) => (name, Width::W64),
    };
    find(&CONDS, base).map(|cond| Mnemonic::Branch(width, cond))
}

fn lookup_atomic(name: &str, dialect: Dialect) -> Option<Mnemonic> {
    if dialect != Dialect::Ebpf {
        return None;
    }
    let rest = name.strip_prefix("lock ")?;
    let (fetch, rest) = match rest.strip_prefix("fetch ") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    WIDTH_SUFFIXES.iter().find_map(|(suffix, width)| {
        let base = rest.strip_suffix(suffix)?;
        let (_, plain, fetched) = ATOMICS.iter().find(|(n, _, _)| *n == base)?;
        let size = match width {
            Width::W32 => MemSize::W,
            Width::W64 => MemSize::DW,
        };
        Some(Mnemonic::Atomic(
            size,
            if fetch { *fetched } else { *plain },
        ))
    })
}

/// The name of a binary ALU operation (without width).
pub(crate) fn alu_name(op: AluOp) -> String {
    match op {
        AluOp::MovSx(from) => MOVSX
            .iter()
            .find(|(_, size)| *size == from)
            .map_or_else(|| "movsx".to_string(), |(n, _)| (*n).to_string()),
        op => ALU_OPS
            .iter()
            .find(|(_, o, _)| *o == op)
            .map_or_else(String::new, |(n, _, _)| (*n).to_string()),
    }
}

/// The name of a PQR operation (without width).
pub(crate) fn pqr_name(op: PqrOp) -> &'static str {
    PQR_OPS
        .iter()
        .find(|(_, o)| *o == op)
        .map_or("", |(n, _)| n)
}

/// The suffix of a memory access size.
pub(crate) fn size_name(size: MemSize) -> &'static str {
    SIZES
        .iter()
        .find(|(_, s)| *s == size)
        .map_or("", |(n, _)| n)
}

/// The name of a branch condition (without width).
pub(crate) fn cond_name(cond: Cond) -> &'static str {
    CONDS
        .iter()
        .find(|(_, c)| *c == cond)
        .map_or("", |(n, _)| n)
}

/// The name of a byte-order conversion (without bits); `bswap` for the swap.
pub(crate) fn endian_name(op: EndianOp) -> &'static str {
    ENDIANS
        .iter()
        .find(|(_, o, _)| *o == op)
        .map_or("", |(n, _, _)| n)
}

/// The `lock ...` words of an atomic operation (without width).
pub(crate) fn atomic_name(op: AtomicOp) -> String {
    ATOMICS
        .iter()
        .find_map(|(n, plain, fetched)| {
            if *plain == op {
                Some(format!("lock {n}"))
            } else if *fetched == op {
                Some(format!("lock fetch {n}"))
            } else {
                None
            }
        })
        .unwrap_or_default()
}
