//! The assembler (solana-sbpf 0.26's `assembler` module): text in the syntax of `parse` (its module doc) to
//! an executable of the loader's newest enabled version.
//!
//! Mnemonics are the real crate's: `add`/`add32`/`add64` and the other arithmetic names
//! (bare = 64-bit), the V2 product, quotient and remainder names (`lmul`, `uhmul`, `shmul`,
//! `udiv`, `urem`, `sdiv`, `srem`, with `32`/`64` suffixes where they exist), `neg`, `hor`,
//! `ldx{b,h,w,dw}`, `st{b,h,w,dw}`, `stx{b,h,w,dw}` (encoded in the version's memory classes),
//! `lddw`, the conditional jumps (bare = 64-bit, `32` suffix for JMP32), `ja`, `call`,
//! `syscall`, `callx`, `exit`, `be16`..`le64`, and the `.fill count, value` directive. Labels
//! named `entrypoint` or `function_*` are functions, registered under their pc. As in the real
//! crate, `add64 r10, imm` assembles to a no-op (`or64 r0, 0`) in versions without manual
//! stack frames, and `call imm` is pc-relative: V3 and later encode the offset (src 1),
//! earlier versions the target pc.

mod parse;

use crate::{
    ebpf::{self, Insn},
    elf::Executable,
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    vm::ContextObject,
};
use parse::{parse, Operand, Statement};
use std::collections::HashMap;
use std::sync::Arc;

/// What operands an instruction takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    AluBinary,
    AluUnary,
    LoadDwImm,
    LoadReg,
    StoreImm,
    StoreReg,
    JumpUnconditional,
    JumpConditional,
    Syscall,
    CallImm,
    CallReg,
    Endian(i64),
    NoOperand,
}

/// The arithmetic operations with both widths.
const ALU: [(&str, u8); 13] = [
    ("add", ebpf::BPF_ADD),
    ("sub", ebpf::BPF_SUB),
    ("mul", ebpf::BPF_MUL),
    ("div", ebpf::BPF_DIV),
    ("or", ebpf::BPF_OR),
    ("and", ebpf::BPF_AND),
    ("lsh", ebpf::BPF_LSH),
    ("rsh", ebpf::BPF_RSH),
    ("mod", ebpf::BPF_MOD),
    ("xor", ebpf::BPF_XOR),
    ("mov", ebpf::BPF_MOV),
    ("arsh", ebpf::BPF_ARSH),
    ("hor", ebpf::BPF_HOR),
];

/// V2's product, quotient and remainder operations, and whether they have a 32-bit form.
const PQR: [(&str, u8, bool); 7] = [
    ("lmul", ebpf::BPF_LMUL, true),
    ("uhmul", ebpf::BPF_UHMUL, false),
    ("shmul", ebpf::BPF_SHMUL, false),
    ("udiv", ebpf::BPF_UDIV, true),
    ("urem", ebpf::BPF_UREM, true),
    ("sdiv", ebpf::BPF_SDIV, true),
    ("srem", ebpf::BPF_SREM, true),
];

/// The jump conditions.
const JUMPS: [(&str, u8); 11] = [
    ("jeq", ebpf::BPF_JEQ),
    ("jgt", ebpf::BPF_JGT),
    ("jge", ebpf::BPF_JGE),
    ("jlt", ebpf::BPF_JLT),
    ("jle", ebpf::BPF_JLE),
    ("jset", ebpf::BPF_JSET),
    ("jne", ebpf::BPF_JNE),
    ("jsgt", ebpf::BPF_JSGT),
    ("jsge", ebpf::BPF_JSGE),
    ("jslt", ebpf::BPF_JSLT),
    ("jsle", ebpf::BPF_JSLE),
];

/// The memory sizes: suffix, size bits before V2, size bits in V2.
const SIZES: [(&str, u8, u8); 4] = [
    ("b", ebpf::BPF_B, ebpf::BPF_1B),
    ("h", ebpf::BPF_H, ebpf::BPF_2B),
    ("w", ebpf::BPF_W, ebpf::BPF_4B),
    ("dw", ebpf::BPF_DW, ebpf::BPF_8B),
];

/// `name` without its width suffix, and the width it names (64 for none).
fn split_width(name: &str) -> (&str, u8) {
    if let Some(base) = name.strip_suffix("32") {
        (base, 32)
    } else if let Some(base) = name.strip_suffix("64") {
        (base, 64)
    } else {
        (name, 64)
    }
}

/// The memory instruction `name` names in `version`.
fn memory(name: &str, version: SBPFVersion) -> Option<(Kind, u8)> {
    let moved = version.move_memory_instruction_classes();
    let (kind, rest, class) = if let Some(rest) = name.strip_prefix("ldx") {
        let class = match moved {
            true => ebpf::BPF_ALU32_LOAD | ebpf::BPF_X,
            false => ebpf::BPF_MEM | ebpf::BPF_LDX,
        };
        (Kind::LoadReg, rest, class)
    } else if let Some(rest) = name.strip_prefix("stx") {
        let class = match moved {
            true => ebpf::BPF_ALU64_STORE | ebpf::BPF_X,
            false => ebpf::BPF_MEM | ebpf::BPF_STX,
        };
        (Kind::StoreReg, rest, class)
    } else if let Some(rest) = name.strip_prefix("st") {
        let class = match moved {
            true => ebpf::BPF_ALU64_STORE | ebpf::BPF_K,
            false => ebpf::BPF_MEM | ebpf::BPF_ST,
        };
        (Kind::StoreImm, rest, class)
    } else {
        return None;
    };
    SIZES
        .iter()
        .find(|(suffix, _, _)| *suffix == rest)
        .map(|&(_, old, new)| (kind, class | if moved { new } else { old }))
}

/// The instruction `name` names, with its opcode (the `K`/`X` bit left for the operands).
fn lookup(name: &str, version: SBPFVersion) -> Option<(Kind, u8)> {
    let fixed = match name {
        "lddw" => Some((Kind::LoadDwImm, ebpf::LD_DW_IMM)),
        "ja" => Some((Kind::JumpUnconditional, ebpf::JA)),
        "syscall" => Some((Kind::Syscall, ebpf::CALL_IMM)),
        "call" => Some((Kind::CallImm, ebpf::CALL_IMM)),
        "callx" => Some((Kind::CallReg, ebpf::CALL_REG)),
        "exit" => Some((Kind::NoOperand, ebpf::EXIT)),
        "neg" | "neg64" => Some((Kind::AluUnary, ebpf::NEG64)),
        "neg32" => Some((Kind::AluUnary, ebpf::NEG32)),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    if let Some(found) = memory(name, version) {
        return Some(found);
    }
    for (prefix, size) in [("be", ebpf::BE), ("le", ebpf::LE)] {
        if let Some(width) = name.strip_prefix(prefix) {
            if let Some(bits) = ["16", "32", "64"].iter().find(|bits| **bits == width) {
                let bits = bits.parse::<i64>().unwrap_or(64);
                return Some((Kind::Endian(bits), size));
            }
        }
    }
    let (base, width) = split_width(name);
    let class = match width {
        32 => ebpf::BPF_ALU32_LOAD,
        _ => ebpf::BPF_ALU64_STORE,
    };
    if let Some((_, op)) = ALU.iter().find(|(alu, _)| *alu == base) {
        return Some((Kind::AluBinary, class | op));
    }
    if let Some((_, op, has32)) = PQR.iter().find(|(pqr, _, _)| *pqr == base) {
        return match width {
            32 if *has32 => Some((Kind::AluBinary, ebpf::BPF_PQR | op)),
            32 => None,
            _ => Some((Kind::AluBinary, ebpf::BPF_PQR | ebpf::BPF_B | op)),
        };
    }
    if let Some((_, condition)) = JUMPS.iter().find(|(jump, _)| *jump == base) {
        let class = match width {
            32 => ebpf::BPF_JMP32,
            _ => ebpf::BPF_JMP64,
        };
        return Some((Kind::JumpConditional, class | condition));
    }
    None
}

/// An instruction with its fields range-checked (registers 0..16, an i16 offset, an i32
/// immediate).
fn insn(opc: u8, dst: i64, src: i64, off: i64, imm: i64) -> Result<Insn, String> {
    if !(0..16).contains(&dst) {
        return Err(format!("Invalid destination register {dst}"));
    }
    if !(0..16).contains(&src) {
        return Err(format!("Invalid source register {src}"));
    }
    if off < i64::from(i16::MIN) || off > i64::from(i16::MAX) {
        return Err(format!("Invalid offset {off}"));
    }
    if imm < i64::from(i32::MIN) || imm > i64::from(i32::MAX) {
        return Err(format!("Invalid immediate {imm}"));
    }
    Ok(Insn {
        ptr: 0,
        opc,
        dst: dst as u8,
        src: src as u8,
        off: off as i16,
        imm,
    })
}

/// The assembler's state: version, labels, functions.
struct Assembler<'s> {
    version: SBPFVersion,
    labels: HashMap<&'s str, usize>,
    functions: FunctionRegistry<usize>,
}

impl<'s> Assembler<'s> {
    /// The offset of a jump at `pc` to `label`.
    fn offset_to(&self, pc: usize, label: &str) -> Result<i64, String> {
        self.labels
            .get(label)
            .map(|target| *target as i64 - pc as i64 - 1)
            .ok_or_else(|| format!("Label not found {label}"))
    }

    /// Registers `name` as a function at `pc` (keyed by the pc).
    fn function(&mut self, pc: usize, name: &str) -> Result<(), String> {
        self.functions
            .register_function(pc as u32, name.as_bytes(), pc)
            .map_err(|_| format!("Label hash collision {name}"))
    }

    /// Pass one: every label's pc, and the function labels.
    fn first_pass(&mut self, statements: &'s [Statement]) -> Result<(), String> {
        let mut pc = 0usize;
        self.labels.insert("entrypoint", 0);
        for statement in statements {
            match statement {
                Statement::Label { name } => {
                    if name.starts_with("function_") || name == "entrypoint" {
                        self.function(pc, name)?;
                    }
                    self.labels.insert(name.as_str(), pc);
                }
                Statement::Directive { name, operands } => {
                    if let ("fill", [Operand::Integer(count), Operand::Integer(_)]) =
                        (name.as_str(), operands.as_slice())
                    {
                        pc = pc.wrapping_add(*count as usize);
                    }
                }
                Statement::Instruction { name, .. } => {
                    pc += if name == "lddw" { 2 } else { 1 };
                }
            }
        }
        Ok(())
    }

    /// The instruction of `kind` with `operands` at `pc`.
    fn build(
        &mut self,
        kind: Kind,
        opc: u8,
        operands: &[Operand],
        pc: usize,
    ) -> Result<Insn, String> {
        use Operand::{Integer, Label, Memory, Register};
        let version = self.version;
        match (kind, operands) {
            (Kind::AluBinary, [Register(dst), Register(src)]) => {
                insn(opc | ebpf::BPF_X, *dst, *src, 0, 0)
            }
            (Kind::AluBinary, [Register(10), Integer(imm)]) if opc == ebpf::ADD64_IMM => {
                match version.manual_stack_frame_bump() {
                    true => insn(opc | ebpf::BPF_K, 10, 0, 0, *imm),
                    false => insn(ebpf::OR64_IMM, 0, 0, 0, 0),
                }
            }
            (Kind::AluBinary, [Register(dst), Integer(imm)]) => {
                insn(opc | ebpf::BPF_K, *dst, 0, 0, *imm)
            }
            (Kind::AluUnary, [Register(dst)]) => insn(opc, *dst, 0, 0, 0),
            (Kind::LoadReg, [Register(dst), Memory(src, off)])
            | (Kind::StoreReg, [Memory(dst, off), Register(src)]) => insn(opc, *dst, *src, *off, 0),
            (Kind::StoreImm, [Memory(dst, off), Integer(imm)]) => insn(opc, *dst, 0, *off, *imm),
            (Kind::NoOperand, []) => insn(opc, 0, 0, 0, 0),
            (Kind::JumpUnconditional, [Integer(off)]) => insn(opc, 0, 0, *off, 0),
            (Kind::JumpUnconditional, [Label(label)]) => {
                insn(opc, 0, 0, self.offset_to(pc, label)?, 0)
            }
            (Kind::JumpConditional, [Register(dst), Register(src), Integer(off)]) => {
                insn(opc | ebpf::BPF_X, *dst, *src, *off, 0)
            }
            (Kind::JumpConditional, [Register(dst), Integer(imm), Integer(off)]) => {
                insn(opc | ebpf::BPF_K, *dst, 0, *off, *imm)
            }
            (Kind::JumpConditional, [Register(dst), Register(src), Label(label)]) => {
                insn(opc | ebpf::BPF_X, *dst, *src, self.offset_to(pc, label)?, 0)
            }
            (Kind::JumpConditional, [Register(dst), Integer(imm), Label(label)]) => {
                insn(opc | ebpf::BPF_K, *dst, 0, self.offset_to(pc, label)?, *imm)
            }
            (Kind::CallImm, [Integer(imm)]) => {
                let target = *imm + pc as i64 + 1;
                self.function(target as usize, &format!("function_{}", target as usize))?;
                let static_syscalls = version.static_syscalls();
                let encoded = if static_syscalls { *imm } else { target };
                insn(opc, 0, i64::from(static_syscalls), 0, encoded)
            }
            (Kind::CallImm, [Label(label)]) => {
                let mut target = *self
                    .labels
                    .get(label.as_str())
                    .ok_or_else(|| format!("Label not found {label}"))?
                    as i64;
                if version.static_syscalls() {
                    target = target - pc as i64 - 1;
                }
                insn(opc, 0, i64::from(version.static_syscalls()), 0, target)
            }
            (Kind::Syscall, [Label(label)]) => {
                let key = ebpf::hash_symbol_name(label.as_bytes()) as i32;
                insn(opc, 0, 0, 0, i64::from(key))
            }
            (Kind::Syscall, [Integer(imm)]) => insn(opc, 0, 0, 0, *imm),
            (Kind::CallReg, [Register(register)]) => {
                if version.callx_uses_src_reg() {
                    insn(opc, 0, *register, 0, 0)
                } else if version.callx_uses_dst_reg() {
                    insn(opc, *register, 0, 0, 0)
                } else {
                    insn(opc, 0, 0, 0, *register)
                }
            }
            (Kind::Endian(bits), [Register(dst)]) => insn(opc, *dst, 0, 0, bits),
            (Kind::LoadDwImm, [Register(dst), Integer(imm)]) => {
                insn(opc, *dst, 0, 0, (*imm << 32) >> 32)
            }
            _ => Err(format!("Unexpected operands: {operands:?}")),
        }
    }

    /// Pass two: the instructions.
    fn second_pass(&mut self, statements: &[Statement]) -> Result<Vec<Insn>, String> {
        let mut pc = 0usize;
        let mut instructions = Vec::new();
        for statement in statements {
            match statement {
                Statement::Label { .. } => {}
                Statement::Directive { name, operands } => {
                    match (name.as_str(), operands.as_slice()) {
                        ("fill", [Operand::Integer(count), Operand::Integer(value)]) => {
                            for _ in 0..*count {
                                instructions.push(Insn {
                                    ptr: pc,
                                    opc: *value as u8,
                                    dst: (*value >> 8) as u8 & 0xF,
                                    src: (*value >> 12) as u8 & 0xF,
                                    off: (*value >> 16) as u16 as i16,
                                    imm: i64::from((*value >> 32) as u32),
                                });
                                pc += 1;
                            }
                        }
                        _ => return Err(format!("Invalid directive {name:?}")),
                    }
                }
                Statement::Instruction { name, operands } => {
                    let (kind, opc) = lookup(name, self.version)
                        .ok_or_else(|| format!("Invalid instruction {name:?}"))?;
                    let mut built = self.build(kind, opc, operands, pc)?;
                    built.ptr = pc;
                    instructions.push(built);
                    pc += 1;
                    if let (Kind::LoadDwImm, Some(Operand::Integer(imm))) = (kind, operands.get(1))
                    {
                        instructions.push(Insn {
                            ptr: pc,
                            imm: imm >> 32,
                            ..Insn::default()
                        });
                        pc += 1;
                    }
                }
            }
        }
        Ok(instructions)
    }
}

/// Assembles `src` for `loader`'s newest enabled version into an executable (see the module
/// doc); the error says what is wrong.
pub fn assemble<C: ContextObject>(
    src: &str,
    loader: Arc<BuiltinProgram<C>>,
) -> Result<Executable<C>, String> {
    let version = *loader.get_config().enabled_sbpf_versions.end();
    let statements = parse(src)?;
    let mut assembler = Assembler {
        version,
        labels: HashMap::new(),
        functions: FunctionRegistry::default(),
    };
    assembler.first_pass(&statements)?;
    let instructions = assembler.second_pass(&statements)?;
    let text: Vec<u8> = instructions
        .iter()
        .flat_map(|insn| insn.to_array())
        .collect();
    Executable::<C>::from_text_bytes(&text, loader, version, assembler.functions)
        .map_err(|error| format!("Executable constructor {error:?}"))
}
