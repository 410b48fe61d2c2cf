//! Pre-encoded x86-64 sequences, for compile speed. The sequences that recur per instruction with
//! the same bytes except for a few fields (the inline table check of a memory access, the
//! meter charge at a run's start, the frame push of `call`, the nested `exit`) are encoded once
//! per compile by the typed encoder into a scratch assembler; every use appends the bytes
//! and patches the fields: rel32 fields pointing at shared routines, one 32-bit immediate,
//! and the bail-out site: the return address of a call, or the rel32 field of a conditional
//! jump to a bail-out stub of that use, out of line. The machine code is
//! byte for byte what encoding each instruction again would give. The sequences themselves
//! are in `sequences`; `labels` names them.

use super::labels::{Routine, Width};
use crate::jit::JitError;
use bpfvm_x86::{Assembler, Cond, Rel32};

/// The most routine fields a template has.
pub(crate) const MAX_ROUTINES: usize = 2;

/// Templates up to this many bytes (the memory check, the meter charge) are appended with a
/// fixed-size copy, then cut back, which is cheaper than a copy of variable length.
const SHORT: usize = 32;

/// Templates up to this many bytes without routine fields (the meter charge) are also kept
/// as one number, so that a use ors in its immediate and appends the bytes with two 8-byte
/// stores ([`Words::emit`]).
const WORDS: usize = 16;

/// One encoded sequence and its fields.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    bytes: Vec<u8>,
    /// The bytes again, zero-padded, when they fit in [`SHORT`].
    short: Option<[u8; SHORT]>,
    /// The bytes again as a little-endian number with the immediate zeroed, when they fit
    /// in [`WORDS`] and there is no routine field.
    words: Option<u128>,
    routines: [Option<(Rel32, Routine)>; MAX_ROUTINES],
    /// Where the patched immediate starts, and its length (1 or 4 bytes).
    imm: Option<(usize, usize)>,
    /// Where the sequence's bail-out site is, if it has one.
    site: Option<TemplateSite>,
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

/// The bail-out site of a template, by its offset in the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TemplateSite {
    /// The return address of an inline call (a miss routine's): the call's site.
    Call(usize),
    /// The rel32 field of a conditional jump to a bail-out stub out of line, which each use
    /// of the template gets (so that the common path falls through).
    Stub(Rel32),
}

impl TemplateSite {
    /// The same site in a copy of the sequence appended at `start`.
    #[inline(always)]
    fn moved_by(self, start: usize) -> TemplateSite {
        match self {
            TemplateSite::Call(offset) => TemplateSite::Call(start + offset),
            TemplateSite::Stub(field) => TemplateSite::Stub(field.moved_by(start)),
        }
    }
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
        self.template.site = Some(TemplateSite::Call(self.asm.offset()));
        Ok(())
    }

    /// `jcc routine`.
    pub fn jcc(&mut self, cond: Cond, routine: Routine) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        self.routine(field, routine)
    }

    /// Bails out at the instruction's site when `cond` holds: a conditional jump to a stub
    /// out of line that each use gets (the common path falls through).
    pub fn bail_if(&mut self, cond: Cond) -> Result<(), JitError> {
        let field = self.asm.jcc_pending(cond);
        self.template.site = Some(TemplateSite::Stub(field));
        Ok(())
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
            .ok_or_else(|| JitError::Internal {
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
                words: None,
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
        template.words = template.words();
        Ok(template)
    }

    /// The bytes as one number with the immediate zeroed, when they fit in [`WORDS`] bytes
    /// and have no routine field (and the immediate lies inside them).
    fn words(&self) -> Option<u128> {
        if self.bytes.len() > WORDS || self.routines.iter().any(Option::is_some) {
            return None;
        }
        let mut bytes = [0; WORDS];
        for (slot, byte) in bytes.iter_mut().zip(&self.bytes) {
            *slot = *byte;
        }
        if let Some((at, len)) = self.imm {
            bytes.get_mut(at..at.checked_add(len)?)?.fill(0);
        }
        Some(u128::from_le_bytes(bytes))
    }

    /// The template laid out once as two words with its immediate's place and mask, for
    /// [`Words::emit`]: when it fits in [`WORDS`] bytes, has no routine field, and its
    /// immediate (if any) lies in its first 8 bytes.
    pub fn words_form(&self) -> Option<Words> {
        let words = self.words?;
        let len = self.bytes.len();
        let (imm_shift, imm_mask) = match self.imm {
            Some((at, len)) if at + len <= 8 => (8 * at as u32, (1u64 << (8 * len as u32)) - 1),
            Some(_) => return None,
            None => (0, 0),
        };
        Some(Words {
            head: words as u64,
            head_len: len.min(8),
            tail: (words >> 64) as u64,
            tail_len: len - len.min(8),
            imm_shift,
            imm_mask,
            site: self.site,
        })
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
    #[inline(always)]
    fn append_bytes(&self, asm: &mut Assembler) -> usize {
        let start = asm.offset();
        match &self.short {
            Some(short) => asm.data_block(short, self.bytes.len()),
            None => asm.data(&self.bytes),
        }
        start
    }

    /// [`Template::emit`] of a resolved template (every routine field has its target): the
    /// bytes, the displacements and the immediate written in place; returns the bail-out
    /// site of this copy, if the sequence has one.
    #[inline(always)]
    pub fn emit_resolved(
        &self,
        asm: &mut Assembler,
        imm: i32,
    ) -> Result<Option<TemplateSite>, JitError> {
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
        Ok(self.site.map(|site| site.moved_by(start)))
    }

    /// Appends the sequence to `asm` with the immediate `imm` and the routine fields pointing
    /// at the routines; returns the bail-out site of this copy, if the sequence has one, and
    /// the fields whose routine is not emitted yet (for the caller to queue).
    #[inline]
    pub fn emit(
        &self,
        asm: &mut Assembler,
        imm: i32,
    ) -> Result<(Option<TemplateSite>, Unresolved), JitError> {
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
        Ok((self.site.map(|site| site.moved_by(start)), unresolved))
    }
}

/// A short template without routine fields, laid out once as two little-endian words
/// ([`Template::words_form`]): a use ors its immediate into the first word and appends both
/// with two 8-byte stores. The meter charge at every run's start goes this way.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Words {
    head: u64,
    head_len: usize,
    tail: u64,
    tail_len: usize,
    /// Where the immediate sits in `head` (in bits) and its width's mask (0: none).
    imm_shift: u32,
    imm_mask: u64,
    site: Option<TemplateSite>,
}

impl Words {
    /// Appends the sequence with the immediate `imm`; returns this copy's bail-out site, if
    /// the sequence has one: the template's bytes with that immediate.
    #[inline(always)]
    pub fn emit(&self, asm: &mut Assembler, imm: i32) -> Option<TemplateSite> {
        let start = asm.offset();
        let head = self.head | ((u64::from(imm as u32) & self.imm_mask) << (self.imm_shift & 63));
        asm.data_words(head, self.head_len, self.tail, self.tail_len);
        self.site.map(|site| site.moved_by(start))
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
    JitError::Internal {
        message: format!("a template field at {at} cannot be written"),
    }
}
