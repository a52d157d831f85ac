//! The accounts error as its caller is answered: one exhaustive match.

use bss_platform::error::{Answer, Rule};

use crate::domain::error::AccountsError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "accounts.bss";

bss_platform::service_error!(AccountsError, DOMAIN);

/// Every rule broken, each about `subject`.
fn rules(subject: &str, broken: Vec<(&'static str, String)>) -> Vec<Rule> {
    broken
        .into_iter()
        .map(|(reason, description)| Rule { reason: reason.to_owned(), subject: subject.to_owned(), description })
        .collect()
}

impl From<AccountsError> for Answer {
    fn from(error: AccountsError) -> Answer {
        let reason = error.reason();
        let description = error.to_string();
        match error {
            AccountsError::Invalid(violations) => Answer::Invalid(violations),
            AccountsError::AddressInvalid(violations) => Answer::InvalidBecause { reason, violations },
            AccountsError::NotFound { kind, id } => Answer::NotFound { kind, id },
            AccountsError::NameTaken
            | AccountsError::CodeTaken
            | AccountsError::UserEmailTaken
            | AccountsError::CustomFieldExists => Answer::AlreadyExists { reason, description },
            AccountsError::Precondition { .. } | AccountsError::FieldLocked(_) => {
                Answer::refused(reason, "account", description)
            }
            AccountsError::GroupRules(broken) => Answer::Refused { reason, rules: rules("group", broken), description },
            AccountsError::MoneyHeld(held) => Answer::Refused { reason, rules: rules("account", held), description },
            AccountsError::Residential { refused, .. } => {
                let rules = refused
                    .into_iter()
                    .map(|(feature, why)| Rule {
                        reason: reason.to_owned(),
                        subject: feature.as_str().to_owned(),
                        description: why,
                    })
                    .collect();
                Answer::Refused { reason, rules, description }
            }
            AccountsError::IntegrationOnly(_) => Answer::Denied { reason, description },
            AccountsError::Unavailable { what, cause } => Answer::Unavailable { what, cause },
            AccountsError::Upstream(status) => Answer::Upstream(status),
            AccountsError::MessageTooLarge(_) => Answer::TooLarge { reason, description },
            AccountsError::Platform(error) => Answer::Platform(error),
        }
    }
}
