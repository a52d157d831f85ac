//! The error model: how a service's domain errors become `tonic::Status`
//! values with `google.rpc` details a client in any language can read.
//!
//! Each service has one `thiserror` enum and maps it with one exhaustive
//! `match` onto the builders below. Internal causes are logged here, with the
//! request's span, and never sent to the caller.

use std::collections::HashMap;
use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One bad field of a request: its dotted path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation { field: field.into(), description: description.into() }
    }
}

/// Collects every field violation of a request, so the caller learns about
/// all of them in one answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Violations(Vec::new())
    }

    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        Violations(vec![FieldViolation::new(field, description)])
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records `description` for `field` when `bad` is true.
    pub fn add_if(&mut self, bad: bool, field: &str, description: &str) {
        if bad {
            self.add(field, description);
        }
    }

    /// Keeps the value of a successful parse, or records why it failed.
    pub fn keep<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// The same violations with `prefix.` in front of each field path.
    pub fn prefixed(self, prefix: &str) -> Violations {
        Violations(
            self.0
                .into_iter()
                .map(|violation| FieldViolation {
                    field: format!("{prefix}.{}", violation.field),
                    description: violation.description,
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<String> =
            self.0.iter().map(|violation| format!("{}: {}", violation.field, violation.description)).collect();
        formatter.write_str(&fields.join("; "))
    }
}

impl std::error::Error for Violations {}

/// INVALID_ARGUMENT with a BadRequest listing every violation.
pub fn invalid_argument(violations: &Violations) -> Status {
    let message = format!("invalid request: {violations}");
    let details = ErrorDetails::with_bad_request(
        violations
            .iter()
            .map(|violation| tonic_types::FieldViolation::new(violation.field.clone(), violation.description.clone()))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// A rule of the domain refuses the call. `reason` is the stable UPPER_SNAKE
/// code clients branch on; `subject` names what the rule applies to.
pub fn failed_precondition(domain: &str, reason: &str, subject: &str, description: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, domain, HashMap::new());
    details.add_precondition_failure_violation(reason, subject, description);
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// A status that carries an ErrorInfo with a stable reason.
pub fn with_reason(code: Code, domain: &str, reason: &str, description: &str) -> Status {
    let details = ErrorDetails::with_error_info(reason, domain, HashMap::new());
    Status::with_error_details(code, description, details)
}

/// NOT_FOUND for a resource of `kind` (for example "account") with `id`. Used
/// as well for resources of another tenant, so their existence is not leaked.
pub fn not_found(kind: &str, id: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_resource_info(kind, id, "", format!("{kind} not found"));
    Status::with_error_details(Code::NotFound, format!("{kind} {id} not found"), details)
}

/// INTERNAL for a cause the caller cannot act on. The cause is logged with the
/// request's span (and so its request id); the caller sees a fixed message.
pub fn internal(cause: &dyn fmt::Display) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::internal("internal error; the service logged the cause with the request id")
}

/// UNAVAILABLE for a dependency that is down; the caller may retry.
pub fn unavailable(what: &str, cause: &dyn fmt::Display) -> Status {
    tracing::warn!(error = %cause, dependency = what, "dependency unavailable");
    Status::unavailable(format!("{what} is unavailable; retry later"))
}

/// Errors of the shared plumbing that services pass through their own enum.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// The request id was used before with a different request.
    #[error("request id was already used for a different request")]
    RequestIdReused,
    /// A request id longer than the contracts allow.
    #[error("request id is too long")]
    RequestIdTooLong,
    /// Another call with the same request id is running right now.
    #[error("a request with the same request id is in progress")]
    RequestInProgress,
    /// A page token that this service did not issue for these filters.
    #[error("page token is not valid for this request")]
    InvalidPageToken,
    /// The database failed or is unreachable.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored bytes that no longer decode.
    #[error("stored data could not be decoded: {0}")]
    Corrupt(String),
}

/// The error domain of the shared plumbing in ErrorInfo.
pub const PLATFORM_DOMAIN: &str = "platform.bss";

impl From<PlatformError> for Status {
    fn from(error: PlatformError) -> Status {
        match error {
            PlatformError::RequestIdReused => {
                let mut details = ErrorDetails::with_error_info("REQUEST_ID_REUSED", PLATFORM_DOMAIN, HashMap::new());
                details.add_bad_request_violation(
                    "request_id",
                    "this request id was already used for a different request",
                );
                Status::with_error_details(
                    Code::InvalidArgument,
                    "request id was already used for a different request",
                    details,
                )
            }
            PlatformError::RequestIdTooLong => invalid_argument(&Violations::single(
                "request_id",
                format!("at most {} characters", crate::idempotency::MAX_REQUEST_ID_LEN),
            )),
            PlatformError::RequestInProgress => with_reason(
                Code::Aborted,
                PLATFORM_DOMAIN,
                "REQUEST_IN_PROGRESS",
                "a request with the same request id is in progress; retry later",
            ),
            PlatformError::InvalidPageToken => {
                invalid_argument(&Violations::single("page_token", "not a token of this listing"))
            }
            PlatformError::Database(error) => database_status(error),
            PlatformError::Corrupt(cause) => internal(&cause),
        }
    }
}

/// Database errors a caller can act on (busy, timed out) become UNAVAILABLE;
/// the rest are INTERNAL. Constraint violations that mean something are
/// mapped by each service before they get here.
fn database_status(error: sqlx::Error) -> Status {
    match &error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => unavailable("database", &error),
        sqlx::Error::Database(db_error) => match db_error.code().as_deref() {
            // serialization_failure, deadlock_detected, lock_not_available,
            // query_canceled (statement timeout)
            Some("40001" | "40P01" | "55P03" | "57014") => with_reason(
                Code::Aborted,
                PLATFORM_DOMAIN,
                "CONCURRENT_UPDATE",
                "the call collided with a concurrent change; retry it",
            ),
            _ => internal(&error),
        },
        _ => internal(&error),
    }
}

/// The name of the constraint a database error violated, if any.
pub fn violated_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db_error) => db_error.constraint(),
        _ => None,
    }
}
