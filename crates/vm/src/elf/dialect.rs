//! Which preset an ELF file asks for: the rule behind the CLI's `--config auto`.
//!
//! - A relocatable object (ET_REL without program headers) for EM_BPF with `e_flags` 0 gets
//!   [`Preset::Ebpf`] when it needs that dialect, which is when any of these holds:
//!   - an instruction of an executable section means something else in sBPF, or nothing:
//!     JMP32, signed division and modulo, `movsx`, sign-extending loads, atomics, `bswap`,
//!     `ja32` (what `-mcpu=v3` and `v4` emit);
//!   - a 32-bit `add`, `sub` or `mul`, whose result sBPF sign-extends and eBPF zero-extends
//!     (what `-mcpu=v3`'s ALU32 emits);
//!   - a helper call by number: `call imm` with src 0 and no relocation (`(void *)N` function
//!     pointers, as kernel-style programs declare helpers);
//!   - writable data: a non-empty allocated writable section other than `.data.rel*`.
//!
//!   `callx` with its register in the immediate (how clang up to 18 writes it for BPF) is not
//!   a reason: both dialects load it.
//! - Every other ELF runs as the network runs it today: the SBPF version its `e_flags` name
//!   (0 to 4, [`Preset::Sbpf26`]: solana-sbpf 0.26's semantics with Agave's settings).
//!   Any other value is refused as 0.26 refuses it (`UnsupportedSBPFVersion`); for 0x20, the
//!   SBFv2 flag of 2022, the error says that `--config default` (the 2022 semantics) runs
//!   the file. The 2022 profiles are chosen by name only.
//!
//! The scan reads each instruction once and never fails on a malformed table: what it cannot
//! read is no reason, and the loader reports the problem.

use super::parse::{file_range, Elf64, Reading, Shdr};
use super::sbpf26::e_flags;
use crate::config::{Config, Preset};
use crate::load_error::LoadError;
use bpfvm_isa::{decode, AluOp, Dialect, Insn, Reg, SbpfVersion, Slot, Width, SLOT_SIZE};
use object::elf::{EM_BPF, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_REL};
use object::LittleEndian as LE;

/// The preset an ELF file asks for (see the module doc).
pub fn preset_for(bytes: &[u8]) -> Result<Preset, LoadError> {
    let flags = e_flags(bytes)?;
    // A file the reader cannot parse is no eBPF object: the version's loader reports why.
    if let Ok(elf) = Elf64::parse(bytes) {
        let header = elf.header();
        let bpf_object = elf.reading() == Reading::Object && header.e_machine.get(LE) == EM_BPF;
        if bpf_object && flags == 0 && needs_ebpf(&elf) {
            return Ok(Preset::Ebpf);
        }
    }
    SbpfVersion::from_e_flags(flags)
        .map(Preset::Sbpf26)
        .ok_or(LoadError::UnsupportedSBPFVersion {
            e_flags: flags,
            enabled: Config::agave().enabled_sbpf_versions,
        })
}

fn has_flags(section: &Shdr, flags: u32) -> bool {
    section.sh_flags.get(LE) & u64::from(flags) == u64::from(flags)
}

/// Whether an object needs the eBPF dialect.
fn needs_ebpf(elf: &Elf64<'_>) -> bool {
    let sections = elf.section_headers();
    sections.iter().enumerate().any(|(index, section)| {
        if has_flags(section, SHF_ALLOC | SHF_EXECINSTR) {
            text_needs_ebpf(elf, index, section)
        } else {
            has_flags(section, SHF_ALLOC | SHF_WRITE)
                && section.sh_size.get(LE) > 0
                && !elf
                    .section_name(section)
                    .is_some_and(|name| name.starts_with(".data.rel"))
        }
    })
}

/// Whether the executable section at `index` holds an instruction only eBPF runs as written.
fn text_needs_ebpf(elf: &Elf64<'_>, index: usize, section: &Shdr) -> bool {
    let Some(bytes) = elf.slice(file_range(section)) else {
        return false;
    };
    let relocated = relocated_offsets(elf, index);
    let slots = Slot::slots_of(bytes);
    let mut pc = 0;
    while pc < slots.len() {
        let ebpf = decode(&slots, pc, Dialect::Ebpf);
        let sbpf = decode(&slots, pc, Dialect::Sbpf);
        let needs = match ebpf {
            Ok(insn) => {
                let offset = (pc * SLOT_SIZE) as u64;
                differs(insn, sbpf.ok()) || is_helper_call(insn, offset, &relocated)
            }
            Err(_) => false,
        };
        if needs {
            return true;
        }
        pc += ebpf.map_or(1, |insn| insn.slot_count());
    }
    false
}

/// Whether an instruction means something else in sBPF (or nothing), or computes a 32-bit
/// result sBPF extends differently; `callx` in its immediate form does not count.
fn differs(ebpf: Insn, sbpf: Option<Insn>) -> bool {
    match (ebpf, sbpf) {
        (Insn::CallReg { reg: Reg::R0 }, Some(Insn::CallReg { .. })) => false,
        (
            Insn::Alu {
                width: Width::W32,
                op: AluOp::Add | AluOp::Sub | AluOp::Mul,
                ..
            },
            _,
        ) => true,
        (ebpf, sbpf) => Some(ebpf) != sbpf,
    }
}

/// Whether `insn` at byte `offset` is a helper call by number (src 0, no relocation).
fn is_helper_call(insn: Insn, offset: u64, relocated: &[u64]) -> bool {
    matches!(insn, Insn::Call { src: 0, .. }) && relocated.binary_search(&offset).is_err()
}

/// The sorted offsets that relocations patch in the section at `index` (empty when a table
/// cannot be read).
fn relocated_offsets(elf: &Elf64<'_>, index: usize) -> Vec<u64> {
    let mut offsets: Vec<u64> = elf
        .section_headers()
        .iter()
        .filter(|section| {
            section.sh_type.get(LE) == SHT_REL && section.sh_info.get(LE) as usize == index
        })
        .filter_map(|section| elf.rel_table_of(section).ok())
        .flatten()
        .map(|relocation| relocation.r_offset.get(LE))
        .collect();
    offsets.sort_unstable();
    offsets
}
