//! The raw 8-byte instruction slot, exactly as it sits in program memory.
//!
//! A slot is only a view of the bytes: it never says what they mean. Meaning comes from
//! [`crate::decode`]. The verifier reads slot fields directly where the reference checks raw
//! fields that an instruction otherwise ignores (a source register on an immediate ALU op, for
//! example).

/// The size of one instruction slot in bytes.
pub const SLOT_SIZE: usize = 8;

/// One instruction slot: opcode, two 4-bit register fields, a 16-bit offset and a 32-bit
/// immediate, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Slot {
    /// Byte 0: the opcode.
    pub opcode: u8,
    /// The low nibble of byte 1: the destination register field.
    pub dst: u8,
    /// The high nibble of byte 1: the source register field.
    pub src: u8,
    /// Bytes 2-3: the signed offset.
    pub off: i16,
    /// Bytes 4-7: the signed immediate.
    pub imm: i32,
}

impl Slot {
    /// Reads a slot from its 8 bytes.
    pub fn from_bytes(bytes: [u8; SLOT_SIZE]) -> Self {
        Slot {
            opcode: bytes[0],
            dst: bytes[1] & 0x0f,
            src: bytes[1] >> 4,
            off: i16::from_le_bytes([bytes[2], bytes[3]]),
            imm: i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// Reads a slot from its 8 bytes taken as one little-endian `u64` (byte 0, the opcode, is
    /// the low byte): the form a scan that loads a whole slot at once holds. The same as
    /// [`Slot::from_bytes`] on `word.to_le_bytes()`.
    #[inline(always)]
    pub const fn from_u64(word: u64) -> Self {
        Slot {
            opcode: word as u8,
            dst: (word >> 8) as u8 & 0x0f,
            src: (word >> 12) as u8 & 0x0f,
            off: (word >> 16) as u16 as i16,
            imm: (word >> 32) as u32 as i32,
        }
    }

    /// The slot with index `index` in `bytes` (its bytes `8 * index ..8 * index + 8`), or
    /// `None` when `bytes` does not hold all of it.
    #[inline(always)]
    pub fn at(bytes: &[u8], index: usize) -> Option<Self> {
        let start = index.checked_mul(SLOT_SIZE)?;
        let chunk: &[u8; SLOT_SIZE] = bytes.get(start..)?.first_chunk()?;
        Some(Slot::from_u64(u64::from_le_bytes(*chunk)))
    }

    /// Writes the slot back to 8 bytes. Register fields are truncated to 4 bits.
    pub fn to_bytes(self) -> [u8; SLOT_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.opcode,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// Whether this slot can be the second half of an `lddw` (its opcode is 0). The verifier
    /// rejects jumps to such slots.
    pub fn is_lddw_continuation(self) -> bool {
        self.opcode == 0
    }

    /// Splits a byte string into slots. A trailing partial slot is ignored; callers that care
    /// (the verifier) check the length first.
    pub fn slots_of(bytes: &[u8]) -> Vec<Slot> {
        bytes
            .chunks_exact(SLOT_SIZE)
            .map(|chunk| {
                let mut array = [0u8; SLOT_SIZE];
                array.copy_from_slice(chunk);
                Slot::from_bytes(array)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let bytes = [0x61, 0x21, 0xfe, 0xff, 0x78, 0x56, 0x34, 0x12];
        let slot = Slot::from_bytes(bytes);
        assert_eq!(slot.opcode, 0x61);
        assert_eq!(slot.dst, 1);
        assert_eq!(slot.src, 2);
        assert_eq!(slot.off, -2);
        assert_eq!(slot.imm, 0x1234_5678);
        assert_eq!(slot.to_bytes(), bytes);
        assert_eq!(Slot::from_u64(u64::from_le_bytes(bytes)), slot);
    }

    #[test]
    fn word_reader_agrees_with_byte_reader() {
        let mut word = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..1000 {
            word = word.rotate_left(7).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5bd1;
            assert_eq!(
                Slot::from_u64(word),
                Slot::from_bytes(word.to_le_bytes()),
                "{word:#x}"
            );
        }
    }

    #[test]
    fn at_reads_whole_slots_only() {
        let bytes: Vec<u8> = (0..20).collect();
        assert_eq!(
            Slot::at(&bytes, 1),
            Some(Slot::from_bytes([8, 9, 10, 11, 12, 13, 14, 15]))
        );
        assert_eq!(Slot::at(&bytes, 2), None);
        assert_eq!(Slot::at(&bytes, usize::MAX), None);
    }
}
