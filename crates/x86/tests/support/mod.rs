//! The round-trip oracle: decode what the Assembler emitted with iced-x86 and compare the
//! structured result (mnemonic, operands, lock prefix, length) with what the test asked for.
#![allow(dead_code, reason = "shared by several test crates, each using a part")]

use bpfvm_x86::{Assembler, EncodeError, Gpr, Mem, Size};
use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

/// One decoded operand, in a form both sides can build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A register.
    R(Register),
    /// A memory operand; `bytes` is iced's memory size (0 for `lea`).
    M {
        base: Register,
        index: Register,
        scale: u32,
        disp: u64,
        bytes: usize,
    },
    /// An immediate as iced reports it (zero-extended from the operand width; sign-extended
    /// for 64-bit operands).
    I(u64),
    /// A branch target (absolute offset in the buffer).
    Target(u64),
}

/// The expected decoding of one instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub mnemonic: Mnemonic,
    pub ops: Vec<Op>,
    pub lock: bool,
}

pub fn expect(mnemonic: Mnemonic, ops: Vec<Op>) -> Expect {
    Expect {
        mnemonic,
        ops,
        lock: false,
    }
}

pub fn locked(mnemonic: Mnemonic, ops: Vec<Op>) -> Expect {
    Expect {
        mnemonic,
        ops,
        lock: true,
    }
}

/// iced's name for `gpr` at width `size`.
pub fn reg(gpr: Gpr, size: Size) -> Register {
    let first = match size {
        Size::S8 => {
            // iced orders AL, CL, DL, BL, AH, CH, DH, BH, SPL, BPL, SIL, DIL, R8L..R15L.
            return [
                Register::AL,
                Register::CL,
                Register::DL,
                Register::BL,
                Register::SPL,
                Register::BPL,
                Register::SIL,
                Register::DIL,
                Register::R8L,
                Register::R9L,
                Register::R10L,
                Register::R11L,
                Register::R12L,
                Register::R13L,
                Register::R14L,
                Register::R15L,
            ][gpr as usize];
        }
        Size::S16 => Register::AX,
        Size::S32 => Register::EAX,
        Size::S64 => Register::RAX,
    };
    Register::try_from(first as usize + gpr as usize).unwrap()
}

pub fn r(gpr: Gpr, size: Size) -> Op {
    Op::R(reg(gpr, size))
}

/// The expected operand for `mem` accessed with `bytes` bytes.
pub fn m(mem: &Mem, bytes: usize) -> Op {
    let (index, scale) = match mem.index {
        Some((index, scale)) => (reg(index, Size::S64), scale.factor()),
        None => (Register::None, 1),
    };
    Op::M {
        base: reg(mem.base, Size::S64),
        index,
        scale,
        disp: i64::from(mem.disp) as u64,
        bytes,
    }
}

/// The immediate iced reports for `value` used at `size`.
pub fn imm(size: Size, value: i64) -> Op {
    Op::I(match size {
        Size::S8 => value as u8 as u64,
        Size::S16 => value as u16 as u64,
        Size::S32 => value as u32 as u64,
        Size::S64 => value as u64,
    })
}

pub fn bytes(size: Size) -> usize {
    size.bits() as usize / 8
}

fn actual_ops(insn: &Instruction) -> Vec<Op> {
    (0..insn.op_count())
        .map(|n| match insn.op_kind(n) {
            OpKind::Register => Op::R(insn.op_register(n)),
            OpKind::Memory => Op::M {
                base: insn.memory_base(),
                index: insn.memory_index(),
                scale: insn.memory_index_scale(),
                disp: insn.memory_displacement64(),
                bytes: insn.memory_size().size(),
            },
            OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64 => {
                Op::Target(insn.near_branch_target())
            }
            // iced sign-extends an imm8 of a 16- or 32-bit operation to 64 bits; the operation
            // sees it at its own width, as `imm` expects.
            OpKind::Immediate8to16 => Op::I(u64::from(insn.immediate8to16() as u16)),
            OpKind::Immediate8to32 => Op::I(u64::from(insn.immediate8to32() as u32)),
            _ => Op::I(insn.immediate(n)),
        })
        .collect()
}

/// Decodes one instruction at `start` with RIP = `start`.
pub fn decode_at(code: &[u8], start: usize) -> Instruction {
    let mut decoder = Decoder::with_ip(64, &code[start..], start as u64, DecoderOptions::NONE);
    decoder.decode()
}

/// Counts cases and collects mismatches, so one run reports every failure.
#[derive(Default)]
pub struct Checker {
    pub count: usize,
    pub failures: Vec<String>,
}

impl Checker {
    /// Emits one instruction into a fresh assembler and compares its decoding.
    pub fn check(
        &mut self,
        what: impl Fn() -> String,
        emit: impl FnOnce(&mut Assembler) -> Result<(), EncodeError>,
        want: Expect,
    ) {
        let mut asm = Assembler::new();
        match emit(&mut asm).and_then(|()| asm.finish()) {
            Ok(code) => {
                let len = code.len();
                self.compare(what, &code, 0, len, want, CompareOps::All);
            }
            Err(error) => {
                self.count += 1;
                self.failures
                    .push(format!("{}: encode error {error:?}", what()));
            }
        }
    }

    /// Compares the instruction in `code[start..end]`.
    pub fn compare(
        &mut self,
        what: impl Fn() -> String,
        code: &[u8],
        start: usize,
        end: usize,
        want: Expect,
        ops: CompareOps,
    ) {
        self.count += 1;
        let insn = decode_at(code, start);
        let got = Expect {
            mnemonic: insn.mnemonic(),
            ops: match ops {
                CompareOps::All => actual_ops(&insn),
                CompareOps::MnemonicOnly => want.ops.clone(),
            },
            lock: insn.has_lock_prefix(),
        };
        let hex: String = code[start..end]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if insn.is_invalid() || insn.len() != end - start {
            self.failures.push(format!(
                "{}: [{hex}] decoded {} bytes as `{insn}`",
                what(),
                insn.len()
            ));
        } else if got != want {
            self.failures.push(format!(
                "{}: [{hex}] `{insn}`\n  got  {got:?}\n  want {want:?}",
                what()
            ));
        }
    }

    /// Fails the test with the first mismatches if there are any.
    pub fn finish(self, minimum: usize) -> usize {
        let shown: Vec<&String> = self.failures.iter().take(6).collect();
        assert!(
            self.failures.is_empty(),
            "{} of {} encodings disagree with iced:\n{shown:#?}",
            self.failures.len(),
            self.count
        );
        assert!(self.count >= minimum, "only {} cases ran", self.count);
        self.count
    }
}

/// Whether to compare operands or only the mnemonic and length (multi-byte NOPs).
#[derive(Clone, Copy)]
pub enum CompareOps {
    All,
    MnemonicOnly,
}
