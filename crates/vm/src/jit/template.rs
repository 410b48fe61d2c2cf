//! Pre-encoded sequences for compile speed: the address translation of a memory access and
//! its out-of-line slow path recur thousands of times in a program with the same registers
//! and sizes, differing only in the memory offset and the labels they jump to. Each shape is
//! encoded once per compile by the typed encoder into a scratch assembler; every further use
//! copies its bytes, patches the offset and registers the label fields. The machine code is
//! byte for byte what encoding each instruction again would give.

use super::JitError;
use bpfvm_x86::{Assembler, Gpr, Label, REPLAY_MAX};

/// How the encoder lays out the displacement of `[base + off]` (see `bpfvm-x86`'s
/// `encode.rs`: none for 0 unless the base is RBP/R13, 8 bits when it fits, else 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Disp {
    /// No displacement bytes.
    None,
    /// A disp8.
    Byte,
    /// A disp32.
    Dword,
}

impl Disp {
    /// The layout the encoder picks for `[base + off]`.
    pub fn of(base: Gpr, off: i32) -> Disp {
        match i8::try_from(off) {
            Ok(0) if !matches!(base, Gpr::Rbp | Gpr::R13) => Disp::None,
            Ok(_) => Disp::Byte,
            Err(_) => Disp::Dword,
        }
    }

    fn index(self) -> usize {
        match self {
            Disp::None => 0,
            Disp::Byte => 1,
            Disp::Dword => 2,
        }
    }
}

/// The most label fields a template has.
pub(crate) const MAX_FIELDS: usize = 4;

/// One encoded sequence: its bytes, where the displacement of the memory offset ends (the
/// first instruction's), and where its 32-bit label fields are.
#[derive(Clone, Debug)]
pub(crate) struct Template {
    bytes: [u8; REPLAY_MAX],
    len: usize,
    disp: Disp,
    disp_end: usize,
    /// Where a second, 32-bit value ends (`Shape::imm_end`).
    imm_end: Option<usize>,
    fields: [usize; MAX_FIELDS],
    field_count: usize,
}

/// What a template builder reports about the code it emitted into the scratch assembler.
pub(crate) struct Shape {
    /// The offset right after the instruction that holds the memory offset's displacement.
    pub disp_end: usize,
    /// The label fields, in the order the labels are passed to [`Template::replay`].
    pub fields: [usize; MAX_FIELDS],
    /// How many of `fields` are used.
    pub field_count: usize,
    /// The end of a second value the replay patches, a 32-bit immediate, if any.
    pub imm_end: Option<usize>,
}

impl Template {
    /// Encodes a sequence with `build` (given a scratch assembler and labels to use, one per
    /// field) for an offset with displacement layout `disp`.
    pub fn build(
        disp: Disp,
        build: impl FnOnce(&mut Assembler, &[Label; MAX_FIELDS]) -> Result<Shape, JitError>,
    ) -> Result<Template, JitError> {
        let mut scratch = Assembler::with_capacity(128);
        let labels = [(); MAX_FIELDS].map(|_| scratch.new_label());
        let shape = build(&mut scratch, &labels)?;
        let code = scratch.code();
        let mut bytes = [0; REPLAY_MAX];
        bytes
            .get_mut(..code.len())
            .ok_or_else(|| JitError::Encode {
                message: format!("a template of {} bytes", code.len()),
            })?
            .copy_from_slice(code);
        Ok(Template {
            bytes,
            len: code.len(),
            disp,
            disp_end: shape.disp_end,
            imm_end: shape.imm_end,
            fields: shape.fields,
            field_count: shape.field_count.min(MAX_FIELDS),
        })
    }

    /// Emits the sequence into `asm` with the memory offset (or first value) `off`, of the
    /// layout the template was built for, and `labels` for its label fields.
    pub fn replay(&self, asm: &mut Assembler, off: i32, labels: &[Label]) -> Result<(), JitError> {
        self.replay_with(asm, off, 0, labels)
    }

    /// [`Template::replay`] with a second, 32-bit value `imm` (`Shape::imm_end`).
    pub fn replay_with(
        &self,
        asm: &mut Assembler,
        off: i32,
        imm: i32,
        labels: &[Label],
    ) -> Result<(), JitError> {
        let mut bytes = self.bytes;
        match self.disp {
            Disp::None => {}
            Disp::Byte => write(&mut bytes, self.disp_end, &[off as i8 as u8]),
            Disp::Dword => write(&mut bytes, self.disp_end, &off.to_le_bytes()),
        }
        if let Some(end) = self.imm_end {
            write(&mut bytes, end, &imm.to_le_bytes());
        }
        let fields = self.fields.get(..self.field_count).unwrap_or(&[]);
        asm.replay(&bytes, self.len, fields, labels)?;
        Ok(())
    }
}

/// Writes `value` so that it ends at `end` (a position the template's own encoding
/// reported, so always inside it).
fn write(bytes: &mut [u8; REPLAY_MAX], end: usize, value: &[u8]) {
    let start = end.saturating_sub(value.len());
    for (index, byte) in value.iter().enumerate() {
        if let Some(slot) = bytes.get_mut(start + index) {
            *slot = *byte;
        }
    }
}

/// A cache of templates keyed by a small index.
#[derive(Debug, Default)]
pub(crate) struct Templates {
    slots: Vec<Option<Template>>,
}

impl Templates {
    /// The key of a memory access shape: base register, access size (1, 2, 4, 8 bytes),
    /// store or load, displacement layout.
    pub fn key(base: Gpr, size: u8, store: bool, disp: Disp) -> usize {
        let base = Gpr::ALL.iter().position(|reg| *reg == base).unwrap_or(0);
        let size = (size.trailing_zeros() as usize).min(3);
        ((base * 4 + size) * 2 + usize::from(store)) * 3 + disp.index()
    }

    /// The template at `key`, built with `build` on first use.
    pub fn get_or_build(
        &mut self,
        key: usize,
        build: impl FnOnce() -> Result<Template, JitError>,
    ) -> Result<&Template, JitError> {
        if self.slots.len() <= key {
            self.slots.resize(key + 1, None);
        }
        let missing = || JitError::Encode {
            message: format!("no template slot {key}"),
        };
        let slot = self.slots.get_mut(key).ok_or_else(missing)?;
        if slot.is_none() {
            *slot = Some(build()?);
        }
        slot.as_ref().ok_or_else(missing)
    }
}
