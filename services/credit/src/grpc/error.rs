//! The credit error as its caller is answered: one exhaustive match.

use bss_platform::error::Answer;

use crate::domain::error::CreditError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "credit.bss";

bss_platform::service_error!(CreditError, DOMAIN);

impl From<CreditError> for Answer {
    fn from(error: CreditError) -> Answer {
        let description = error.to_string();
        match error {
            CreditError::Invalid(violations) => Answer::Invalid(violations),
            CreditError::NotFound { kind, id } => Answer::NotFound { kind, id },
            CreditError::AlreadyExists { reason, .. } => Answer::AlreadyExists { reason, description },
            CreditError::Precondition { reason, .. } => Answer::refused(reason, "credit", description),
            CreditError::Conflict { reason, .. } => Answer::Conflict { reason, description },
            CreditError::Unavailable { what, cause } => Answer::Unavailable { what, cause },
            CreditError::Upstream(status) => Answer::Upstream(status),
            CreditError::Platform(error) => Answer::Platform(error),
        }
    }
}
