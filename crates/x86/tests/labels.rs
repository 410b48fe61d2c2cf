//! Labels and fixups: branch and RIP-relative forms to forward and backward labels at many
//! distances, checked against iced's decoded targets, and the label error cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use bpfvm_x86::{Assembler, Cond, EncodeError, Gpr, Label, Reach, Size};
use iced_x86::{Mnemonic as Mn, Register};
use support::{expect, r, Checker, CompareOps, Expect, Op};

type Emit = Box<dyn Fn(&mut Assembler, Label) -> Result<(), EncodeError>>;
type Want = Box<dyn Fn(u64) -> Expect>;
type Form = (String, Reach, Emit, Want);

/// Every label-taking form, its reach, and the decoding it should produce for a target.
fn forms() -> Vec<Form> {
    let mut forms: Vec<Form> = vec![
        (
            "jmp".into(),
            Reach::Rel32,
            Box::new(|a, l| a.jmp(l)),
            Box::new(|t| expect(Mn::Jmp, vec![Op::Target(t)])),
        ),
        (
            "jmp short".into(),
            Reach::Rel8,
            Box::new(|a, l| a.jmp_short(l)),
            Box::new(|t| expect(Mn::Jmp, vec![Op::Target(t)])),
        ),
        (
            "call".into(),
            Reach::Rel32,
            Box::new(|a, l| a.call(l)),
            Box::new(|t| expect(Mn::Call, vec![Op::Target(t)])),
        ),
    ];
    let rip = |t: u64, bytes: usize| Op::M {
        base: Register::RIP,
        index: Register::None,
        scale: 1,
        disp: t,
        bytes,
    };
    for g in Gpr::ALL {
        forms.push((
            format!("lea {g:?}"),
            Reach::Rel32,
            Box::new(move |a, l| a.lea_label(g, l)),
            Box::new(move |t| expect(Mn::Lea, vec![r(g, Size::S64), rip(t, 0)])),
        ));
        for size in [Size::S8, Size::S16, Size::S32, Size::S64] {
            let bytes = support::bytes(size);
            forms.push((
                format!("load {size:?} {g:?}"),
                Reach::Rel32,
                Box::new(move |a, l| a.load_label(size, g, l)),
                Box::new(move |t| expect(Mn::Mov, vec![r(g, size), rip(t, bytes)])),
            ));
        }
    }
    for cond in Cond::ALL {
        let mn = jcc_mnemonic(cond);
        forms.push((
            format!("j{cond:?}"),
            Reach::Rel32,
            Box::new(move |a, l| a.jcc(cond, l)),
            Box::new(move |t| expect(mn, vec![Op::Target(t)])),
        ));
        forms.push((
            format!("j{cond:?} short"),
            Reach::Rel8,
            Box::new(move |a, l| a.jcc_short(cond, l)),
            Box::new(move |t| expect(mn, vec![Op::Target(t)])),
        ));
    }
    forms
}

fn jcc_mnemonic(cond: Cond) -> Mn {
    [
        Mn::Jo,
        Mn::Jno,
        Mn::Jb,
        Mn::Jae,
        Mn::Je,
        Mn::Jne,
        Mn::Jbe,
        Mn::Ja,
        Mn::Js,
        Mn::Jns,
        Mn::Jp,
        Mn::Jnp,
        Mn::Jl,
        Mn::Jge,
        Mn::Jle,
        Mn::Jg,
    ][Cond::ALL.iter().position(|c| *c == cond).unwrap()]
}

#[test]
fn forward_and_backward_targets() {
    let mut c = Checker::default();
    for (name, reach, emit, want) in forms() {
        let pads: &[usize] = match reach {
            Reach::Rel8 => &[0, 1, 13, 100, 120],
            Reach::Rel32 => &[0, 1, 127, 128, 1000, 70_000],
        };
        for &pad in pads {
            // Backward: label, padding, instruction.
            let mut a = Assembler::new();
            let label = a.new_label();
            a.nop(3);
            a.bind(label).unwrap();
            a.nop(pad);
            let start = a.offset();
            emit(&mut a, label).unwrap();
            let end = a.offset();
            let code = a.finish().unwrap();
            c.compare(
                || format!("{name} back {pad}"),
                &code,
                start,
                end,
                want(3),
                CompareOps::All,
            );
            // Forward: instruction, padding, label; a second use patched by the same bind.
            let mut a = Assembler::new();
            let label = a.new_label();
            a.int3();
            emit(&mut a, label).unwrap();
            let end = a.offset();
            a.nop(pad);
            let second = a.offset();
            emit(&mut a, label).unwrap();
            let second_end = a.offset();
            a.bind(label).unwrap();
            assert_eq!(a.label_offset(label), Some(second_end));
            let code = a.finish().unwrap();
            let target = second_end as u64;
            c.compare(
                || format!("{name} fwd {pad}"),
                &code,
                1,
                end,
                want(target),
                CompareOps::All,
            );
            c.compare(
                || format!("{name} fwd2 {pad}"),
                &code,
                second,
                second_end,
                want(target),
                CompareOps::All,
            );
        }
    }
    println!("label forms: {} encodings", c.finish(1_500));
}

#[test]
fn short_branch_limits() {
    // Forward: the displacement counts from the end of the 2-byte jump.
    for (pad, ok) in [(127, true), (128, false)] {
        let mut a = Assembler::new();
        let label = a.new_label();
        a.jmp_short(label).unwrap();
        a.nop(pad);
        let result = a.bind(label);
        let want = if ok {
            Ok(())
        } else {
            Err(EncodeError::BranchOutOfRange {
                label,
                reach: Reach::Rel8,
                distance: 128,
            })
        };
        assert_eq!(result, want, "forward pad {pad}");
    }
    // Backward: -128 fits, -129 does not, and the failed jump leaves nothing behind.
    for (pad, ok) in [(126, true), (127, false)] {
        let mut a = Assembler::new();
        let label = a.new_label();
        a.bind(label).unwrap();
        a.nop(pad);
        let result = a.jcc_short(Cond::Ne, label);
        if ok {
            assert_eq!(result, Ok(()));
            assert_eq!(a.code()[pad..], [0x75, 0x80]);
        } else {
            assert_eq!(
                result,
                Err(EncodeError::BranchOutOfRange {
                    label,
                    reach: Reach::Rel8,
                    distance: -129
                })
            );
            assert_eq!(a.offset(), pad);
        }
    }
}

#[test]
fn label_misuse_is_an_error() {
    let mut other = Assembler::new();
    let _ = other.new_label();
    let foreign = other.new_label();

    let mut a = Assembler::new();
    assert_eq!(
        a.jmp(foreign),
        Err(EncodeError::UnknownLabel { label: foreign })
    );
    assert_eq!(
        a.lea_label(Gpr::Rax, foreign),
        Err(EncodeError::UnknownLabel { label: foreign })
    );
    assert_eq!(
        a.bind(foreign),
        Err(EncodeError::UnknownLabel { label: foreign })
    );
    assert_eq!(a.offset(), 0, "failed label uses leave no bytes");

    let once = a.new_label();
    a.bind(once).unwrap();
    a.ret();
    assert_eq!(
        a.bind(once),
        Err(EncodeError::LabelBoundTwice { label: once })
    );
    assert_eq!(
        a.label_offset(once),
        Some(0),
        "a second bind does not move the label"
    );

    let unused = a.new_label();
    assert_eq!(a.label_offset(unused), None);
    assert_eq!(
        a.clone().finish(),
        Ok(vec![0xC3]),
        "an unused unbound label is fine"
    );

    let dangling = a.new_label();
    a.call(dangling).unwrap();
    assert_eq!(
        a.finish(),
        Err(EncodeError::UnboundLabel { label: dangling })
    );
}
