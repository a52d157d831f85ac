//! The credit error as a gRPC status: one exhaustive match.

use bss_platform::error::{failed_precondition, invalid_argument, not_found, unavailable, with_reason};
use tonic::{Code, Status};

use crate::domain::error::CreditError;

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "credit.bss";

impl From<CreditError> for Status {
    fn from(error: CreditError) -> Status {
        let description = error.to_string();
        match error {
            CreditError::Invalid(violations) => invalid_argument(&violations),
            CreditError::NotFound { kind, id } => not_found(kind, &id),
            CreditError::AlreadyExists { reason, .. } => with_reason(Code::AlreadyExists, DOMAIN, reason, &description),
            CreditError::Precondition { reason, .. } => failed_precondition(DOMAIN, reason, "credit", &description),
            CreditError::Unavailable { what, cause } => unavailable(what, &cause),
            CreditError::Upstream(status) => status,
            CreditError::Platform(error) => error.into(),
        }
    }
}
