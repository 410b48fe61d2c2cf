//! Printing one instruction as text, in either dialect's syntax.
//!
//! sBPF output follows the reference's disassembler: registers `r1`, 64-bit ALU names carry
//! `64`, memory offsets are a sign and `0x` hex (`[r2-0x5]`), immediates are signed decimal,
//! `lddw` prints its value in hex, jump and call targets print as labels (`[invalid]` when a
//! target has none), and a call whose immediate is a known syscall key prints as
//! `syscall name`. The SBPF versions of 0.26 print in the same syntax, with their own
//! mnemonics (`uhmul64`, `hor64`, `jeq32`, ...); in V3 and V4 a `call` with src 1 prints
//! its pc-relative target's label, and src 0 `syscall name` (or `syscall <key>`).
//!
//! eBPF output is the bpf_conformance syntax, chosen so that the text re-assembles to the same
//! bytes: registers `%r1`, bare names for 64-bit ALU ops, decimal memory offsets, `call N` for
//! helpers, `call local L` for pc-relative calls, `call %rN` for `callx`. A target without a
//! label prints as a relative offset (`+3`, `-2`), which the assembler accepts as well.

use crate::mnemonic::{alu_name, atomic_name, cond_name, endian_name, pqr_name, size_name};
use crate::Symbols;
use bpfvm_isa::{
    AluOp, AtomicOp, Dialect, Extend, Insn, MemSize, PacketMode, Reg, SbpfVersion, Source, Width,
};

/// Formats one instruction at slot `pc`. See the module docs for the two syntaxes.
pub fn format_insn(insn: &Insn, pc: usize, dialect: Dialect, symbols: &dyn Symbols) -> String {
    let s = Style { dialect };
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => format!(
            "{}{} {}, {}",
            alu_name(op),
            s.alu_width(op, width),
            s.reg(dst),
            s.source(src)
        ),
        Insn::Pqr {
            width,
            op,
            dst,
            src,
        } => format!(
            "{}{} {}, {}",
            pqr_name(op),
            width.bits(),
            s.reg(dst),
            s.source(src)
        ),
        Insn::Hor64 { dst, imm } => format!("hor64 {}, {imm}", s.reg(dst)),
        Insn::Neg { width, dst } => format!("neg{} {}", s.width(width), s.reg(dst)),
        Insn::Endian { op, dst, bits } => format!("{}{bits} {}", endian_name(op), s.reg(dst)),
        Insn::LoadImm64 { dst, imm } => format!("lddw {}, {imm:#x}", s.reg(dst)),
        Insn::Load {
            size,
            extend,
            dst,
            base,
            off,
        } => {
            let sign = match extend {
                Extend::Zero => "",
                Extend::Sign => "s",
            };
            format!(
                "ldx{sign}{} {}, {}",
                size_name(size),
                s.reg(dst),
                s.mem(base, off)
            )
        }
        Insn::Store {
            size,
            base,
            off,
            src,
        } => {
            let x = match src {
                Source::Reg(_) => "x",
                Source::Imm(_) => "",
            };
            let mem = s.mem(base, off);
            format!("st{x}{} {mem}, {}", size_name(size), s.source(src))
        }
        Insn::Atomic {
            size,
            op,
            base,
            off,
            src,
        } => s.atomic(size, op, s.mem(base, off), src),
        Insn::PacketLoad {
            mode,
            size,
            src,
            imm,
        } => match mode {
            PacketMode::Abs => format!("ldabs{} {imm}", size_name(size)),
            PacketMode::Ind => format!("ldind{} {}, {imm}", size_name(size), s.reg(src)),
        },
        Insn::Ja { off } => format!("ja {}", s.target(pc, i64::from(off), symbols)),
        Insn::JaLong { off } => format!("ja32 {}", s.target(pc, i64::from(off), symbols)),
        Insn::Branch {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let suffix = match width {
                Width::W64 => "",
                Width::W32 => "32",
            };
            format!(
                "{}{suffix} {}, {}, {}",
                cond_name(cond),
                s.reg(dst),
                s.source(src),
                s.target(pc, i64::from(off), symbols)
            )
        }
        Insn::Call { src, imm } => s.call(pc, src, imm, symbols),
        Insn::CallReg { reg } => match dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => format!("callx {reg}"),
            Dialect::Ebpf => format!("call {}", s.reg(reg)),
        },
        Insn::Exit => "exit".to_string(),
    }
}

/// The dialect's spelling of the operand kinds.
struct Style {
    dialect: Dialect,
}

impl Style {
    fn reg(&self, reg: Reg) -> String {
        match self.dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => format!("{reg}"),
            Dialect::Ebpf => format!("%{reg}"),
        }
    }

    /// The width suffix of an ALU mnemonic; `movsx` always carries one.
    fn alu_width(&self, op: AluOp, width: Width) -> &'static str {
        match (op, width) {
            (AluOp::MovSx(_), Width::W64) => "64",
            _ => self.width(width),
        }
    }

    fn width(&self, width: Width) -> &'static str {
        match (width, self.dialect) {
            (Width::W32, _) => "32",
            (Width::W64, Dialect::Sbpf | Dialect::Sbpf26(_)) => "64",
            (Width::W64, Dialect::Ebpf) => "",
        }
    }

    fn source(&self, src: Source) -> String {
        match src {
            Source::Reg(reg) => self.reg(reg),
            Source::Imm(imm) => imm.to_string(),
        }
    }

    fn mem(&self, base: Reg, off: i16) -> String {
        let sign = if off < 0 { '-' } else { '+' };
        let magnitude = off.unsigned_abs();
        match self.dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => format!("[{base}{sign}{magnitude:#x}]"),
            Dialect::Ebpf => format!("[%{base}{sign}{magnitude}]"),
        }
    }

    fn atomic(&self, size: MemSize, op: AtomicOp, mem: String, src: Reg) -> String {
        let width = match size {
            MemSize::W => "32",
            MemSize::B | MemSize::H | MemSize::DW => "",
        };
        match (self.dialect, op) {
            // The reference knows only the plain add, as `stxxadd{w,dw}`.
            (Dialect::Sbpf | Dialect::Sbpf26(_), AtomicOp::Add) => {
                format!("stxxadd{} {mem}, {src}", size_name(size))
            }
            _ => format!("{}{width} {mem}, {}", atomic_name(op), self.reg(src)),
        }
    }

    /// A jump target: its label, or `[invalid]` (sBPF) / a relative offset (eBPF).
    fn target(&self, pc: usize, off: i64, symbols: &dyn Symbols) -> String {
        let label = target_pc(pc, off).and_then(|t| symbols.label_at(t));
        match (label, self.dialect) {
            (Some(label), _) => label,
            (None, Dialect::Sbpf | Dialect::Sbpf26(_)) => "[invalid]".to_string(),
            (None, Dialect::Ebpf) => relative(off),
        }
    }

    fn call(&self, pc: usize, src: u8, imm: i32, symbols: &dyn Symbols) -> String {
        match self.dialect {
            Dialect::Sbpf26(version) if version.static_syscalls() => {
                static_call(version, pc, src, imm, symbols)
            }
            Dialect::Sbpf | Dialect::Sbpf26(_) => match symbols.syscall_name(imm as u32) {
                Some(name) => format!("syscall {name}"),
                None => {
                    let label = symbols
                        .function_pc(imm as u32)
                        .and_then(|t| symbols.label_at(t));
                    format!("call {}", label.as_deref().unwrap_or("[invalid]"))
                }
            },
            Dialect::Ebpf => match src {
                0 => format!("call {imm}"),
                1 => format!("call local {}", self.target(pc, i64::from(imm), symbols)),
                _ => format!("unknown call src={src} imm={imm}"),
            },
        }
    }
}

/// A `call` of a version with static syscalls: src 0 a syscall by key, src 1 a pc-relative
/// call, any other source an instruction that never resolves.
fn static_call(
    version: SbpfVersion,
    pc: usize,
    src: u8,
    imm: i32,
    symbols: &dyn Symbols,
) -> String {
    match src {
        0 => match symbols.syscall_name(imm as u32) {
            Some(name) => format!("syscall {name}"),
            None => format!("syscall {:#x}", imm as u32),
        },
        1 => {
            let label = target_pc(pc, i64::from(imm)).and_then(|t| symbols.label_at(t));
            format!("call {}", label.as_deref().unwrap_or("[invalid]"))
        }
        _ => format!("unknown call src={src} imm={imm} ({version})"),
    }
}

/// `pc + 1 + off`, when that is a slot index.
pub(crate) fn target_pc(pc: usize, off: i64) -> Option<usize> {
    let target = i128::try_from(pc).ok()? + 1 + i128::from(off);
    usize::try_from(target).ok()
}

fn relative(off: i64) -> String {
    if off < 0 {
        off.to_string()
    } else {
        format!("+{off}")
    }
}
