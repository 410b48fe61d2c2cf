//! How an instruction fails, as the runtime names it: `InstructionError` and the decoding of
//! a program's return value (r0) into it.
//!
//! A program returns 0 for success. Any other value is a `ProgramError` encoded as the
//! runtime's `From<u64> for InstructionError` decodes it (`solana-instruction`): the builtin
//! errors are their number shifted left by 32 (`0x3_0000_0000` is `InvalidInstructionData`),
//! `1 << 32` is `Custom(0)`, a value below 2^32 is `Custom(value)`, anything else
//! `InvalidError`. The Display strings are the runtime's, so failure lines read as a
//! validator's log does (`Program <id> failed: custom program error: 0x1`).

use core::fmt;

/// An instruction's failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstructionError {
    /// A program-specific error code.
    Custom(u32),
    /// `InvalidArgument`.
    InvalidArgument,
    /// `InvalidInstructionData`.
    InvalidInstructionData,
    /// `InvalidAccountData`.
    InvalidAccountData,
    /// `AccountDataTooSmall`.
    AccountDataTooSmall,
    /// `InsufficientFunds`.
    InsufficientFunds,
    /// `IncorrectProgramId`.
    IncorrectProgramId,
    /// `MissingRequiredSignature`.
    MissingRequiredSignature,
    /// `AccountAlreadyInitialized`.
    AccountAlreadyInitialized,
    /// `UninitializedAccount`.
    UninitializedAccount,
    /// `NotEnoughAccountKeys`.
    NotEnoughAccountKeys,
    /// `AccountBorrowFailed`.
    AccountBorrowFailed,
    /// `MaxSeedLengthExceeded`.
    MaxSeedLengthExceeded,
    /// `InvalidSeeds`.
    InvalidSeeds,
    /// `BorshIoError` (the message is not encoded in r0).
    BorshIoError,
    /// `AccountNotRentExempt`.
    AccountNotRentExempt,
    /// `UnsupportedSysvar`.
    UnsupportedSysvar,
    /// `IllegalOwner`.
    IllegalOwner,
    /// `MaxAccountsDataAllocationsExceeded`.
    MaxAccountsDataAllocationsExceeded,
    /// `InvalidRealloc`.
    InvalidRealloc,
    /// `MaxInstructionTraceLengthExceeded`.
    MaxInstructionTraceLengthExceeded,
    /// `BuiltinProgramsMustConsumeComputeUnits`.
    BuiltinProgramsMustConsumeComputeUnits,
    /// `InvalidAccountOwner`.
    InvalidAccountOwner,
    /// `ArithmeticOverflow`.
    ArithmeticOverflow,
    /// `Immutable`.
    Immutable,
    /// `IncorrectAuthority`.
    IncorrectAuthority,
    /// A return value that encodes no known error.
    InvalidError,
    /// The sum of the accounts' lamports changed.
    UnbalancedInstruction,
    /// An account's owner was changed against the rules.
    ModifiedProgramId,
    /// Lamports were taken from an account the program does not own.
    ExternalAccountLamportSpend,
    /// Data of an account the program does not own was changed.
    ExternalAccountDataModified,
    /// A read-only account's lamports changed.
    ReadonlyLamportChange,
    /// A read-only account's data changed.
    ReadonlyDataModified,
    /// An executable account's data changed.
    ExecutableDataModified,
    /// An executable account's lamports changed.
    ExecutableLamportChange,
    /// A program other than the owner changed an account's size.
    AccountDataSizeChanged,
    /// The compute budget ran out.
    ComputationalBudgetExceeded,
    /// The program failed in the VM (a fault, abort, panic, ...).
    ProgramFailedToComplete,
}

/// The builtin errors by their number (the value shifted right by 32); index 0 is unused.
const BUILTIN: [Option<InstructionError>; 27] = [
    None,
    Some(InstructionError::Custom(0)),
    Some(InstructionError::InvalidArgument),
    Some(InstructionError::InvalidInstructionData),
    Some(InstructionError::InvalidAccountData),
    Some(InstructionError::AccountDataTooSmall),
    Some(InstructionError::InsufficientFunds),
    Some(InstructionError::IncorrectProgramId),
    Some(InstructionError::MissingRequiredSignature),
    Some(InstructionError::AccountAlreadyInitialized),
    Some(InstructionError::UninitializedAccount),
    Some(InstructionError::NotEnoughAccountKeys),
    Some(InstructionError::AccountBorrowFailed),
    Some(InstructionError::MaxSeedLengthExceeded),
    Some(InstructionError::InvalidSeeds),
    Some(InstructionError::BorshIoError),
    Some(InstructionError::AccountNotRentExempt),
    Some(InstructionError::UnsupportedSysvar),
    Some(InstructionError::IllegalOwner),
    Some(InstructionError::MaxAccountsDataAllocationsExceeded),
    Some(InstructionError::InvalidRealloc),
    Some(InstructionError::MaxInstructionTraceLengthExceeded),
    Some(InstructionError::BuiltinProgramsMustConsumeComputeUnits),
    Some(InstructionError::InvalidAccountOwner),
    Some(InstructionError::ArithmeticOverflow),
    Some(InstructionError::Immutable),
    Some(InstructionError::IncorrectAuthority),
];

impl InstructionError {
    /// The error a nonzero return value means (`None` for 0, success).
    pub fn from_return_value(r0: u64) -> Option<InstructionError> {
        if r0 == 0 {
            return None;
        }
        let builtin = r0 >> 32;
        if r0 & 0xffff_ffff == 0 {
            if let Some(Some(error)) = usize::try_from(builtin).ok().and_then(|i| BUILTIN.get(i)) {
                return Some(error.clone());
            }
        }
        Some(match u32::try_from(r0) {
            Ok(code) => InstructionError::Custom(code),
            Err(_) => InstructionError::InvalidError,
        })
    }

    /// The variant's name (`Custom` for every custom code), as JSON reports it.
    pub fn name(&self) -> &'static str {
        match self {
            InstructionError::Custom(_) => "Custom",
            InstructionError::InvalidArgument => "InvalidArgument",
            InstructionError::InvalidInstructionData => "InvalidInstructionData",
            InstructionError::InvalidAccountData => "InvalidAccountData",
            InstructionError::AccountDataTooSmall => "AccountDataTooSmall",
            InstructionError::InsufficientFunds => "InsufficientFunds",
            InstructionError::IncorrectProgramId => "IncorrectProgramId",
            InstructionError::MissingRequiredSignature => "MissingRequiredSignature",
            InstructionError::AccountAlreadyInitialized => "AccountAlreadyInitialized",
            InstructionError::UninitializedAccount => "UninitializedAccount",
            InstructionError::NotEnoughAccountKeys => "NotEnoughAccountKeys",
            InstructionError::AccountBorrowFailed => "AccountBorrowFailed",
            InstructionError::MaxSeedLengthExceeded => "MaxSeedLengthExceeded",
            InstructionError::InvalidSeeds => "InvalidSeeds",
            InstructionError::BorshIoError => "BorshIoError",
            InstructionError::AccountNotRentExempt => "AccountNotRentExempt",
            InstructionError::UnsupportedSysvar => "UnsupportedSysvar",
            InstructionError::IllegalOwner => "IllegalOwner",
            InstructionError::MaxAccountsDataAllocationsExceeded => {
                "MaxAccountsDataAllocationsExceeded"
            }
            InstructionError::InvalidRealloc => "InvalidRealloc",
            InstructionError::MaxInstructionTraceLengthExceeded => {
                "MaxInstructionTraceLengthExceeded"
            }
            InstructionError::BuiltinProgramsMustConsumeComputeUnits => {
                "BuiltinProgramsMustConsumeComputeUnits"
            }
            InstructionError::InvalidAccountOwner => "InvalidAccountOwner",
            InstructionError::ArithmeticOverflow => "ArithmeticOverflow",
            InstructionError::Immutable => "Immutable",
            InstructionError::IncorrectAuthority => "IncorrectAuthority",
            InstructionError::InvalidError => "InvalidError",
            InstructionError::UnbalancedInstruction => "UnbalancedInstruction",
            InstructionError::ModifiedProgramId => "ModifiedProgramId",
            InstructionError::ExternalAccountLamportSpend => "ExternalAccountLamportSpend",
            InstructionError::ExternalAccountDataModified => "ExternalAccountDataModified",
            InstructionError::ReadonlyLamportChange => "ReadonlyLamportChange",
            InstructionError::ReadonlyDataModified => "ReadonlyDataModified",
            InstructionError::ExecutableDataModified => "ExecutableDataModified",
            InstructionError::ExecutableLamportChange => "ExecutableLamportChange",
            InstructionError::AccountDataSizeChanged => "AccountDataSizeChanged",
            InstructionError::ComputationalBudgetExceeded => "ComputationalBudgetExceeded",
            InstructionError::ProgramFailedToComplete => "ProgramFailedToComplete",
        }
    }

    /// The runtime's sentence for this error.
    fn sentence(&self) -> &'static str {
        match self {
            InstructionError::Custom(_) => "custom program error",
            InstructionError::InvalidArgument => "invalid program argument",
            InstructionError::InvalidInstructionData => "invalid instruction data",
            InstructionError::InvalidAccountData => "invalid account data for instruction",
            InstructionError::AccountDataTooSmall => "account data too small for instruction",
            InstructionError::InsufficientFunds => "insufficient funds for instruction",
            InstructionError::IncorrectProgramId => "incorrect program id for instruction",
            InstructionError::MissingRequiredSignature => {
                "missing required signature for instruction"
            }
            InstructionError::AccountAlreadyInitialized => {
                "instruction requires an uninitialized account"
            }
            InstructionError::UninitializedAccount => "instruction requires an initialized account",
            InstructionError::NotEnoughAccountKeys => "insufficient account keys for instruction",
            InstructionError::AccountBorrowFailed => {
                "instruction tries to borrow reference for an account which is already borrowed"
            }
            InstructionError::MaxSeedLengthExceeded => {
                "Length of the seed is too long for address generation"
            }
            InstructionError::InvalidSeeds => "Provided seeds do not result in a valid address",
            InstructionError::BorshIoError => "Failed to serialize or deserialize account data",
            InstructionError::AccountNotRentExempt => {
                "An account does not have enough lamports to be rent-exempt"
            }
            InstructionError::UnsupportedSysvar => "Unsupported sysvar",
            InstructionError::IllegalOwner => "Provided owner is not allowed",
            InstructionError::MaxAccountsDataAllocationsExceeded => {
                "Accounts data allocations exceeded the maximum allowed per transaction"
            }
            InstructionError::InvalidRealloc => "Failed to reallocate account data",
            InstructionError::MaxInstructionTraceLengthExceeded => {
                "Max instruction trace length exceeded"
            }
            InstructionError::BuiltinProgramsMustConsumeComputeUnits => {
                "Builtin programs must consume compute units"
            }
            InstructionError::InvalidAccountOwner => "Invalid account owner",
            InstructionError::ArithmeticOverflow => "Program arithmetic overflowed",
            InstructionError::Immutable => "Account is immutable",
            InstructionError::IncorrectAuthority => "Incorrect authority provided",
            InstructionError::InvalidError => "program returned invalid error code",
            InstructionError::UnbalancedInstruction => {
                "sum of account balances before and after instruction do not match"
            }
            InstructionError::ModifiedProgramId => {
                "instruction illegally modified the program id of an account"
            }
            InstructionError::ExternalAccountLamportSpend => {
                "instruction spent from the balance of an account it does not own"
            }
            InstructionError::ExternalAccountDataModified => {
                "instruction modified data of an account it does not own"
            }
            InstructionError::ReadonlyLamportChange => {
                "instruction changed the balance of a read-only account"
            }
            InstructionError::ReadonlyDataModified => {
                "instruction modified data of a read-only account"
            }
            InstructionError::ExecutableDataModified => {
                "instruction changed executable accounts data"
            }
            InstructionError::ExecutableLamportChange => {
                "instruction changed the balance of an executable account"
            }
            InstructionError::AccountDataSizeChanged => {
                "program other than the account's owner changed the size of the account data"
            }
            InstructionError::ComputationalBudgetExceeded => "Computational budget exceeded",
            InstructionError::ProgramFailedToComplete => "Program failed to complete",
        }
    }
}

impl fmt::Display for InstructionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstructionError::Custom(code) => write!(f, "{}: {code:#x}", self.sentence()),
            _ => f.write_str(self.sentence()),
        }
    }
}

impl std::error::Error for InstructionError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_decode_as_the_runtime_decodes_them() {
        let cases = [
            (0, None),
            (1, Some(InstructionError::Custom(1))),
            (0xc, Some(InstructionError::Custom(12))),
            (1 << 32, Some(InstructionError::Custom(0))),
            (
                0x3_0000_0000,
                Some(InstructionError::InvalidInstructionData),
            ),
            (0xb_0000_0000, Some(InstructionError::NotEnoughAccountKeys)),
            (26 << 32, Some(InstructionError::IncorrectAuthority)),
            (27 << 32, Some(InstructionError::InvalidError)),
            (0x3_0000_0001, Some(InstructionError::InvalidError)),
            (u64::MAX, Some(InstructionError::InvalidError)),
        ];
        for (r0, expected) in cases {
            assert_eq!(InstructionError::from_return_value(r0), expected, "{r0:#x}");
        }
        assert_eq!(
            InstructionError::Custom(1).to_string(),
            "custom program error: 0x1"
        );
        assert_eq!(
            InstructionError::InvalidInstructionData.to_string(),
            "invalid instruction data"
        );
    }
}
