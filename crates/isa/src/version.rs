//! The SBPF versions of solana-sbpf 0.26 (V0 to V4) as data: one table says which feature
//! each version has, and every rule that differs between versions asks it.
//!
//! A feature is one observable change a Solana Improvement Document (SIMD) introduced; a
//! version is the set of features it has (spec `sbpf-0.26.md` §1.2). The table
//! ([`FEATURE_TABLE`]) has one row per feature and one column per version, so what a version
//! means can be read in one place, and a rule anywhere in the engine asks
//! [`SbpfVersion::has`] (or the named predicate that wraps it) instead of matching on the
//! version. V3 is not a superset of V2: it starts again from the V0 instruction set.

use core::fmt;

/// An SBPF version as solana-sbpf 0.26 defines it; an ELF file names it in `e_flags`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SbpfVersion {
    /// The original instruction set, with 0.26's semantics (spec §1.11 lists where that
    /// differs from solana_rbpf 0.2.38).
    V0,
    /// V0 with dynamic stack frames (SIMD-0166).
    V1,
    /// V1 with the arithmetic (SIMD-0174) and encoding (SIMD-0173) changes.
    V2,
    /// The V0 instruction set with static syscalls (SIMD-0178), the strict ELF format
    /// (SIMD-0189), JMP32 and `callx` in dst (SIMD-0377).
    V3,
    /// V3 with the aligned memory mapping forced (SIMD-0177).
    V4,
}

/// One change a SIMD made, which some versions have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// SIMD-0166: `add64 r10, imm` moves the frame pointer; calls leave it alone.
    ManualStackFrameBump,
    /// SIMD-0166: fixed frames may be followed by unmapped gaps (when the host enables them).
    StackFrameGaps,
    /// SIMD-0174: the product/quotient/remainder class replaces mul, div and mod.
    Pqr,
    /// SIMD-0174: add32/sub32 zero-extend; `mov32 dst, src` sign-extends.
    ExplicitSignExtension,
    /// SIMD-0174: `sub dst, imm` computes `imm - dst`.
    SwapSubImmOperands,
    /// SIMD-0174: no `neg`.
    DisableNeg,
    /// SIMD-0173: `callx` names its register in the src field.
    CallxUsesSrc,
    /// SIMD-0173: no `lddw`; `hor64` sets the upper half instead.
    DisableLddw,
    /// SIMD-0173: no `le`.
    DisableLe,
    /// SIMD-0173: loads and stores move to the ALU classes' free opcodes.
    MoveMemoryClasses,
    /// SIMD-0178: `call` src 0 is a syscall by key, src 1 a pc-relative call.
    StaticSyscalls,
    /// SIMD-0189: the strict program-header ELF loader.
    StricterElfHeaders,
    /// SIMD-0189: read-only data at address 0, bytecode unreadable at `1 << 32`.
    LowerRodataVaddr,
    /// SIMD-0377: the JMP32 class.
    Jmp32,
    /// SIMD-0377: `callx` names its register in the dst field.
    CallxUsesDst,
    /// SIMD-0177: the aligned memory mapping is forced.
    AlignedMemoryMapping,
}

/// Which versions have each feature: one row per feature, columns V0 to V4.
pub const FEATURE_TABLE: [(Feature, [bool; 5]); 16] = {
    const N: bool = false;
    const Y: bool = true;
    [
        //                                   V0 V1 V2 V3 V4
        (Feature::ManualStackFrameBump, [N, Y, Y, N, N]),
        (Feature::StackFrameGaps, [Y, N, N, N, N]),
        (Feature::Pqr, [N, N, Y, N, N]),
        (Feature::ExplicitSignExtension, [N, N, Y, N, N]),
        (Feature::SwapSubImmOperands, [N, N, Y, N, N]),
        (Feature::DisableNeg, [N, N, Y, N, N]),
        (Feature::CallxUsesSrc, [N, N, Y, N, N]),
        (Feature::DisableLddw, [N, N, Y, N, N]),
        (Feature::DisableLe, [N, N, Y, N, N]),
        (Feature::MoveMemoryClasses, [N, N, Y, N, N]),
        (Feature::StaticSyscalls, [N, N, N, Y, Y]),
        (Feature::StricterElfHeaders, [N, N, N, Y, Y]),
        (Feature::LowerRodataVaddr, [N, N, N, Y, Y]),
        (Feature::Jmp32, [N, N, N, Y, Y]),
        (Feature::CallxUsesDst, [N, N, N, Y, Y]),
        (Feature::AlignedMemoryMapping, [N, N, N, N, Y]),
    ]
};

/// Where `callx` names its register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallxField {
    /// In the immediate (V0, V1, and the 2022 dialect).
    Imm,
    /// In the src field (V2).
    Src,
    /// In the dst field (V3, V4, and eBPF).
    Dst,
}

impl SbpfVersion {
    /// Every version, oldest first.
    pub const ALL: [SbpfVersion; 5] = [
        SbpfVersion::V0,
        SbpfVersion::V1,
        SbpfVersion::V2,
        SbpfVersion::V3,
        SbpfVersion::V4,
    ];

    /// The version's column in [`FEATURE_TABLE`].
    const fn column(self) -> usize {
        self as usize
    }

    /// Whether the version has `feature`: a lookup in [`FEATURE_TABLE`].
    pub const fn has(self, feature: Feature) -> bool {
        let mut row = 0;
        while row < FEATURE_TABLE.len() {
            let (name, columns) = FEATURE_TABLE[row];
            if name as u8 == feature as u8 {
                return columns[self.column()];
            }
            row += 1;
        }
        false
    }

    /// The `e_flags` value an ELF file of this version carries (0 to 4).
    pub const fn e_flags(self) -> u32 {
        self as u32
    }

    /// The version an ELF file's `e_flags` names; `None` for every other value, which
    /// solana-sbpf 0.26 calls reserved (among them 0x20, the SBFv2 flag of 0.2.38).
    pub fn from_e_flags(e_flags: u32) -> Option<SbpfVersion> {
        SbpfVersion::ALL
            .into_iter()
            .find(|version| version.e_flags() == e_flags)
    }

    /// The version named `v0`..`v4` (case-insensitive).
    pub fn from_name(name: &str) -> Option<SbpfVersion> {
        SbpfVersion::ALL
            .into_iter()
            .find(|version| version.name().eq_ignore_ascii_case(name))
    }

    /// The lower-case name, `v0` to `v4`, as profiles are named.
    pub const fn name(self) -> &'static str {
        match self {
            SbpfVersion::V0 => "v0",
            SbpfVersion::V1 => "v1",
            SbpfVersion::V2 => "v2",
            SbpfVersion::V3 => "v3",
            SbpfVersion::V4 => "v4",
        }
    }

    /// Calls leave r10 alone and the program moves it with `add64 r10, imm`.
    pub const fn manual_stack_frame_bump(self) -> bool {
        self.has(Feature::ManualStackFrameBump)
    }

    /// Fixed frames are followed by gaps when the host enables them.
    pub const fn stack_frame_gaps(self) -> bool {
        self.has(Feature::StackFrameGaps)
    }

    /// The PQR class exists and the ALU's mul, div and mod do not.
    pub const fn enable_pqr(self) -> bool {
        self.has(Feature::Pqr)
    }

    /// add32/sub32 zero-extend their result and `mov32 dst, src` sign-extends.
    pub const fn explicit_sign_extension_of_results(self) -> bool {
        self.has(Feature::ExplicitSignExtension)
    }

    /// `sub dst, imm` computes `imm - dst`.
    pub const fn swap_sub_reg_imm_operands(self) -> bool {
        self.has(Feature::SwapSubImmOperands)
    }

    /// `neg32` and `neg64` do not exist.
    pub const fn disable_neg(self) -> bool {
        self.has(Feature::DisableNeg)
    }

    /// `lddw` does not exist; `hor64` does.
    pub const fn disable_lddw(self) -> bool {
        self.has(Feature::DisableLddw)
    }

    /// `le` does not exist.
    pub const fn disable_le(self) -> bool {
        self.has(Feature::DisableLe)
    }

    /// Loads and stores use the moved opcodes of V2.
    pub const fn move_memory_instruction_classes(self) -> bool {
        self.has(Feature::MoveMemoryClasses)
    }

    /// `call` src 0 is a syscall by key and src 1 a pc-relative internal call.
    pub const fn static_syscalls(self) -> bool {
        self.has(Feature::StaticSyscalls)
    }

    /// ELF files load through the strict program-header loader.
    pub const fn enable_stricter_elf_headers(self) -> bool {
        self.has(Feature::StricterElfHeaders)
    }

    /// Read-only data lives at address 0 and the bytecode is not readable.
    pub const fn enable_lower_rodata_vaddr(self) -> bool {
        self.has(Feature::LowerRodataVaddr)
    }

    /// The JMP32 class exists.
    pub const fn enable_jmp32(self) -> bool {
        self.has(Feature::Jmp32)
    }

    /// The aligned memory mapping is used whatever the host configures.
    pub const fn forces_aligned_memory_mapping(self) -> bool {
        self.has(Feature::AlignedMemoryMapping)
    }

    /// Where `callx` names its register.
    pub const fn callx_field(self) -> CallxField {
        if self.has(Feature::CallxUsesSrc) {
            CallxField::Src
        } else if self.has(Feature::CallxUsesDst) {
            CallxField::Dst
        } else {
            CallxField::Imm
        }
    }
}

impl fmt::Display for SbpfVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{}", self.e_flags())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The predicates, written out per version as the spec's §1.2 matrix states them.
    #[test]
    fn the_table_is_the_spec_matrix() {
        use SbpfVersion::*;
        type Row = (
            &'static str,
            fn(SbpfVersion) -> bool,
            &'static [SbpfVersion],
        );
        let rows: [Row; 15] = [
            (
                "manual bump",
                SbpfVersion::manual_stack_frame_bump,
                &[V1, V2],
            ),
            ("gaps", SbpfVersion::stack_frame_gaps, &[V0]),
            ("pqr", SbpfVersion::enable_pqr, &[V2]),
            (
                "sign",
                SbpfVersion::explicit_sign_extension_of_results,
                &[V2],
            ),
            ("sub", SbpfVersion::swap_sub_reg_imm_operands, &[V2]),
            ("neg", SbpfVersion::disable_neg, &[V2]),
            ("lddw", SbpfVersion::disable_lddw, &[V2]),
            ("le", SbpfVersion::disable_le, &[V2]),
            (
                "memory",
                SbpfVersion::move_memory_instruction_classes,
                &[V2],
            ),
            ("static", SbpfVersion::static_syscalls, &[V3, V4]),
            (
                "strict",
                SbpfVersion::enable_stricter_elf_headers,
                &[V3, V4],
            ),
            ("rodata", SbpfVersion::enable_lower_rodata_vaddr, &[V3, V4]),
            ("jmp32", SbpfVersion::enable_jmp32, &[V3, V4]),
            ("aligned", SbpfVersion::forces_aligned_memory_mapping, &[V4]),
            ("src", |v| v.callx_field() == CallxField::Src, &[V2]),
        ];
        for (name, predicate, versions) in rows {
            for version in SbpfVersion::ALL {
                assert_eq!(
                    predicate(version),
                    versions.contains(&version),
                    "{name} for {version}"
                );
            }
        }
        let fields = SbpfVersion::ALL.map(SbpfVersion::callx_field);
        use CallxField::{Dst, Imm, Src};
        assert_eq!(fields, [Imm, Imm, Src, Dst, Dst]);
    }

    #[test]
    fn e_flags_and_names_round_trip() {
        for version in SbpfVersion::ALL {
            assert_eq!(SbpfVersion::from_e_flags(version.e_flags()), Some(version));
            assert_eq!(SbpfVersion::from_name(version.name()), Some(version));
        }
        for reserved in [5, 0x20, u32::MAX] {
            assert_eq!(SbpfVersion::from_e_flags(reserved), None);
        }
        assert_eq!(SbpfVersion::from_name("V3"), Some(SbpfVersion::V3));
        assert_eq!(SbpfVersion::from_name("v5"), None);
        assert_eq!(SbpfVersion::V3.to_string(), "V3");
    }
}
