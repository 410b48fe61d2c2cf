//! The machine-code sequences that [`super::template`] encodes once per compile and
//! replays: the inline region-table translation of a memory access, its out-of-line slow
//! path, the call of a gapped-stack routine, the meter charge at a block entry and a
//! bail-out stub. Each reports where its patched value and its label fields are.

use super::env::{
    LEFT, REGIONS, REGION_COUNT, REGION_HOST, REGION_LOAD_LEN, REGION_SHIFT, REGION_STORE_LEN,
    REGION_VM_ADDR,
};
use super::masm::{env, Access};
use super::template::{Shape, MAX_FIELDS};
use super::JitError;
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Label, Mem, Operand, RegMem, ShiftAmount, ShiftKind, Size,
};

/// Where the 32-bit field of the instruction just emitted starts (it ends the instruction).
fn field(a: &Assembler) -> usize {
    a.offset() - 4
}

/// The inline table translation (see [`super::masm::Masm::translate`]): the host address in rax, or a
/// jump to `miss` (bad region or below its start) or `len_miss` (past the length).
pub(super) fn inline_table(
    a: &mut Assembler,
    base: Gpr,
    off: i32,
    size: u8,
    access: Access,
    miss: Label,
    len_miss: Label,
) -> Result<Shape, JitError> {
    let len_field = match access {
        Access::Load => REGION_LOAD_LEN,
        Access::Store => REGION_STORE_LEN,
    };
    let mut fields = [0; MAX_FIELDS];
    a.lea(Size::S64, Gpr::Rax, Mem::base_disp(base, off))?;
    let disp_end = a.offset();
    a.mov(Size::S64, Gpr::Rdx, Gpr::Rax);
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        ShiftAmount::Imm(32),
    )?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        Operand::Mem(env(REGION_COUNT)),
    )?;
    a.jcc(Cond::Ae, miss)?;
    fields[0] = field(a);
    a.shift(
        ShiftKind::Shl,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        ShiftAmount::Imm(REGION_SHIFT),
    )?;
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        Operand::Mem(env(REGIONS)),
    )?;
    let row = |offset| Operand::Mem(Mem::base_disp(Gpr::Rdx, offset));
    a.alu(
        AluKind::Sub,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        row(REGION_VM_ADDR),
    )?;
    a.jcc(Cond::B, miss)?;
    fields[1] = field(a);
    a.lea(
        Size::S64,
        Gpr::Rcx,
        Mem::base_disp(Gpr::Rax, i32::from(size)),
    )?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        row(len_field),
    )?;
    a.jcc(Cond::A, len_miss)?;
    fields[2] = field(a);
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        row(REGION_HOST),
    )?;
    Ok(Shape {
        disp_end,
        fields,
        field_count: 3,
        imm_end: None,
    })
}

/// The out-of-line slow path of one access: ask the mapping (the shared routine at
/// `labels[0]`) for `[base + off]` with `request`; 0 bails out (`labels[1]`), anything else
/// is the host address and goes back (`labels[2]`).
pub(super) fn slow_call(
    a: &mut Assembler,
    base: Gpr,
    off: i32,
    request: u64,
    labels: &[Label; MAX_FIELDS],
) -> Result<Shape, JitError> {
    let mut fields = [0; MAX_FIELDS];
    a.lea(Size::S64, Gpr::Rcx, Mem::base_disp(base, off))?;
    let disp_end = a.offset();
    a.mov_imm64(Gpr::Rdx, request);
    a.call(labels[0])?;
    fields[0] = field(a);
    a.test(Size::S64, RegMem::Reg(Gpr::Rax), Operand::Reg(Gpr::Rax))?;
    a.jcc(Cond::E, labels[1])?;
    fields[1] = field(a);
    a.jmp(labels[2])?;
    fields[2] = field(a);
    Ok(Shape {
        disp_end,
        fields,
        field_count: 3,
        imm_end: None,
    })
}

/// The call of a shared gapped-stack routine (`labels[0]`): a nonzero result is the host
/// address and goes back (`labels[1]`); 0 falls through into the slow path.
pub(super) fn gap_call(a: &mut Assembler, labels: &[Label; MAX_FIELDS]) -> Result<Shape, JitError> {
    let mut fields = [0; MAX_FIELDS];
    a.call(labels[0])?;
    fields[0] = field(a);
    a.test(Size::S64, RegMem::Reg(Gpr::Rax), Operand::Reg(Gpr::Rax))?;
    a.jcc(Cond::Ne, labels[1])?;
    fields[1] = field(a);
    Ok(Shape {
        disp_end: 0,
        fields,
        field_count: 2,
        imm_end: None,
    })
}

/// The meter charge at a block entry: `left -= charge`, and to `labels[0]` (a bail-out) when
/// that leaves too little.
pub(super) fn charge_block(
    a: &mut Assembler,
    charge: i32,
    labels: &[Label; MAX_FIELDS],
) -> Result<Shape, JitError> {
    let mut fields = [0; MAX_FIELDS];
    a.alu(
        AluKind::Sub,
        Size::S64,
        RegMem::Mem(env(LEFT)),
        Operand::Imm(charge),
    )?;
    let disp_end = a.offset();
    a.jcc(Cond::Be, labels[0])?;
    fields[0] = field(a);
    Ok(Shape {
        disp_end,
        fields,
        field_count: 1,
        imm_end: None,
    })
}

/// A bail-out stub: `mov ecx, pc; mov edx, refund; jmp labels[0]` (the shared tail), built
/// with a pc and a refund that take the 32-bit forms, patched on replay.
pub(super) fn bail_stub(
    a: &mut Assembler,
    labels: &[Label; MAX_FIELDS],
) -> Result<Shape, JitError> {
    let mut fields = [0; MAX_FIELDS];
    a.mov_imm64(Gpr::Rcx, 0);
    let disp_end = a.offset();
    a.mov_imm64(Gpr::Rdx, 0);
    let imm_end = Some(a.offset());
    a.jmp(labels[0])?;
    fields[0] = field(a);
    Ok(Shape {
        disp_end,
        fields,
        field_count: 1,
        imm_end,
    })
}
