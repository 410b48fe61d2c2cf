//! Pre-encoded sequences, for compile speed. The sequences that recur per instruction with
//! the same bytes except for a few fields (the inline table check of a memory access, the
//! meter charge at a run's start, the frame push of `call`, the nested `exit`) are encoded once
//! per compile by the typed encoder into a scratch assembler; every use appends the bytes
//! and patches the fields: rel32 fields pointing at shared routines, one 32-bit immediate,
//! and the return address of a bail-out call, which becomes a site. The machine code is
//! byte for byte what encoding each instruction again would give. [`Shape`] names the
//! sequences.
//!
//! The inline check of a memory access (the end `vaddr + size` in rax; the host address
//! plus `size` in rax after it, so the access adds `-size`; rdx holds the meter and is left
//! alone):
//!
//! ```text
//!     lea rcx, [rax - size]          ; the vaddr
//!     shr rcx, 32                    ; the region slot
//!     cmp ecx, ROWS
//!     jae miss
//!     cmp rax, [r15 + rcx*8 + LIMIT] ; load or store limit of the slot (0: never inline)
//!     jbe hit
//! miss:
//!     sub rax, size                  ; the vaddr
//!     call routine                   ; returns the host address in rax and rcx = 0
//!     add rax, size
//! hit:
//!     add rax, [r15 + rcx*8 + DELTA] ; host minus guest address of the slot (0 for row 0)
//! ```

use super::calls::{exit_sequence, frame_push};
use super::env::{FRAME_HOST, FRAME_TOP};
use super::lower::Program;
use super::masm::{delta_field, env, limit_field, Access, Routine, GUEST, METER, ROWS_IMM};
use super::JitError;
use bpfvm_x86::{
    AluKind, Assembler, Cond, Gpr, Label, Mem, Operand, RegMem, Rel32, ShiftAmount, ShiftKind, Size,
};

/// The most routine fields a template has.
pub(crate) const MAX_ROUTINES: usize = 2;

/// Templates up to this many bytes (the memory check, the meter charge) are appended with a
/// fixed-size copy, then cut back, which is cheaper than a copy of variable length.
const SHORT: usize = 32;

/// One encoded sequence and its fields.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    bytes: Vec<u8>,
    /// The bytes again, zero-padded, when they fit in [`SHORT`].
    short: Option<[u8; SHORT]>,
    routines: [Option<(Rel32, Routine)>; MAX_ROUTINES],
    /// Where the patched immediate starts, and its length (1 or 4 bytes).
    imm: Option<(usize, usize)>,
    /// The return address of the bail-out (or miss) call, which is a site.
    site: Option<usize>,
    /// The code offsets of the routines, once they are emitted.
    targets: [Option<usize>; MAX_ROUTINES],
    /// Whether every routine field has its target.
    resolved: bool,
    /// Once resolved: per routine field, its offset in the sequence and its target minus the
    /// field's end (the displacement is that minus where the sequence starts).
    patches: [(usize, i64); MAX_ROUTINES],
    /// How many entries of `patches` are fields.
    patch_count: usize,
}

/// Routine fields of an emitted template whose routine is not emitted yet.
pub(crate) type Unresolved = [Option<(Rel32, Routine)>; MAX_ROUTINES];

/// The scratch assembler a template is built with, recording the fields.
pub(crate) struct Builder {
    pub asm: Assembler,
    template: Template,
}

impl Builder {
    /// `call routine`, whose return address becomes the instruction's bail-out site.
    pub fn call(&mut self, routine: Routine) -> Result<(), JitError> {
        let field = self.asm.call_pending();
        self.routine(field, routine)?;
        self.template.site = Some(self.asm.offset());
        Ok(())
    }

    /// `jcc routine`.
    pub fn jcc(&mut self, cond: Cond, routine: Routine) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        self.routine(field, routine)
    }

    /// Bails out at the instruction's site when `cond` holds.
    pub fn bail_if(&mut self, cond: Cond) -> Result<(), JitError> {
        self.asm.jcc_over(cond.invert(), 5)?;
        self.call(Routine::BailSite)
    }

    /// Marks the last bytes emitted (1 or 4 as `width` says) as the immediate patched on
    /// replay.
    pub fn imm_here(&mut self, width: Width) {
        let len = match width {
            Width::Byte => 1,
            Width::Dword => 4,
        };
        self.template.imm = Some((self.asm.offset().saturating_sub(len), len));
    }

    fn routine(&mut self, field: Rel32, routine: Routine) -> Result<(), JitError> {
        let free = self
            .template
            .routines
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or_else(|| JitError::Encode {
                message: "a template with too many routine fields".to_string(),
            })?;
        *free = Some((field, routine));
        Ok(())
    }
}

impl Template {
    /// Encodes a sequence with `build`.
    pub fn build(
        build: impl FnOnce(&mut Builder) -> Result<(), JitError>,
    ) -> Result<Template, JitError> {
        let mut builder = Builder {
            asm: Assembler::with_capacity(128),
            template: Template {
                bytes: Vec::new(),
                short: None,
                routines: [None; MAX_ROUTINES],
                imm: None,
                site: None,
                targets: [None; MAX_ROUTINES],
                resolved: false,
                patches: [(0, 0); MAX_ROUTINES],
                patch_count: 0,
            },
        };
        build(&mut builder)?;
        let Builder { asm, mut template } = builder;
        template.bytes = asm.finish()?;
        template.short = (template.bytes.len() <= SHORT).then(|| {
            let mut short = [0; SHORT];
            for (slot, byte) in short.iter_mut().zip(&template.bytes) {
                *slot = *byte;
            }
            short
        });
        Ok(template)
    }

    /// The routines the fields point at (to be emitted before [`Template::emit`]).
    #[inline]
    pub fn routines(&self) -> [Option<Routine>; MAX_ROUTINES] {
        self.routines.map(|field| field.map(|(_, routine)| routine))
    }

    /// Records where the routines of [`Template::routines`] are (`None`: not emitted yet).
    pub fn resolve(&mut self, targets: [Option<usize>; MAX_ROUTINES]) {
        self.targets = targets;
        self.resolved = self
            .routines
            .iter()
            .zip(&self.targets)
            .all(|(field, target)| field.is_none() || target.is_some());
        self.patch_count = 0;
        if self.resolved {
            let fields = self.routines.iter().zip(&self.targets);
            for (field, target) in fields {
                if let (Some((field, _)), Some(target)) = (field, target) {
                    let end = field.offset() as i64 + 4;
                    if let Some(patch) = self.patches.get_mut(self.patch_count) {
                        *patch = (field.offset(), *target as i64 - end);
                        self.patch_count += 1;
                    }
                }
            }
        }
    }

    /// Whether every routine field has its target.
    #[inline]
    pub fn resolved(&self) -> bool {
        self.resolved
    }

    /// Appends the template's bytes (through the fixed-size copy when there is one) and
    /// returns where they start.
    #[inline]
    fn append_bytes(&self, asm: &mut Assembler) -> usize {
        let start = asm.offset();
        match &self.short {
            Some(short) => {
                asm.data(short);
                asm.truncate(start + self.bytes.len());
            }
            None => asm.data(&self.bytes),
        }
        start
    }

    /// [`Template::emit`] of a resolved template (every routine field has its target): the
    /// bytes, the displacements and the immediate written in place; returns where the
    /// bail-out call's return address is, if the sequence has one.
    #[inline(always)]
    pub fn emit_resolved(&self, asm: &mut Assembler, imm: i32) -> Result<Option<usize>, JitError> {
        let start = self.append_bytes(asm);
        let code = asm.code_from_mut(start);
        for (at, bias) in self.patches.iter().take(self.patch_count) {
            let disp = i32::try_from(*bias - start as i64).map_err(|_| too_far(start))?;
            write_field(code, *at, &disp.to_le_bytes())?;
        }
        match self.imm {
            // Fixed-length writes (a slice of variable length would be a `memcpy` call).
            Some((at, 1)) => write_field(code, at, &[imm as u8])?,
            Some((at, _)) => write_field(code, at, &imm.to_le_bytes())?,
            None => {}
        }
        Ok(self.site.map(|offset| start + offset))
    }

    /// Appends the sequence to `asm` with the immediate `imm` and the routine fields pointing
    /// at the routines; returns where the bail-out call's return address is, if the sequence
    /// has one, and the fields whose routine is not emitted yet (for the caller to queue).
    #[inline]
    pub fn emit(
        &self,
        asm: &mut Assembler,
        imm: i32,
    ) -> Result<(Option<usize>, Unresolved), JitError> {
        let start = self.append_bytes(asm);
        let mut unresolved = [None; MAX_ROUTINES];
        for ((target, field), out) in self.targets.iter().zip(&self.routines).zip(&mut unresolved) {
            match (field, target) {
                (Some((field, _)), Some(target)) => {
                    asm.patch_rel32(field.moved_by(start), *target)?
                }
                (Some((field, routine)), None) => *out = Some((field.moved_by(start), *routine)),
                (None, _) => {}
            }
        }
        if let Some((offset, len)) = self.imm {
            let bytes = imm.to_le_bytes();
            asm.write_data(start + offset, bytes.get(..len).unwrap_or(&bytes))?;
        }
        Ok((self.site.map(|offset| start + offset), unresolved))
    }
}

/// Writes `bytes` at `at` of a sequence just appended (`code` starts with it).
#[inline(always)]
fn write_field(code: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), JitError> {
    code.get_mut(at..at + bytes.len())
        .ok_or_else(|| too_far(at))?
        .copy_from_slice(bytes);
    Ok(())
}

/// A field that cannot be written (its displacement does not fit, or it lies outside the
/// sequence): a bug, or code beyond 2 GiB.
#[cold]
fn too_far(at: usize) -> JitError {
    JitError::Encode {
        message: format!("a template field at {at} cannot be written"),
    }
}

/// The inline check of a `size`-byte `access` (see the module doc).
pub(crate) fn access_check(
    b: &mut Builder,
    size: u8,
    access: Access,
    miss_by: Miss,
) -> Result<(), JitError> {
    let log = size.trailing_zeros().min(3) as u8;
    let miss = b.asm.new_label();
    let hit = b.asm.new_label();
    let rax = RegMem::Reg(Gpr::Rax);
    let size = i32::from(size);
    b.asm
        .lea(Size::S64, Gpr::Rcx, Mem::base_disp(Gpr::Rax, -size))?;
    b.asm.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        ShiftAmount::Imm(32),
    )?;
    b.asm
        .cmp(Size::S32, RegMem::Reg(Gpr::Rcx), Operand::Imm(ROWS_IMM))?;
    b.asm.jcc_short(Cond::Ae, miss)?;
    b.asm.alu(
        AluKind::Cmp,
        Size::S64,
        rax,
        Operand::Mem(limit_field(Gpr::Rcx, access)),
    )?;
    b.asm.jcc_short(Cond::Be, hit)?;
    b.asm.bind(miss)?;
    b.asm
        .alu(AluKind::Sub, Size::S64, rax, Operand::Imm(size))?;
    b.call(miss_by.routine(access, log))?;
    b.asm
        .alu(AluKind::Add, Size::S64, rax, Operand::Imm(size))?;
    b.asm.bind(hit)?;
    b.asm.alu(
        AluKind::Add,
        Size::S64,
        rax,
        Operand::Mem(delta_field(Gpr::Rcx)),
    )?;
    Ok(())
}

/// The region-table lookup of a `size`-byte `access` (vaddr in rax) in the miss routines
/// (which saved the meter: rdx is free there), up to the compare of its end with the row's
/// limit (the caller's jump decides on "below or equal"); a slot beyond the table jumps to
/// `miss` (short):
///
/// ```text
///     mov rdx, rax
///     shr rdx, 32
///     cmp edx, ROWS
///     jae miss
///     lea rcx, [rax + size]
///     cmp rcx, [r15 + rdx*8 + LIMIT]
/// ```
pub(crate) fn table_compare(
    a: &mut Assembler,
    size: u8,
    access: Access,
    miss: Label,
) -> Result<(), JitError> {
    slot_compare(a)?;
    a.jcc_short(Cond::Ae, miss)?;
    end_compare(a, size, limit_field(Gpr::Rdx, access))
}

/// `mov rdx, rax; shr rdx, 32; cmp edx, ROWS`: the region slot of the vaddr in rax, compared
/// with the number of table rows.
pub(crate) fn slot_compare(a: &mut Assembler) -> Result<(), JitError> {
    a.mov(Size::S64, Gpr::Rdx, Gpr::Rax);
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rdx),
        ShiftAmount::Imm(32),
    )?;
    a.cmp(Size::S32, RegMem::Reg(Gpr::Rdx), Operand::Imm(ROWS_IMM))?;
    Ok(())
}

/// `lea rcx, [rax + size]; cmp rcx, limit`: the end of a `size`-byte access at the address
/// in rax against `limit`.
pub(crate) fn end_compare(a: &mut Assembler, size: u8, limit: Mem) -> Result<(), JitError> {
    a.lea(
        Size::S64,
        Gpr::Rcx,
        Mem::base_disp(Gpr::Rax, i32::from(size)),
    )?;
    a.alu(
        AluKind::Cmp,
        Size::S64,
        RegMem::Reg(Gpr::Rcx),
        Operand::Mem(limit),
    )?;
    Ok(())
}

/// `frame_top = r10 / 2 + frame_host` (see [`super::env::Env::frame_top`]); clobbers rax.
pub(crate) fn frame_top_update(a: &mut Assembler) -> Result<(), JitError> {
    a.mov(Size::S64, Gpr::Rax, GUEST[10]);
    a.shift(
        ShiftKind::Shr,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        ShiftAmount::Imm(1),
    )?;
    a.alu(
        AluKind::Add,
        Size::S64,
        RegMem::Reg(Gpr::Rax),
        Operand::Mem(env(FRAME_HOST)),
    )?;
    a.store(Size::S64, env(FRAME_TOP), Gpr::Rax)?;
    Ok(())
}

/// The meter charge at a run's start: `rdx -= charge` (the meter, an immediate of
/// `width`), and a bail-out unless that leaves more than 0.
pub(crate) fn meter_charge(b: &mut Builder, width: Width) -> Result<(), JitError> {
    let placeholder = match width {
        Width::Byte => 1,
        Width::Dword => 0x100,
    };
    b.asm.alu(
        AluKind::Sub,
        Size::S64,
        RegMem::Reg(METER),
        Operand::Imm(placeholder),
    )?;
    b.imm_here(width);
    b.bail_if(Cond::Be)
}

/// The width of a patched immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    /// 8 bits (sign-extended by the instruction).
    Byte,
    /// 32 bits.
    Dword,
}

/// The routine an inline access check calls when it misses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Translate the access ([`Routine::Access`]).
    Translate,
    /// Translate the span of a pair of different accesses ([`Routine::Span`]).
    Span,
}

impl Miss {
    /// The routine of a miss of a `2^log`-byte `access`.
    pub(crate) fn routine(self, access: Access, log: u8) -> Routine {
        match self {
            Miss::Translate => Routine::Access(access, log),
            Miss::Span => Routine::Span(access, log),
        }
    }
}

/// The index of an access check among the 16 of its shape: miss routine, kind, size.
fn access_index(access: Access, size: u8, miss: Miss) -> usize {
    usize::from(miss == Miss::Span) * 8
        + usize::from(access == Access::Store) * 4
        + size.trailing_zeros().min(3) as usize
}

/// The pre-encoded sequences.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The inline check of a memory access, by kind, size in bytes and miss routine.
    Access(Access, u8, Miss),
    /// The meter charge at a run's start, by immediate width.
    Meter(Width),
    /// The frame push of `call` / `callx`.
    FramePush,
    /// `exit`.
    Exit,
    /// `exit` with the return-pc check.
    CheckedExit,
}

/// How many [`Shape`]s there are.
pub(crate) const SHAPES: usize = 21;

impl Shape {
    #[inline]
    pub fn index(self) -> usize {
        match self {
            Shape::Access(access, size, miss) => access_index(access, size, miss),
            Shape::Meter(Width::Byte) => 16,
            Shape::Meter(Width::Dword) => 17,
            Shape::FramePush => 18,
            Shape::Exit => 19,
            Shape::CheckedExit => 20,
        }
    }

    pub fn build(self, b: &mut Builder, p: &Program) -> Result<(), JitError> {
        match self {
            Shape::Access(access, size, miss) => access_check(b, size, access, miss),
            Shape::Meter(width) => meter_charge(b, width),
            Shape::FramePush => frame_push(b, p),
            Shape::Exit => exit_sequence(b, p, false),
            Shape::CheckedExit => exit_sequence(b, p, true),
        }
    }
}
