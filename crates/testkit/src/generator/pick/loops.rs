//! The tight-loop shape: the loops the JIT versions with hoisted memory checks.
//!
//! A base register is set before the loop (an input address, a stack address, r10 itself,
//! the heap, or junk), then a counted loop whose body loads a bounded index (a byte, half
//! or word through a cursor, or the counter itself), maybe masks, shifts or offsets it (now
//! and then with a 32-bit operation the JIT must not take for bounded), adds the base and
//! accesses memory through the sum: a load, a store, or a read-modify-write, at a small
//! random offset. Sometimes a forward branch skips part of the body, sometimes the base is
//! written on one path (so it is not invariant), sometimes the loop is entered by a jump.
//!
//! Termination holds for any entry, also with the meter off: the counter is used by nothing
//! else in the body, counts up from 0 and the back edge is taken only while it is below a
//! small bound, so even a jump into the middle of the body (the counter holding anything)
//! leaves after at most that many rounds.

use super::{reg, Picker};
use crate::generator::{Item, JumpTarget};
use bpfvm::{MM_HEAP_START, MM_INPUT_START, MM_PROGRAM_START, MM_STACK_START};
use bpfvm_isa::{AluOp, Cond, Extend, Insn, MemSize, Reg, Source, Width};

/// The registers of one loop (all different; `base` may be r10, the others never are).
struct Regs {
    base: Reg,
    counter: Reg,
    cursor: Reg,
    index: Reg,
    value: Reg,
}

fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Item {
    Item::Fixed(Insn::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn alu64(op: AluOp, dst: Reg, src: Source) -> Item {
    alu(Width::W64, op, dst, src)
}

impl Picker<'_> {
    /// Emits one tight loop with a base register, a bounded index and an access through
    /// their sum.
    pub(super) fn hoist_loop(&mut self) {
        let regs = self.loop_regs();
        self.loop_base(regs.base);
        let cursor = MM_INPUT_START + self.rng.range(0, self.shape.input_len.max(1));
        self.push(Insn::LoadImm64 {
            dst: regs.cursor,
            imm: cursor,
        });
        self.items
            .push(alu64(AluOp::Mov, regs.counter, Source::Imm(0)));
        if self.rng.chance(1, 12) {
            // Entered by a jump: no fall-through into the head.
            self.items.push(Item::Jump {
                template: Insn::Ja { off: 0 },
                target: JumpTarget::Forward(0),
            });
        }
        let rounds = self.rng.range(1, 12) as i32;
        let head = self.items.len();
        let ja_latch = self.rng.chance(1, 4);
        let exit_test = self.items.len();
        if ja_latch {
            // Placeholder; the distance to the loop's end is known after the body.
            self.items.push(Item::Fixed(Insn::Exit));
        }
        self.loop_body(&regs);
        self.items
            .push(alu64(AluOp::Add, regs.counter, Source::Imm(1)));
        let back = self.items.len() - head;
        let latch = match ja_latch {
            true => Insn::Ja { off: 0 },
            false => branch(Cond::Lt, regs.counter, Source::Imm(rounds)),
        };
        self.items.push(Item::Jump {
            template: latch,
            target: JumpTarget::Backward(back),
        });
        if ja_latch {
            // `jge counter, rounds` at the head leaves to the item after the `ja`.
            let ahead = self.items.len() - exit_test - 1;
            if let Some(item) = self.items.get_mut(exit_test) {
                *item = Item::Jump {
                    template: branch(Cond::Ge, regs.counter, Source::Imm(rounds)),
                    target: JumpTarget::Forward(ahead),
                };
            }
        }
        if regs.base != Reg::R10 {
            self.address_regs.push(regs.base);
        }
    }

    fn loop_regs(&mut self) -> Regs {
        let mut free: Vec<Reg> = (0..10).map(reg).collect();
        let mut take = |rng: &mut crate::generator::Rng| {
            let at = rng.index(free.len());
            free.remove(at.min(free.len().saturating_sub(1)))
        };
        let base = match self.rng.chance(1, 8) {
            true => Reg::R10,
            false => take(self.rng),
        };
        Regs {
            base,
            counter: take(self.rng),
            cursor: take(self.rng),
            index: take(self.rng),
            value: take(self.rng),
        }
    }

    /// Points `base` somewhere (nothing to do for r10).
    fn loop_base(&mut self, base: Reg) {
        if base == Reg::R10 {
            return;
        }
        let frame = self.shape.config.stack_frame_size as u64;
        let imm = match self.rng.weighted(&[8, 4, 2, 1, 2]) {
            0 => MM_INPUT_START + self.rng.range(0, self.shape.input_len + 8),
            1 => {
                self.items
                    .push(alu64(AluOp::Mov, base, Source::Reg(Reg::R10)));
                let below = self.rng.range(0, frame.min(1024) + 8) as i32;
                self.items.push(alu64(AluOp::Sub, base, Source::Imm(below)));
                return;
            }
            2 => MM_HEAP_START + self.rng.range(0, self.shape.heap_size + 8),
            3 => MM_PROGRAM_START + self.rng.range(0, 64),
            _ => self
                .rng
                .pick(&[
                    0,
                    MM_INPUT_START - 16,
                    MM_STACK_START + frame - 64,
                    MM_INPUT_START + 0xffff_ff00,
                    u64::MAX - 300,
                ])
                .unwrap_or(0),
        };
        self.push(Insn::LoadImm64 { dst: base, imm });
    }

    fn loop_body(&mut self, regs: &Regs) {
        self.loop_index(regs);
        if self.rng.chance(1, 5) {
            self.write_base_on_one_path(regs);
        }
        let skip_from = self.items.len();
        let skip = self.rng.chance(1, 5);
        if skip {
            // Placeholder for a forward branch over the access.
            self.items.push(Item::Fixed(Insn::Exit));
        }
        self.items
            .push(alu64(AluOp::Add, regs.index, Source::Reg(regs.base)));
        self.loop_access(regs);
        if skip {
            let ahead = self.items.len() - skip_from - 1;
            let template = branch(
                self.rng.pick(&Cond::ALL).unwrap_or(Cond::Gt),
                regs.value,
                Source::Imm(self.rng.range_i64(0, 255) as i32),
            );
            if let Some(item) = self.items.get_mut(skip_from) {
                *item = Item::Jump {
                    template,
                    target: JumpTarget::Forward(self.rng.range(0, ahead as u64) as usize),
                };
            }
        }
        if regs.cursor != regs.base && self.rng.chance(4, 5) {
            self.items
                .push(alu64(AluOp::Add, regs.cursor, Source::Imm(1)));
        }
    }

    /// Loads the index and maybe narrows, scales or offsets it.
    fn loop_index(&mut self, regs: &Regs) {
        match self.rng.weighted(&[6, 2, 1, 2]) {
            0 => self.index_load(regs.index, regs.cursor, MemSize::B),
            1 => self.index_load(regs.index, regs.cursor, MemSize::H),
            2 => self.index_load(regs.index, regs.cursor, MemSize::W),
            _ => self
                .items
                .push(alu64(AluOp::Mov, regs.index, Source::Reg(regs.counter))),
        }
        if self.rng.chance(1, 2) {
            // Narrow enough that the span often fits the small input and the guard passes.
            let mask = self.small_mask();
            self.items
                .push(alu64(AluOp::And, regs.index, Source::Imm(mask)));
        }
        let steps = self.rng.range(0, 2);
        for _ in 0..steps {
            let step = match self.rng.weighted(&[4, 2, 2, 2, 1, 1, 1]) {
                0 => alu64(AluOp::And, regs.index, Source::Imm(self.mask())),
                1 => alu64(
                    AluOp::Lsh,
                    regs.index,
                    Source::Imm(self.rng.range(0, 3) as i32),
                ),
                2 => alu64(
                    AluOp::Rsh,
                    regs.index,
                    Source::Imm(self.rng.range(1, 8) as i32),
                ),
                3 => alu64(
                    AluOp::Add,
                    regs.index,
                    Source::Imm(self.rng.range_i64(-16, 16) as i32),
                ),
                4 => alu(Width::W32, AluOp::Add, regs.index, Source::Imm(-1)),
                5 => alu(Width::W32, AluOp::Mov, regs.index, Source::Reg(regs.index)),
                _ => {
                    // A second bounded byte subtracted: the index may go negative.
                    self.index_load(regs.value, regs.cursor, MemSize::B);
                    let mask = self.small_mask();
                    self.items
                        .push(alu64(AluOp::And, regs.value, Source::Imm(mask)));
                    alu64(AluOp::Sub, regs.index, Source::Reg(regs.value))
                }
            };
            self.items.push(step);
        }
    }

    fn mask(&mut self) -> i32 {
        self.rng
            .pick(&[7, 15, 63, 0xff, 0xfff, -1, -4, 31])
            .unwrap_or(0xff)
    }

    fn small_mask(&mut self) -> i32 {
        self.rng.pick(&[3, 7, 15, 31]).unwrap_or(7)
    }

    fn index_load(&mut self, dst: Reg, cursor: Reg, size: MemSize) {
        let extend = match !self.shape.sbpf() && self.rng.chance(1, 6) {
            true => Extend::Sign,
            false => Extend::Zero,
        };
        let off = self.rng.range_i64(0, 3) as i16;
        self.push(Insn::Load {
            size,
            extend,
            dst,
            base: cursor,
            off,
        });
    }

    /// A conditional write to the base register (which then is not invariant).
    fn write_base_on_one_path(&mut self, regs: &Regs) {
        if regs.base == Reg::R10 {
            return;
        }
        let template = branch(
            self.rng
                .pick(&[Cond::Eq, Cond::Ne, Cond::Gt])
                .unwrap_or(Cond::Eq),
            regs.index,
            Source::Imm(self.rng.range_i64(0, 32) as i32),
        );
        self.items.push(Item::Jump {
            template,
            target: JumpTarget::Forward(1),
        });
        let write = match self.rng.weighted(&[3, 1, 1]) {
            0 => alu64(
                AluOp::Add,
                regs.base,
                Source::Imm(self.rng.pick(&[1, 8, 240, 4096, -64]).unwrap_or(1)),
            ),
            1 => alu64(AluOp::Mov, regs.base, Source::Reg(regs.counter)),
            _ => Item::Fixed(Insn::LoadImm64 {
                dst: regs.base,
                imm: MM_INPUT_START,
            }),
        };
        self.items.push(write);
    }

    /// The access through `index` (now base + index): load, store or read-modify-write.
    fn loop_access(&mut self, regs: &Regs) {
        let size = self.size();
        let off = match self.rng.chance(1, 6) {
            true => self.rng.range_i64(-300, 300) as i16,
            false => self.rng.range_i64(-8, 16) as i16,
        };
        let load = Insn::Load {
            size,
            extend: Extend::Zero,
            dst: regs.value,
            base: regs.index,
            off,
        };
        match self.rng.weighted(&[4, 3, 3]) {
            0 => self.push(load),
            1 => {
                let src = match self.rng.chance(1, 2) {
                    true => Source::Reg(regs.counter),
                    false => Source::Imm(self.imm()),
                };
                self.push(Insn::Store {
                    size,
                    base: regs.index,
                    off,
                    src,
                });
            }
            _ => {
                self.push(load);
                self.items
                    .push(alu64(AluOp::Add, regs.value, Source::Imm(1)));
                self.push(Insn::Store {
                    size,
                    base: regs.index,
                    off,
                    src: Source::Reg(regs.value),
                });
            }
        }
    }
}

fn branch(cond: Cond, dst: Reg, src: Source) -> Insn {
    Insn::Branch {
        width: Width::W64,
        cond,
        dst,
        src,
        off: 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::generator::generate;
    use bpfvm_isa::{AluOp, Dialect, Insn, Source, Width};

    /// Whether `insns` holds the shape: `add64 rX, rB` then an access through rX, and a
    /// later backward jump over both.
    fn has_hoistable_loop(insns: &[Insn]) -> bool {
        insns.iter().enumerate().any(|(at, insn)| {
            let Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst,
                src: Source::Reg(_),
            } = insn
            else {
                return false;
            };
            let access = insns.iter().skip(at + 1).take(2).any(|next| {
                matches!(next, Insn::Load { base, .. } | Insn::Store { base, .. } if base == dst)
            });
            let back = insns.iter().skip(at + 1).take(12).any(|next| match next {
                Insn::Ja { off } | Insn::Branch { off, .. } => *off < 0,
                _ => false,
            });
            access && back
        })
    }

    #[test]
    fn tight_loops_are_generated_in_both_dialects() {
        for dialect in [Dialect::Sbpf, Dialect::Ebpf] {
            let with_loop = (0..1000)
                .filter(|seed| has_hoistable_loop(&generate(*seed, dialect).insns))
                .count();
            assert!(with_loop > 300, "{dialect:?}: {with_loop} of 1000");
        }
    }
}
