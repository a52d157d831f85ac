//! The one error type of the accounts context.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("invalid request: {0}")]
    Invalid(Violations),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("an account with this name already exists")]
    NameTaken,
    #[error("an account with this code already exists")]
    CodeTaken,
    #[error("the account changed since it was read (etag mismatch)")]
    EtagMismatch,
    #[error("the currency of an account is fixed at creation")]
    CurrencyImmutable,
    #[error("the account is the parent (bill-to) of other accounts")]
    HasChildren,
    #[error("the parent account would make the account its own ancestor")]
    ParentCycle,
    #[error("an account with {kind}s keeps one primary {kind}: make another one primary instead")]
    PrimaryRequired { kind: &'static str },
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl AccountsError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> AccountsError {
        AccountsError::NotFound { kind, id: id.to_string() }
    }

    /// The stable UPPER_SNAKE reason clients branch on.
    pub fn reason(&self) -> &'static str {
        match self {
            AccountsError::Invalid(_) => "INVALID_ARGUMENT",
            AccountsError::NotFound { .. } => "NOT_FOUND",
            AccountsError::NameTaken => "ACCOUNT_NAME_TAKEN",
            AccountsError::CodeTaken => "ACCOUNT_CODE_TAKEN",
            AccountsError::EtagMismatch => "ETAG_MISMATCH",
            AccountsError::CurrencyImmutable => "CURRENCY_IMMUTABLE",
            AccountsError::HasChildren => "ACCOUNT_HAS_CHILDREN",
            AccountsError::ParentCycle => "PARENT_CYCLE",
            AccountsError::PrimaryRequired { kind: "contact" } => "PRIMARY_CONTACT_REQUIRED",
            AccountsError::PrimaryRequired { .. } => "PRIMARY_ADDRESS_REQUIRED",
            AccountsError::Platform(_) => "PLATFORM",
        }
    }
}

impl From<Violations> for AccountsError {
    fn from(violations: Violations) -> AccountsError {
        AccountsError::Invalid(violations)
    }
}
