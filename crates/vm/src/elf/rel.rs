//! Linking a relocatable object (ET_REL from `clang -target bpf -c`) into one program image,
//! in either dialect.
//!
//! The reference cannot load these (it wants ET_DYN, and Debian's lld cannot link BPF
//! relocations), so this is our own small static linker, run in memory:
//!
//! 1. **Layout** ([`layout`]). Executable sections first (the text), then read-only data, then
//!    writable data, each 8-aligned, at the start of the program region (`MM_PROGRAM_START`
//!    in the standard address map). Sections that are not allocated (DWARF, BTF, symbols,
//!    `.llvm_addrsig`, any name of any length) are ignored, and so are their relocations.
//! 2. **Relocations** of the loaded sections ([`link`]): lddw addresses, calls, data
//!    addresses; calls to undefined functions are collected as imports.
//! 3. **Calls, by dialect.**
//!    - sBPF: relative calls are fixed up to function keys exactly as for shared objects
//!      (pcs with static syscalls, hashes otherwise), and an import becomes a syscall whose
//!      key is Murmur3 of its name (`UnresolvedSymbol` with `reject_broken_elfs` when no
//!      syscall has it).
//!    - eBPF: local calls stay pc-relative (src 1) and `call imm` without a relocation stays
//!      a helper call by number; an import becomes a call of the registered helper of that
//!      name (`UnresolvedSymbol` when there is none: eBPF has no name hashing to fall back
//!      on). clang up to version 18 writes `callx`'s register in the immediate, as sBPF
//!      does; such a `callx` (dst 0, imm naming r1..r10) gets its register moved to dst.
//! 4. **Functions.** Every FUNC symbol of the text is registered.
//! 5. **Entry:** the function named `entrypoint`; else the first function of the first
//!    executable section not named `.text` (a program section such as `xdp` or `socket`,
//!    whose helpers live in `.text`); else the lowest-addressed function.
//!
//! **Address map.** One program region at the loader's program address (`MM_PROGRAM_START`
//! in the standard map): text, then `.rodata*`, then `.data*`/`.bss*`. In sBPF a non-empty writable section is `WritableSectionNotSupported`
//! (Solana's toolchain forbids writable globals; `.data.rel*` counts as read-only), and the
//! region is read-only. In eBPF an object with writable data gets a writable program region
//! ([`ProgramRegion::Writable`]): each VM maps its own copy of the whole image, so globals
//! keep their values for the life of the VM, and `R_BPF_64_64` addresses of `.data`/`.bss`
//! resolve into that copy. The whole region is writable then, `.rodata` included (as in
//! uBPF); an eBPF object without writable data keeps a read-only region.
//!
//! The SBFv2 gating of `e_flags` applies in sBPF only. Memory is bounded: the image may not
//! exceed [`layout::image_limit`] of the file size.

mod layout;
mod link;

use super::load::check_capabilities;
use super::parse::Elf64;
use crate::load_error::LoadError;
use crate::program::{
    fixup_relative_calls, Executable, ExecutableParts, FunctionRegistry, Loader, ProgramRegion,
    TextPlacement, ENTRYPOINT,
};
use bpfvm_isa::{decode, encode, hash_symbol_name, Dialect, Insn, Reg, Slot, SLOT_SIZE};
use layout::{lay_out, WritableData};
use link::{FunctionSymbol, Import, Linker};
use object::elf::{SHF_ALLOC, SHF_EXECINSTR};
use object::LittleEndian as LE;
use std::sync::Arc;

/// Links and loads a relocatable object whose identification was checked.
pub(crate) fn load_relocatable<C>(
    elf: &Elf64<'_>,
    loader: Arc<Loader<C>>,
    dialect: Dialect,
) -> Result<Executable<C>, LoadError> {
    let policy = match dialect {
        Dialect::Sbpf => {
            check_capabilities(&loader.config, elf.header().e_flags.get(LE))?;
            WritableData::Refused
        }
        Dialect::Sbpf26(version) => {
            super::sbpf26::check_version(&loader.config, version, elf.header().e_flags.get(LE))?;
            WritableData::Refused
        }
        Dialect::Ebpf => WritableData::Mapped,
    };
    let program = loader.layout(dialect).map.program;
    let mut linker = Linker::new(elf, lay_out(elf, policy)?, dialect, program);
    linker.relocate_all()?;
    let function_list = linker.functions()?;
    let mut functions = FunctionRegistry::new();
    for function in &function_list {
        if function.name != ENTRYPOINT {
            functions.register(&loader, dialect, function.pc, &function.name)?;
        }
    }
    let Linker {
        layout, imports, ..
    } = linker;
    let text_len = layout.text_len;
    let mut image = layout.image;
    let text = image
        .get_mut(..text_len)
        .ok_or(LoadError::ValueOutOfBounds)?;
    match dialect {
        Dialect::Sbpf | Dialect::Sbpf26(_) => {
            fixup_relative_calls(text, &mut functions, &loader, dialect)?;
            resolve_imports(text, &imports, |name| {
                let key = hash_symbol_name(name.as_bytes());
                let known = loader.syscalls.contains(key);
                (known || !loader.config.reject_broken_elfs).then_some(key)
            })?;
        }
        Dialect::Ebpf => {
            resolve_imports(text, &imports, |name| {
                loader
                    .syscalls
                    .iter()
                    .find(|(_, syscall)| syscall.name == name)
                    .map(|(key, _)| key)
            })?;
            move_callx_registers(text);
        }
    }
    let entry_pc = entry_pc(elf, &function_list);
    if dialect == Dialect::Sbpf && !loader.config.static_syscalls {
        functions.remove(hash_symbol_name(ENTRYPOINT.as_bytes()));
    }
    functions.register(&loader, dialect, entry_pc, ENTRYPOINT)?;
    let parts = ExecutableParts {
        text_placement: TextPlacement::Mapped,
        ro_data: image,
        ro_start: 0,
        ro_vaddr: program,
        text_offset: 0,
        text_len,
        entry_pc,
        functions,
        program_region: match layout.has_writable_data {
            true => ProgramRegion::Writable,
            false => ProgramRegion::ReadOnly,
        },
    };
    Executable::from_parts(loader, dialect, parts)
}

/// Writes each import's call as `call key` (src 0), with the key `key_of` gives its name, or
/// fails with `UnresolvedSymbol` when it gives none.
fn resolve_imports(
    text: &mut [u8],
    imports: &[Import],
    key_of: impl Fn(&str) -> Option<u32>,
) -> Result<(), LoadError> {
    for import in imports {
        let key = key_of(&import.name).ok_or_else(|| LoadError::UnresolvedSymbol {
            name: import.name.clone(),
            pc: import.at / SLOT_SIZE,
            offset: import.at as u64,
        })?;
        let bytes = text
            .get_mut(import.at..import.at.saturating_add(SLOT_SIZE))
            .ok_or(LoadError::ValueOutOfBounds)?;
        let mut buf = [0u8; SLOT_SIZE];
        buf.copy_from_slice(bytes);
        let slot = Slot {
            src: 0,
            imm: key as i32,
            ..Slot::from_bytes(buf)
        };
        bytes.copy_from_slice(&slot.to_bytes());
    }
    Ok(())
}

/// Rewrites every `callx` that names its register in the immediate (the sBPF encoding, which
/// clang before version 19 also writes for BPF) into the eBPF encoding, with the register in
/// dst. A `callx` whose dst is 0 and whose immediate is a guest register r1..r10 can only
/// mean the register in the immediate.
fn move_callx_registers(text: &mut [u8]) {
    let slots = Slot::slots_of(text);
    let mut pc = 0;
    while pc < slots.len() {
        let ebpf = decode(&slots, pc, Dialect::Ebpf);
        if let (Ok(Insn::CallReg { reg: Reg::R0 }), Ok(Insn::CallReg { reg })) =
            (ebpf, decode(&slots, pc, Dialect::Sbpf))
        {
            let in_imm = (1..=Reg::R10.number()).contains(&reg.number());
            let encoded = encode(&Insn::CallReg { reg }, Dialect::Ebpf);
            let target = text.get_mut(pc * SLOT_SIZE..(pc + 1) * SLOT_SIZE);
            if let (true, Ok([slot]), Some(target)) = (in_imm, encoded.as_deref(), target) {
                target.copy_from_slice(&slot.to_bytes());
            }
        }
        pc += ebpf.map_or(1, |insn| insn.slot_count());
    }
}

/// The entry slot: `entrypoint`, else the first function of the first program section (an
/// executable section not named `.text`), else the lowest function, else 0.
fn entry_pc(elf: &Elf64<'_>, functions: &[FunctionSymbol]) -> usize {
    if let Some(function) = functions.iter().find(|f| f.name == ENTRYPOINT) {
        return function.pc;
    }
    let program_section = elf
        .section_headers()
        .iter()
        .enumerate()
        .filter(|(_, section)| {
            let executable = u64::from(SHF_ALLOC | SHF_EXECINSTR);
            section.sh_flags.get(LE) & executable == executable
        })
        .find(|(_, section)| elf.section_name(section) != Some(".text"))
        .map(|(index, _)| index);
    let lowest_in = |section: Option<usize>| {
        functions
            .iter()
            .filter(|f| section.is_none_or(|section| f.section == section))
            .map(|f| f.pc)
            .min()
    };
    program_section
        .and_then(|section| lowest_in(Some(section)))
        .or_else(|| lowest_in(None))
        .unwrap_or(0)
}
