//! The one error type of the pricing context.

use bss_platform::error::{PlatformError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum PricingError {
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
    /// Lines of a quote that cannot be priced: (line number, reason, why).
    #[error("some lines cannot be priced")]
    Lines(Vec<(usize, &'static str, String)>),
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

impl PricingError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> PricingError {
        PricingError::NotFound { kind, id: id.to_string() }
    }

    pub fn precondition(reason: &'static str, description: impl Into<String>) -> PricingError {
        PricingError::Precondition { reason, description: description.into() }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            PricingError::Invalid(_) => "INVALID_ARGUMENT",
            PricingError::NotFound { .. } => "NOT_FOUND",
            PricingError::AlreadyExists { reason, .. } | PricingError::Precondition { reason, .. } => reason,
            PricingError::Lines(lines) => lines.first().map_or("LINES", |(_, reason, _)| reason),
            PricingError::Unavailable { .. } => "UNAVAILABLE",
            PricingError::Upstream(_) => "UPSTREAM",
            PricingError::Platform(_) => "PLATFORM",
        }
    }
}

impl From<Violations> for PricingError {
    fn from(violations: Violations) -> PricingError {
        PricingError::Invalid(violations)
    }
}
