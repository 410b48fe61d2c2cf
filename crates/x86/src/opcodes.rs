//! The opcode table: every Intel opcode byte the encoder emits, once, in Intel-manual notation.
//!
//! Notation in the comments: `/r` means the ModRM `reg` field holds a register operand, `/n`
//! means it holds the digit `n` (an opcode extension), `+r` means the register number's low
//! three bits are added to the last opcode byte, `+cc` means a [`Cond`](crate::Cond) code is
//! added, `ib`/`iw`/`id`/`io` are 1/2/4/8-byte immediates, `cb`/`cd` 1/4-byte code offsets.
//! A family whose 8-bit form differs from its 16/32/64-bit form has two entries (`..._8`);
//! the 16-bit form adds the 0x66 prefix and the 64-bit form REX.W, both added by the encoder.
//!
//! Nothing outside the encoder's modules reads these numbers.

/// An opcode: one to three bytes, including the 0x0F escape.
pub(crate) type Opcode = &'static [u8];

// ---- Prefixes -------------------------------------------------------------------------------

/// `F0`: lock prefix.
pub(crate) const PREFIX_LOCK: u8 = 0xF0;
/// `66`: operand-size override (16-bit operands).
pub(crate) const PREFIX_OPERAND_SIZE: u8 = 0x66;
/// `40`: REX base; `W` = 64-bit operand, `R`/`X`/`B` extend ModRM.reg, SIB.index, ModRM.rm.
pub(crate) const REX: u8 = 0x40;
/// REX.W bit.
pub(crate) const REX_W: u8 = 0x08;
/// REX.R bit.
pub(crate) const REX_R: u8 = 0x04;
/// REX.X bit.
pub(crate) const REX_X: u8 = 0x02;
/// REX.B bit.
pub(crate) const REX_B: u8 = 0x01;

// ---- Group 1 ALU: the 00..3F block, row = AluKind digit * 8 -----------------------------------

/// `00 /r`: ADD r/m8, r8 (row 0; OR is 08, ..., CMP is 38).
pub(crate) const ALU_RM_R_8: u8 = 0x00;
/// `01 /r`: ADD r/m16/32/64, r16/32/64.
pub(crate) const ALU_RM_R: u8 = 0x01;
/// `02 /r`: ADD r8, r/m8.
pub(crate) const ALU_R_RM_8: u8 = 0x02;
/// `03 /r`: ADD r16/32/64, r/m16/32/64.
pub(crate) const ALU_R_RM: u8 = 0x03;
/// `80 /n ib`: group-1 op r/m8, imm8.
pub(crate) const ALU_RM_IMM_8: Opcode = &[0x80];
/// `81 /n iw/id`: group-1 op r/m16/32/64, imm16/32 (sign-extended to 64).
pub(crate) const ALU_RM_IMM: Opcode = &[0x81];
/// `83 /n ib`: group-1 op r/m16/32/64, imm8 (sign-extended).
pub(crate) const ALU_RM_IMM8: Opcode = &[0x83];

// ---- Data movement --------------------------------------------------------------------------

/// `88 /r`: MOV r/m8, r8.
pub(crate) const MOV_RM_R_8: Opcode = &[0x88];
/// `89 /r`: MOV r/m, r.
pub(crate) const MOV_RM_R: Opcode = &[0x89];
/// `8A /r`: MOV r8, r/m8.
pub(crate) const MOV_R_RM_8: Opcode = &[0x8A];
/// `8B /r`: MOV r, r/m.
pub(crate) const MOV_R_RM: Opcode = &[0x8B];
/// `B0 +r ib`: MOV r8, imm8.
pub(crate) const MOV_R_IMM_8: Opcode = &[0xB0];
/// `B8 +r iw/id/io`: MOV r16/32/64, imm16/32/64 (the 64-bit form is `movabs`).
pub(crate) const MOV_R_IMM: Opcode = &[0xB8];
/// `C6 /0 ib`: MOV r/m8, imm8.
pub(crate) const MOV_RM_IMM_8: Opcode = &[0xC6];
/// `C7 /0 iw/id`: MOV r/m16/32/64, imm16/32 (sign-extended to 64).
pub(crate) const MOV_RM_IMM: Opcode = &[0xC7];
/// `0F B6 /r`: MOVZX r, r/m8.
pub(crate) const MOVZX_R_RM8: Opcode = &[0x0F, 0xB6];
/// `0F B7 /r`: MOVZX r, r/m16.
pub(crate) const MOVZX_R_RM16: Opcode = &[0x0F, 0xB7];
/// `0F BE /r`: MOVSX r, r/m8.
pub(crate) const MOVSX_R_RM8: Opcode = &[0x0F, 0xBE];
/// `0F BF /r`: MOVSX r, r/m16.
pub(crate) const MOVSX_R_RM16: Opcode = &[0x0F, 0xBF];
/// `REX.W 63 /r`: MOVSXD r64, r/m32.
pub(crate) const MOVSXD_R_RM32: Opcode = &[0x63];
/// `8D /r`: LEA r, m.
pub(crate) const LEA: Opcode = &[0x8D];
/// `86 /r`: XCHG r/m8, r8.
pub(crate) const XCHG_RM_R_8: Opcode = &[0x86];
/// `87 /r`: XCHG r/m, r.
pub(crate) const XCHG_RM_R: Opcode = &[0x87];
/// `0F C0 /r`: XADD r/m8, r8.
pub(crate) const XADD_RM_R_8: Opcode = &[0x0F, 0xC0];
/// `0F C1 /r`: XADD r/m, r.
pub(crate) const XADD_RM_R: Opcode = &[0x0F, 0xC1];
/// `0F B0 /r`: CMPXCHG r/m8, r8 (compares with AL).
pub(crate) const CMPXCHG_RM_R_8: Opcode = &[0x0F, 0xB0];
/// `0F B1 /r`: CMPXCHG r/m, r (compares with AX/EAX/RAX).
pub(crate) const CMPXCHG_RM_R: Opcode = &[0x0F, 0xB1];
/// `0F C8 +r`: BSWAP r32/r64.
pub(crate) const BSWAP_R: Opcode = &[0x0F, 0xC8];
/// `0F 40 +cc /r`: CMOVcc r, r/m.
pub(crate) const CMOVCC_R_RM: [u8; 2] = [0x0F, 0x40];
/// `0F 90 +cc /0`: SETcc r/m8.
pub(crate) const SETCC_RM8: [u8; 2] = [0x0F, 0x90];
/// `99`: CDQ (EDX:EAX = sign-extend EAX); with REX.W, CQO.
pub(crate) const CDQ_CQO: Opcode = &[0x99];

// ---- Group 2 shifts: digit = ShiftKind -----------------------------------------------------

/// `D0 /n`: shift r/m8 by 1.
pub(crate) const SHIFT_RM_1_8: Opcode = &[0xD0];
/// `D1 /n`: shift r/m by 1.
pub(crate) const SHIFT_RM_1: Opcode = &[0xD1];
/// `D2 /n`: shift r/m8 by CL.
pub(crate) const SHIFT_RM_CL_8: Opcode = &[0xD2];
/// `D3 /n`: shift r/m by CL.
pub(crate) const SHIFT_RM_CL: Opcode = &[0xD3];
/// `C0 /n ib`: shift r/m8 by imm8.
pub(crate) const SHIFT_RM_IMM_8: Opcode = &[0xC0];
/// `C1 /n ib`: shift r/m by imm8.
pub(crate) const SHIFT_RM_IMM: Opcode = &[0xC1];

// ---- Group 3 and multiplication ------------------------------------------------------------

/// `F6 /n`: group-3 op on r/m8 (TEST takes an ib).
pub(crate) const GROUP3_8: Opcode = &[0xF6];
/// `F7 /n`: group-3 op on r/m16/32/64 (TEST takes an iw/id).
pub(crate) const GROUP3: Opcode = &[0xF7];

/// The ModRM digits of group 3.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Group3 {
    /// `/0` TEST r/m, imm.
    Test,
    /// `/2` NOT r/m.
    Not,
    /// `/3` NEG r/m.
    Neg,
    /// `/4` MUL r/m: rDX:rAX = rAX * r/m, unsigned.
    Mul,
    /// `/5` IMUL r/m: rDX:rAX = rAX * r/m, signed.
    Imul,
    /// `/6` DIV r/m: unsigned rDX:rAX / r/m.
    Div,
    /// `/7` IDIV r/m: signed rDX:rAX / r/m.
    Idiv,
}

impl Group3 {
    /// The ModRM digit.
    pub(crate) fn digit(self) -> u8 {
        match self {
            Group3::Test => 0,
            Group3::Not => 2,
            Group3::Neg => 3,
            Group3::Mul => 4,
            Group3::Imul => 5,
            Group3::Div => 6,
            Group3::Idiv => 7,
        }
    }
}

/// `0F AF /r`: IMUL r, r/m.
pub(crate) const IMUL_R_RM: Opcode = &[0x0F, 0xAF];
/// `6B /r ib`: IMUL r, r/m, imm8.
pub(crate) const IMUL_R_RM_IMM8: Opcode = &[0x6B];
/// `69 /r iw/id`: IMUL r, r/m, imm16/32.
pub(crate) const IMUL_R_RM_IMM: Opcode = &[0x69];
/// `84 /r`: TEST r/m8, r8.
pub(crate) const TEST_RM_R_8: Opcode = &[0x84];
/// `85 /r`: TEST r/m, r.
pub(crate) const TEST_RM_R: Opcode = &[0x85];

// ---- Control flow and stack ----------------------------------------------------------------

/// `50 +r`: PUSH r64.
pub(crate) const PUSH_R: Opcode = &[0x50];
/// `58 +r`: POP r64.
pub(crate) const POP_R: Opcode = &[0x58];
/// `6A ib`: PUSH imm8 (sign-extended to 64).
pub(crate) const PUSH_IMM8: Opcode = &[0x6A];
/// `68 id`: PUSH imm32 (sign-extended to 64).
pub(crate) const PUSH_IMM32: Opcode = &[0x68];
/// `FF /n`: group 5 (CALL r/m64 is `/2`, JMP r/m64 is `/4`).
pub(crate) const GROUP5: Opcode = &[0xFF];
/// Group-5 digit of CALL r/m64.
pub(crate) const GROUP5_CALL: u8 = 2;
/// Group-5 digit of JMP r/m64.
pub(crate) const GROUP5_JMP: u8 = 4;
/// `E8 cd`: CALL rel32.
pub(crate) const CALL_REL32: Opcode = &[0xE8];
/// `E9 cd`: JMP rel32.
pub(crate) const JMP_REL32: Opcode = &[0xE9];
/// `EB cb`: JMP rel8.
pub(crate) const JMP_REL8: Opcode = &[0xEB];
/// `0F 80 +cc cd`: Jcc rel32.
pub(crate) const JCC_REL32: [u8; 2] = [0x0F, 0x80];
/// `70 +cc cb`: Jcc rel8.
pub(crate) const JCC_REL8: u8 = 0x70;
/// `C3`: RET.
pub(crate) const RET: Opcode = &[0xC3];
/// `CC`: INT3.
pub(crate) const INT3: u8 = 0xCC;
/// `0F 0B`: UD2.
pub(crate) const UD2: Opcode = &[0x0F, 0x0B];

/// The recommended multi-byte NOPs (Intel SDM vol. 2B, NOP): entry `n - 1` is `n` bytes long.
/// Lengths 2..=9 are `[66] 0F 1F /0` with `[rax]`, `[rax + disp]` or `[rax + rax*1 + disp]`.
pub(crate) const NOPS: [&[u8]; 9] = [
    &[0x90],
    &[0x66, 0x90],
    &[0x0F, 0x1F, 0x00],
    &[0x0F, 0x1F, 0x40, 0x00],
    &[0x0F, 0x1F, 0x44, 0x00, 0x00],
    &[0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00],
    &[0x0F, 0x1F, 0x80, 0x00, 0x00, 0x00, 0x00],
    &[0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    &[0x66, 0x0F, 0x1F, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
];
