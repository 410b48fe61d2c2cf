//! The BPF architecture as the debugger presents it: register file, register numbers, the
//! target description and the LLDB register table.
//!
//! The `g` packet carries twelve little-endian 64-bit values, r0 to r10 and then the pc, the
//! layout GDB's own `bpf` architecture expects, so a BPF-aware GDB reads it without a target
//! description. Register 12, `remaining` (the instruction budget left), is not in the `g`
//! packet: clients read it with `p c`, and the target description and the LLDB register table
//! name it. The pc is a guest address: the address of the instruction's slot in the program
//! region (see the crate documentation).
//!
//! This module owns no state and never touches the VM.

use gdbstub::arch::lldb::{Encoding, Format, Generic, Register, RegisterInfo};
use gdbstub::arch::{Arch, RegId, Registers};
use std::num::NonZeroUsize;

/// The number of general-purpose registers, r0 to r10.
pub const GPR_COUNT: usize = 11;

/// The register number of the pc.
pub const PC_REGNUM: usize = 11;

/// The register number of the remaining instruction budget.
pub const REMAINING_REGNUM: usize = 12;

/// The size of every register in bytes.
const REGISTER_BYTES: usize = 8;

/// The custom gdbstub architecture for BPF.
pub enum Bpf {}

impl Arch for Bpf {
    type Usize = u64;
    type Registers = BpfRegisters;
    // GDB sends the breakpoint's length as its kind (8 for BPF); any kind is accepted.
    type BreakpointKind = usize;
    type RegId = BpfRegId;

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }

    fn lldb_register_info(reg_id: usize) -> Option<RegisterInfo<'static>> {
        Some(lldb_register(reg_id))
    }
}

/// The registers the `g` and `G` packets carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BpfRegisters {
    /// r0 to r10.
    pub gpr: [u64; GPR_COUNT],
    /// The guest address of the next instruction.
    pub pc: u64,
}

impl Registers for BpfRegisters {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.pc
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        for value in self.gpr.iter().chain(std::iter::once(&self.pc)) {
            for byte in value.to_le_bytes() {
                write_byte(Some(byte));
            }
        }
    }

    /// Accepts twelve values, or more (a client that also sends `remaining`; the extra
    /// values are ignored).
    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let values: Vec<u64> = bytes
            .chunks_exact(REGISTER_BYTES)
            .map(le_u64)
            .collect::<Option<_>>()
            .ok_or(())?;
        if bytes.len() % REGISTER_BYTES != 0 || values.len() <= PC_REGNUM {
            return Err(());
        }
        let (gpr, rest) = values.split_at(GPR_COUNT);
        self.gpr.copy_from_slice(gpr);
        self.pc = rest.first().copied().ok_or(())?;
        Ok(())
    }
}

/// Reads one little-endian 64-bit value from exactly eight bytes.
pub fn le_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// A register, by its GDB register number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpfRegId {
    /// r0 to r10.
    Gpr(u8),
    /// The pc (register 11).
    Pc,
    /// The remaining instruction budget (register 12, read-only).
    Remaining,
}

impl RegId for BpfRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        let register = match id {
            PC_REGNUM => BpfRegId::Pc,
            REMAINING_REGNUM => BpfRegId::Remaining,
            gpr if gpr < GPR_COUNT => BpfRegId::Gpr(u8::try_from(gpr).ok()?),
            _ => return None,
        };
        Some((register, NonZeroUsize::new(REGISTER_BYTES)))
    }

    fn to_raw_id(&self) -> Option<usize> {
        Some(match self {
            BpfRegId::Gpr(index) => usize::from(*index),
            BpfRegId::Pc => PC_REGNUM,
            BpfRegId::Remaining => REMAINING_REGNUM,
        })
    }
}

/// The target description served for `qXfer:features:read:target.xml`.
pub const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
  <architecture>bpf</architecture>
  <feature name="org.gnu.gdb.bpf.core">
    <reg name="r0" bitsize="64" type="int64" regnum="0"/>
    <reg name="r1" bitsize="64" type="int64"/>
    <reg name="r2" bitsize="64" type="int64"/>
    <reg name="r3" bitsize="64" type="int64"/>
    <reg name="r4" bitsize="64" type="int64"/>
    <reg name="r5" bitsize="64" type="int64"/>
    <reg name="r6" bitsize="64" type="int64"/>
    <reg name="r7" bitsize="64" type="int64"/>
    <reg name="r8" bitsize="64" type="int64"/>
    <reg name="r9" bitsize="64" type="int64"/>
    <reg name="r10" bitsize="64" type="data_ptr"/>
    <reg name="pc" bitsize="64" type="code_ptr"/>
  </feature>
  <feature name="org.bpfvm.meter">
    <reg name="remaining" bitsize="64" type="uint64" regnum="12"/>
  </feature>
</target>"#;

/// The names of registers 0 to 12, in order.
const NAMES: [&str; 13] = [
    "r0",
    "r1",
    "r2",
    "r3",
    "r4",
    "r5",
    "r6",
    "r7",
    "r8",
    "r9",
    "r10",
    "pc",
    "remaining",
];

/// The LLDB description of register `reg_id`, or `Done` past the last one.
fn lldb_register(reg_id: usize) -> RegisterInfo<'static> {
    let Some(name) = NAMES.get(reg_id) else {
        return RegisterInfo::Done;
    };
    let (alt_name, generic, set) = match reg_id {
        PC_REGNUM => (None, Some(Generic::Pc), "General Purpose Registers"),
        REMAINING_REGNUM => (None, None, "Meter"),
        10 => (Some("fp"), Some(Generic::Fp), "General Purpose Registers"),
        _ => (None, None, "General Purpose Registers"),
    };
    // The remaining budget is not in the `g` packet; LLDB reads it with `p`, at an offset
    // past the packet.
    RegisterInfo::Register(Register {
        name,
        alt_name,
        bitsize: REGISTER_BYTES * 8,
        offset: reg_id * REGISTER_BYTES,
        encoding: Encoding::Uint,
        format: Format::Hex,
        set,
        gcc: None,
        dwarf: Some(reg_id),
        generic,
        container_regs: None,
        invalidate_regs: None,
    })
}
