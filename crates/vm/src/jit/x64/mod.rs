//! The x86-64 backend: the [`MacroAssembler`] and [`Backend`] of the JIT for x86-64 hosts,
//! over the typed encoder and the W^X code memory of `bpfvm-x86`. Compiled only with
//! `cfg(bpfvm_jit)` (the `jit` feature on an x86-64 target); nothing outside this module
//! names an x86 item.
//!
//! - [`regs`]: the register map (all eleven guest registers pinned in host registers, r15
//!   the `Env`, rdx the meter) and the `Env`'s displacements.
//! - [`masm`]: code placement: slot offsets, jumps and fixups, out-of-line stubs and
//!   routines, bail-out sites, the meter charge, the entry sequence, calls into Rust.
//! - [`ops`]: instruction selection for register arithmetic, loads and stores, atomics and
//!   branches; [`wide`] for what works in rdx:rax (divisions, remainders, high products);
//!   [`calls`] for calls, `exit` and syscalls.
//! - [`translate`]: inline address translation in each form the driver asks for.
//! - [`labels`]: the names of the shared routines and pre-encoded sequences, and their
//!   indices.
//! - [`templates`]: sequences encoded once per compile and replayed with patched fields
//!   (compile speed); [`sequences`]: the fixed sequences themselves (the inline table check,
//!   the meter charge, the frame push of `call` and pop of `exit`).
//! - [`routines`]: the shared out-of-line routines (exits, bail-out, translation misses,
//!   the syscall shim call), emitted when first needed.
//! - [`version`] and [`copy`]: a versioned loop's guard and its second copy's bookkeeping.
//! - [`entry`]: the `unsafe` fence (the entry trampoline and the `extern "sysv64"` shims).
//!
//! Imports inside the backend run one way too: `labels` and `regs` at the bottom, then
//! `templates`, `sequences`, the core `masm`, the instruction selection and routines over
//! it, and this module on top (the crate's `tidy` test checks it).

mod calls;
mod copy;
mod entry;
mod flags;
mod labels;
mod masm;
mod ops;
mod regs;
mod routines;
mod sequences;
mod templates;
#[cfg(test)]
mod tests;
mod translate;
mod version;
mod wide;

use super::access::Access;
use super::engine::lock;
use super::env::Env;
use super::hardening::Hardening;
use super::hoist::Plan;
use super::masm::{
    AccessForm, AluWidth, Arith, At, Backend, ByteOp, Carried, Division, Lowered, MacroAssembler,
    Product, Program, ReturnCheck, RunPosition, Shift, Value, Wide,
};
use super::tables::Tables;
use super::view::CodeView;
use super::JitError;
use crate::code::{Ext32, GuestReg, Operand};
use crate::context::ContextObject;
use bpfvm_isa::{AtomicOp, Cond, Extend, MemSize, Width};
use bpfvm_x86::{CodeMemoryError, CodePool, EncodeError, ExecutableCode};
use calls::CallTarget;
use copy::CopyMark;
use masm::{Masm, Scratch};
use std::sync::Mutex;
use translate::Span;
use version::Guard;

/// How many sets of scratch buffers an engine keeps (one per compile running at once).
const SCRATCH_MAX: usize = 4;

/// The x86-64 target.
#[derive(Debug)]
pub(crate) struct X64;

/// What an engine keeps for x86-64 between compiles: the pool code memory comes from and
/// returns to, and the buffers of finished compiles.
#[derive(Debug, Default)]
pub(crate) struct State {
    pool: CodePool,
    scratch: Mutex<Vec<Scratch>>,
}

impl State {
    /// Buffers for a compile: a finished compile's, else empty ones.
    fn take_scratch(&self) -> Scratch {
        lock(&self.scratch).pop().unwrap_or_default()
    }

    /// Gives a compile's buffers back for the next one.
    fn give_scratch(&self, scratch: Scratch) {
        let mut stock = lock(&self.scratch);
        if stock.len() < SCRATCH_MAX {
            stock.push(scratch);
        }
    }
}

impl From<EncodeError> for JitError {
    fn from(error: EncodeError) -> Self {
        JitError::Encode {
            message: error.to_string(),
        }
    }
}

impl From<CodeMemoryError> for JitError {
    fn from(error: CodeMemoryError) -> Self {
        JitError::CodeMemory {
            message: error.to_string(),
        }
    }
}

impl Backend for X64 {
    type Masm = Masm;
    type State = State;
    type Code = ExecutableCode;

    fn masm<C: ContextObject>(
        state: &State,
        program: Program,
        hardening: Hardening,
        tables: Tables,
    ) -> Masm {
        let helpers = (
            entry::translate_shim as *const () as usize as u64,
            entry::syscall_shim::<C, X64> as *const () as usize as u64,
        );
        Masm::new(
            program,
            hardening,
            helpers,
            (&state.pool, state.take_scratch()),
            tables,
        )
    }

    fn finish(state: &State, mut masm: Masm) -> Result<(ExecutableCode, Tables), JitError> {
        masm.resolve()?;
        let (asm, tables, scratch) = masm.into_parts();
        // The code is where it was written (code memory), unless that could not be had.
        let writable = asm.finish_buffer()?.into_writable(&state.pool)?;
        state.give_scratch(scratch);
        Ok((writable.make_executable()?, tables))
    }

    fn bytes(code: &ExecutableCode) -> &[u8] {
        code.as_slice()
    }

    fn enter(code: &ExecutableCode, env: &mut Env) {
        entry::execute(code, env);
    }
}

/// The access of a memory operation, through [`Masm::translate`].
fn hint_of<S>(form: &AccessForm<S>) -> Result<super::hints::BaseHint, JitError> {
    match form {
        AccessForm::Checked { hint } => Ok(*hint),
        AccessForm::PairFirst { .. }
        | AccessForm::HoistedPairFirst { .. }
        | AccessForm::PairSecond { .. }
        | AccessForm::Hoisted { .. } => Err(JitError::Internal {
            message: "an atomic operation in a pair or a versioned loop".to_owned(),
        }),
    }
}

impl MacroAssembler for Masm {
    type Span = Span;
    type Guard = Guard;
    type CopyMark = CopyMark;

    fn prologue(&mut self, entry: usize) -> Lowered {
        Masm::prologue(self, entry)?;
        routines::emit_exits(self)
    }

    #[inline(always)]
    fn offset(&self) -> usize {
        self.asm.offset()
    }

    #[inline(always)]
    fn start_slot(&mut self, pc: usize, position: RunPosition, carried: Carried) {
        Masm::start_slot(self, pc, position, carried);
    }

    fn align_loop_head(&mut self) {
        self.align_loop_header();
    }

    #[inline(always)]
    fn hardening_nop(&mut self) {
        self.maybe_nop();
    }

    #[inline(always)]
    fn charge(&mut self, count: u64, at: At) -> Lowered {
        self.block_entry(count, at)
    }

    #[inline(always)]
    fn has_pending(&self) -> bool {
        Masm::has_pending(self)
    }

    fn emit_pending(&mut self) -> Lowered {
        routines::emit_pending(self)
    }

    fn entry_stubs(&mut self, code: &CodeView<'_>) -> Lowered {
        self.slot_stubs(code)
    }

    fn callx_entries(&mut self, code: &CodeView<'_>, static_syscalls: bool) -> Lowered {
        if !self.needs_callx_entries() {
            return Ok(());
        }
        self.callable_entries(code)?;
        routines::emit_pending(self)?;
        self.fill_callx_table(code, static_syscalls);
        Ok(())
    }

    fn version_guard(&mut self, plan: &Plan) -> Result<Guard, JitError> {
        version::guard(self, plan)
    }

    fn begin_copy(&mut self, plan: &Plan) -> CopyMark {
        Masm::begin_copy(self, plan)
    }

    fn end_copy(&mut self, mark: CopyMark, guard: Guard) -> Result<usize, JitError> {
        Masm::end_copy(self, mark, guard)
    }

    #[inline(always)]
    fn mov_imm(&mut self, dst: GuestReg, value: u64) -> Lowered {
        self.mov_const(regs::guest(dst), value)
    }

    #[inline(always)]
    fn mov(&mut self, width: Width, dst: GuestReg, src: GuestReg) -> Lowered {
        self.mov_reg(width, dst, src)
    }

    #[inline(always)]
    fn arith(&mut self, op: Arith, width: AluWidth, dst: GuestReg, src: Operand) -> Lowered {
        self.alu(op, width, dst, src)
    }

    fn mul(&mut self, width: AluWidth, dst: GuestReg, src: Operand) -> Lowered {
        Masm::mul(self, width, dst, src)
    }

    fn shift(&mut self, op: Shift, width: Width, dst: GuestReg, src: Operand) -> Lowered {
        Masm::shift(self, op, width, dst, src)
    }

    fn neg(&mut self, width: Width, dst: GuestReg) -> Lowered {
        self.negate(width, dst)
    }

    fn mov_sx(&mut self, dst: GuestReg, src: GuestReg, size: MemSize, width: Width) -> Lowered {
        self.sign_extend(dst, src, size, width)
    }

    fn byte_op(&mut self, op: ByteOp, dst: GuestReg) -> Lowered {
        self.byte_order(op, dst)
    }

    fn divide(
        &mut self,
        op: Division,
        width: Width,
        dst: GuestReg,
        src: Wide,
        quotient32: Ext32,
        at: At,
    ) -> Lowered {
        self.division(op, width, dst, src, quotient32, at)
    }

    fn arith_wide(&mut self, op: Arith, dst: GuestReg, value: u64) -> Lowered {
        self.alu_wide(op, dst, value)
    }

    fn high_product(&mut self, product: Product, dst: GuestReg, src: Wide) -> Lowered {
        self.multiply_high(product, dst, src)
    }

    #[inline(always)]
    fn load(
        &mut self,
        dst: GuestReg,
        base: GuestReg,
        off: i16,
        size: MemSize,
        extend: Extend,
        form: AccessForm<Span>,
        at: At,
    ) -> Result<Option<Span>, JitError> {
        let bytes = size.bytes() as u8;
        let (mem, span) = self.translate(regs::guest(base), off, bytes, Access::Load, form, at)?;
        self.load_from(dst, mem, size, extend)?;
        Ok(span)
    }

    #[inline(always)]
    fn store(
        &mut self,
        base: GuestReg,
        off: i16,
        size: MemSize,
        value: Value,
        form: AccessForm<Span>,
        at: At,
    ) -> Result<Option<Span>, JitError> {
        let bytes = size.bytes() as u8;
        let (mem, span) = self.translate(regs::guest(base), off, bytes, Access::Store, form, at)?;
        self.store_to(mem, size, value)?;
        Ok(span)
    }

    fn atomic(
        &mut self,
        width: Width,
        op: AtomicOp,
        base: GuestReg,
        src: GuestReg,
        off: i16,
        form: AccessForm<Span>,
        at: At,
    ) -> Lowered {
        let hint = hint_of(&form)?;
        self.atomic_op(width, op, base, src, off, hint, at)
    }

    #[inline(always)]
    fn jump(&mut self, target: usize) -> Lowered {
        self.jump_to_slot(None, target)
    }

    #[inline(always)]
    fn branch(
        &mut self,
        cond: Cond,
        width: Width,
        dst: GuestReg,
        src: Operand,
        target: usize,
        refund: Option<u64>,
    ) -> Lowered {
        self.conditional(cond, width, dst, src, target, refund)
    }

    fn call(&mut self, target: usize, at: At) -> Lowered {
        calls::call(self, CallTarget::Slot(target), at)
    }

    fn call_reg(&mut self, reg: GuestReg, at: At) -> Lowered {
        calls::call(self, CallTarget::Register(regs::guest(reg)), at)
    }

    fn exit(&mut self, check: ReturnCheck, at: At) -> Lowered {
        calls::exit(self, check, at)
    }

    fn syscall(&mut self, index: u32, pc: usize) -> Lowered {
        calls::syscall(self, index, pc)
    }

    fn bail(&mut self, at: At) -> Lowered {
        self.bail_now(at)
    }

    fn move_stack_pointer(&mut self, delta: i64) -> Lowered {
        sequences::add_to(&mut self.asm, regs::env(regs::STACK_POINTER), delta as u64)
    }
}
