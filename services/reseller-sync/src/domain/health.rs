//! The sync's health as its books tell it: where each stream stands, how
//! far behind its source it runs, and the events set aside.

use chrono::{DateTime, Utc};

/// Where the sync stands on one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamState {
    pub stream: String,
    /// The sequence of the last event applied (0 before any).
    pub position: i64,
    /// When the last applied event happened at its source.
    pub last_event_at: Option<DateTime<Utc>>,
    /// When it was applied.
    pub applied_at: Option<DateTime<Utc>>,
}

impl StreamState {
    /// How far behind its source the stream ran at its last event: from
    /// when that event happened to when it was applied, in milliseconds;
    /// 0 before any event, and never less (the clocks of two machines).
    pub fn lag_millis(&self) -> i64 {
        match (self.last_event_at, self.applied_at) {
            (Some(occurred), Some(applied)) => (applied - occurred).num_milliseconds().max(0),
            _ => 0,
        }
    }
}

/// An event set aside: it failed in a way a retry of the consumer would
/// not mend, and waits for an operator's retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub stream: String,
    pub sequence: i64,
    pub error: String,
    pub attempts: i32,
    /// When it last failed.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(occurred: Option<i64>, applied: Option<i64>) -> StreamState {
        let at = |millis: i64| DateTime::from_timestamp_millis(1_700_000_000_000 + millis).expect("time");
        StreamState {
            stream: "accounts".to_owned(),
            position: 7,
            last_event_at: occurred.map(at),
            applied_at: applied.map(at),
        }
    }

    #[test]
    fn the_lag_runs_from_when_the_event_happened_to_when_it_was_applied() {
        assert_eq!(state(Some(0), Some(1_250)).lag_millis(), 1_250);
        assert_eq!(state(Some(0), Some(0)).lag_millis(), 0);
    }

    #[test]
    fn no_event_yet_or_a_clock_behind_is_no_lag() {
        assert_eq!(state(None, None).lag_millis(), 0);
        assert_eq!(state(Some(0), None).lag_millis(), 0);
        assert_eq!(state(None, Some(5)).lag_millis(), 0);
        assert_eq!(state(Some(500), Some(0)).lag_millis(), 0);
    }
}
