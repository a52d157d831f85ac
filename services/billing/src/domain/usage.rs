//! Metered usage: the events recorded against a metric of a subscription,
//! and how a period's events make the one quantity its invoice rates (the
//! metric's aggregation).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::BillingError;
use super::subscription::Paused;

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

/// How a period's quantity is rated through its product's price breaks
/// (pricing's tiers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rating {
    /// All of it at the price of the break it reaches.
    Volume,
    /// Each part at the price of the tier it falls in.
    #[default]
    Graduated,
}

/// A metric a subscription meters, how a period's events make its
/// quantity, and the product whose price rates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metered {
    pub metric: String,
    pub aggregation: Aggregation,
    /// Pricing's id of the product whose price and quantity breaks rate
    /// the metric; empty for one metered before usage was billed (counted,
    /// never billed).
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub rating: Rating,
}

impl Metered {
    /// Whether its usage is billed (it names a product to rate it by).
    pub fn billed(&self) -> bool {
        !self.product.is_empty()
    }
}

/// A tier a period's usage was rated in, as pricing rated it: the part of
/// the quantity from `from` up to, not including, `to` (none: the last
/// tier), at `unit_price`; `amount` is quantity × unit price rounded half
/// away from zero to the currency's minor unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTier {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

/// A metric's usage over a period as rated: its quantity, its amount (the
/// tiers' amounts added up; zero for no usage) and its tiers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rated {
    pub quantity: Decimal,
    pub amount: Decimal,
    pub unit_price: Decimal,
    pub tiers: Vec<UsageTier>,
}

/// The days a subscription records usage for: from its first period's
/// start up to, not including, the first day it is cancelled or paused
/// (none: open-ended), but the days of a pause it was resumed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageWindow {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub pauses: Vec<Paused>,
}

impl UsageWindow {
    pub fn admits(&self, day: NaiveDate) -> bool {
        self.from <= day
            && self.until.is_none_or(|until| day < until)
            && !self.pauses.iter().any(|paused| paused.from <= day && day < paused.until)
    }

    /// The days it records usage for, as a refusal names them.
    pub fn describe(&self) -> String {
        let until = self.until.map(|until| format!(" up to {until}")).unwrap_or_default();
        let pauses: Vec<String> =
            self.pauses.iter().map(|paused| format!("{} to {}", paused.from, paused.until)).collect();
        match pauses.is_empty() {
            true => format!("from {}{until}", self.from),
            false => format!("from {}{until}, but the days paused ({})", self.from, pauses.join(", ")),
        }
    }
}

/// The subscription an event addressed to `account` goes to, among the
/// account's active subscriptions and what each meters: the one metering
/// `metric` (FAILED_PRECONDITION METRIC_NOT_METERED when none does,
/// METRIC_AMBIGUOUS when several do).
pub fn metering_subscription<'a>(
    account: uuid::Uuid,
    metric: &str,
    subscriptions: impl IntoIterator<Item = (uuid::Uuid, &'a [Metered])>,
) -> Result<uuid::Uuid, BillingError> {
    let mut found = subscriptions
        .into_iter()
        .filter(|(_, metered)| metered.iter().any(|metered| metered.metric == metric))
        .map(|(id, _)| id);
    match (found.next(), found.next()) {
        (Some(id), None) => Ok(id),
        (None, _) => Err(BillingError::precondition(
            "METRIC_NOT_METERED",
            format!("account {account} has no active subscription metering {metric:?}"),
        )),
        (Some(_), Some(_)) => Err(BillingError::precondition(
            "METRIC_AMBIGUOUS",
            format!("account {account} has several active subscriptions metering {metric:?}: name the subscription"),
        )),
    }
}

/// The reference a subscription's usage is reserved by credit and
/// invoiced under.
pub fn usage_reference(subscription_id: uuid::Uuid) -> String {
    format!("{USAGE_PREFIX}{subscription_id}")
}

/// The subscription a usage reference names; none for another reference.
pub fn usage_of(reference: &str) -> Option<uuid::Uuid> {
    reference.strip_prefix(USAGE_PREFIX)?.parse().ok()
}

const USAGE_PREFIX: &str = "usage:";

/// The first instant of a UTC day: a period's events are those from its
/// first day's midnight up to, not including, its end's.
pub fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The invoice line text of a metric's usage from `from` up to, not
/// including, `to`.
pub fn usage_line(metric: &str, (from, to): (NaiveDate, NaiveDate), quantity: Decimal) -> String {
    let last = to.pred_opt().unwrap_or(to);
    format!("{metric} usage {from} to {last}: {}", quantity.normalize())
}

/// How every line billing a metric's usage of the period from `from`
/// begins (the period's line and its adjustments).
pub fn usage_lines_of(metric: &str, from: NaiveDate) -> String {
    format!("{metric} usage {from} to ")
}

/// The adjustment line of a closed period whose late events moved its
/// quantity from `billed` to `now`: what it charges is what the period
/// rates now beyond what it was billed. A line never charges below zero:
/// a lower rating now (a LAST metric's later event, or a volume break
/// reached) charges 0.00, shown with the new quantity, and what it was
/// billed beyond its rating is given back by a credit note on the
/// invoices that billed it. None when nothing moved.
pub fn adjustment(
    metric: &str,
    period: (NaiveDate, NaiveDate),
    billed: &Rated,
    now: &Rated,
) -> Option<(String, Decimal, Decimal)> {
    if billed.quantity == now.quantity && billed.amount >= now.amount {
        return None;
    }
    let last = period.1.pred_opt().unwrap_or(period.1);
    let text = format!(
        "{metric} usage {} to {last}, late events: {} (billed {})",
        period.0,
        now.quantity.normalize(),
        billed.quantity.normalize()
    );
    Some((text, now.quantity - billed.quantity, (now.amount - billed.amount).max(Decimal::ZERO)))
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
    fn late_events_adjust_a_closed_period_by_the_difference_of_its_amounts() {
        let period = ("2026-11-01".parse().expect("day"), "2026-12-01".parse().expect("day"));
        let rated = |quantity, amount| Rated { quantity, amount, ..Rated::default() };
        let billed = rated(dec!(12500), dec!(945.00));
        assert_eq!(adjustment("api_calls", period, &billed, &billed.clone()), None, "nothing moved");
        let (text, quantity, amount) =
            adjustment("api_calls", period, &billed, &rated(dec!(13100), dec!(975.00))).expect("moved");
        assert_eq!(text, "api_calls usage 2026-11-01 to 2026-11-30, late events: 13100 (billed 12500)");
        assert_eq!((quantity, amount), (dec!(600), dec!(30.00)));
        // A volume break reached by late events would charge less for
        // more: the period is never billed below what it was.
        let (_, quantity, amount) =
            adjustment("gb", period, &rated(dec!(999), dec!(99.90)), &rated(dec!(1000), dec!(80.00))).expect("moved");
        assert_eq!((quantity, amount), (dec!(1), dec!(0)));
        assert_eq!(usage_line("gb", period, dec!(12.50)), "gb usage 2026-11-01 to 2026-11-30: 12.5");
    }

    #[test]
    fn usage_counts_from_the_first_period_until_a_pause_or_cancellation() {
        let day = |text: &str| -> NaiveDate { text.parse().expect("day") };
        let open = UsageWindow { from: day("2026-11-05"), until: None, pauses: Vec::new() };
        assert!(!open.admits(day("2026-11-04")) && open.admits(day("2026-11-05")) && open.admits(day("2030-01-01")));
        assert_eq!(open.describe(), "from 2026-11-05");
        // Resumed on the 25th from a pause on the 20th: not those days.
        let resumed =
            UsageWindow { pauses: vec![Paused { from: day("2026-11-20"), until: day("2026-11-25") }], ..open.clone() };
        assert!(resumed.admits(day("2026-11-19")) && resumed.admits(day("2026-11-25")));
        assert!(!resumed.admits(day("2026-11-20")) && !resumed.admits(day("2026-11-24")));
        assert_eq!(resumed.describe(), "from 2026-11-05, but the days paused (2026-11-20 to 2026-11-25)");
        let paused = UsageWindow { until: Some(day("2026-11-20")), ..open };
        assert!(paused.admits(day("2026-11-19")) && !paused.admits(day("2026-11-20")));
        assert_eq!(paused.describe(), "from 2026-11-05 up to 2026-11-20");
    }

    #[test]
    fn an_event_addressed_to_an_account_goes_to_its_one_subscription_metering_the_metric() {
        let meters = |metrics: &[&str]| -> Vec<Metered> {
            let metered = |metric: &&str| Metered {
                metric: (*metric).to_owned(),
                aggregation: Aggregation::Sum,
                product: "p".to_owned(),
                rating: Rating::default(),
            };
            metrics.iter().map(metered).collect()
        };
        let (account, first, second) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2), uuid::Uuid::from_u128(3));
        let (calls, storage) = (meters(&["calls"]), meters(&["storage", "calls"]));
        let reason = |result: Result<uuid::Uuid, BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused, not {other:?}"),
        };
        let one = [(first, calls.as_slice())];
        assert_eq!(metering_subscription(account, "calls", one).expect("found"), first);
        let both = [(first, calls.as_slice()), (second, storage.as_slice())];
        assert_eq!(metering_subscription(account, "storage", both).expect("found"), second);
        assert_eq!(reason(metering_subscription(account, "calls", both)), "METRIC_AMBIGUOUS");
        assert_eq!(reason(metering_subscription(account, "seats", both)), "METRIC_NOT_METERED");
        assert_eq!(reason(metering_subscription(account, "calls", [])), "METRIC_NOT_METERED");
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
