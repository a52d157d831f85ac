//! What can go wrong in a call to the sync, as the service says it.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("invalid request: {0}")]
    Invalid(Violations),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{description}")]
    AlreadyExists { reason: &'static str, description: String },
    #[error("{description}")]
    Precondition { reason: &'static str, description: String },
    #[error("{what} is unavailable: {cause}")]
    Unavailable { what: &'static str, cause: String },
    /// A peer refused the call for the caller's own reasons: its answer
    /// goes back as it came.
    #[error("{0}")]
    Upstream(tonic::Status),
    #[error(transparent)]
    Platform(#[from] PlatformError),
}

impl From<Violations> for SyncError {
    fn from(violations: Violations) -> SyncError {
        SyncError::Invalid(violations)
    }
}

impl From<sqlx::Error> for SyncError {
    fn from(error: sqlx::Error) -> SyncError {
        SyncError::Platform(error.into())
    }
}

pub fn precondition(reason: &'static str, description: String) -> SyncError {
    SyncError::Precondition { reason, description }
}
