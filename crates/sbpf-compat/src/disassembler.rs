//! One instruction as text (solana-sbpf 0.26's `disassembler` module), in the syntax the
//! assembler reads: mnemonics of the program's version, jump targets by label, calls by
//! function or syscall name.

use crate::{
    ebpf::{self, Insn},
    program::{BuiltinProgram, FunctionRegistry, SBPFVersion},
    static_analysis::CfgNode,
    vm::ContextObject,
};
use std::collections::BTreeMap;

/// How an instruction's operands are written.
#[derive(Clone, Copy)]
enum Shape {
    /// `lddw rD, imm64` (hex).
    WideImmediate,
    /// `op rD, [rS+off]`.
    Load,
    /// `op [rD+off], imm`.
    StoreImmediate,
    /// `op [rD+off], rS`.
    StoreRegister,
    /// `op rD, imm`.
    AluImmediate,
    /// `op rD, rS`.
    AluRegister,
    /// `op rD`.
    Unary,
    /// `op<width> rD`.
    Endian,
    /// `op rD, imm, label`.
    JumpImmediate,
    /// `op rD, rS, label`.
    JumpRegister,
    /// `ja label`.
    Jump,
    /// `call name` / `syscall name`.
    Call,
    /// `callx rN`.
    CallRegister,
    /// `exit`.
    Exit,
}

/// Arithmetic in both widths: (immediate opcode, register opcode, name).
const ALU: [(u8, u8, &str); 18] = [
    (ebpf::ADD32_IMM, ebpf::ADD32_REG, "add32"),
    (ebpf::SUB32_IMM, ebpf::SUB32_REG, "sub32"),
    (ebpf::OR32_IMM, ebpf::OR32_REG, "or32"),
    (ebpf::AND32_IMM, ebpf::AND32_REG, "and32"),
    (ebpf::LSH32_IMM, ebpf::LSH32_REG, "lsh32"),
    (ebpf::RSH32_IMM, ebpf::RSH32_REG, "rsh32"),
    (ebpf::XOR32_IMM, ebpf::XOR32_REG, "xor32"),
    (ebpf::MOV32_IMM, ebpf::MOV32_REG, "mov32"),
    (ebpf::ARSH32_IMM, ebpf::ARSH32_REG, "arsh32"),
    (ebpf::ADD64_IMM, ebpf::ADD64_REG, "add64"),
    (ebpf::SUB64_IMM, ebpf::SUB64_REG, "sub64"),
    (ebpf::OR64_IMM, ebpf::OR64_REG, "or64"),
    (ebpf::AND64_IMM, ebpf::AND64_REG, "and64"),
    (ebpf::LSH64_IMM, ebpf::LSH64_REG, "lsh64"),
    (ebpf::RSH64_IMM, ebpf::RSH64_REG, "rsh64"),
    (ebpf::XOR64_IMM, ebpf::XOR64_REG, "xor64"),
    (ebpf::MOV64_IMM, ebpf::MOV64_REG, "mov64"),
    (ebpf::ARSH64_IMM, ebpf::ARSH64_REG, "arsh64"),
];

/// Multiplication, division and remainder before V2.
const MULDIV: [(u8, u8, &str); 6] = [
    (ebpf::MUL32_IMM, ebpf::MUL32_REG, "mul32"),
    (ebpf::DIV32_IMM, ebpf::DIV32_REG, "div32"),
    (ebpf::MOD32_IMM, ebpf::MOD32_REG, "mod32"),
    (ebpf::MUL64_IMM, ebpf::MUL64_REG, "mul64"),
    (ebpf::DIV64_IMM, ebpf::DIV64_REG, "div64"),
    (ebpf::MOD64_IMM, ebpf::MOD64_REG, "mod64"),
];

/// V2's product, quotient and remainder class.
const PQR: [(u8, u8, &str); 12] = [
    (ebpf::LMUL32_IMM, ebpf::LMUL32_REG, "lmul32"),
    (ebpf::LMUL64_IMM, ebpf::LMUL64_REG, "lmul64"),
    (ebpf::UHMUL64_IMM, ebpf::UHMUL64_REG, "uhmul64"),
    (ebpf::SHMUL64_IMM, ebpf::SHMUL64_REG, "shmul64"),
    (ebpf::UDIV32_IMM, ebpf::UDIV32_REG, "udiv32"),
    (ebpf::UDIV64_IMM, ebpf::UDIV64_REG, "udiv64"),
    (ebpf::UREM32_IMM, ebpf::UREM32_REG, "urem32"),
    (ebpf::UREM64_IMM, ebpf::UREM64_REG, "urem64"),
    (ebpf::SDIV32_IMM, ebpf::SDIV32_REG, "sdiv32"),
    (ebpf::SDIV64_IMM, ebpf::SDIV64_REG, "sdiv64"),
    (ebpf::SREM32_IMM, ebpf::SREM32_REG, "srem32"),
    (ebpf::SREM64_IMM, ebpf::SREM64_REG, "srem64"),
];

/// The 64-bit conditional jumps.
const JUMPS64: [(u8, u8, &str); 11] = [
    (ebpf::JEQ64_IMM, ebpf::JEQ64_REG, "jeq"),
    (ebpf::JGT64_IMM, ebpf::JGT64_REG, "jgt"),
    (ebpf::JGE64_IMM, ebpf::JGE64_REG, "jge"),
    (ebpf::JLT64_IMM, ebpf::JLT64_REG, "jlt"),
    (ebpf::JLE64_IMM, ebpf::JLE64_REG, "jle"),
    (ebpf::JSET64_IMM, ebpf::JSET64_REG, "jset"),
    (ebpf::JNE64_IMM, ebpf::JNE64_REG, "jne"),
    (ebpf::JSGT64_IMM, ebpf::JSGT64_REG, "jsgt"),
    (ebpf::JSGE64_IMM, ebpf::JSGE64_REG, "jsge"),
    (ebpf::JSLT64_IMM, ebpf::JSLT64_REG, "jslt"),
    (ebpf::JSLE64_IMM, ebpf::JSLE64_REG, "jsle"),
];

/// V3's 32-bit conditional jumps.
const JUMPS32: [(u8, u8, &str); 11] = [
    (ebpf::JEQ32_IMM, ebpf::JEQ32_REG, "jeq32"),
    (ebpf::JGT32_IMM, ebpf::JGT32_REG, "jgt32"),
    (ebpf::JGE32_IMM, ebpf::JGE32_REG, "jge32"),
    (ebpf::JLT32_IMM, ebpf::JLT32_REG, "jlt32"),
    (ebpf::JLE32_IMM, ebpf::JLE32_REG, "jle32"),
    (ebpf::JSET32_IMM, ebpf::JSET32_REG, "jset32"),
    (ebpf::JNE32_IMM, ebpf::JNE32_REG, "jne32"),
    (ebpf::JSGT32_IMM, ebpf::JSGT32_REG, "jsgt32"),
    (ebpf::JSGE32_IMM, ebpf::JSGE32_REG, "jsge32"),
    (ebpf::JSLT32_IMM, ebpf::JSLT32_REG, "jslt32"),
    (ebpf::JSLE32_IMM, ebpf::JSLE32_REG, "jsle32"),
];

/// Loads and stores by width: (load, store immediate, store register, suffix), in the classes
/// before V2 and in V2's.
const MEMORY: [[(u8, u8, u8, &str); 4]; 2] = [
    [
        (ebpf::LD_B_REG, ebpf::ST_B_IMM, ebpf::ST_B_REG, "b"),
        (ebpf::LD_H_REG, ebpf::ST_H_IMM, ebpf::ST_H_REG, "h"),
        (ebpf::LD_W_REG, ebpf::ST_W_IMM, ebpf::ST_W_REG, "w"),
        (ebpf::LD_DW_REG, ebpf::ST_DW_IMM, ebpf::ST_DW_REG, "dw"),
    ],
    [
        (ebpf::LD_1B_REG, ebpf::ST_1B_IMM, ebpf::ST_1B_REG, "b"),
        (ebpf::LD_2B_REG, ebpf::ST_2B_IMM, ebpf::ST_2B_REG, "h"),
        (ebpf::LD_4B_REG, ebpf::ST_4B_IMM, ebpf::ST_4B_REG, "w"),
        (ebpf::LD_8B_REG, ebpf::ST_8B_IMM, ebpf::ST_8B_REG, "dw"),
    ],
];

/// Looks `opc` up in a table of (immediate, register, name) pairs.
fn pair(
    table: &[(u8, u8, &'static str)],
    opc: u8,
    imm: Shape,
    reg: Shape,
) -> Option<(String, Shape)> {
    table.iter().find_map(|&(imm_opc, reg_opc, name)| {
        if opc == imm_opc {
            Some((name.to_owned(), imm))
        } else if opc == reg_opc {
            Some((name.to_owned(), reg))
        } else {
            None
        }
    })
}

/// The mnemonic and operand shape of `opc` in `version`, if the version has it.
fn mnemonic(opc: u8, version: SBPFVersion) -> Option<(String, Shape)> {
    use Shape::*;
    let memory = &MEMORY[usize::from(version.move_memory_instruction_classes())];
    if let Some(found) = memory
        .iter()
        .find_map(|&(load, st_imm, st_reg, suffix)| match opc {
            _ if opc == load => Some((format!("ldx{suffix}"), Load)),
            _ if opc == st_imm => Some((format!("st{suffix}"), StoreImmediate)),
            _ if opc == st_reg => Some((format!("stx{suffix}"), StoreRegister)),
            _ => None,
        })
    {
        return Some(found);
    }
    let named = |name: &str, shape| Some((name.to_owned(), shape));
    match opc {
        ebpf::LD_DW_IMM if !version.disable_lddw() => named("lddw", WideImmediate),
        ebpf::HOR64_IMM if version.disable_lddw() => named("hor64", AluImmediate),
        ebpf::NEG32 if !version.disable_neg() => named("neg32", Unary),
        ebpf::NEG64 if !version.disable_neg() => named("neg64", Unary),
        ebpf::LE if !version.disable_le() => named("le", Endian),
        ebpf::BE => named("be", Endian),
        ebpf::JA => named("ja", Jump),
        ebpf::CALL_IMM => named("call", Call),
        ebpf::CALL_REG => named("callx", CallRegister),
        ebpf::EXIT => named("exit", Exit),
        _ => pair(&ALU, opc, AluImmediate, AluRegister)
            .or_else(|| match version.enable_pqr() {
                true => pair(&PQR, opc, AluImmediate, AluRegister),
                false => pair(&MULDIV, opc, AluImmediate, AluRegister),
            })
            .or_else(|| pair(&JUMPS64, opc, JumpImmediate, JumpRegister))
            .or_else(|| match version.enable_jmp32() {
                true => pair(&JUMPS32, opc, JumpImmediate, JumpRegister),
                false => None,
            }),
    }
}

/// A memory offset with its sign (`+0x8`, `-0x10`).
fn signed_offset(offset: i16) -> String {
    match offset < 0 {
        true => format!("-{:#x}", -(offset as isize)),
        false => format!("+{offset:#x}"),
    }
}

/// The label of a jump target (or `[invalid]`).
fn label(cfg_nodes: &BTreeMap<usize, CfgNode>, insn: &Insn) -> String {
    let target = (insn.ptr as isize + insn.off as isize + 1) as usize;
    cfg_nodes
        .get(&target)
        .map_or_else(|| "[invalid]".to_owned(), |node| node.label.clone())
}

/// A call's text: `syscall name` or `call name`, by the version's rules (see
/// [`disassemble_instruction`]).
fn call_text<C: ContextObject>(
    insn: &Insn,
    pc: usize,
    cfg_nodes: &BTreeMap<usize, CfgNode>,
    function_registry: &FunctionRegistry<usize>,
    loader: &BuiltinProgram<C>,
    version: SBPFVersion,
) -> String {
    let key = version.calculate_call_imm_target_pc(pc, insn.imm);
    let function = |key: u32| {
        function_registry
            .lookup_by_key(key)
            .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
    };
    let mut mnemonic = "call";
    let mut name = None;
    if !version.static_syscalls() || insn.src == 0 {
        mnemonic = "syscall";
        name = loader
            .get_function_registry()
            .lookup_by_key(insn.imm as u32)
            .map(|(name, _)| String::from_utf8_lossy(name).into_owned());
    }
    if version.static_syscalls() {
        if insn.src == 1 {
            name =
                function(key).or_else(|| cfg_nodes.get(&(key as usize)).map(|n| n.label.clone()));
        }
    } else if let Some(internal) = function(key) {
        mnemonic = "call";
        name = Some(internal);
    }
    format!(
        "{mnemonic} {}",
        name.unwrap_or_else(|| insn.imm.to_string())
    )
}

/// `insn` (at slot `pc`) as text in `sbpf_version`'s syntax. Jump targets are named by the
/// labels of `cfg_nodes` (`[invalid]` when there is none), calls by the program's functions
/// and the loader's builtins (else the immediate). An opcode the version lacks is
/// `unknown opcode=0x..`.
pub fn disassemble_instruction<C: ContextObject>(
    insn: &Insn,
    pc: usize,
    cfg_nodes: &BTreeMap<usize, CfgNode>,
    function_registry: &FunctionRegistry<usize>,
    loader: &BuiltinProgram<C>,
    sbpf_version: SBPFVersion,
) -> String {
    let Some((name, shape)) = mnemonic(insn.opc, sbpf_version) else {
        return format!("unknown opcode={:#x}", insn.opc);
    };
    let (dst, src, imm) = (insn.dst, insn.src, insn.imm);
    let off = signed_offset(insn.off);
    match shape {
        Shape::WideImmediate => format!("{name} r{dst}, {imm:#x}"),
        Shape::Load => format!("{name} r{dst}, [r{src}{off}]"),
        Shape::StoreImmediate => format!("{name} [r{dst}{off}], {imm}"),
        Shape::StoreRegister => format!("{name} [r{dst}{off}], r{src}"),
        Shape::AluImmediate => format!("{name} r{dst}, {imm}"),
        Shape::AluRegister => format!("{name} r{dst}, r{src}"),
        Shape::Unary => format!("{name} r{dst}"),
        Shape::Endian => format!("{name}{imm} r{dst}"),
        Shape::JumpImmediate => format!("{name} r{dst}, {imm}, {}", label(cfg_nodes, insn)),
        Shape::JumpRegister => format!("{name} r{dst}, r{src}, {}", label(cfg_nodes, insn)),
        Shape::Jump => format!("{name} {}", label(cfg_nodes, insn)),
        Shape::Call => call_text(insn, pc, cfg_nodes, function_registry, loader, sbpf_version),
        Shape::CallRegister => {
            let register = if sbpf_version.callx_uses_src_reg() {
                src
            } else if sbpf_version.callx_uses_dst_reg() {
                dst
            } else {
                imm as u8
            };
            format!("{name} r{register}")
        }
        Shape::Exit => name,
    }
}
