//! The encoder's error value: every operand combination x86 cannot encode that the types do not
//! already rule out, and every misuse of labels.

use crate::label::Label;
use crate::operand::Size;
use std::fmt;

/// Which kind of relative field a branch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reach {
    /// A signed 8-bit displacement (short jump).
    Rel8,
    /// A signed 32-bit displacement.
    Rel32,
}

/// Why an instruction or label operation could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// An immediate does not fit the operand width of the instruction.
    ImmediateOutOfRange {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
        /// The operand width.
        size: Size,
        /// The rejected value.
        imm: i64,
    },
    /// The instruction has no form of this width (e.g. `cmov` on bytes, `bswap` on words).
    UnsupportedSize {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
        /// The rejected width.
        size: Size,
    },
    /// A zero- or sign-extension whose source is not narrower than its destination, or whose
    /// widths have no encoding.
    InvalidExtension {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
        /// The source width.
        from: Size,
        /// The destination width.
        to: Size,
    },
    /// RSP was given as the index register of a memory operand.
    RspAsIndex,
    /// Both operands are in memory; x86 has no such form.
    TwoMemoryOperands {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
    },
    /// The `lock` prefix was asked for on an instruction that does not allow it.
    LockNotAllowed {
        /// The instruction's mnemonic.
        mnemonic: &'static str,
    },
    /// The label does not belong to this assembler.
    UnknownLabel {
        /// The label.
        label: Label,
    },
    /// The label was bound a second time.
    LabelBoundTwice {
        /// The label.
        label: Label,
    },
    /// [`Assembler::finish`](crate::Assembler::finish) found a label that is used but was
    /// never bound.
    UnboundLabel {
        /// The label.
        label: Label,
    },
    /// A branch's target is too far for its displacement field.
    BranchOutOfRange {
        /// The label.
        label: Label,
        /// The field that overflowed.
        reach: Reach,
        /// The displacement that did not fit.
        distance: i64,
    },
    /// A branch or call to a code offset (not a label) whose displacement does not fit, or
    /// whose field lies outside the code.
    OffsetOutOfRange {
        /// The offset of the displacement field.
        at: usize,
        /// The target offset.
        target: usize,
        /// The field that overflowed.
        reach: Reach,
    },
    /// [`Assembler::write_data`](crate::Assembler::write_data) was asked to patch bytes
    /// that do not lie inside the code.
    PatchOutOfRange {
        /// The offset of the patch.
        at: usize,
        /// Its length.
        len: usize,
        /// The length of the code.
        bytes: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::ImmediateOutOfRange {
                mnemonic,
                size,
                imm,
            } => write!(
                f,
                "immediate {imm} does not fit the {}-bit operand of `{mnemonic}`",
                size.bits()
            ),
            EncodeError::UnsupportedSize { mnemonic, size } => {
                write!(f, "`{mnemonic}` has no {}-bit form", size.bits())
            }
            EncodeError::InvalidExtension { mnemonic, from, to } => write!(
                f,
                "`{mnemonic}` cannot extend {} bits to {} bits",
                from.bits(),
                to.bits()
            ),
            EncodeError::RspAsIndex => write!(f, "rsp cannot be the index of a memory operand"),
            EncodeError::TwoMemoryOperands { mnemonic } => {
                write!(f, "`{mnemonic}` cannot take two memory operands")
            }
            EncodeError::LockNotAllowed { mnemonic } => {
                write!(f, "`{mnemonic}` does not accept the lock prefix")
            }
            EncodeError::UnknownLabel { label } => {
                write!(
                    f,
                    "label {} does not belong to this assembler",
                    label.index()
                )
            }
            EncodeError::LabelBoundTwice { label } => {
                write!(f, "label {} is bound twice", label.index())
            }
            EncodeError::UnboundLabel { label } => {
                write!(f, "label {} is used but never bound", label.index())
            }
            EncodeError::BranchOutOfRange {
                label,
                reach,
                distance,
            } => write!(
                f,
                "label {} is {distance} bytes away, too far for a {reach:?} branch",
                label.index()
            ),
            EncodeError::OffsetOutOfRange { at, target, reach } => write!(
                f,
                "offset {target} cannot be reached from the {reach:?} field at {at}"
            ),
            EncodeError::PatchOutOfRange { at, len, bytes } => write!(
                f,
                "{len} bytes at offset {at} lie outside the {bytes} bytes of code"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}
