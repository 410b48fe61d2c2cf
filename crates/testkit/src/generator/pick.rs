//! The first pass of the generator: choosing instructions, function by function.
//!
//! Each "unit" appends one or a few items: an ALU operation, a memory access through one of
//! the registers that were pointed at a region, a branch, a call, and so on. Everything chosen
//! here respects the verifier's rules for the dialect and configuration (register ranges,
//! non-zero immediate divisors and in-range immediate shifts in sBPF, r11 only with dynamic
//! frames, `sdiv` only when enabled), so only the layout pass can still go wrong, and it
//! cannot: it picks jump targets from instruction starts.

mod loops;

use super::{Item, JumpTarget, Rng, TextTarget};
use crate::syscalls::standard_keys;
use bpfvm::{Config, MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};
use bpfvm_isa::{
    AluOp, AtomicOp, Cond, Dialect, EndianOp, Extend, Insn, MemSize, PqrOp, Reg, SbpfVersion,
    Source, Width,
};

/// What the program is generated for.
pub(crate) struct Shape {
    /// The dialect.
    pub dialect: Dialect,
    /// The configuration.
    pub config: Config,
    /// Jumps only forward and calls only to later functions (metering is off).
    pub loop_free: bool,
    /// The input region's length.
    pub input_len: u64,
    /// The heap's length.
    pub heap_size: u64,
}

impl Shape {
    fn sbpf(&self) -> bool {
        self.dialect.is_sbpf()
    }

    /// The SBPF version of a version dialect.
    fn version(&self) -> Option<SbpfVersion> {
        self.dialect.version()
    }
}

const IMMEDIATES: [i32; 22] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    8,
    15,
    16,
    31,
    32,
    33,
    63,
    64,
    0x7f,
    0xff,
    0x7fff,
    0xffff,
    i32::MAX,
    i32::MIN,
    -2,
    -8,
];

const CONSTANTS: [u64; 9] = [
    0,
    1,
    u64::MAX,
    i64::MIN as u64,
    i64::MAX as u64,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0xffff_ffff_8000_0000,
];

/// Chooses the items of every function (one to four functions, the entry first).
pub(crate) fn functions(rng: &mut Rng, shape: &Shape) -> Vec<Vec<Item>> {
    let count = rng.range(1, 4) as usize;
    (0..count)
        .map(|index| {
            let mut picker = Picker {
                rng: &mut *rng,
                shape,
                index,
                count,
                items: Vec::new(),
                address_regs: vec![Reg::R1, Reg::R10],
            };
            picker.body(index + 1 == count);
            picker.items
        })
        .collect()
}

struct Picker<'a> {
    rng: &'a mut Rng,
    shape: &'a Shape,
    index: usize,
    count: usize,
    items: Vec<Item>,
    address_regs: Vec<Reg>,
}

fn reg(number: u64) -> Reg {
    Reg::new((number & 0x0f) as u8).unwrap_or(Reg::R0)
}

impl Picker<'_> {
    fn body(&mut self, last_function: bool) {
        let units = self.rng.range(2, 24);
        for _ in 0..units {
            self.unit();
        }
        let overrun = last_function && self.rng.chance(1, 8);
        if overrun {
            // Falling off the end of the text: ExecutionOverrun. A trailing jump would make a
            // loop-free program jump to itself, so end with a plain instruction.
            if matches!(self.items.last(), Some(Item::Jump { .. }) | None) {
                self.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst: Reg::R0,
                    src: Source::Imm(1),
                });
            }
        } else {
            self.push(Insn::Exit);
        }
    }

    fn push(&mut self, insn: Insn) {
        self.items.push(Item::Fixed(insn));
    }

    fn unit(&mut self) {
        let sbpf = self.shape.sbpf();
        let r11 = self.shape.dialect == Dialect::Sbpf && self.shape.config.dynamic_stack_frames;
        let weights = [
            30,                                                 // 0 ALU
            2,                                                  // 1 neg
            3,                                                  // 2 endian
            4,                                                  // 3 lddw constant
            7,                                                  // 4 address setup
            9,                                                  // 5 load
            9,                                                  // 6 store
            8,                                                  // 7 branch
            2,                                                  // 8 ja
            4,                                                  // 9 internal call
            3,                                                  // 10 syscall
            1,                                                  // 11 unknown call
            3,                                                  // 12 callx
            1,                                                  // 13 exit
            if r11 { 3 } else { 0 },                            // 14 r11
            if sbpf { 0 } else { 4 },                           // 15 atomics
            2,                                                  // 16 division hazard
            3, // 17 tight loop with a base and a bounded index
            if self.shape.version().is_some() { 6 } else { 0 }, // 18 the version's own
        ];
        match self.rng.weighted(&weights) {
            0 => self.alu(),
            1 => self.neg(),
            2 => self.endian(),
            3 => self.constant(),
            4 => self.address(),
            5 => self.load(),
            6 => self.store(),
            7 => self.branch(),
            8 => self.ja(),
            9 => self.call_function(),
            10 => self.syscall(),
            11 => self.unknown_call(),
            12 => self.callx(),
            13 => self.push(Insn::Exit),
            14 => self.move_stack_pointer(),
            15 => self.atomic(),
            16 => self.division_hazard(),
            18 => self.version_op(),
            _ => self.hoist_loop(),
        }
    }

    fn dst(&mut self) -> Reg {
        if self.rng.chance(1, 3) {
            Reg::R0
        } else {
            reg(self.rng.range(0, 9))
        }
    }

    fn readable(&mut self) -> Reg {
        reg(self.rng.range(0, 10))
    }

    fn imm(&mut self) -> i32 {
        if self.rng.chance(2, 3) {
            self.rng.pick(&IMMEDIATES).unwrap_or(0)
        } else {
            self.rng.next_u64() as i32
        }
    }

    fn width(&mut self) -> Width {
        if self.rng.chance(1, 2) {
            Width::W32
        } else {
            Width::W64
        }
    }

    fn alu(&mut self) {
        let width = self.width();
        let dst = self.dst();
        let mut ops = vec![
            AluOp::Add,
            AluOp::Sub,
            AluOp::Mul,
            AluOp::Div,
            AluOp::Mod,
            AluOp::Or,
            AluOp::And,
            AluOp::Lsh,
            AluOp::Rsh,
            AluOp::Arsh,
            AluOp::Xor,
            AluOp::Mov,
        ];
        // The 2022 signed division exists only under its flag (V2 has its own, in PQR).
        let sdiv = self.shape.dialect == Dialect::Sbpf && self.shape.config.enable_sdiv;
        if !self.shape.sbpf() || sdiv {
            ops.push(AluOp::SDiv);
        }
        if !self.shape.sbpf() {
            ops.extend([
                AluOp::SMod,
                AluOp::MovSx(MemSize::B),
                AluOp::MovSx(MemSize::H),
            ]);
            if width == Width::W64 {
                ops.push(AluOp::MovSx(MemSize::W));
            }
        }
        let op = self.rng.pick(&ops).unwrap_or(AluOp::Add);
        let src = self.alu_source(op, width);
        self.push(Insn::Alu {
            width,
            op,
            dst,
            src,
        });
    }

    fn alu_source(&mut self, op: AluOp, width: Width) -> Source {
        if matches!(op, AluOp::MovSx(_)) || self.rng.chance(2, 5) {
            return Source::Reg(self.readable());
        }
        let sbpf = self.shape.sbpf();
        match op {
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh if sbpf || self.rng.chance(3, 4) => {
                Source::Imm(self.rng.below(u64::from(width.bits())) as i32)
            }
            AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod if sbpf => {
                let imm = self.imm();
                Source::Imm(if imm == 0 { -1 } else { imm })
            }
            _ => Source::Imm(self.imm()),
        }
    }

    fn neg(&mut self) {
        let width = self.width();
        let dst = self.dst();
        self.push(Insn::Neg { width, dst });
    }

    fn endian(&mut self) {
        let mut ops = vec![EndianOp::ToLe, EndianOp::ToBe];
        if !self.shape.sbpf() {
            ops.push(EndianOp::Swap);
        }
        let op = self.rng.pick(&ops).unwrap_or(EndianOp::ToBe);
        let bits = self.rng.pick(&[16, 32, 64]).unwrap_or(64);
        let dst = self.dst();
        self.push(Insn::Endian { op, dst, bits });
    }

    fn constant(&mut self) {
        let dst = self.dst();
        let imm = if self.rng.chance(1, 2) {
            self.rng.pick(&CONSTANTS).unwrap_or(0)
        } else {
            self.rng.next_u64()
        };
        self.push(Insn::LoadImm64 { dst, imm });
    }

    /// Points a register at (or near, or far from) a memory region.
    fn address(&mut self) {
        let dst = reg(self.rng.range(1, 9));
        let frame = self.shape.config.stack_frame_size as u64;
        let stack = self.shape.config.stack_size() as u64;
        let input_end = self.shape.input_len + 8;
        let imm = match self.rng.weighted(&[35, 20, 10, 10, 5, 5, 5, 10]) {
            0 => MM_INPUT_START + self.rng.range(0, input_end),
            1 => {
                let below = self.rng.range(0, frame + 16) as i32;
                self.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Mov,
                    dst,
                    src: Source::Reg(Reg::R10),
                });
                self.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Sub,
                    dst,
                    src: Source::Imm(below),
                });
                self.address_regs.push(dst);
                return;
            }
            2 => MM_STACK_START + self.rng.range(0, stack + frame),
            3 => MM_HEAP_START + self.rng.range(0, self.shape.heap_size + 8),
            4 => MM_PROGRAM_START + self.rng.range(0, 64),
            5 => MM_STACK_START.wrapping_sub(self.rng.range(1, 2 * frame + 8)),
            6 => MM_INPUT_START.wrapping_sub(self.rng.range(1, 8)),
            _ => self
                .rng
                .pick(&[0, 8, 0x5_0000_0000, u64::MAX - 7, 0x2_ffff_fffc])
                .unwrap_or(0),
        };
        self.push(Insn::LoadImm64 { dst, imm });
        self.address_regs.push(dst);
    }

    fn base(&mut self) -> Reg {
        if self.rng.chance(9, 10) {
            let regs = self.address_regs.clone();
            self.rng.pick(&regs).unwrap_or(Reg::R1)
        } else {
            self.readable()
        }
    }

    /// An offset for an access through `base`: below the frame pointer for r10, mostly
    /// small and in range for the other registers, sometimes anything.
    fn offset(&mut self, base: Reg) -> i16 {
        if self.rng.chance(1, 20) {
            self.rng.next_u64() as i16
        } else if base == Reg::R10 {
            self.rng.range_i64(-64, 4) as i16
        } else {
            let high = (self.shape.input_len as i64).clamp(8, 64);
            self.rng.range_i64(-4, high) as i16
        }
    }

    fn size(&mut self) -> MemSize {
        self.rng
            .pick(&[MemSize::B, MemSize::H, MemSize::W, MemSize::DW])
            .unwrap_or(MemSize::W)
    }

    fn load(&mut self) {
        let size = self.size();
        let extend = if !self.shape.sbpf() && size != MemSize::DW && self.rng.chance(1, 3) {
            Extend::Sign
        } else {
            Extend::Zero
        };
        let base = self.base();
        let off = self.offset(base);
        let dst = self.dst();
        self.push(Insn::Load {
            size,
            extend,
            dst,
            base,
            off,
        });
        if dst != base && self.rng.chance(1, 4) {
            self.read_modify_write(size, base, off, dst);
        }
    }

    /// Completes a load into `dst` as a read-modify-write (`ldx; op; stx`, the JIT's pairs
    /// of accesses through one base): maybe an ALU step on `dst`, maybe a forward branch
    /// over the store, then the store to the same address or a neighbouring one.
    fn read_modify_write(&mut self, size: MemSize, base: Reg, off: i16, dst: Reg) {
        if self.rng.chance(2, 3) {
            let op = self
                .rng
                .pick(&[AluOp::Add, AluOp::Sub, AluOp::Xor, AluOp::Or])
                .unwrap_or(AluOp::Add);
            let imm = self.imm();
            self.push(Insn::Alu {
                width: Width::W64,
                op,
                dst,
                src: Source::Imm(imm),
            });
        }
        if self.rng.chance(1, 4) {
            self.branch_over_next();
        }
        let (size, off) = match self.rng.chance(1, 3) {
            true => (
                self.size(),
                off.wrapping_add(self.rng.range_i64(-8, 9) as i16),
            ),
            false => (size, off),
        };
        self.push(Insn::Store {
            size,
            base,
            off,
            src: Source::Reg(dst),
        });
    }

    /// A conditional jump over the next item.
    fn branch_over_next(&mut self) {
        let cond = self.rng.pick(&Cond::ALL).unwrap_or(Cond::Eq);
        let template = Insn::Branch {
            width: Width::W64,
            cond,
            // Not r10: the verifier takes a branch's dst for a written register.
            dst: reg(self.rng.range(0, 9)),
            src: Source::Imm(self.imm()),
            off: 0,
        };
        self.items.push(Item::Jump {
            template,
            target: JumpTarget::Forward(1),
        });
    }

    fn store(&mut self) {
        let size = self.size();
        let base = self.base();
        let off = self.offset(base);
        let src = if self.rng.chance(1, 2) {
            Source::Imm(self.imm())
        } else {
            Source::Reg(self.readable())
        };
        self.push(Insn::Store {
            size,
            base,
            off,
            src,
        });
    }

    fn atomic(&mut self) {
        let size = if self.rng.chance(1, 2) {
            MemSize::W
        } else {
            MemSize::DW
        };
        let ops = [
            AtomicOp::Add,
            AtomicOp::Or,
            AtomicOp::And,
            AtomicOp::Xor,
            AtomicOp::FetchAdd,
            AtomicOp::FetchOr,
            AtomicOp::FetchAnd,
            AtomicOp::FetchXor,
            AtomicOp::Xchg,
            AtomicOp::CmpXchg,
        ];
        let op = self.rng.pick(&ops).unwrap_or(AtomicOp::Add);
        let base = self.base();
        let off = self.rng.range_i64(-8, 24) as i16;
        let src = reg(self.rng.range(0, 9));
        self.push(Insn::Atomic {
            size,
            op,
            base,
            off,
            src,
        });
    }

    fn jump_target(&mut self) -> JumpTarget {
        if self.shape.loop_free {
            return JumpTarget::Forward(self.rng.range(0, 6) as usize);
        }
        match self.rng.weighted(&[6, 3, 1]) {
            0 => JumpTarget::Forward(self.rng.range(0, 6) as usize),
            1 => JumpTarget::Backward(self.rng.range(0, 8) as usize),
            _ => JumpTarget::Anywhere(self.rng.next_u64() as usize),
        }
    }

    fn branch(&mut self) {
        let width = if self.shape.sbpf() || self.rng.chance(1, 2) {
            Width::W64
        } else {
            Width::W32
        };
        let cond = self.rng.pick(&Cond::ALL).unwrap_or(Cond::Eq);
        let dst = reg(self.rng.range(0, 9));
        let src = if self.rng.chance(1, 2) {
            Source::Imm(self.imm())
        } else {
            Source::Reg(self.readable())
        };
        let template = Insn::Branch {
            width,
            cond,
            dst,
            src,
            off: 0,
        };
        let target = self.jump_target();
        self.items.push(Item::Jump { template, target });
    }

    fn ja(&mut self) {
        let template = if !self.shape.sbpf() && self.rng.chance(1, 3) {
            Insn::JaLong { off: 0 }
        } else {
            Insn::Ja { off: 0 }
        };
        let target = self.jump_target();
        self.items.push(Item::Jump { template, target });
    }

    /// A function this one may call: any with the meter on, only later ones without.
    fn callee(&mut self) -> Option<usize> {
        if self.shape.loop_free {
            let first = self.index + 1;
            (first < self.count).then(|| first + self.rng.index(self.count - first))
        } else {
            Some(self.rng.index(self.count))
        }
    }

    fn call_function(&mut self) {
        if let Some(function) = self.callee() {
            self.items.push(Item::CallFunction { function });
        }
    }

    fn syscall(&mut self) {
        let keys = standard_keys();
        let key = keys[self.rng.weighted(&[35, 35, 25, 5])];
        if self.rng.chance(2, 3) {
            let offset = self.rng.range(0, self.shape.input_len + 4);
            self.push(Insn::LoadImm64 {
                dst: Reg::R1,
                imm: MM_INPUT_START + offset,
            });
            let len = self.rng.range(0, 16) as i32;
            self.push(Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: reg(2),
                src: Source::Imm(len),
            });
        }
        self.push(Insn::Call {
            src: 0,
            imm: key as i32,
        });
    }

    fn unknown_call(&mut self) {
        let src = if self.shape.sbpf() {
            self.rng.range(0, 10) as u8
        } else {
            0
        };
        let imm = if self.rng.chance(1, 2) {
            self.rng.range(0, 64) as i32
        } else {
            self.rng.next_u64() as i32
        };
        self.push(Insn::Call { src, imm });
    }

    fn callx(&mut self) {
        let sbpf = self.shape.sbpf();
        let callx_r10 = self.shape.dialect == Dialect::Sbpf && !self.shape.config.reject_callx_r10;
        if callx_r10 && self.rng.chance(1, 10) {
            self.push(Insn::CallReg { reg: Reg::R10 });
            return;
        }
        let dst = reg(self.rng.range(1, 9));
        if !sbpf && self.rng.chance(1, 5) {
            let keys = standard_keys();
            let key = keys[self.rng.weighted(&[1, 1, 1, 0])];
            self.push(Insn::LoadImm64 {
                dst,
                imm: u64::from(key),
            });
            self.push(Insn::CallReg { reg: dst });
            return;
        }
        let Some(target) = self.text_target() else {
            return;
        };
        self.items.push(Item::TextAddress { dst, target });
        self.push(Insn::CallReg { reg: dst });
    }

    fn text_target(&mut self) -> Option<TextTarget> {
        let choice = if self.shape.loop_free {
            self.rng.weighted(&[5, 1, 0, 1, 1])
        } else {
            self.rng.weighted(&[5, 1, 2, 1, 1])
        };
        Some(match choice {
            0 => TextTarget::Function(self.callee()?),
            1 => TextTarget::Misaligned(self.callee()?, self.rng.range(1, 7)),
            2 => TextTarget::AnyInsn(self.rng.next_u64() as usize),
            3 => TextTarget::PastEnd(self.rng.range(0, 3)),
            _ => TextTarget::Below(self.rng.range(1, 3)),
        })
    }

    /// What only an SBPF version has: V2's PQR operations, `hor64` and, in V1 and V2,
    /// `add64 r10`; V3's JMP32 (the generic units already emit what V0 and V3 share, and
    /// layout encodes V2's twins of lddw, mul, div, mod and neg).
    fn version_op(&mut self) {
        let Some(version) = self.shape.version() else {
            return;
        };
        let choice = self.rng.range(0, 4);
        if version.manual_stack_frame_bump() && choice == 0 {
            let amount = self
                .rng
                .pick(&[-64, -128, -4096, 64, -8192, 63])
                .unwrap_or(-64);
            self.push(Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R10,
                src: Source::Imm(amount),
            });
        } else if version.enable_pqr() && choice == 1 {
            let dst = self.dst();
            let imm = self.imm();
            self.push(Insn::Hor64 { dst, imm });
        } else if version.enable_pqr() {
            self.pqr();
        } else if version.enable_jmp32() {
            let cond = self.rng.pick(&Cond::ALL).unwrap_or(Cond::Eq);
            let template = Insn::Branch {
                width: Width::W32,
                cond,
                dst: reg(self.rng.range(0, 9)),
                src: self.operand(),
                off: 0,
            };
            let target = self.jump_target();
            self.items.push(Item::Jump { template, target });
        }
    }

    /// A V2 PQR operation, with an edge operand (MIN, -1, 0, a value whose low half is 0)
    /// now and then.
    fn pqr(&mut self) {
        let op = self.rng.pick(&PqrOp::ALL).unwrap_or(PqrOp::Lmul);
        let width = match op {
            PqrOp::Uhmul | PqrOp::Shmul => Width::W64,
            PqrOp::Lmul | PqrOp::Udiv | PqrOp::Urem | PqrOp::Sdiv | PqrOp::Srem => self.width(),
        };
        let dst = self.dst();
        if self.rng.chance(1, 3) {
            let edge = self.rng.pick(&CONSTANTS).unwrap_or(0);
            self.push(Insn::LoadImm64 { dst, imm: edge });
        }
        let src = match self.operand() {
            Source::Imm(0) if op.divides() => Source::Imm(-1),
            other => other,
        };
        self.push(Insn::Pqr {
            width,
            op,
            dst,
            src,
        });
    }

    /// A register or an immediate operand.
    fn operand(&mut self) -> Source {
        if self.rng.chance(1, 2) {
            Source::Imm(self.imm())
        } else {
            Source::Reg(self.readable())
        }
    }

    fn move_stack_pointer(&mut self) {
        let frame = self.shape.config.stack_frame_size as i32;
        let amount = self
            .rng
            .pick(&[8, 16, 64, 4096, frame, 0x10_0000, -8])
            .unwrap_or(8);
        let op = if self.rng.chance(1, 2) {
            AluOp::Sub
        } else {
            AluOp::Add
        };
        self.push(Insn::Alu {
            width: Width::W64,
            op,
            dst: Reg::SP,
            src: Source::Imm(amount),
        });
    }

    /// A division whose operands are likely to be zero, -1 or the minimum value.
    fn division_hazard(&mut self) {
        let width = self.width();
        let divisor = reg(self.rng.range(2, 9));
        let dividend = reg(self.rng.range(0, 1));
        let divisor_value = self.rng.pick(&[0, -1, 0, -1, 1]).unwrap_or(0);
        self.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: divisor,
            src: Source::Imm(divisor_value),
        });
        let minimum = match width {
            Width::W32 => 0x8000_0000,
            Width::W64 => i64::MIN as u64,
        };
        self.push(Insn::LoadImm64 {
            dst: dividend,
            imm: minimum,
        });
        let mut ops = vec![AluOp::Div, AluOp::Mod];
        if !self.shape.sbpf() || self.shape.config.enable_sdiv {
            ops.push(AluOp::SDiv);
        }
        if !self.shape.sbpf() {
            ops.push(AluOp::SMod);
        }
        let op = self.rng.pick(&ops).unwrap_or(AluOp::Div);
        let src = if self.shape.sbpf() || self.rng.chance(2, 3) {
            Source::Reg(divisor)
        } else {
            Source::Imm(divisor_value)
        };
        self.push(Insn::Alu {
            width,
            op,
            dst: dividend,
            src,
        });
    }
}
