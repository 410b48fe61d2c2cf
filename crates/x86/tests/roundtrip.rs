//! Round trip against iced-x86: every encoding method, over every register, width, boundary
//! immediate and memory-operand shape, is emitted, decoded and compared structurally.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use bpfvm_x86::{AluKind, Cond, Gpr, Lock, Mem, RegMem, Scale, ShiftAmount, ShiftKind, Size};
use iced_x86::Mnemonic as Mn;
use support::{bytes, expect, imm, locked, m, r, Checker, Op};

const SIZES: [Size; 4] = [Size::S8, Size::S16, Size::S32, Size::S64];
const WIDE: [Size; 3] = [Size::S16, Size::S32, Size::S64];
const SCALES: [Scale; 4] = [Scale::One, Scale::Two, Scale::Four, Scale::Eight];
const DISPS: [i32; 8] = [0, 1, 127, 128, -128, -129, i32::MIN, i32::MAX];

/// Boundary immediates that fit `size` (as signed or unsigned for 8 and 16 bits).
fn imms(size: Size) -> Vec<i32> {
    match size {
        Size::S8 => vec![0, 1, 127, 128, 255, -1, -128],
        Size::S16 => vec![0, 127, 128, -128, -129, 32767, -32768, 65535],
        Size::S32 | Size::S64 => vec![0, 1, 127, 128, -128, -129, -1, i32::MIN, i32::MAX],
    }
}

/// Every base, every index but RSP, every scale, every boundary displacement.
fn all_mems() -> Vec<Mem> {
    let mut mems = Vec::new();
    for base in Gpr::ALL {
        for disp in DISPS {
            mems.push(Mem::base_disp(base, disp));
            for index in Gpr::ALL.into_iter().filter(|g| *g != Gpr::Rsp) {
                for scale in SCALES {
                    mems.push(Mem::indexed(base, index, scale, disp));
                }
            }
        }
    }
    mems
}

/// Every base with every boundary displacement, plus the quirky base/index pairs.
fn some_mems() -> Vec<Mem> {
    let mut mems = Vec::new();
    for base in Gpr::ALL {
        for disp in DISPS {
            mems.push(Mem::base_disp(base, disp));
        }
    }
    let quirky = [Gpr::Rax, Gpr::Rsp, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R15];
    for base in quirky {
        for index in [Gpr::Rax, Gpr::Rbp, Gpr::R12, Gpr::R13, Gpr::R15] {
            for (n, scale) in SCALES.into_iter().enumerate() {
                mems.push(Mem::indexed(base, index, scale, [0, -128, 0x1234, 127][n]));
            }
        }
    }
    mems
}

/// `Gpr::ALL[n % 16]`: pairs every memory shape with a register, covering all registers.
fn nth(n: usize) -> Gpr {
    Gpr::ALL[n % 16]
}

fn alu_mnemonic(kind: AluKind) -> Mn {
    match kind {
        AluKind::Add => Mn::Add,
        AluKind::Or => Mn::Or,
        AluKind::Adc => Mn::Adc,
        AluKind::Sbb => Mn::Sbb,
        AluKind::And => Mn::And,
        AluKind::Sub => Mn::Sub,
        AluKind::Xor => Mn::Xor,
        AluKind::Cmp => Mn::Cmp,
    }
}

fn shift_mnemonic(kind: ShiftKind) -> Mn {
    match kind {
        ShiftKind::Rol => Mn::Rol,
        ShiftKind::Ror => Mn::Ror,
        ShiftKind::Shl => Mn::Shl,
        ShiftKind::Shr => Mn::Shr,
        ShiftKind::Sar => Mn::Sar,
    }
}

/// (jcc, setcc, cmovcc) mnemonics of a condition.
fn cond_mnemonics(cond: Cond) -> (Mn, Mn, Mn) {
    match cond {
        Cond::O => (Mn::Jo, Mn::Seto, Mn::Cmovo),
        Cond::No => (Mn::Jno, Mn::Setno, Mn::Cmovno),
        Cond::B => (Mn::Jb, Mn::Setb, Mn::Cmovb),
        Cond::Ae => (Mn::Jae, Mn::Setae, Mn::Cmovae),
        Cond::E => (Mn::Je, Mn::Sete, Mn::Cmove),
        Cond::Ne => (Mn::Jne, Mn::Setne, Mn::Cmovne),
        Cond::Be => (Mn::Jbe, Mn::Setbe, Mn::Cmovbe),
        Cond::A => (Mn::Ja, Mn::Seta, Mn::Cmova),
        Cond::S => (Mn::Js, Mn::Sets, Mn::Cmovs),
        Cond::Ns => (Mn::Jns, Mn::Setns, Mn::Cmovns),
        Cond::P => (Mn::Jp, Mn::Setp, Mn::Cmovp),
        Cond::Np => (Mn::Jnp, Mn::Setnp, Mn::Cmovnp),
        Cond::L => (Mn::Jl, Mn::Setl, Mn::Cmovl),
        Cond::Ge => (Mn::Jge, Mn::Setge, Mn::Cmovge),
        Cond::Le => (Mn::Jle, Mn::Setle, Mn::Cmovle),
        Cond::G => (Mn::Jg, Mn::Setg, Mn::Cmovg),
    }
}

#[test]
fn alu_all_forms() {
    let mut c = Checker::default();
    let mems = some_mems();
    for kind in AluKind::ALL {
        let mn = alu_mnemonic(kind);
        for size in SIZES {
            for d in Gpr::ALL {
                for s in Gpr::ALL {
                    let want = expect(mn, vec![r(d, size), r(s, size)]);
                    c.check(
                        || format!("{kind:?} {size:?} {d:?}, {s:?}"),
                        |a| a.alu(kind, size, d.into(), s.into()),
                        want,
                    );
                }
                for v in imms(size) {
                    let want = expect(mn, vec![r(d, size), imm(size, v.into())]);
                    c.check(
                        || format!("{kind:?} {size:?} {d:?}, {v}"),
                        |a| a.alu(kind, size, d.into(), v.into()),
                        want,
                    );
                }
            }
            let ims = imms(size);
            for (n, mem) in mems.iter().enumerate() {
                let (g, v, mem) = (nth(n), ims[n % ims.len()], *mem);
                let what = || format!("{kind:?} {size:?} {mem:?} / {g:?} / {v}");
                let mo = m(&mem, bytes(size));
                c.check(
                    what,
                    |a| a.alu(kind, size, g.into(), mem.into()),
                    expect(mn, vec![r(g, size), mo.clone()]),
                );
                c.check(
                    what,
                    |a| a.alu(kind, size, mem.into(), g.into()),
                    expect(mn, vec![mo.clone(), r(g, size)]),
                );
                c.check(
                    what,
                    |a| a.alu(kind, size, mem.into(), v.into()),
                    expect(mn, vec![mo.clone(), imm(size, v.into())]),
                );
                if kind != AluKind::Cmp {
                    c.check(
                        what,
                        |a| a.alu_locked(kind, size, mem, g.into()),
                        locked(mn, vec![mo.clone(), r(g, size)]),
                    );
                    c.check(
                        what,
                        |a| a.alu_locked(kind, size, mem, v.into()),
                        locked(mn, vec![mo, imm(size, v.into())]),
                    );
                }
            }
        }
    }
    println!("alu: {} encodings", c.finish(40_000));
}

#[test]
fn moves_loads_stores() {
    let mut c = Checker::default();
    // Loads and stores are the JIT's bread and butter: every memory shape.
    let mems = all_mems();
    for size in SIZES {
        for d in Gpr::ALL {
            for s in Gpr::ALL {
                c.check(
                    || format!("mov {size:?} {d:?}, {s:?}"),
                    |a| {
                        a.mov(size, d, s);
                        Ok(())
                    },
                    expect(Mn::Mov, vec![r(d, size), r(s, size)]),
                );
            }
            for v in imms(size) {
                c.check(
                    || format!("mov {size:?} {d:?}, {v}"),
                    |a| a.mov_imm(size, d, v),
                    expect(Mn::Mov, vec![r(d, size), imm(size, v.into())]),
                );
            }
        }
        let ims = imms(size);
        for (n, mem) in mems.iter().enumerate() {
            let (g, v, mem) = (nth(n), ims[n % ims.len()], *mem);
            let what = || format!("mov {size:?} {mem:?} / {g:?} / {v}");
            let mo = m(&mem, bytes(size));
            c.check(
                what,
                |a| a.load(size, g, mem),
                expect(Mn::Mov, vec![r(g, size), mo.clone()]),
            );
            c.check(
                what,
                |a| a.store(size, mem, g),
                expect(Mn::Mov, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.store_imm(size, mem, v),
                expect(Mn::Mov, vec![mo, imm(size, v.into())]),
            );
        }
    }
    let wide = [
        0,
        1,
        0x7FFF_FFFF,
        0x8000_0000,
        u64::from(u32::MAX),
        1 << 32,
        u64::MAX,
        (-129i64) as u64,
        i64::MIN as u64,
        i64::MAX as u64,
    ];
    for d in Gpr::ALL {
        for v in wide {
            c.check(
                || format!("movabs {d:?}, {v:#x}"),
                |a| {
                    a.movabs(d, v);
                    Ok(())
                },
                expect(Mn::Mov, vec![r(d, Size::S64), Op::I(v)]),
            );
            let want = if v <= u64::from(u32::MAX) {
                expect(Mn::Mov, vec![r(d, Size::S32), Op::I(v)])
            } else {
                expect(Mn::Mov, vec![r(d, Size::S64), Op::I(v)])
            };
            c.check(
                || format!("mov_imm64 {d:?}, {v:#x}"),
                |a| {
                    a.mov_imm64(d, v);
                    Ok(())
                },
                want,
            );
        }
    }
    println!("mov: {} encodings", c.finish(90_000));
}

#[test]
fn extensions() {
    let mut c = Checker::default();
    let mems = some_mems();
    let zx = [
        (Size::S8, Size::S16),
        (Size::S8, Size::S32),
        (Size::S8, Size::S64),
        (Size::S16, Size::S32),
        (Size::S16, Size::S64),
    ];
    let sx = [
        (Size::S8, Size::S16),
        (Size::S8, Size::S32),
        (Size::S8, Size::S64),
        (Size::S16, Size::S32),
        (Size::S16, Size::S64),
        (Size::S32, Size::S64),
    ];
    for (zero, pairs) in [(true, &zx[..]), (false, &sx[..])] {
        for &(from, to) in pairs {
            let mn = match (zero, from) {
                (true, _) => Mn::Movzx,
                (false, Size::S32) => Mn::Movsxd,
                (false, _) => Mn::Movsx,
            };
            let emit = move |a: &mut bpfvm_x86::Assembler, d, s: RegMem| {
                if zero {
                    a.movzx(from, to, d, s)
                } else {
                    a.movsx(from, to, d, s)
                }
            };
            for d in Gpr::ALL {
                for s in Gpr::ALL {
                    c.check(
                        || format!("{mn:?} {from:?}->{to:?} {d:?}, {s:?}"),
                        |a| emit(a, d, s.into()),
                        expect(mn, vec![r(d, to), r(s, from)]),
                    );
                }
            }
            for (n, mem) in mems.iter().enumerate() {
                let (d, mem) = (nth(n), *mem);
                c.check(
                    || format!("{mn:?} {from:?}->{to:?} {d:?}, {mem:?}"),
                    |a| emit(a, d, mem.into()),
                    expect(mn, vec![r(d, to), m(&mem, bytes(from))]),
                );
            }
        }
    }
    for (n, mem) in some_mems().iter().enumerate() {
        let (d, mem) = (nth(n), *mem);
        c.check(
            || format!("movsxd {d:?}, {mem:?}"),
            |a| a.movsxd(d, mem.into()),
            expect(Mn::Movsxd, vec![r(d, Size::S64), m(&mem, 4)]),
        );
    }
    println!("movzx/movsx: {} encodings", c.finish(3_000));
}

#[test]
fn lea_every_memory_shape() {
    let mut c = Checker::default();
    for size in WIDE {
        for (n, mem) in all_mems().iter().enumerate() {
            let (d, mem) = (nth(n), *mem);
            c.check(
                || format!("lea {size:?} {d:?}, {mem:?}"),
                |a| a.lea(size, d, mem),
                expect(Mn::Lea, vec![r(d, size), m(&mem, 0)]),
            );
        }
    }
    println!("lea: {} encodings", c.finish(20_000));
}

#[test]
fn shifts_and_rotates() {
    let mut c = Checker::default();
    let amounts = [
        ShiftAmount::Cl,
        ShiftAmount::Imm(1),
        ShiftAmount::Imm(0),
        ShiftAmount::Imm(8),
        ShiftAmount::Imm(31),
        ShiftAmount::Imm(63),
        ShiftAmount::Imm(255),
    ];
    let count = |amount| match amount {
        ShiftAmount::Cl => r(Gpr::Rcx, Size::S8),
        ShiftAmount::Imm(n) => Op::I(u64::from(n)),
    };
    let mems = some_mems();
    for kind in ShiftKind::ALL {
        let mn = shift_mnemonic(kind);
        for size in SIZES {
            for d in Gpr::ALL {
                for amount in amounts {
                    c.check(
                        || format!("{kind:?} {size:?} {d:?}, {amount:?}"),
                        |a| a.shift(kind, size, d.into(), amount),
                        expect(mn, vec![r(d, size), count(amount)]),
                    );
                }
            }
            for (n, mem) in mems.iter().enumerate() {
                let (amount, mem) = (amounts[n % amounts.len()], *mem);
                c.check(
                    || format!("{kind:?} {size:?} {mem:?}, {amount:?}"),
                    |a| a.shift(kind, size, mem.into(), amount),
                    expect(mn, vec![m(&mem, bytes(size)), count(amount)]),
                );
            }
        }
    }
    println!("shift: {} encodings", c.finish(7_000));
}

type Unary = fn(&mut bpfvm_x86::Assembler, Size, RegMem) -> Result<(), bpfvm_x86::EncodeError>;

#[test]
fn group3_multiply_divide() {
    let mut c = Checker::default();
    let unary: [(Mn, Unary); 6] = [
        (Mn::Not, |a, s, x| a.not(s, x)),
        (Mn::Neg, |a, s, x| a.neg(s, x)),
        (Mn::Mul, |a, s, x| a.mul(s, x)),
        (Mn::Imul, |a, s, x| a.imul_wide(s, x)),
        (Mn::Div, |a, s, x| a.div(s, x)),
        (Mn::Idiv, |a, s, x| a.idiv(s, x)),
    ];
    let mems = some_mems();
    for (mn, emit) in unary {
        for size in SIZES {
            for d in Gpr::ALL {
                c.check(
                    || format!("{mn:?} {size:?} {d:?}"),
                    |a| emit(a, size, d.into()),
                    expect(mn, vec![r(d, size)]),
                );
            }
            for mem in &mems {
                c.check(
                    || format!("{mn:?} {size:?} {mem:?}"),
                    |a| emit(a, size, (*mem).into()),
                    expect(mn, vec![m(mem, bytes(size))]),
                );
            }
        }
    }
    for size in WIDE {
        for d in Gpr::ALL {
            for s in Gpr::ALL {
                c.check(
                    || format!("imul {size:?} {d:?}, {s:?}"),
                    |a| a.imul(size, d, s.into()),
                    expect(Mn::Imul, vec![r(d, size), r(s, size)]),
                );
                for v in imms(size) {
                    c.check(
                        || format!("imul {size:?} {d:?}, {s:?}, {v}"),
                        |a| a.imul_imm(size, d, s.into(), v),
                        expect(Mn::Imul, vec![r(d, size), r(s, size), imm(size, v.into())]),
                    );
                }
            }
        }
        let ims = imms(size);
        for (n, mem) in mems.iter().enumerate() {
            let (d, v, mem) = (nth(n), ims[n % ims.len()], *mem);
            let mo = m(&mem, bytes(size));
            c.check(
                || format!("imul {size:?} {d:?}, {mem:?}"),
                |a| a.imul(size, d, mem.into()),
                expect(Mn::Imul, vec![r(d, size), mo.clone()]),
            );
            c.check(
                || format!("imul {size:?} {d:?}, {mem:?}, {v}"),
                |a| a.imul_imm(size, d, mem.into(), v),
                expect(Mn::Imul, vec![r(d, size), mo, imm(size, v.into())]),
            );
        }
    }
    c.check(
        || "cdq".into(),
        |a| {
            a.cdq();
            Ok(())
        },
        expect(Mn::Cdq, vec![]),
    );
    c.check(
        || "cqo".into(),
        |a| {
            a.cqo();
            Ok(())
        },
        expect(Mn::Cqo, vec![]),
    );
    println!("group3/imul: {} encodings", c.finish(10_000));
}

#[test]
fn test_xchg_atomics_bswap() {
    let mut c = Checker::default();
    let mems = some_mems();
    for size in SIZES {
        for d in Gpr::ALL {
            for s in Gpr::ALL {
                c.check(
                    || format!("test {size:?} {d:?}, {s:?}"),
                    |a| a.test(size, d.into(), s.into()),
                    expect(Mn::Test, vec![r(d, size), r(s, size)]),
                );
                c.check(
                    || format!("xchg {size:?} {d:?}, {s:?}"),
                    |a| a.xchg(size, d.into(), s),
                    expect(Mn::Xchg, vec![r(d, size), r(s, size)]),
                );
            }
            for v in imms(size) {
                c.check(
                    || format!("test {size:?} {d:?}, {v}"),
                    |a| a.test(size, d.into(), v.into()),
                    expect(Mn::Test, vec![r(d, size), imm(size, v.into())]),
                );
            }
        }
        let ims = imms(size);
        for (n, mem) in mems.iter().enumerate() {
            let (g, v, mem) = (nth(n), ims[n % ims.len()], *mem);
            let what = || format!("{size:?} {mem:?} / {g:?} / {v}");
            let mo = m(&mem, bytes(size));
            c.check(
                what,
                |a| a.test(size, mem.into(), g.into()),
                expect(Mn::Test, vec![mo.clone(), r(g, size)]),
            );
            // `test reg, mem` is emitted as the symmetric `test mem, reg`.
            c.check(
                what,
                |a| a.test(size, g.into(), mem.into()),
                expect(Mn::Test, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.test(size, mem.into(), v.into()),
                expect(Mn::Test, vec![mo.clone(), imm(size, v.into())]),
            );
            c.check(
                what,
                |a| a.xchg(size, mem.into(), g),
                expect(Mn::Xchg, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.xadd(Lock::Plain, size, mem, g),
                expect(Mn::Xadd, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.xadd(Lock::Locked, size, mem, g),
                locked(Mn::Xadd, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.cmpxchg(Lock::Plain, size, mem, g),
                expect(Mn::Cmpxchg, vec![mo.clone(), r(g, size)]),
            );
            c.check(
                what,
                |a| a.cmpxchg(Lock::Locked, size, mem, g),
                locked(Mn::Cmpxchg, vec![mo, r(g, size)]),
            );
        }
    }
    for size in [Size::S32, Size::S64] {
        for d in Gpr::ALL {
            c.check(
                || format!("bswap {size:?} {d:?}"),
                |a| a.bswap(size, d),
                expect(Mn::Bswap, vec![r(d, size)]),
            );
        }
    }
    println!("test/xchg/atomics/bswap: {} encodings", c.finish(10_000));
}

#[test]
fn condition_codes() {
    let mut c = Checker::default();
    let mems = some_mems();
    for cond in Cond::ALL {
        let (_, set, cmov) = cond_mnemonics(cond);
        for d in Gpr::ALL {
            c.check(
                || format!("set{cond:?} {d:?}"),
                |a| a.setcc(cond, d.into()),
                expect(set, vec![r(d, Size::S8)]),
            );
            for size in WIDE {
                for s in Gpr::ALL {
                    c.check(
                        || format!("cmov{cond:?} {size:?} {d:?}, {s:?}"),
                        |a| a.cmov(cond, size, d, s.into()),
                        expect(cmov, vec![r(d, size), r(s, size)]),
                    );
                }
            }
        }
        for (n, mem) in mems.iter().enumerate() {
            let (d, size, mem) = (nth(n), WIDE[n % 3], *mem);
            c.check(
                || format!("set{cond:?} {mem:?}"),
                |a| a.setcc(cond, mem.into()),
                expect(set, vec![m(&mem, 1)]),
            );
            c.check(
                || format!("cmov{cond:?} {size:?} {d:?}, {mem:?}"),
                |a| a.cmov(cond, size, d, mem.into()),
                expect(cmov, vec![r(d, size), m(&mem, bytes(size))]),
            );
        }
    }
    println!("setcc/cmovcc: {} encodings", c.finish(10_000));
}

#[test]
fn stack_and_indirect_control() {
    let mut c = Checker::default();
    for g in Gpr::ALL {
        c.check(
            || format!("push {g:?}"),
            |a| {
                a.push(g);
                Ok(())
            },
            expect(Mn::Push, vec![r(g, Size::S64)]),
        );
        c.check(
            || format!("pop {g:?}"),
            |a| {
                a.pop(g);
                Ok(())
            },
            expect(Mn::Pop, vec![r(g, Size::S64)]),
        );
        c.check(
            || format!("call {g:?}"),
            |a| a.call_indirect(g.into()),
            expect(Mn::Call, vec![r(g, Size::S64)]),
        );
        c.check(
            || format!("jmp {g:?}"),
            |a| a.jmp_indirect(g.into()),
            expect(Mn::Jmp, vec![r(g, Size::S64)]),
        );
    }
    for v in imms(Size::S32) {
        c.check(
            || format!("push {v}"),
            |a| {
                a.push_imm(v);
                Ok(())
            },
            expect(Mn::Push, vec![imm(Size::S64, v.into())]),
        );
    }
    for mem in some_mems() {
        c.check(
            || format!("call {mem:?}"),
            |a| a.call_indirect(mem.into()),
            expect(Mn::Call, vec![m(&mem, 8)]),
        );
        c.check(
            || format!("jmp {mem:?}"),
            |a| a.jmp_indirect(mem.into()),
            expect(Mn::Jmp, vec![m(&mem, 8)]),
        );
    }
    c.check(
        || "ret".into(),
        |a| {
            a.ret();
            Ok(())
        },
        expect(Mn::Ret, vec![]),
    );
    c.check(
        || "int3".into(),
        |a| {
            a.int3();
            Ok(())
        },
        expect(Mn::Int3, vec![]),
    );
    c.check(
        || "ud2".into(),
        |a| {
            a.ud2();
            Ok(())
        },
        expect(Mn::Ud2, vec![]),
    );
    for len in 1..=9 {
        let mut asm = bpfvm_x86::Assembler::new();
        asm.nop(len);
        let code = asm.finish().unwrap();
        c.compare(
            || format!("nop {len}"),
            &code,
            0,
            len,
            expect(Mn::Nop, vec![]),
            support::CompareOps::MnemonicOnly,
        );
    }
    println!("stack/indirect: {} encodings", c.finish(580));
}
