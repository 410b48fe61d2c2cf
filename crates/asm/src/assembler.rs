//! The assembler: statements to typed instructions to bytes, in two passes.
//!
//! Pass one walks the statements, gives every label the pc of the next instruction (an `lddw`
//! counts two slots) and looks every mnemonic up in the tables, so an unknown mnemonic is
//! reported in source order. Pass two matches each mnemonic's operand shapes, resolves labels,
//! range-checks every field and builds an [`Insn`]; [`bpfvm_isa::encode`] turns it into slots.
//! This module never writes an opcode byte.
//!
//! Integers follow the dialect. sBPF reads them as the reference does (decimal as i64, hex as
//! u64 reinterpreted as i64, then negated), and an immediate must then lie in the i32 range.
//! The conformance syntax writes 32-bit immediates as unsigned too (`0xffffffff`), so eBPF
//! immediates may lie anywhere in `-2^31 .. 2^32` and are truncated to 32 bits.

use crate::lexer::{IntLit, Radix};
use crate::mnemonic::{lookup, Mnemonic};
use crate::parser::{parse, Operand, Pos, Statement};
use crate::{AsmError, Assembled, FunctionLabel};
use bpfvm_isa::{encode, hash_symbol_name, Dialect, Insn, PacketMode, Reg, Source};
use std::collections::BTreeMap;

/// An instruction after pass one: its table entry and its pc.
struct Pending<'s> {
    mnemonic: Mnemonic,
    name: &'s str,
    pos: Pos,
    pc: usize,
    operands: &'s [(Operand, Pos)],
}

/// The state shared by both passes.
struct Assembler<'s> {
    dialect: Dialect,
    labels: BTreeMap<&'s str, usize>,
    /// Function entries by pc; the first name registered at a pc wins.
    functions: BTreeMap<usize, String>,
}

/// Assembles `source` in the given dialect.
pub fn assemble(source: &str, dialect: Dialect) -> Result<Assembled, AsmError> {
    let statements = parse(source, dialect)?;
    let mut asm = Assembler {
        dialect,
        labels: BTreeMap::new(),
        functions: BTreeMap::new(),
    };
    let pending = asm.first_pass(&statements)?;
    let mut bytes = Vec::with_capacity(pending.len() * 8);
    for insn in &pending {
        let built = asm.build(insn)?;
        let slots = encode(&built, dialect).map_err(|e| {
            insn.pos
                .error(format!("`{}` cannot be encoded: {e}", insn.name))
        })?;
        bytes.extend(slots.iter().flat_map(|slot| slot.to_bytes()));
    }
    let functions = asm
        .functions
        .into_iter()
        .map(|(pc, name)| FunctionLabel { name, pc })
        .collect();
    Ok(Assembled { bytes, functions })
}

/// Whether a label names a function entry the loader must register.
fn is_function_label(name: &str) -> bool {
    name == "entrypoint" || name.starts_with("function_")
}

impl<'s> Assembler<'s> {
    fn first_pass(&mut self, statements: &'s [Statement]) -> Result<Vec<Pending<'s>>, AsmError> {
        let mut pending = Vec::new();
        let mut pc = 0;
        let mut first_exit = None;
        for statement in statements {
            match statement {
                Statement::Label { name, pos } => {
                    if self.labels.insert(name, pc).is_some() {
                        return Err(pos.error(format!("label `{name}` is defined twice")));
                    }
                    if is_function_label(name) {
                        self.functions.entry(pc).or_insert_with(|| name.clone());
                    }
                }
                Statement::Instruction {
                    mnemonic,
                    pos,
                    operands,
                } => {
                    let found = lookup(mnemonic, self.dialect)
                        .ok_or_else(|| pos.error(format!("unknown mnemonic `{mnemonic}`")))?;
                    pending.push(Pending {
                        mnemonic: found,
                        name: mnemonic,
                        pos: *pos,
                        pc,
                        operands,
                    });
                    if found == Mnemonic::Exit {
                        first_exit.get_or_insert(pc);
                    }
                    pc += found.slot_count();
                }
            }
        }
        match (self.dialect, first_exit) {
            // The reference resolves `entrypoint` to pc 0 unless the source defines it.
            (Dialect::Sbpf | Dialect::Sbpf26(_), _) => {
                self.labels.entry("entrypoint").or_insert(0);
            }
            // The conformance assembler resolves an undefined `exit` to the first `exit`.
            (Dialect::Ebpf, Some(exit)) => {
                self.labels.entry("exit").or_insert(exit);
            }
            (Dialect::Ebpf, None) => {}
        }
        Ok(pending)
    }

    /// Builds the instruction from its mnemonic and operands.
    fn build(&mut self, p: &Pending<'s>) -> Result<Insn, AsmError> {
        use Operand::{Int, Mem, Name, Reg as R};
        let shape_error = || {
            p.pos
                .error(format!("`{}` expects {}", p.name, p.mnemonic.expected()))
        };
        let insn = match (p.mnemonic, p.operands) {
            (Mnemonic::Alu(width, op), [(R(d), dp), src]) => Insn::Alu {
                width,
                op,
                dst: reg(*d, *dp)?,
                src: self.source(src)?,
            },
            (Mnemonic::Neg(width), [(R(d), dp)]) => Insn::Neg {
                width,
                dst: reg(*d, *dp)?,
            },
            (Mnemonic::Pqr(width, op), [(R(d), dp), src]) => Insn::Pqr {
                width,
                op,
                dst: reg(*d, *dp)?,
                src: self.source(src)?,
            },
            (Mnemonic::Hor64, [(R(d), dp), (Int(v), vp)]) => Insn::Hor64 {
                dst: reg(*d, *dp)?,
                imm: self.imm32(*v, *vp)?,
            },
            (Mnemonic::Endian(op, bits), [(R(d), dp)]) => Insn::Endian {
                op,
                dst: reg(*d, *dp)?,
                bits,
            },
            (Mnemonic::Lddw, [(R(d), dp), (Int(v), vp)]) => Insn::LoadImm64 {
                dst: reg(*d, *dp)?,
                imm: self.imm64(*v, *vp)?,
            },
            (Mnemonic::Load(size, extend), [(R(d), dp), (Mem { base, off }, mp)]) => Insn::Load {
                size,
                extend,
                dst: reg(*d, *dp)?,
                base: reg(*base, *mp)?,
                off: self.off16(*off, *mp)?,
            },
            (Mnemonic::StoreImm(size), [(Mem { base, off }, mp), (Int(v), vp)]) => Insn::Store {
                size,
                base: reg(*base, *mp)?,
                off: self.off16(*off, *mp)?,
                src: Source::Imm(self.imm32(*v, *vp)?),
            },
            (Mnemonic::StoreReg(size), [(Mem { base, off }, mp), (R(s), sp)]) => Insn::Store {
                size,
                base: reg(*base, *mp)?,
                off: self.off16(*off, *mp)?,
                src: Source::Reg(reg(*s, *sp)?),
            },
            (Mnemonic::Atomic(size, op), [(Mem { base, off }, mp), (R(s), sp)]) => Insn::Atomic {
                size,
                op,
                base: reg(*base, *mp)?,
                off: self.off16(*off, *mp)?,
                src: reg(*s, *sp)?,
            },
            (Mnemonic::Packet(PacketMode::Abs, size), [(Int(v), vp)]) => Insn::PacketLoad {
                mode: PacketMode::Abs,
                size,
                src: Reg::R0,
                imm: self.imm32(*v, *vp)?,
            },
            (Mnemonic::Packet(PacketMode::Ind, size), [(R(s), sp), (Int(v), vp)]) => {
                Insn::PacketLoad {
                    mode: PacketMode::Ind,
                    size,
                    src: reg(*s, *sp)?,
                    imm: self.imm32(*v, *vp)?,
                }
            }
            (Mnemonic::Ja, [target]) => Insn::Ja {
                off: self.jump(target, p.pc)?,
            },
            (Mnemonic::JaLong, [target]) => Insn::JaLong {
                off: self.jump(target, p.pc)?,
            },
            (Mnemonic::Branch(width, cond), [(R(d), dp), src, target]) => Insn::Branch {
                width,
                cond,
                dst: reg(*d, *dp)?,
                src: self.source(src)?,
                off: self.jump(target, p.pc)?,
            },
            (Mnemonic::Call | Mnemonic::CallX, [(R(r), rp)]) => {
                Insn::CallReg { reg: reg(*r, *rp)? }
            }
            (Mnemonic::Call, [target]) => self.call(target, p.pc)?,
            (Mnemonic::CallLocal, [target]) => Insn::Call {
                src: 1,
                imm: self.jump(target, p.pc)?,
            },
            (Mnemonic::Syscall, [(Name(name), _)]) => Insn::Call {
                src: 0,
                imm: hash_symbol_name(name.as_bytes()) as i32,
            },
            // solana-sbpf 0.26's syntax also takes the key itself.
            (Mnemonic::Syscall, [(Int(v), vp)]) if self.dialect.version().is_some() => Insn::Call {
                src: 0,
                imm: self.imm32(*v, *vp)?,
            },
            (Mnemonic::Exit, []) => Insn::Exit,
            _ => return Err(shape_error()),
        };
        Ok(insn)
    }

    /// `call` with one non-register operand. In the SBPF versions with static syscalls (V3,
    /// V4) a call is pc-relative with src 1, as solana-sbpf 0.26 encodes it; every other sBPF
    /// dialect writes the absolute target with src 1 (the loader makes it relative and keys
    /// it).
    fn call(&mut self, target: &(Operand, Pos), pc: usize) -> Result<Insn, AsmError> {
        let (operand, pos) = target;
        let static_syscalls = self
            .dialect
            .version()
            .is_some_and(|version| version.static_syscalls());
        if static_syscalls {
            return self.relative_call(target, pc);
        }
        match (self.dialect, operand) {
            (Dialect::Sbpf | Dialect::Sbpf26(_), Operand::Int(v)) => {
                // Relative in the source, absolute in the encoding, and registered.
                let absolute = self.value(*v, *pos)? + pc as i128 + 1;
                let imm = u32::try_from(absolute)
                    .ok()
                    .and_then(|a| i32::try_from(a).ok())
                    .ok_or_else(|| pos.error(format!("call target {absolute} is out of range")))?;
                self.functions
                    .entry(imm as usize)
                    .or_insert_with(|| format!("function_{imm}"));
                Ok(Insn::Call { src: 1, imm })
            }
            (Dialect::Sbpf | Dialect::Sbpf26(_), Operand::Name(name)) => {
                let target = self.label(name, *pos)?;
                let imm = i32::try_from(target)
                    .map_err(|_| pos.error(format!("call target {target} is out of range")))?;
                Ok(Insn::Call { src: 1, imm })
            }
            (Dialect::Ebpf, Operand::Int(v)) => Ok(Insn::Call {
                src: 0,
                imm: self.imm32(*v, *pos)?,
            }),
            (Dialect::Ebpf, Operand::Name(_)) => {
                Err(pos.error("a call to a label is written `call local <label>`"))
            }
            (_, Operand::Reg(_) | Operand::Mem { .. }) => {
                Err(pos.error("`call` expects an immediate, a label or a register"))
            }
        }
    }

    /// A pc-relative call with src 1 (V3, V4): `call imm` names the offset, `call label` the
    /// target, which is registered as a function either way.
    fn relative_call(&mut self, target: &(Operand, Pos), pc: usize) -> Result<Insn, AsmError> {
        let offset: i32 = self.jump(target, pc)?;
        let absolute = pc as i128 + 1 + i128::from(offset);
        if let Ok(absolute) = usize::try_from(absolute) {
            let name = match &target.0 {
                Operand::Name(name) => name.to_string(),
                Operand::Int(_) | Operand::Reg(_) | Operand::Mem { .. } => {
                    format!("function_{absolute}")
                }
            };
            self.functions.entry(absolute).or_insert(name);
        }
        Ok(Insn::Call {
            src: 1,
            imm: offset,
        })
    }

    /// The second operand of an ALU op or a branch.
    fn source(&self, operand: &(Operand, Pos)) -> Result<Source, AsmError> {
        match operand {
            (Operand::Reg(n), pos) => Ok(Source::Reg(reg(*n, *pos)?)),
            (Operand::Int(v), pos) => Ok(Source::Imm(self.imm32(*v, *pos)?)),
            (Operand::Mem { .. } | Operand::Name(_), pos) => {
                Err(pos.error("expected a register or an immediate"))
            }
        }
    }

    /// A jump or local-call offset: a literal, or a label resolved to `target - pc - 1`.
    fn jump<T: TryFrom<i128>>(&self, operand: &(Operand, Pos), pc: usize) -> Result<T, AsmError> {
        let (offset, pos) = match operand {
            (Operand::Int(v), pos) => (self.value(*v, *pos)?, *pos),
            (Operand::Name(name), pos) => (self.label(name, *pos)? as i128 - pc as i128 - 1, *pos),
            (Operand::Reg(_) | Operand::Mem { .. }, pos) => {
                return Err(pos.error("expected an offset or a label"))
            }
        };
        T::try_from(offset).map_err(|_| pos.error(format!("jump offset {offset} is out of range")))
    }

    fn label(&self, name: &str, pos: Pos) -> Result<usize, AsmError> {
        self.labels
            .get(name)
            .copied()
            .ok_or_else(|| pos.error(format!("unknown label `{name}`")))
    }

    /// The integer a literal denotes in this dialect.
    fn value(&self, lit: IntLit, pos: Pos) -> Result<i128, AsmError> {
        let magnitude = i128::from(lit.magnitude);
        match self.dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => {
                let as_i64 = match lit.radix {
                    Radix::Hex => lit.magnitude as i64,
                    Radix::Dec => i64::try_from(lit.magnitude)
                        .map_err(|_| pos.error("integer does not fit in 64 bits"))?,
                };
                Ok(i128::from(if lit.negative {
                    as_i64.wrapping_neg()
                } else {
                    as_i64
                }))
            }
            Dialect::Ebpf => Ok(if lit.negative { -magnitude } else { magnitude }),
        }
    }

    fn imm32(&self, lit: IntLit, pos: Pos) -> Result<i32, AsmError> {
        let value = self.value(lit, pos)?;
        let fits = match self.dialect {
            Dialect::Sbpf | Dialect::Sbpf26(_) => i32::try_from(value).is_ok(),
            Dialect::Ebpf => (i128::from(i32::MIN)..=i128::from(u32::MAX)).contains(&value),
        };
        if !fits {
            return Err(pos.error(format!("immediate {value} does not fit in 32 bits")));
        }
        Ok(value as u32 as i32)
    }

    fn imm64(&self, lit: IntLit, pos: Pos) -> Result<u64, AsmError> {
        let value = self.value(lit, pos)?;
        if !(i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&value) {
            return Err(pos.error(format!("immediate {value} does not fit in 64 bits")));
        }
        Ok(value as u64)
    }

    fn off16(&self, lit: IntLit, pos: Pos) -> Result<i16, AsmError> {
        let value = self.value(lit, pos)?;
        i16::try_from(value)
            .map_err(|_| pos.error(format!("offset {value} does not fit in 16 bits")))
    }
}

fn reg(number: u64, pos: Pos) -> Result<Reg, AsmError> {
    u8::try_from(number)
        .ok()
        .and_then(Reg::new)
        .ok_or_else(|| pos.error(format!("invalid register r{number}")))
}
