//! Metered usage: the events recorded against a metric of a subscription,
//! and how a period's events make the one quantity its invoice rates (the
//! metric's aggregation).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How a period's events make its quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Aggregation {
    /// The events' quantities added up (gigabytes transferred).
    Sum,
    /// How many events there were (API calls).
    Count,
    /// The largest quantity (peak seats).
    Max,
    /// How many distinct properties the events named (active users); an
    /// event naming none counts for none.
    UniqueCount,
    /// The quantity of the latest event (storage held at the period's
    /// end); of events at the same instant, the one with the greatest key.
    Last,
}

impl Aggregation {
    pub const ALL: [Aggregation; 5] =
        [Aggregation::Sum, Aggregation::Count, Aggregation::Max, Aggregation::UniqueCount, Aggregation::Last];

    /// The code an aggregation is stored by.
    pub fn code(self) -> &'static str {
        match self {
            Aggregation::Sum => "SUM",
            Aggregation::Count => "COUNT",
            Aggregation::Max => "MAX",
            Aggregation::UniqueCount => "UNIQUE_COUNT",
            Aggregation::Last => "LAST",
        }
    }

    pub fn from_code(code: &str) -> Option<Aggregation> {
        Aggregation::ALL.into_iter().find(|aggregation| aggregation.code() == code)
    }

    /// The quantity of a period's events, in any order; zero without any.
    pub fn aggregate<'a>(self, events: impl IntoIterator<Item = &'a UsageEvent>) -> Decimal {
        let mut events = events.into_iter();
        match self {
            Aggregation::Sum => events.map(|event| event.quantity).sum(),
            Aggregation::Count => Decimal::from(events.count()),
            Aggregation::Max => events.map(|event| event.quantity).max().unwrap_or(Decimal::ZERO),
            Aggregation::UniqueCount => {
                let properties: std::collections::BTreeSet<&str> =
                    events.map(|event| event.property.as_str()).filter(|property| !property.is_empty()).collect();
                Decimal::from(properties.len())
            }
            Aggregation::Last => events
                .try_fold(None::<&UsageEvent>, |latest, event| {
                    Some(Some(match latest {
                        Some(latest) if (latest.at, &latest.key) >= (event.at, &event.key) => latest,
                        _ => event,
                    }))
                })
                .flatten()
                .map_or(Decimal::ZERO, |event| event.quantity),
        }
    }
}

/// A metric a subscription meters, and how a period's events make its
/// quantity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metered {
    pub metric: String,
    pub aggregation: Aggregation,
}

/// Refused (the rule said) unless `code` is a metric's code: 1 to 64
/// characters, lowercase ASCII letters, digits, `_`, `-` or `.`.
pub fn check_metric(code: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.');
    if code.is_empty() || code.len() > 64 || !code.chars().all(allowed) {
        return Err("must be 1 to 64 characters: lowercase letters, digits, '_', '-' or '.'");
    }
    Ok(())
}

/// One usage event as a period's aggregation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageEvent {
    /// The caller's key of the event, unique per subscription and metric
    /// (storing events keeps one per key, so a retried event is counted
    /// once; the aggregation reads what is stored).
    pub key: String,
    /// How much was used (zero or more; ingestion refuses less).
    pub quantity: Decimal,
    /// When it was used: which period it belongs to.
    pub at: DateTime<Utc>,
    /// What UNIQUE_COUNT counts once (a user, a device); may be empty.
    pub property: String,
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn event(key: &str, quantity: Decimal, second: i64, property: &str) -> UsageEvent {
        UsageEvent {
            key: key.to_owned(),
            quantity,
            at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(second),
            property: property.to_owned(),
        }
    }

    #[test]
    fn each_aggregation_makes_the_periods_quantity() {
        let events =
            [event("a", dec!(2.5), 10, "alice"), event("b", dec!(7), 30, "bob"), event("c", dec!(1.25), 20, "alice")];
        assert_eq!(Aggregation::Sum.aggregate(&events), dec!(10.75));
        assert_eq!(Aggregation::Count.aggregate(&events), dec!(3));
        assert_eq!(Aggregation::Max.aggregate(&events), dec!(7));
        assert_eq!(Aggregation::UniqueCount.aggregate(&events), dec!(2));
        let anonymous = [event("d", dec!(1), 40, ""), event("e", dec!(1), 50, "")];
        assert_eq!(Aggregation::UniqueCount.aggregate(&anonymous), Decimal::ZERO, "no property, nobody counted");
        assert_eq!(Aggregation::Last.aggregate(&events), dec!(7), "the latest, whatever the order given");
        for aggregation in Aggregation::ALL {
            assert_eq!(aggregation.aggregate(&[]), Decimal::ZERO, "{aggregation:?} of nothing");
            assert_eq!(Aggregation::from_code(aggregation.code()), Some(aggregation));
        }
    }

    #[test]
    fn a_metric_is_named_by_a_short_lowercase_code() {
        assert!(check_metric("api_calls").is_ok());
        assert!(check_metric("storage.gb-hours").is_ok());
        for bad in ["", "API", "api calls", "é", &"x".repeat(65)] {
            assert!(check_metric(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn of_events_at_the_same_instant_the_last_is_the_one_with_the_greatest_key() {
        let events = [event("k2", dec!(5), 10, ""), event("k9", dec!(3), 10, ""), event("k1", dec!(8), 10, "")];
        assert_eq!(Aggregation::Last.aggregate(&events), dec!(3));
        let reversed: Vec<UsageEvent> = events.iter().rev().cloned().collect();
        assert_eq!(Aggregation::Last.aggregate(&reversed), dec!(3), "the order given does not matter");
    }
}
