//! The one error type of the credit context.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("invalid request: {0}")]
    Invalid(Violations),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    /// Something with this key exists already; `reason` names it.
    #[error("{description}")]
    AlreadyExists { reason: &'static str, description: String },
    /// A rule of the domain forbids the call; `reason` names it.
    #[error("{description}")]
    Precondition { reason: &'static str, description: String },
    /// What the caller changes moved on since it was read (ABORTED): read
    /// again and retry.
    #[error("{description}")]
    Conflict { reason: &'static str, description: String },
    /// A service this one depends on cannot answer.
    #[error("{what} is unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
    /// A peer refused the call for the caller's own reasons: its answer
    /// goes back as it came.
    #[error("{0}")]
    Upstream(tonic::Status),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl CreditError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> CreditError {
        CreditError::NotFound { kind, id: id.to_string() }
    }

    pub fn precondition(reason: &'static str, description: impl Into<String>) -> CreditError {
        CreditError::Precondition { reason, description: description.into() }
    }
}

impl From<Violations> for CreditError {
    fn from(violations: Violations) -> CreditError {
        CreditError::Invalid(violations)
    }
}

impl From<sqlx::Error> for CreditError {
    fn from(error: sqlx::Error) -> CreditError {
        CreditError::Platform(error.into())
    }
}
