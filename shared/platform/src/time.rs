//! Timestamps and calendar dates on the wire.

use chrono::{DateTime, NaiveDate, Utc};

/// The current instant at Postgres precision (microseconds), so a value
/// computed here reads back unchanged.
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// A protobuf timestamp of a UTC instant.
pub fn timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: instant.timestamp(), nanos: instant.timestamp_subsec_nanos() as i32 }
}

/// The instant a protobuf timestamp names, when it is a valid one.
pub fn system_time(timestamp: Option<&prost_types::Timestamp>) -> Option<std::time::SystemTime> {
    timestamp.and_then(|timestamp| std::time::SystemTime::try_from(*timestamp).ok())
}

/// Parses a calendar date in ISO 8601 form, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| "must be a date of the form YYYY-MM-DD".to_owned())
}

/// Formats a calendar date as `YYYY-MM-DD`.
pub fn format_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}
