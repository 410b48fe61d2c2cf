//! bpfvm's errors in the real crate's types: the loader's [`LoadError`] as [`ElfError`], the
//! verifier's [`VerifyError`] as [`VerifierError`], the runtime's [`RuntimeError`] as
//! [`EbpfError`] (with a failing builtin's own error put back where the engine reports it).

use crate::{elf::ElfError, error::EbpfError, memory_region::AccessType, verifier::VerifierError};
use bpfvm::{LoadError, RuntimeError, VerifyError};

/// The loader's error as 0.26 names it.
pub(crate) fn load_error(error: LoadError) -> ElfError {
    match error {
        LoadError::FailedToParse { reason } => ElfError::FailedToParse(reason),
        LoadError::EntrypointOutOfBounds => ElfError::EntrypointOutOfBounds,
        LoadError::InvalidEntrypoint => ElfError::InvalidEntrypoint,
        LoadError::UnresolvedSymbol { name, pc, offset } => {
            ElfError::UnresolvedSymbol(name, pc, offset as usize)
        }
        LoadError::SectionNotFound { name } => ElfError::SectionNotFound(name),
        LoadError::RelativeJumpOutOfBounds { pc } => ElfError::RelativeJumpOutOfBounds(pc),
        LoadError::SymbolHashCollision { key } => ElfError::SymbolHashCollision(key),
        LoadError::WrongEndianess => ElfError::WrongEndianess,
        LoadError::WrongAbi => ElfError::WrongAbi,
        LoadError::WrongMachine => ElfError::WrongMachine,
        LoadError::WrongClass => ElfError::WrongClass,
        LoadError::NotOneTextSection => ElfError::NotOneTextSection,
        LoadError::WritableSectionNotSupported { name } => {
            ElfError::WritableSectionNotSupported(name)
        }
        LoadError::InvalidVirtualAddress { address } => ElfError::InvalidVirtualAddress(address),
        LoadError::UnknownRelocation { kind } => ElfError::UnknownRelocation(kind),
        LoadError::WrongType => ElfError::WrongType,
        LoadError::UnknownSymbol { index } => ElfError::UnknownSymbol(index),
        LoadError::ValueOutOfBounds => ElfError::ValueOutOfBounds,
        LoadError::InvalidProgramHeader => ElfError::InvalidProgramHeader,
        LoadError::UnsupportedSBPFVersion { .. } | LoadError::SbpfVersionMismatch { .. } => {
            ElfError::UnsupportedSBPFVersion
        }
        // Errors of the 2022 profiles and of bpfvm's object linker, which the 0.26 loaders
        // never produce; named by their text.
        other @ (LoadError::UnsupportedExecutableCapabilities
        | LoadError::FunctionAlreadyRegistered { .. }
        | LoadError::InvalidRelocation { .. }
        | LoadError::ImageTooLarge { .. }) => ElfError::FailedToParse(other.to_string()),
    }
}

/// The verifier's error as 0.26 names it.
pub(crate) fn verify_error(error: VerifyError) -> VerifierError {
    match error {
        VerifyError::ProgramLengthNotMultiple => VerifierError::ProgramLengthNotMultiple,
        VerifyError::NoProgram => VerifierError::NoProgram,
        VerifyError::DivisionByZero { pc } => VerifierError::DivisionByZero(pc),
        VerifyError::UnsupportedLEBEArgument { pc } => VerifierError::UnsupportedLEBEArgument(pc),
        VerifyError::LDDWCannotBeLast => VerifierError::LDDWCannotBeLast,
        VerifyError::IncompleteLDDW { pc } => VerifierError::IncompleteLDDW(pc),
        VerifyError::JumpOutOfCode { target, pc } => {
            VerifierError::JumpOutOfCode(target as usize, pc)
        }
        VerifyError::JumpToMiddleOfLDDW { target, pc } => {
            VerifierError::JumpToMiddleOfLDDW(target, pc)
        }
        VerifyError::InvalidSourceRegister { pc } => VerifierError::InvalidSourceRegister(pc),
        VerifyError::CannotWriteR10 { pc } => VerifierError::CannotWriteR10(pc),
        VerifyError::InvalidDestinationRegister { pc } => {
            VerifierError::InvalidDestinationRegister(pc)
        }
        VerifyError::UnknownOpCode { opcode, pc } => VerifierError::UnknownOpCode(opcode, pc),
        VerifyError::ShiftWithOverflow { shift, width, pc } => {
            VerifierError::ShiftWithOverflow(shift, width, pc)
        }
        VerifyError::InvalidRegister { pc } => VerifierError::InvalidRegister(pc),
        VerifyError::UnalignedImmediate { pc } => VerifierError::UnalignedImmediate(pc),
        // eBPF-only verdicts: the SBPF versions never produce them.
        VerifyError::InvalidField { pc, .. } | VerifyError::InvalidCall { pc } => {
            VerifierError::UnknownOpCode(0, pc)
        }
    }
}

/// A runtime error as 0.26 names it; `stashed` is the error of the builtin that failed, if
/// one did.
pub(crate) fn runtime_error(error: RuntimeError, stashed: Option<EbpfError>) -> EbpfError {
    match error {
        RuntimeError::CallDepthExceeded { .. } => EbpfError::CallDepthExceeded,
        RuntimeError::DivideByZero { .. } => EbpfError::DivideByZero,
        RuntimeError::DivideOverflow { .. } => EbpfError::DivideOverflow,
        RuntimeError::ExecutionOverrun { .. } => EbpfError::ExecutionOverrun,
        RuntimeError::CallOutsideTextSegment { .. } => EbpfError::CallOutsideTextSegment,
        RuntimeError::ExceededMaxInstructions { .. } => EbpfError::ExceededMaxInstructions,
        RuntimeError::InvalidMemoryRegion { index } => EbpfError::InvalidMemoryRegion(index),
        RuntimeError::AccessViolation {
            access,
            vaddr,
            len,
            region,
            ..
        } => EbpfError::AccessViolation(AccessType::from_engine(access), vaddr, len, region),
        RuntimeError::StackAccessViolation {
            access,
            vaddr,
            len,
            frame,
            ..
        } => EbpfError::StackAccessViolation(AccessType::from_engine(access), vaddr, len, frame),
        RuntimeError::InvalidInstruction { .. } => EbpfError::InvalidInstruction,
        RuntimeError::UnsupportedInstruction { .. } => EbpfError::UnsupportedInstruction,
        RuntimeError::UserError { message } => match stashed {
            Some(error) => error,
            None => EbpfError::SyscallError(message.into()),
        },
        RuntimeError::SyscallError { error, .. } => match stashed {
            Some(stashed) => stashed,
            None => match *error {
                RuntimeError::UserError { message } => EbpfError::SyscallError(message.into()),
                inner => EbpfError::SyscallError(Box::new(runtime_error(inner, None))),
            },
        },
        RuntimeError::JitNotCompiled => EbpfError::JitNotCompiled,
        // 0.26 has no name for a fault of the JIT itself (never the program's doing), so it
        // is reported as a failed call that says what it is, never mistaken for a result.
        RuntimeError::JitFailure { message } => {
            EbpfError::SyscallError(format!("bpfvm's JIT failed internally: {message}").into())
        }
    }
}

/// A JIT failure: a program too large for generated code is `ExhaustedTextSegment`, anything
/// else (code memory, a build without the JIT) names itself as a failed system call.
pub(crate) fn jit_error(error: bpfvm::jit::JitError) -> EbpfError {
    match error {
        bpfvm::jit::JitError::ProgramTooLarge { slots } => EbpfError::ExhaustedTextSegment(slots),
        other => EbpfError::LibcInvocationFailed("jit_compile", vec![other.to_string()], -1),
    }
}
