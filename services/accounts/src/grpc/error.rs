//! The accounts error as a gRPC status: one exhaustive match.

use bss_platform::error::{failed_precondition, invalid_argument, not_found, with_reason};
use tonic::{Code, Status};

use crate::domain::error::AccountsError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "accounts.bss";

impl From<AccountsError> for Status {
    fn from(error: AccountsError) -> Status {
        let reason = error.reason();
        let description = error.to_string();
        match error {
            AccountsError::Invalid(violations) => invalid_argument(&violations),
            AccountsError::NotFound { kind, id } => not_found(kind, &id),
            AccountsError::NameTaken | AccountsError::CodeTaken => {
                with_reason(Code::AlreadyExists, DOMAIN, reason, &description)
            }
            AccountsError::EtagMismatch => with_reason(Code::Aborted, DOMAIN, reason, &description),
            AccountsError::CurrencyImmutable
            | AccountsError::HasChildren
            | AccountsError::ParentCycle
            | AccountsError::PrimaryRequired { .. } => failed_precondition(DOMAIN, reason, "account", &description),
            AccountsError::Platform(error) => error.into(),
        }
    }
}
