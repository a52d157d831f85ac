//! The accounts error as a gRPC status: one exhaustive match.

use std::collections::HashMap;

use bss_platform::error::{
    failed_precondition, failed_preconditions, invalid_argument, not_found, unavailable, with_reason,
};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::domain::error::AccountsError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "accounts.bss";

/// FAILED_PRECONDITION naming every rule broken in a PreconditionFailure,
/// the first one in the ErrorInfo.
fn every_rule(reason: &str, subject: &str, rules: &[(&'static str, String)], description: String) -> Status {
    failed_preconditions(DOMAIN, reason, subject, rules, &description)
}

impl From<AccountsError> for Status {
    fn from(error: AccountsError) -> Status {
        let reason = error.reason();
        let description = error.to_string();
        match error {
            AccountsError::Invalid(violations) => invalid_argument(&violations),
            AccountsError::AddressInvalid(violations) => {
                let mut status = invalid_argument(&violations);
                let mut details = status.get_error_details();
                details.set_error_info(reason, DOMAIN, HashMap::new());
                status = Status::with_error_details(Code::InvalidArgument, status.message(), details);
                status
            }
            AccountsError::NotFound { kind, id } => not_found(kind, &id),
            AccountsError::NameTaken
            | AccountsError::CodeTaken
            | AccountsError::UserEmailTaken
            | AccountsError::CustomFieldExists => with_reason(Code::AlreadyExists, DOMAIN, reason, &description),
            AccountsError::EtagMismatch => with_reason(Code::Aborted, DOMAIN, reason, &description),
            AccountsError::Precondition { .. } | AccountsError::FieldLocked(_) => {
                failed_precondition(DOMAIN, reason, "account", &description)
            }
            AccountsError::GroupRules(rules) => every_rule(reason, "group", &rules, description),
            AccountsError::MoneyHeld(held) => every_rule(reason, "account", &held, description),
            AccountsError::IntegrationOnly(_) => with_reason(Code::PermissionDenied, DOMAIN, reason, &description),
            AccountsError::Unavailable { what, cause } => unavailable(what, &cause),
            AccountsError::Upstream(status) => status,
            AccountsError::MessageTooLarge(_) => with_reason(Code::ResourceExhausted, DOMAIN, reason, &description),
            AccountsError::Platform(error) => error.into(),
        }
    }
}
