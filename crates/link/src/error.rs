//! Why an object cannot be linked.

use std::fmt;

/// Why linking failed. Offsets are byte offsets in the merged text or data; pcs are slot
/// indices in the merged text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The bytes are not a well-formed 64-bit little-endian ELF file.
    Parse {
        /// What the ELF reader said.
        message: String,
    },
    /// The file is not a relocatable object (`ET_REL`).
    NotRelocatable {
        /// Its `e_type`.
        e_type: u16,
    },
    /// The file is not for BPF (`EM_BPF`, 247).
    WrongMachine {
        /// Its `e_machine`.
        machine: u16,
    },
    /// A section holds writable data, which sBPF programs cannot have.
    WritableSection {
        /// The section's name.
        name: String,
    },
    /// An executable section whose size is not a whole number of instruction slots.
    UnalignedText {
        /// The section's name.
        name: String,
        /// Its size in bytes.
        size: u64,
    },
    /// The program is larger than a region can hold.
    TooLarge {
        /// The merged size in bytes.
        size: u64,
    },
    /// No function named `entrypoint` is defined in the text.
    NoEntrypoint,
    /// A relocation refers to a symbol that cannot be placed (absolute, common, or in a
    /// section that is not loaded).
    UnsupportedSymbol {
        /// The symbol's name.
        name: String,
    },
    /// A relocation type this linker does not know.
    UnknownRelocation {
        /// The `r_type`.
        kind: u32,
    },
    /// A relocation where its type cannot apply (not on an `lddw` or `call`, outside its
    /// section, a 32-bit field for a 64-bit address, a call into data).
    MisplacedRelocation {
        /// The `r_type`.
        kind: u32,
        /// Where, in the text or data.
        offset: u64,
    },
    /// A call whose target is outside the text.
    CallOutsideText {
        /// The call's slot.
        pc: usize,
    },
    /// A `call` by helper number (src 0, no relocation), which has no meaning in sBPF.
    HelperCall {
        /// The call's slot.
        pc: usize,
        /// The helper number.
        imm: i32,
    },
    /// An instruction the linker cannot decode.
    UnsupportedInstruction {
        /// Its slot.
        pc: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Parse { message } => write!(f, "not a usable ELF object: {message}"),
            LinkError::NotRelocatable { e_type } => {
                write!(f, "not a relocatable object (e_type {e_type}); link the output of `clang -c`")
            }
            LinkError::WrongMachine { machine } => {
                write!(f, "not a BPF object (e_machine {machine}, expected 247)")
            }
            LinkError::WritableSection { name } => write!(
                f,
                "section {name} holds writable data; sBPF programs have only read-only globals"
            ),
            LinkError::UnalignedText { name, size } => write!(
                f,
                "executable section {name} is {size} bytes, not a whole number of 8-byte instructions"
            ),
            LinkError::TooLarge { size } => {
                write!(f, "the program is {size} bytes, more than a 4 GiB region holds")
            }
            LinkError::NoEntrypoint => f.write_str("no function named `entrypoint` in the text"),
            LinkError::UnsupportedSymbol { name } => {
                write!(f, "symbol {name:?} is absolute, common or in a section that is not loaded")
            }
            LinkError::UnknownRelocation { kind } => write!(f, "unknown BPF relocation type {kind}"),
            LinkError::MisplacedRelocation { kind, offset } => write!(
                f,
                "relocation type {kind} at offset {offset:#x} does not fit the bytes it patches"
            ),
            LinkError::CallOutsideText { pc } => {
                write!(f, "the call at instruction {pc} targets a slot outside the text")
            }
            LinkError::HelperCall { pc, imm } => write!(
                f,
                "instruction {pc} calls helper number {imm}; sBPF calls syscalls by name"
            ),
            LinkError::UnsupportedInstruction { pc, reason } => {
                write!(f, "instruction {pc} cannot be linked: {reason}")
            }
        }
    }
}

impl std::error::Error for LinkError {}

impl From<object::read::Error> for LinkError {
    fn from(error: object::read::Error) -> Self {
        LinkError::Parse {
            message: error.to_string(),
        }
    }
}
