//! The sBPF fast path: judges a slot from its raw fields and a per-opcode rule, without
//! building an [`Insn`](bpfvm_isa::Insn). The 2022 dialect and every SBPF version of 0.26
//! have a table of their own, derived from their opcode tables by the same rule function.
//!
//! Almost every instruction of a real program passes, and most pass by a rule that needs one
//! or two field comparisons: registers in range, a non-zero divisor, a shift below the width, a
//! jump that lands on an instruction. [`FastRule`] names that rule per opcode; the table of
//! them ([`SBPF_CHECKS`], each rule as data) is derived at compile time from the isa crate's
//! opcode table ([`opcode_shape`]) by an exhaustive match, so this module never looks at
//! opcode bits. Each slot is judged without a branch per rule (see [`sbpf_verdict`]).
//!
//! The fast path only ever says "certainly passes". Anything else (a failing check, an opcode
//! whose rule depends on the configuration, an opcode sBPF does not run) goes to the exact rules
//! of [`super::rules::check_instruction`], which name the error the reference reports. The
//! tests check that every slot the fast path passes is passed by the exact rules as well, with
//! the same number of slots.

use super::rules::Text;
use bpfvm_isa::{
    opcode_shape, AluOp, CallxField, Dialect, EndianOp, Extend, OpcodeShape, SbpfVersion,
    SourceKind, Width,
};

/// What an opcode needs, beyond its register fields, to certainly pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FastRule {
    /// Nothing: `src <= 10` and `dst <= 9` suffice.
    Registers,
    /// A store: `src <= 10` and `dst <= 10` (r10 is only read, as the base).
    Store,
    /// Division or remainder by the immediate: it must not be zero.
    NonZeroImm,
    /// A shift by the immediate: it must be below the width in bits.
    ShiftImm(u32),
    /// `callx`: the register in the immediate must be at most r9.
    CallReg,
    /// A jump by the offset: it must land on an instruction that is not an lddw's second slot.
    Jump,
    /// `lddw`: the next slot must be its second half.
    Lddw,
    /// Only the exact rules can judge it.
    Exact,
}

/// The rule of an ALU operation.
const fn alu_rule(width: Width, op: AluOp, source: SourceKind) -> FastRule {
    match (op, source) {
        (AluOp::Div | AluOp::Mod, SourceKind::Imm) => FastRule::NonZeroImm,
        (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, SourceKind::Imm) => {
            FastRule::ShiftImm(width.bits())
        }
        // Signed division depends on the configuration; the others do not exist in sBPF.
        (AluOp::SDiv | AluOp::SMod | AluOp::MovSx(_), _) => FastRule::Exact,
        (
            AluOp::Add
            | AluOp::Sub
            | AluOp::Mul
            | AluOp::Div
            | AluOp::Mod
            | AluOp::Or
            | AluOp::And
            | AluOp::Lsh
            | AluOp::Rsh
            | AluOp::Arsh
            | AluOp::Xor
            | AluOp::Mov,
            _,
        ) => FastRule::Registers,
    }
}

/// The rule of an opcode of this shape in an sBPF dialect (2022 or a version of 0.26).
const fn sbpf_rule(shape: OpcodeShape, dialect: Dialect) -> FastRule {
    let versioned = matches!(dialect, Dialect::Sbpf26(_));
    match shape {
        OpcodeShape::Lddw => FastRule::Lddw,
        OpcodeShape::Load(_, Extend::Zero)
        | OpcodeShape::Neg(_)
        | OpcodeShape::Hor64
        | OpcodeShape::Call
        | OpcodeShape::Exit => FastRule::Registers,
        OpcodeShape::Pqr(_, op, SourceKind::Imm) if op.divides() => FastRule::NonZeroImm,
        OpcodeShape::Pqr(..) => FastRule::Registers,
        OpcodeShape::Store(..) => FastRule::Store,
        // `add64 r10, imm` (V1, V2) fails the plain register rule, so the exact rules judge it.
        OpcodeShape::Alu(width, op, source) => alu_rule(width, op, source),
        OpcodeShape::CallReg => match dialect.callx_field() {
            CallxField::Imm => FastRule::CallReg,
            CallxField::Src | CallxField::Dst => FastRule::Exact,
        },
        OpcodeShape::Ja | OpcodeShape::Branch(Width::W64, ..) => FastRule::Jump,
        // JMP32 exists only in the versions that have it (V3, V4).
        OpcodeShape::Branch(Width::W32, ..) if versioned => FastRule::Jump,
        // Unknown in sBPF, or decodable but refused by the reference's verifier.
        OpcodeShape::Unknown
        | OpcodeShape::PacketLoad(..)
        | OpcodeShape::Load(_, Extend::Sign)
        | OpcodeShape::Atomic(_)
        | OpcodeShape::Endian(EndianOp::Swap)
        // Rare in real programs; the exact rules check the width.
        | OpcodeShape::Endian(EndianOp::ToLe | EndianOp::ToBe)
        | OpcodeShape::Branch(Width::W32, ..)
        | OpcodeShape::JaLong => FastRule::Exact,
    }
}

/// A [`FastRule`] as data, so that [`sbpf_verdict`] judges every slot by the same few
/// table lookups and comparisons, with no branch on the opcode: on real programs the opcode
/// sequence is unpredictable, and a branch per rule costs more than the checks themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Check {
    /// The immediate less `imm_low` (wrapping) must be at most `imm_span`.
    imm_low: u32,
    imm_span: u32,
    /// All ones for a jump, zero otherwise: the offset, masked, is the distance from the next
    /// slot to the "other" slot the check looks at (the target of a jump, the second half of
    /// an lddw, and for anything else the next slot, where it accepts whatever it finds).
    off_mask: i16,
    /// Which register classes ([`REGISTER_CLASSES`]) pass: 0 for the opcodes only the exact
    /// rules judge.
    registers: u8,
    /// Which kinds of other slot pass: bits `OTHER_*`.
    other: u8,
    /// An lddw: the instruction covers the next slot too.
    lddw: bool,
}

/// Register class bit: `src <= 10` and `dst <= 9`.
const REGISTERS_PLAIN: u8 = 1;
/// Register class bit: `src <= 10` and `dst <= 10` (a store: r10 is its base, only read).
const REGISTERS_STORE: u8 = 2;
/// Other-slot bit 0: it is in the text and is not an lddw's second slot (opcode 0).
const OTHER_INSTRUCTION: u8 = 1;
/// Other-slot bit 1: it is in the text and can be an lddw's second slot.
const OTHER_LDDW_SECOND: u8 = 2;
/// Other-slot bit: it lies outside the text.
const OTHER_OUTSIDE: u8 = 4;
/// Every kind of other slot.
const OTHER_ANY: u8 = OTHER_INSTRUCTION | OTHER_LDDW_SECOND | OTHER_OUTSIDE;

/// The register classes of every `(src, dst)` pair, indexed by `src * 16 + dst`.
const REGISTER_CLASSES: [u8; 256] = {
    let mut table = [0; 256];
    let mut index = 0;
    while index < 256 {
        let (src, dst) = (index >> 4, index & 15);
        if src <= 10 && dst <= 9 {
            table[index] |= REGISTERS_PLAIN;
        }
        if src <= 10 && dst <= 10 {
            table[index] |= REGISTERS_STORE;
        }
        index += 1;
    }
    table
};

impl FastRule {
    /// The rule as data.
    const fn check(self) -> Check {
        let any = Check {
            imm_low: 0,
            imm_span: u32::MAX,
            off_mask: 0,
            registers: REGISTERS_PLAIN,
            other: OTHER_ANY,
            lddw: false,
        };
        match self {
            FastRule::Registers => any,
            FastRule::Store => Check {
                registers: REGISTERS_STORE,
                ..any
            },
            // Every immediate but 0: 1 ..= u32::MAX.
            FastRule::NonZeroImm => Check {
                imm_low: 1,
                imm_span: u32::MAX - 1,
                ..any
            },
            FastRule::ShiftImm(bits) => Check {
                imm_span: bits - 1,
                ..any
            },
            FastRule::CallReg => Check { imm_span: 9, ..any },
            FastRule::Jump => Check {
                off_mask: -1,
                other: OTHER_INSTRUCTION,
                ..any
            },
            FastRule::Lddw => Check {
                other: OTHER_LDDW_SECOND,
                lddw: true,
                ..any
            },
            FastRule::Exact => Check {
                registers: 0,
                ..any
            },
        }
    }
}

const fn sbpf_checks(dialect: Dialect) -> [Check; 256] {
    let mut table = [FastRule::Exact.check(); 256];
    let mut opcode = 0;
    while opcode < 256 {
        table[opcode] = sbpf_rule(opcode_shape(opcode as u8, dialect), dialect).check();
        opcode += 1;
    }
    table
}

/// The check of every opcode per sBPF dialect, built at compile time.
const SBPF_CHECKS: [Check; 256] = sbpf_checks(Dialect::Sbpf);
static VERSION_CHECKS: [[Check; 256]; 5] = [
    sbpf_checks(Dialect::Sbpf26(SbpfVersion::V0)),
    sbpf_checks(Dialect::Sbpf26(SbpfVersion::V1)),
    sbpf_checks(Dialect::Sbpf26(SbpfVersion::V2)),
    sbpf_checks(Dialect::Sbpf26(SbpfVersion::V3)),
    sbpf_checks(Dialect::Sbpf26(SbpfVersion::V4)),
];

/// The fast path's table of an sBPF dialect (`None` for eBPF, which has none).
pub(super) fn checks_of(dialect: Dialect) -> Option<&'static [Check; 256]> {
    match dialect {
        Dialect::Sbpf => Some(&SBPF_CHECKS),
        Dialect::Sbpf26(version) => Some(&VERSION_CHECKS[version as usize]),
        Dialect::Ebpf => None,
    }
}

/// What the fast path says about one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The instruction starting at the slot certainly passes every rule. `false` means "ask
    /// the exact rules", never "fails".
    pub(super) passes: bool,
    /// The slot holds an lddw, which covers the next slot too.
    pub(super) lddw: bool,
}

/// Judges the sBPF instruction starting at `pc` by the dialect's table `checks`.
///
/// Every condition is computed for every slot and combined with `&`, so no branch depends on
/// the opcode; the one branch (the other slot lies outside the text) is almost never taken.
#[inline(always)]
pub(super) fn sbpf_verdict(text: Text<'_>, pc: usize, checks: &[Check; 256]) -> Verdict {
    let Some(slot) = text.slot(pc) else {
        return Verdict {
            passes: false,
            lddw: false,
        };
    };
    let check = &checks[usize::from(slot.opcode)];
    let registers = REGISTER_CLASSES[usize::from(slot.src) << 4 | usize::from(slot.dst)];
    let imm = (slot.imm as u32).wrapping_sub(check.imm_low);
    let fields = (registers & check.registers != 0) & (imm <= check.imm_span);
    let other = pc
        .wrapping_add(1)
        .wrapping_add_signed(isize::from(slot.off & check.off_mask));
    // Bit 0 of `check.other` judges an instruction, bit 1 an lddw's second slot.
    let other = match text.slot(other) {
        Some(other) => (check.other >> u8::from(other.is_lddw_continuation())) & 1 != 0,
        None => check.other & OTHER_OUTSIDE != 0,
    };
    Verdict {
        passes: fields & other,
        lddw: check.lddw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spot checks of the derived table (the differential test in `super::super::tests`
    /// checks every opcode against the exact rules).
    #[test]
    fn table_has_the_expected_rules() {
        let rows = [
            (0x07u8, FastRule::Registers),  // add64 imm
            (0x37, FastRule::NonZeroImm),   // div64 imm
            (0x3f, FastRule::Registers),    // div64 reg
            (0x64, FastRule::ShiftImm(32)), // lsh32 imm
            (0xc7, FastRule::ShiftImm(64)), // arsh64 imm
            (0x7b, FastRule::Store),        // stxdw
            (0x18, FastRule::Lddw),         // lddw
            (0x05, FastRule::Jump),         // ja
            (0x1d, FastRule::Jump),         // jeq reg
            (0x16, FastRule::Exact),        // jeq32: eBPF only
            (0xd4, FastRule::Exact),        // le: rare, left to the exact rules
            (0x8d, FastRule::CallReg),      // callx
            (0xe7, FastRule::Exact),        // sdiv64: depends on the configuration
            (0xdb, FastRule::Exact),        // atomic add: refused in sBPF
            (0x95, FastRule::Registers),    // exit
            (0xff, FastRule::Exact),        // unknown
        ];
        for (opcode, rule) in rows {
            let shape = opcode_shape(opcode, Dialect::Sbpf);
            assert_eq!(sbpf_rule(shape, Dialect::Sbpf), rule, "{opcode:#04x}");
        }
    }
}
