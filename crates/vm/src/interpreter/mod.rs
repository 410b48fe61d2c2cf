//! The interpreter backend. SCAFFOLD: the engine helper replaces this file.

use crate::program::Executable;
use bpfvm_isa::Insn;

/// The interpreter's pre-decoded form of a program.
#[derive(Debug, Default)]
pub struct Code {
    slots: usize,
}

impl Code {
    /// Pre-decodes a verified program.
    pub fn compile<C>(executable: &Executable<C>, decoded: &[Option<Insn>]) -> Code {
        let _ = executable;
        Code {
            slots: decoded.len(),
        }
    }

    /// The number of slots.
    pub fn slot_count(&self) -> usize {
        self.slots
    }
}
