//! The one error type of the billing context.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
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
    /// A service this one depends on cannot answer.
    #[error("{what} is unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
    /// Another service refused the call for the caller's reasons (pricing
    /// refusing a product, say): its status goes back as it came.
    #[error("{0}")]
    Upstream(tonic::Status),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl BillingError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> BillingError {
        BillingError::NotFound { kind, id: id.to_string() }
    }

    pub fn precondition(reason: &'static str, description: impl Into<String>) -> BillingError {
        BillingError::Precondition { reason, description: description.into() }
    }

    /// Whether the failure is of the moment (the database or a peer
    /// unavailable, a collision): the same work may succeed when retried.
    pub fn is_transient(&self) -> bool {
        match self {
            BillingError::Unavailable { .. } => true,
            BillingError::Upstream(status) => bss_platform::error::is_transient_status(status),
            BillingError::Platform(error) => error.is_transient(),
            _ => false,
        }
    }
}

impl From<Violations> for BillingError {
    fn from(violations: Violations) -> BillingError {
        BillingError::Invalid(violations)
    }
}

impl From<sqlx::Error> for BillingError {
    fn from(error: sqlx::Error) -> BillingError {
        BillingError::Platform(error.into())
    }
}
