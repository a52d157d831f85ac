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

/// Most field violations (or precondition violations) one answer lists;
/// the rest are counted in a last entry. With the byte budgets below it
/// keeps every error well under what any client or proxy takes (HTTP/2
/// peers commonly refuse header lists over 16 KiB): the details of an
/// answer stay under `server::MAX_ERROR_DETAILS_BYTES` once encoded.
pub const MAX_LISTED_VIOLATIONS: usize = 20;
/// Longest text of one field, description or echoed value sent back, in
/// characters (longer ones are cut, with an ellipsis): a caller's value
/// echoed in an error never makes the answer large.
pub const MAX_ERROR_TEXT: usize = 256;
/// Most bytes the listed violations of one answer take together; those
/// past it are counted, not listed.
pub const MAX_LISTED_BYTES: usize = 3 * 1024;
/// Longest status message, in bytes (it travels twice: in `grpc-message`
/// and inside the details).
pub const MAX_STATUS_MESSAGE: usize = 1024;

/// `text` cut to at most `max` characters (an ellipsis marks the cut), on a
/// character boundary.
pub fn bounded(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` cut to at most `max` bytes of UTF-8 (an ellipsis marks the cut),
/// on a character boundary.
pub fn bounded_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// How many of `entries` (each its bytes) one answer lists: at most
/// [`MAX_LISTED_VIOLATIONS`], within [`MAX_LISTED_BYTES`] together.
fn listed_count(entries: impl Iterator<Item = usize>) -> usize {
    let mut used = 0;
    let mut count = 0;
    for bytes in entries.take(MAX_LISTED_VIOLATIONS) {
        used += bytes;
        if used > MAX_LISTED_BYTES {
            break;
        }
        count += 1;
    }
    count
}

/// INVALID_ARGUMENT with a BadRequest listing the violations (each text cut
/// to [`MAX_ERROR_TEXT`], as many as the bounds above allow) and a last one
/// counting those not listed.
pub fn invalid_argument(violations: &Violations) -> Status {
    let total = violations.0.len();
    let cut: Vec<(String, String)> = violations
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(|violation| (bounded(&violation.field, MAX_ERROR_TEXT), bounded(&violation.description, MAX_ERROR_TEXT)))
        .collect();
    let count = listed_count(cut.iter().map(|(field, description)| field.len() + description.len()));
    let mut listed: Vec<tonic_types::FieldViolation> = cut
        .into_iter()
        .take(count)
        .map(|(field, description)| tonic_types::FieldViolation::new(field, description))
        .collect();
    if total > count {
        listed.push(tonic_types::FieldViolation::new("", format!("and {} more violations not listed", total - count)));
    }
    let shown: Vec<String> =
        listed.iter().take(5).map(|violation| format!("{}: {}", violation.field, violation.description)).collect();
    let more = if total > 5 { format!(" (and {} more)", total - 5) } else { String::new() };
    let message = bounded_bytes(&format!("invalid request: {}{more}", shown.join("; ")), MAX_STATUS_MESSAGE);
    Status::with_error_details(Code::InvalidArgument, message, ErrorDetails::with_bad_request(listed))
}

/// A rule of the domain refuses the call. `reason` is the stable UPPER_SNAKE
/// code clients branch on; `subject` names what the rule applies to.
pub fn failed_precondition(domain: &str, reason: &str, subject: &str, description: &str) -> Status {
    let rule = Rule { reason: reason.to_owned(), subject: subject.to_owned(), description: description.to_owned() };
    failed_rules(domain, reason, &[rule], description)
}

/// `status` with each subject of its PreconditionFailure that `rename`
/// maps renamed (a peer's `lines[0]` as the caller's request names it);
/// any other status unchanged.
pub fn renamed_subjects(status: Status, rename: impl Fn(&str) -> Option<String>) -> Status {
    let (Code::FailedPrecondition, Some(failure)) = (status.code(), status.get_details_precondition_failure()) else {
        return status;
    };
    let rules: Vec<Rule> = failure
        .violations
        .iter()
        .map(|violation| Rule {
            reason: violation.r#type.clone(),
            subject: rename(&violation.subject).unwrap_or_else(|| violation.subject.clone()),
            description: violation.description.clone(),
        })
        .collect();
    let (reason, domain) = status.get_details_error_info().map(|info| (info.reason, info.domain)).unwrap_or_default();
    failed_rules(&domain, &reason, &rules, status.message())
}

/// One rule an answer names as broken: its reason, what it applies to, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub reason: String,
    pub subject: String,
    pub description: String,
}

/// FAILED_PRECONDITION naming every rule broken in a PreconditionFailure
/// (within the bounds of `invalid_argument`), with `reason` in the
/// ErrorInfo.
pub fn failed_rules(domain: &str, reason: &str, rules: &[Rule], description: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(reason, domain, HashMap::new());
    let cut: Vec<(&str, String, String)> = rules
        .iter()
        .take(MAX_LISTED_VIOLATIONS)
        .map(|rule| {
            (rule.reason.as_str(), bounded(&rule.subject, MAX_ERROR_TEXT), bounded(&rule.description, MAX_ERROR_TEXT))
        })
        .collect();
    let count =
        listed_count(cut.iter().map(|(rule, subject, explanation)| rule.len() + subject.len() + explanation.len()));
    for (rule, subject, explanation) in cut.into_iter().take(count) {
        details.add_precondition_failure_violation(rule, subject, explanation);
    }
    if rules.len() > count {
        let more = format!("and {} more not listed", rules.len() - count);
        let subject = rules.first().map(|rule| bounded(&rule.subject, MAX_ERROR_TEXT)).unwrap_or_default();
        details.add_precondition_failure_violation("MORE", subject, more);
    }
    Status::with_error_details(Code::FailedPrecondition, bounded_bytes(description, MAX_STATUS_MESSAGE), details)
}

/// What a service's error is, as its caller is answered. Each service says
/// which answer each of its errors is (`From<ItsError> for Answer`, see
/// [`crate::service_error`]); the status is made here, the same way for
/// every service.
#[derive(Debug)]
pub enum Answer {
    /// INVALID_ARGUMENT with a BadRequest naming every bad field.
    Invalid(Violations),
    /// As `Invalid`, with a reason in an ErrorInfo too.
    InvalidBecause { reason: &'static str, violations: Violations },
    /// NOT_FOUND (also for another tenant's things).
    NotFound { kind: &'static str, id: String },
    /// ALREADY_EXISTS with its reason.
    AlreadyExists { reason: &'static str, description: String },
    /// ABORTED with its reason (a stale etag, say): read again, then retry.
    Conflict { reason: &'static str, description: String },
    /// FAILED_PRECONDITION: the rules broken, the first one's reason in the
    /// ErrorInfo.
    Refused { reason: &'static str, rules: Vec<Rule>, description: String },
    /// PERMISSION_DENIED with its reason.
    Denied { reason: &'static str, description: String },
    /// RESOURCE_EXHAUSTED with its reason.
    TooLarge { reason: &'static str, description: String },
    /// UNAVAILABLE: something this service needs cannot answer.
    Unavailable { what: &'static str, cause: String },
    /// A peer's refusal, as it came.
    Upstream(Status),
    /// The shared plumbing's own errors.
    Platform(PlatformError),
}

impl Answer {
    /// FAILED_PRECONDITION for one rule about `subject`.
    pub fn refused(reason: &'static str, subject: &str, description: String) -> Answer {
        let rule = Rule { reason: reason.to_owned(), subject: subject.to_owned(), description: description.clone() };
        Answer::Refused { reason, rules: vec![rule], description }
    }

    /// The status of this answer, with `domain` in its ErrorInfo.
    pub fn into_status(self, domain: &str) -> Status {
        match self {
            Answer::Invalid(violations) => invalid_argument(&violations),
            Answer::InvalidBecause { reason, violations } => {
                let status = invalid_argument(&violations);
                let mut details = status.get_error_details();
                details.set_error_info(reason, domain, HashMap::new());
                Status::with_error_details(Code::InvalidArgument, status.message(), details)
            }
            Answer::NotFound { kind, id } => not_found(kind, &id),
            Answer::AlreadyExists { reason, description } => {
                with_reason(Code::AlreadyExists, domain, reason, &description)
            }
            Answer::Conflict { reason, description } => with_reason(Code::Aborted, domain, reason, &description),
            Answer::Refused { reason, rules, description } => failed_rules(domain, reason, &rules, &description),
            Answer::Denied { reason, description } => with_reason(Code::PermissionDenied, domain, reason, &description),
            Answer::TooLarge { reason, description } => {
                with_reason(Code::ResourceExhausted, domain, reason, &description)
            }
            Answer::Unavailable { what, cause } => unavailable(what, &cause),
            Answer::Upstream(status) => status,
            // A stale etag is the service's own conflict, in its domain.
            Answer::Platform(PlatformError::EtagMismatch(description)) => {
                with_reason(Code::Aborted, domain, "ETAG_MISMATCH", &description)
            }
            Answer::Platform(error) => error.into(),
        }
    }
}

/// Whether a peer's status means the same call may succeed later (it was
/// unavailable, timed out, collided or was told to wait).
pub fn is_transient_status(status: &Status) -> bool {
    matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::ResourceExhausted)
}

impl PlatformError {
    /// Whether the same work may succeed later: the database unavailable or
    /// a collision, or the same request running.
    pub fn is_transient(&self) -> bool {
        match self {
            PlatformError::Database(error) => {
                crate::db::is_unavailable(error)
                    || matches!(error, sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("40")))
            }
            PlatformError::RequestInProgress => true,
            _ => false,
        }
    }
}

/// The plumbing every service's error shares: `From<$error> for Status`
/// through its [`Answer`] (with the service's ErrorInfo `$domain`), and
/// `From<PeerError>` into its `Upstream` and `Unavailable` variants.
#[macro_export]
macro_rules! service_error {
    ($error:ident, $domain:expr) => {
        impl From<$error> for tonic::Status {
            fn from(error: $error) -> tonic::Status {
                $crate::error::Answer::from(error).into_status($domain)
            }
        }

        impl From<$crate::client::PeerError> for $error {
            fn from(error: $crate::client::PeerError) -> $error {
                match error {
                    $crate::client::PeerError::Refused(status) => $error::Upstream(status),
                    $crate::client::PeerError::Unavailable { what, cause } => $error::Unavailable { what, cause },
                }
            }
        }
    };
}

/// A status that carries an ErrorInfo with a stable reason.
pub fn with_reason(code: Code, domain: &str, reason: &str, description: &str) -> Status {
    let details = ErrorDetails::with_error_info(reason, domain, HashMap::new());
    Status::with_error_details(code, bounded_bytes(description, MAX_STATUS_MESSAGE), details)
}

/// NOT_FOUND for a resource of `kind` (for example "account") with `id`. Used
/// as well for resources of another tenant, so their existence is not leaked.
/// The id echoed back is cut to [`MAX_ERROR_TEXT`].
pub fn not_found(kind: &str, id: &str) -> Status {
    let id = bounded(id, MAX_ERROR_TEXT);
    let mut details = ErrorDetails::new();
    details.set_resource_info(kind, id.clone(), "", format!("{kind} not found"));
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
    /// A request id holding a NUL character, which the database cannot
    /// store.
    #[error("request id holds a NUL character")]
    RequestIdNul,
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
    /// An edit made against an etag the resource has moved past.
    #[error("{0}")]
    EtagMismatch(String),
    /// The caller may not act now, for a reason of its own standing (a
    /// customer user whose account is inactive, say).
    #[error("{description}")]
    Denied { reason: &'static str, description: String },
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
                format!("at most {} bytes", crate::idempotency::MAX_REQUEST_ID_LEN),
            )),
            PlatformError::RequestIdNul => {
                invalid_argument(&Violations::single("request_id", crate::input::NUL_IN_TEXT))
            }
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
            PlatformError::EtagMismatch(description) => {
                with_reason(Code::Aborted, PLATFORM_DOMAIN, "ETAG_MISMATCH", &description)
            }
            PlatformError::Denied { reason, description } => {
                with_reason(Code::PermissionDenied, PLATFORM_DOMAIN, reason, &description)
            }
        }
    }
}

/// Database errors a caller can act on become UNAVAILABLE (unreachable,
/// restarting, pool exhausted: see `db::is_unavailable`) or ABORTED
/// (collisions); the rest are INTERNAL. Constraint violations that mean something are
/// mapped by each service before they get here.
fn database_status(error: sqlx::Error) -> Status {
    if crate::db::is_unavailable(&error) {
        return unavailable("database", &error);
    }
    match &error {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&"é".repeat(300), 10);
        assert_eq!((cut.chars().count(), cut.ends_with('…')), (10, true));
    }

    /// The details as the guard on every answer measures them: base64 in
    /// the `grpc-status-details-bin` header.
    fn encoded_details(status: &Status) -> usize {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.details()).len()
    }

    #[test]
    fn an_error_with_many_bad_fields_lists_some_and_counts_the_rest_within_the_guard() {
        for (field, description) in [("q".to_owned(), "9".repeat(5_000)), ("é".repeat(5_000), "€".repeat(5_000))] {
            let mut violations = Violations::new();
            for index in 0..300 {
                violations.add(format!("lines[{index}].{field}"), format!("{description} is not a decimal"));
            }
            let status = invalid_argument(&violations);
            let listed = status.get_details_bad_request().expect("BadRequest").field_violations;
            let (last, shown) = listed.split_last().expect("violations");
            assert!(!shown.is_empty() && shown.len() <= MAX_LISTED_VIOLATIONS, "{} listed", shown.len());
            assert_eq!(last.description, format!("and {} more violations not listed", 300 - shown.len()));
            assert!(shown.iter().all(|violation| violation.description.chars().count() <= MAX_ERROR_TEXT));
            assert!(status.message().len() <= MAX_STATUS_MESSAGE, "{}", status.message().len());
            assert!(encoded_details(&status) < crate::server::MAX_ERROR_DETAILS_BYTES, "{}", encoded_details(&status));
        }
        let mut few = Violations::new();
        for index in 0..25 {
            few.add(format!("lines[{index}].quantity"), "not a decimal");
        }
        let listed = invalid_argument(&few).get_details_bad_request().expect("BadRequest").field_violations;
        assert_eq!(listed.len(), MAX_LISTED_VIOLATIONS + 1, "short violations: twenty listed");
        assert_eq!(listed[MAX_LISTED_VIOLATIONS].description, "and 5 more violations not listed");
    }

    #[test]
    fn a_peers_subjects_are_renamed_as_the_caller_named_them() {
        let rules = [
            Rule { reason: "PRODUCT_UNKNOWN".to_owned(), subject: "lines[1]".to_owned(), description: "no".to_owned() },
            Rule { reason: "OTHER".to_owned(), subject: "date".to_owned(), description: "late".to_owned() },
        ];
        let status = failed_rules("bss.pricing", "PRODUCT_UNKNOWN", &rules, "line 2: no product");
        let renamed = renamed_subjects(status, |subject| (subject == "lines[1]").then(|| "metered[1].product".into()));
        assert_eq!((renamed.code(), renamed.message()), (Code::FailedPrecondition, "line 2: no product"));
        let subjects: Vec<(String, String)> = renamed
            .get_details_precondition_failure()
            .expect("PreconditionFailure")
            .violations
            .into_iter()
            .map(|violation| (violation.r#type, violation.subject))
            .collect();
        assert_eq!(
            subjects,
            [("PRODUCT_UNKNOWN".to_owned(), "metered[1].product".to_owned()), ("OTHER".to_owned(), "date".to_owned())]
        );
        let info = renamed.get_details_error_info().expect("ErrorInfo");
        assert_eq!((info.reason.as_str(), info.domain.as_str()), ("PRODUCT_UNKNOWN", "bss.pricing"));
        let other = renamed_subjects(Status::not_found("x"), |_| Some("y".to_owned()));
        assert_eq!(other.code(), Code::NotFound, "left as it was");
    }

    #[test]
    fn an_echoed_id_and_many_rules_stay_small() {
        let status = not_found("account", &"x".repeat(12_000));
        assert!(status.message().len() < 2 * MAX_ERROR_TEXT);
        let rule = Rule { reason: "RULE".to_owned(), subject: "s".repeat(900), description: "ÿ".repeat(1_000) };
        let rules = vec![rule; 100];
        let status = failed_rules("test.bss", "RULE", &rules, &"ž".repeat(50_000));
        let failure = status.get_details_precondition_failure().expect("PreconditionFailure");
        let (last, shown) = failure.violations.split_last().expect("violations");
        assert_eq!(last.description, format!("and {} more not listed", 100 - shown.len()));
        assert!(encoded_details(&status) < crate::server::MAX_ERROR_DETAILS_BYTES, "{}", encoded_details(&status));
        assert!(status.message().len() <= MAX_STATUS_MESSAGE);
    }

    #[test]
    fn texts_are_cut_to_bytes_on_a_character_boundary() {
        assert_eq!(bounded_bytes("short", 10), "short");
        let cut = bounded_bytes(&"€".repeat(100), 10);
        assert!(cut.len() <= 10 && cut.ends_with('…'), "{cut}");
    }
}
