//! Etags (AIP-154): the opaque version of a resource that a client reads
//! and sends back with its edit, so two people never overwrite each other
//! unseen. An edit without an etag is unconditional; one with a stale etag
//! is ABORTED (ETAG_MISMATCH): read again, then retry.

use chrono::{DateTime, Utc};

use crate::error::PlatformError;

/// The etag of a resource versioned by a counter.
pub fn of_version(version: i64) -> String {
    format!("v{version}")
}

/// The etag of a resource versioned by the time of its last change, in
/// microseconds (`None`: never changed, "v0").
pub fn of_time(changed_at: Option<DateTime<Utc>>) -> String {
    changed_at.map_or_else(|| "v0".to_owned(), |at| format!("v{}", at.timestamp_micros()))
}

/// An edit of `what` made against `expected` (empty: unconditional) goes
/// on only while it is still at `current`.
pub fn check(what: &str, expected: &str, current: &str) -> Result<(), PlatformError> {
    if expected.is_empty() || expected == current {
        return Ok(());
    }
    Err(PlatformError::EtagMismatch(format!("{what} changed since it was read (etag {expected}, now {current})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_goes_on_unconditionally_or_against_the_current_etag_only() {
        assert_eq!(of_version(3), "v3");
        assert_eq!(of_time(None), "v0");
        let at = DateTime::from_timestamp_micros(1_700_000_000_000_001).expect("time");
        assert_eq!(of_time(Some(at)), "v1700000000000001");
        assert!(check("the contact", "", "v3").is_ok());
        assert!(check("the contact", "v3", "v3").is_ok());
        let stale = check("the contact", "v2", "v3").expect_err("stale");
        assert!(matches!(&stale, PlatformError::EtagMismatch(why) if why.contains("etag v2, now v3")), "{stale:?}");
    }
}
