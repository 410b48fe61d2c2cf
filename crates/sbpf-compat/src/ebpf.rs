//! The instruction encoding as constants, the raw instruction record [`Insn`] and the address
//! map of the SBPF virtual machine (solana-sbpf 0.26's `ebpf` module).
//!
//! Every opcode value here is a fact of the published instruction set (the SBPF versions'
//! tables live in `bpfvm_isa`, which decodes them for the engine); hosts and tests build and
//! read instructions with these names. Nothing in this module executes anything.

use core::fmt;

/// The largest number of instructions a program may hold (the historical limit; the loaders
/// do not enforce it).
pub const PROG_MAX_INSNS: usize = 65_536;
/// The size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;
/// The frame pointer register (r10).
pub const FRAME_PTR_REG: usize = 10;
/// The first callee-saved register (r6).
pub const FIRST_SCRATCH_REG: usize = 6;
/// How many callee-saved registers a call frame keeps (r6..r9).
pub const SCRATCH_REGS: usize = 4;
/// The alignment of host buffers the VM maps (stack, heap, input copies).
pub const HOST_ALIGN: usize = 16;
/// The number of address bits inside one region; the bits above select the region.
pub const VIRTUAL_ADDRESS_BITS: usize = 32;
/// The size of one region of the guest address space.
pub const MM_REGION_SIZE: u64 = 1 << VIRTUAL_ADDRESS_BITS;
/// Where read-only data starts in V3 and V4 programs (region 0).
pub const MM_RODATA_START: u64 = 0;
/// Where the program (text, and in V0 to V2 its read-only data) starts (region 1).
pub const MM_BYTECODE_START: u64 = MM_REGION_SIZE;
/// Where the stack starts (region 2).
pub const MM_STACK_START: u64 = MM_REGION_SIZE * 2;
/// Where the heap starts (region 3).
pub const MM_HEAP_START: u64 = MM_REGION_SIZE * 3;
/// Where the input starts (region 4).
pub const MM_INPUT_START: u64 = MM_REGION_SIZE * 4;

// Instruction classes (the low three bits of the opcode).

/// Class: wide immediate load (`lddw`).
pub const BPF_LD: u8 = 0x00;
/// Class: loads from memory into a register.
pub const BPF_LDX: u8 = 0x01;
/// Class: stores of an immediate.
pub const BPF_ST: u8 = 0x02;
/// Class: stores of a register.
pub const BPF_STX: u8 = 0x03;
/// Class: 32-bit arithmetic, and V2's moved loads.
pub const BPF_ALU32_LOAD: u8 = 0x04;
/// Class: 64-bit jumps, calls and exit.
pub const BPF_JMP64: u8 = 0x05;
/// Class: 32-bit jumps (V3 and V4).
pub const BPF_JMP32: u8 = 0x06;
/// Class: product, quotient and remainder (V2).
pub const BPF_PQR: u8 = 0x06;
/// Class: 64-bit arithmetic, and V2's moved stores.
pub const BPF_ALU64_STORE: u8 = 0x07;

// Sizes of memory operations (bits 3-4), and V2's moved sizes (bits 4-7).

/// Size: four bytes.
pub const BPF_W: u8 = 0x00;
/// Size: two bytes.
pub const BPF_H: u8 = 0x08;
/// Size: one byte.
pub const BPF_B: u8 = 0x10;
/// Size: eight bytes.
pub const BPF_DW: u8 = 0x18;
/// V2 size: one byte.
pub const BPF_1B: u8 = 0x20;
/// V2 size: two bytes.
pub const BPF_2B: u8 = 0x30;
/// V2 size: four bytes.
pub const BPF_4B: u8 = 0x80;
/// V2 size: eight bytes.
pub const BPF_8B: u8 = 0x90;

// Addressing modes (bits 5-7 of the load and store classes).

/// Mode: immediate.
pub const BPF_IMM: u8 = 0x00;
/// Mode: absolute packet access (not in SBPF).
pub const BPF_ABS: u8 = 0x20;
/// Mode: indirect packet access (not in SBPF).
pub const BPF_IND: u8 = 0x40;
/// Mode: memory.
pub const BPF_MEM: u8 = 0x60;

// Operand source (bit 3).

/// Source: the immediate.
pub const BPF_K: u8 = 0x00;
/// Source: the src register.
pub const BPF_X: u8 = 0x08;

// Arithmetic operations (bits 4-7).

/// Operation: add.
pub const BPF_ADD: u8 = 0x00;
/// Operation: subtract.
pub const BPF_SUB: u8 = 0x10;
/// Operation: multiply.
pub const BPF_MUL: u8 = 0x20;
/// Operation: unsigned divide.
pub const BPF_DIV: u8 = 0x30;
/// Operation: or.
pub const BPF_OR: u8 = 0x40;
/// Operation: and.
pub const BPF_AND: u8 = 0x50;
/// Operation: shift left.
pub const BPF_LSH: u8 = 0x60;
/// Operation: logical shift right.
pub const BPF_RSH: u8 = 0x70;
/// Operation: negate.
pub const BPF_NEG: u8 = 0x80;
/// Operation: unsigned remainder.
pub const BPF_MOD: u8 = 0x90;
/// Operation: exclusive or.
pub const BPF_XOR: u8 = 0xa0;
/// Operation: move.
pub const BPF_MOV: u8 = 0xb0;
/// Operation: arithmetic shift right.
pub const BPF_ARSH: u8 = 0xc0;
/// Operation: byte swap.
pub const BPF_END: u8 = 0xd0;
/// Operation: or into the upper half (V2).
pub const BPF_HOR: u8 = 0xf0;

// PQR operations (V2).

/// PQR: high half of the unsigned product.
pub const BPF_UHMUL: u8 = 0x20;
/// PQR: unsigned quotient.
pub const BPF_UDIV: u8 = 0x40;
/// PQR: unsigned remainder.
pub const BPF_UREM: u8 = 0x60;
/// PQR: low half of the product.
pub const BPF_LMUL: u8 = 0x80;
/// PQR: high half of the signed product.
pub const BPF_SHMUL: u8 = 0xA0;
/// PQR: signed quotient.
pub const BPF_SDIV: u8 = 0xC0;
/// PQR: signed remainder.
pub const BPF_SREM: u8 = 0xE0;

// Jump operations (bits 4-7).

/// Jump: always.
pub const BPF_JA: u8 = 0x00;
/// Jump: equal.
pub const BPF_JEQ: u8 = 0x10;
/// Jump: unsigned greater.
pub const BPF_JGT: u8 = 0x20;
/// Jump: unsigned greater or equal.
pub const BPF_JGE: u8 = 0x30;
/// Jump: any common bit.
pub const BPF_JSET: u8 = 0x40;
/// Jump: not equal.
pub const BPF_JNE: u8 = 0x50;
/// Jump: signed greater.
pub const BPF_JSGT: u8 = 0x60;
/// Jump: signed greater or equal.
pub const BPF_JSGE: u8 = 0x70;
/// Call.
pub const BPF_CALL: u8 = 0x80;
/// Exit.
pub const BPF_EXIT: u8 = 0x90;
/// Jump: unsigned less.
pub const BPF_JLT: u8 = 0xa0;
/// Jump: unsigned less or equal.
pub const BPF_JLE: u8 = 0xb0;
/// Jump: signed less.
pub const BPF_JSLT: u8 = 0xc0;
/// Jump: signed less or equal.
pub const BPF_JSLE: u8 = 0xd0;

/// Declares opcode constants, each as the or of its parts, with a doc line.
macro_rules! opcodes {
    ($($(#[doc = $doc:literal])* $name:ident = $($part:ident)|+;)*) => {
        $($(#[doc = $doc])* pub const $name: u8 = $($part)|+;)*
    };
}

opcodes! {
    /// `lddw dst, imm64` (two slots).
    LD_DW_IMM = BPF_LD | BPF_IMM | BPF_DW;
    /// `ldxb dst, [src+off]`.
    LD_B_REG = BPF_LDX | BPF_MEM | BPF_B;
    /// `ldxh dst, [src+off]`.
    LD_H_REG = BPF_LDX | BPF_MEM | BPF_H;
    /// `ldxw dst, [src+off]`.
    LD_W_REG = BPF_LDX | BPF_MEM | BPF_W;
    /// `ldxdw dst, [src+off]`.
    LD_DW_REG = BPF_LDX | BPF_MEM | BPF_DW;
    /// `stb [dst+off], imm`.
    ST_B_IMM = BPF_ST | BPF_MEM | BPF_B;
    /// `sth [dst+off], imm`.
    ST_H_IMM = BPF_ST | BPF_MEM | BPF_H;
    /// `stw [dst+off], imm`.
    ST_W_IMM = BPF_ST | BPF_MEM | BPF_W;
    /// `stdw [dst+off], imm`.
    ST_DW_IMM = BPF_ST | BPF_MEM | BPF_DW;
    /// `stxb [dst+off], src`.
    ST_B_REG = BPF_STX | BPF_MEM | BPF_B;
    /// `stxh [dst+off], src`.
    ST_H_REG = BPF_STX | BPF_MEM | BPF_H;
    /// `stxw [dst+off], src`.
    ST_W_REG = BPF_STX | BPF_MEM | BPF_W;
    /// `stxdw [dst+off], src`.
    ST_DW_REG = BPF_STX | BPF_MEM | BPF_DW;
    /// V2 `ldxb`.
    LD_1B_REG = BPF_ALU32_LOAD | BPF_X | BPF_1B;
    /// V2 `ldxh`.
    LD_2B_REG = BPF_ALU32_LOAD | BPF_X | BPF_2B;
    /// V2 `ldxw`.
    LD_4B_REG = BPF_ALU32_LOAD | BPF_X | BPF_4B;
    /// V2 `ldxdw`.
    LD_8B_REG = BPF_ALU32_LOAD | BPF_X | BPF_8B;
    /// V2 `stb`.
    ST_1B_IMM = BPF_ALU64_STORE | BPF_K | BPF_1B;
    /// V2 `sth`.
    ST_2B_IMM = BPF_ALU64_STORE | BPF_K | BPF_2B;
    /// V2 `stw`.
    ST_4B_IMM = BPF_ALU64_STORE | BPF_K | BPF_4B;
    /// V2 `stdw`.
    ST_8B_IMM = BPF_ALU64_STORE | BPF_K | BPF_8B;
    /// V2 `stxb`.
    ST_1B_REG = BPF_ALU64_STORE | BPF_X | BPF_1B;
    /// V2 `stxh`.
    ST_2B_REG = BPF_ALU64_STORE | BPF_X | BPF_2B;
    /// V2 `stxw`.
    ST_4B_REG = BPF_ALU64_STORE | BPF_X | BPF_4B;
    /// V2 `stxdw`.
    ST_8B_REG = BPF_ALU64_STORE | BPF_X | BPF_8B;
    /// `add32 dst, imm`.
    ADD32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_ADD;
    /// `add32 dst, src`.
    ADD32_REG = BPF_ALU32_LOAD | BPF_X | BPF_ADD;
    /// `sub32 dst, imm`.
    SUB32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_SUB;
    /// `sub32 dst, src`.
    SUB32_REG = BPF_ALU32_LOAD | BPF_X | BPF_SUB;
    /// `mul32 dst, imm`.
    MUL32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_MUL;
    /// `mul32 dst, src`.
    MUL32_REG = BPF_ALU32_LOAD | BPF_X | BPF_MUL;
    /// `div32 dst, imm`.
    DIV32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_DIV;
    /// `div32 dst, src`.
    DIV32_REG = BPF_ALU32_LOAD | BPF_X | BPF_DIV;
    /// `or32 dst, imm`.
    OR32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_OR;
    /// `or32 dst, src`.
    OR32_REG = BPF_ALU32_LOAD | BPF_X | BPF_OR;
    /// `and32 dst, imm`.
    AND32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_AND;
    /// `and32 dst, src`.
    AND32_REG = BPF_ALU32_LOAD | BPF_X | BPF_AND;
    /// `lsh32 dst, imm`.
    LSH32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_LSH;
    /// `lsh32 dst, src`.
    LSH32_REG = BPF_ALU32_LOAD | BPF_X | BPF_LSH;
    /// `rsh32 dst, imm`.
    RSH32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_RSH;
    /// `rsh32 dst, src`.
    RSH32_REG = BPF_ALU32_LOAD | BPF_X | BPF_RSH;
    /// `neg32 dst`.
    NEG32 = BPF_ALU32_LOAD | BPF_NEG;
    /// `mod32 dst, imm`.
    MOD32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_MOD;
    /// `mod32 dst, src`.
    MOD32_REG = BPF_ALU32_LOAD | BPF_X | BPF_MOD;
    /// `xor32 dst, imm`.
    XOR32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_XOR;
    /// `xor32 dst, src`.
    XOR32_REG = BPF_ALU32_LOAD | BPF_X | BPF_XOR;
    /// `mov32 dst, imm`.
    MOV32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_MOV;
    /// `mov32 dst, src`.
    MOV32_REG = BPF_ALU32_LOAD | BPF_X | BPF_MOV;
    /// `arsh32 dst, imm`.
    ARSH32_IMM = BPF_ALU32_LOAD | BPF_K | BPF_ARSH;
    /// `arsh32 dst, src`.
    ARSH32_REG = BPF_ALU32_LOAD | BPF_X | BPF_ARSH;
    /// V2 `lmul32 dst, imm`.
    LMUL32_IMM = BPF_PQR | BPF_K | BPF_LMUL;
    /// V2 `lmul32 dst, src`.
    LMUL32_REG = BPF_PQR | BPF_X | BPF_LMUL;
    /// V2 `udiv32 dst, imm`.
    UDIV32_IMM = BPF_PQR | BPF_K | BPF_UDIV;
    /// V2 `udiv32 dst, src`.
    UDIV32_REG = BPF_PQR | BPF_X | BPF_UDIV;
    /// V2 `urem32 dst, imm`.
    UREM32_IMM = BPF_PQR | BPF_K | BPF_UREM;
    /// V2 `urem32 dst, src`.
    UREM32_REG = BPF_PQR | BPF_X | BPF_UREM;
    /// V2 `sdiv32 dst, imm`.
    SDIV32_IMM = BPF_PQR | BPF_K | BPF_SDIV;
    /// V2 `sdiv32 dst, src`.
    SDIV32_REG = BPF_PQR | BPF_X | BPF_SDIV;
    /// V2 `srem32 dst, imm`.
    SREM32_IMM = BPF_PQR | BPF_K | BPF_SREM;
    /// V2 `srem32 dst, src`.
    SREM32_REG = BPF_PQR | BPF_X | BPF_SREM;
    /// `le16/32/64 dst` (the immediate gives the width).
    LE = BPF_ALU32_LOAD | BPF_K | BPF_END;
    /// `be16/32/64 dst` (the immediate gives the width).
    BE = BPF_ALU32_LOAD | BPF_X | BPF_END;
    /// `add64 dst, imm`.
    ADD64_IMM = BPF_ALU64_STORE | BPF_K | BPF_ADD;
    /// `add64 dst, src`.
    ADD64_REG = BPF_ALU64_STORE | BPF_X | BPF_ADD;
    /// `sub64 dst, imm`.
    SUB64_IMM = BPF_ALU64_STORE | BPF_K | BPF_SUB;
    /// `sub64 dst, src`.
    SUB64_REG = BPF_ALU64_STORE | BPF_X | BPF_SUB;
    /// `mul64 dst, imm`.
    MUL64_IMM = BPF_ALU64_STORE | BPF_K | BPF_MUL;
    /// `mul64 dst, src`.
    MUL64_REG = BPF_ALU64_STORE | BPF_X | BPF_MUL;
    /// `div64 dst, imm`.
    DIV64_IMM = BPF_ALU64_STORE | BPF_K | BPF_DIV;
    /// `div64 dst, src`.
    DIV64_REG = BPF_ALU64_STORE | BPF_X | BPF_DIV;
    /// `or64 dst, imm`.
    OR64_IMM = BPF_ALU64_STORE | BPF_K | BPF_OR;
    /// `or64 dst, src`.
    OR64_REG = BPF_ALU64_STORE | BPF_X | BPF_OR;
    /// `and64 dst, imm`.
    AND64_IMM = BPF_ALU64_STORE | BPF_K | BPF_AND;
    /// `and64 dst, src`.
    AND64_REG = BPF_ALU64_STORE | BPF_X | BPF_AND;
    /// `lsh64 dst, imm`.
    LSH64_IMM = BPF_ALU64_STORE | BPF_K | BPF_LSH;
    /// `lsh64 dst, src`.
    LSH64_REG = BPF_ALU64_STORE | BPF_X | BPF_LSH;
    /// `rsh64 dst, imm`.
    RSH64_IMM = BPF_ALU64_STORE | BPF_K | BPF_RSH;
    /// `rsh64 dst, src`.
    RSH64_REG = BPF_ALU64_STORE | BPF_X | BPF_RSH;
    /// `neg64 dst`.
    NEG64 = BPF_ALU64_STORE | BPF_NEG;
    /// `mod64 dst, imm`.
    MOD64_IMM = BPF_ALU64_STORE | BPF_K | BPF_MOD;
    /// `mod64 dst, src`.
    MOD64_REG = BPF_ALU64_STORE | BPF_X | BPF_MOD;
    /// `xor64 dst, imm`.
    XOR64_IMM = BPF_ALU64_STORE | BPF_K | BPF_XOR;
    /// `xor64 dst, src`.
    XOR64_REG = BPF_ALU64_STORE | BPF_X | BPF_XOR;
    /// `mov64 dst, imm`.
    MOV64_IMM = BPF_ALU64_STORE | BPF_K | BPF_MOV;
    /// `mov64 dst, src`.
    MOV64_REG = BPF_ALU64_STORE | BPF_X | BPF_MOV;
    /// `arsh64 dst, imm`.
    ARSH64_IMM = BPF_ALU64_STORE | BPF_K | BPF_ARSH;
    /// `arsh64 dst, src`.
    ARSH64_REG = BPF_ALU64_STORE | BPF_X | BPF_ARSH;
    /// V2 `hor64 dst, imm`.
    HOR64_IMM = BPF_ALU64_STORE | BPF_K | BPF_HOR;
    /// V2 `lmul64 dst, imm`.
    LMUL64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_LMUL;
    /// V2 `lmul64 dst, src`.
    LMUL64_REG = BPF_PQR | BPF_B | BPF_X | BPF_LMUL;
    /// V2 `uhmul64 dst, imm`.
    UHMUL64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_UHMUL;
    /// V2 `uhmul64 dst, src`.
    UHMUL64_REG = BPF_PQR | BPF_B | BPF_X | BPF_UHMUL;
    /// V2 `udiv64 dst, imm`.
    UDIV64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_UDIV;
    /// V2 `udiv64 dst, src`.
    UDIV64_REG = BPF_PQR | BPF_B | BPF_X | BPF_UDIV;
    /// V2 `urem64 dst, imm`.
    UREM64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_UREM;
    /// V2 `urem64 dst, src`.
    UREM64_REG = BPF_PQR | BPF_B | BPF_X | BPF_UREM;
    /// V2 `shmul64 dst, imm`.
    SHMUL64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_SHMUL;
    /// V2 `shmul64 dst, src`.
    SHMUL64_REG = BPF_PQR | BPF_B | BPF_X | BPF_SHMUL;
    /// V2 `sdiv64 dst, imm`.
    SDIV64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_SDIV;
    /// V2 `sdiv64 dst, src`.
    SDIV64_REG = BPF_PQR | BPF_B | BPF_X | BPF_SDIV;
    /// V2 `srem64 dst, imm`.
    SREM64_IMM = BPF_PQR | BPF_B | BPF_K | BPF_SREM;
    /// V2 `srem64 dst, src`.
    SREM64_REG = BPF_PQR | BPF_B | BPF_X | BPF_SREM;
    /// V3 `jeq32 dst, imm, +off`.
    JEQ32_IMM = BPF_JMP32 | BPF_K | BPF_JEQ;
    /// V3 `jeq32 dst, src, +off`.
    JEQ32_REG = BPF_JMP32 | BPF_X | BPF_JEQ;
    /// V3 `jgt32 dst, imm, +off`.
    JGT32_IMM = BPF_JMP32 | BPF_K | BPF_JGT;
    /// V3 `jgt32 dst, src, +off`.
    JGT32_REG = BPF_JMP32 | BPF_X | BPF_JGT;
    /// V3 `jge32 dst, imm, +off`.
    JGE32_IMM = BPF_JMP32 | BPF_K | BPF_JGE;
    /// V3 `jge32 dst, src, +off`.
    JGE32_REG = BPF_JMP32 | BPF_X | BPF_JGE;
    /// V3 `jlt32 dst, imm, +off`.
    JLT32_IMM = BPF_JMP32 | BPF_K | BPF_JLT;
    /// V3 `jlt32 dst, src, +off`.
    JLT32_REG = BPF_JMP32 | BPF_X | BPF_JLT;
    /// V3 `jle32 dst, imm, +off`.
    JLE32_IMM = BPF_JMP32 | BPF_K | BPF_JLE;
    /// V3 `jle32 dst, src, +off`.
    JLE32_REG = BPF_JMP32 | BPF_X | BPF_JLE;
    /// V3 `jset32 dst, imm, +off`.
    JSET32_IMM = BPF_JMP32 | BPF_K | BPF_JSET;
    /// V3 `jset32 dst, src, +off`.
    JSET32_REG = BPF_JMP32 | BPF_X | BPF_JSET;
    /// V3 `jne32 dst, imm, +off`.
    JNE32_IMM = BPF_JMP32 | BPF_K | BPF_JNE;
    /// V3 `jne32 dst, src, +off`.
    JNE32_REG = BPF_JMP32 | BPF_X | BPF_JNE;
    /// V3 `jsgt32 dst, imm, +off`.
    JSGT32_IMM = BPF_JMP32 | BPF_K | BPF_JSGT;
    /// V3 `jsgt32 dst, src, +off`.
    JSGT32_REG = BPF_JMP32 | BPF_X | BPF_JSGT;
    /// V3 `jsge32 dst, imm, +off`.
    JSGE32_IMM = BPF_JMP32 | BPF_K | BPF_JSGE;
    /// V3 `jsge32 dst, src, +off`.
    JSGE32_REG = BPF_JMP32 | BPF_X | BPF_JSGE;
    /// V3 `jslt32 dst, imm, +off`.
    JSLT32_IMM = BPF_JMP32 | BPF_K | BPF_JSLT;
    /// V3 `jslt32 dst, src, +off`.
    JSLT32_REG = BPF_JMP32 | BPF_X | BPF_JSLT;
    /// V3 `jsle32 dst, imm, +off`.
    JSLE32_IMM = BPF_JMP32 | BPF_K | BPF_JSLE;
    /// V3 `jsle32 dst, src, +off`.
    JSLE32_REG = BPF_JMP32 | BPF_X | BPF_JSLE;
    /// `ja +off`.
    JA = BPF_JMP64 | BPF_JA;
    /// `jeq dst, imm, +off`.
    JEQ64_IMM = BPF_JMP64 | BPF_K | BPF_JEQ;
    /// `jeq dst, src, +off`.
    JEQ64_REG = BPF_JMP64 | BPF_X | BPF_JEQ;
    /// `jgt dst, imm, +off`.
    JGT64_IMM = BPF_JMP64 | BPF_K | BPF_JGT;
    /// `jgt dst, src, +off`.
    JGT64_REG = BPF_JMP64 | BPF_X | BPF_JGT;
    /// `jge dst, imm, +off`.
    JGE64_IMM = BPF_JMP64 | BPF_K | BPF_JGE;
    /// `jge dst, src, +off`.
    JGE64_REG = BPF_JMP64 | BPF_X | BPF_JGE;
    /// `jlt dst, imm, +off`.
    JLT64_IMM = BPF_JMP64 | BPF_K | BPF_JLT;
    /// `jlt dst, src, +off`.
    JLT64_REG = BPF_JMP64 | BPF_X | BPF_JLT;
    /// `jle dst, imm, +off`.
    JLE64_IMM = BPF_JMP64 | BPF_K | BPF_JLE;
    /// `jle dst, src, +off`.
    JLE64_REG = BPF_JMP64 | BPF_X | BPF_JLE;
    /// `jset dst, imm, +off`.
    JSET64_IMM = BPF_JMP64 | BPF_K | BPF_JSET;
    /// `jset dst, src, +off`.
    JSET64_REG = BPF_JMP64 | BPF_X | BPF_JSET;
    /// `jne dst, imm, +off`.
    JNE64_IMM = BPF_JMP64 | BPF_K | BPF_JNE;
    /// `jne dst, src, +off`.
    JNE64_REG = BPF_JMP64 | BPF_X | BPF_JNE;
    /// `jsgt dst, imm, +off`.
    JSGT64_IMM = BPF_JMP64 | BPF_K | BPF_JSGT;
    /// `jsgt dst, src, +off`.
    JSGT64_REG = BPF_JMP64 | BPF_X | BPF_JSGT;
    /// `jsge dst, imm, +off`.
    JSGE64_IMM = BPF_JMP64 | BPF_K | BPF_JSGE;
    /// `jsge dst, src, +off`.
    JSGE64_REG = BPF_JMP64 | BPF_X | BPF_JSGE;
    /// `jslt dst, imm, +off`.
    JSLT64_IMM = BPF_JMP64 | BPF_K | BPF_JSLT;
    /// `jslt dst, src, +off`.
    JSLT64_REG = BPF_JMP64 | BPF_X | BPF_JSLT;
    /// `jsle dst, imm, +off`.
    JSLE64_IMM = BPF_JMP64 | BPF_K | BPF_JSLE;
    /// `jsle dst, src, +off`.
    JSLE64_REG = BPF_JMP64 | BPF_X | BPF_JSLE;
    /// `call imm` (a syscall or an internal function).
    CALL_IMM = BPF_JMP64 | BPF_CALL;
    /// `callx reg`.
    CALL_REG = BPF_JMP64 | BPF_X | BPF_CALL;
    /// `exit`.
    EXIT = BPF_JMP64 | BPF_EXIT;
}

/// Selects the class bits of an opcode.
pub const BPF_CLS_MASK: u8 = 0x07;
/// Selects the operation bits of an arithmetic opcode.
pub const BPF_ALU_OP_MASK: u8 = 0xf0;

/// One instruction as its fields, with the slot index it came from. For `lddw`, `imm` holds
/// the whole 64-bit value once [`augment_lddw_unchecked`] has joined the second slot.
#[derive(PartialEq, Eq, Clone, Default)]
pub struct Insn {
    /// The slot index.
    pub ptr: usize,
    /// The opcode.
    pub opc: u8,
    /// The destination register field.
    pub dst: u8,
    /// The source register field.
    pub src: u8,
    /// The signed 16-bit offset.
    pub off: i16,
    /// The immediate, sign-extended from 32 bits (64 bits for a joined `lddw`).
    pub imm: i64,
}

impl fmt::Debug for Insn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "Insn {{ ptr: 0x{:08x?}, opc: 0x{:02x?}, dst: {}, src: {}, off: 0x{:04x?}, imm: 0x{:08x?} }}",
            self.ptr, self.opc, self.dst, self.src, self.off, self.imm
        )
    }
}

impl Insn {
    /// The instruction's eight bytes (the low 32 bits of the immediate).
    pub fn to_array(&self) -> [u8; INSN_SIZE] {
        let off = self.off.to_le_bytes();
        let imm = (self.imm as u32).to_le_bytes();
        [
            self.opc,
            (self.src << 4) | self.dst,
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// The instruction's eight bytes as a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        self.to_array().to_vec()
    }
}

/// Whether slot `pc` lies wholly inside `prog`.
pub fn is_pc_in_program(prog: &[u8], pc: usize) -> bool {
    pc.saturating_add(1).saturating_mul(INSN_SIZE) <= prog.len()
}

/// The instruction at slot `pc` of `prog`.
///
/// # Panics
///
/// When the slot does not lie inside `prog` (as the real crate's indexing does).
pub fn get_insn(prog: &[u8], pc: usize) -> Insn {
    get_insn_unchecked(prog, pc)
}

/// The instruction at slot `pc` of `prog`, without a separate range check.
///
/// # Panics
///
/// When the slot does not lie inside `prog`.
#[allow(
    clippy::indexing_slicing,
    reason = "the documented panic of the real API"
)]
pub fn get_insn_unchecked(prog: &[u8], pc: usize) -> Insn {
    let start = pc * INSN_SIZE;
    let bytes: &[u8] = &prog[start..start + INSN_SIZE];
    Insn {
        ptr: pc,
        opc: bytes[0],
        dst: bytes[1] & 0x0f,
        src: bytes[1] >> 4,
        off: i16::from_le_bytes([bytes[2], bytes[3]]),
        imm: i64::from(i32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
    }
}

/// Joins the second slot of an `lddw` at `insn.ptr` into `insn.imm`: the low half from the
/// first slot, the high half from the second's immediate.
///
/// # Panics
///
/// When the second slot does not lie inside `prog`.
pub fn augment_lddw_unchecked(prog: &[u8], insn: &mut Insn) {
    let high = get_insn_unchecked(prog, insn.ptr + 1).imm as u64;
    insn.imm = ((insn.imm as u64 & 0xffff_ffff) | (high << 32)) as i64;
}

/// The 32-bit key of a symbol name (Murmur3-32 with seed 0), as syscalls and functions are
/// registered under.
pub fn hash_symbol_name(name: &[u8]) -> u32 {
    bpfvm_isa::hash_symbol_name(name)
}
