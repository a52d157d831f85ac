//! Changes to a running subscription: its product (an upgrade or a
//! downgrade) or its quantity, now or from the start of its next period,
//! and the history that lists them with its creation and cancellation.
//!
//! A change now on day D splits the period running on D: the old terms
//! are owed for the days before D, the new ones from D to the period's end
//! ([`Covers::cut`]). What was charged for the old terms' days from D is
//! taken back (a charge not invoiced yet is cut, one on a posted invoice
//! gets a credit note), and the new terms are charged for the same days,
//! each prorated by the day against the whole period ([`prorate`]), so no
//! day is billed twice or left out. Credit authorizes the difference
//! ([`difference`]) like an activation.

use bss_platform::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::cycle::{Span, prorate};
use super::error::BillingError;
use super::order::CreditReason;
use super::subscription::{Subscription, SubscriptionState};

/// What a subscription charge covers: its days from `from` up to, not
/// including, `to`, of a period of `whole_days` days whose whole price is
/// `whole_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Covers {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub whole_days: i64,
    pub whole_total: Decimal,
}

/// A charge's days split on a day: the days before it (used) and from it
/// (unused), and what each costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub used_days: i64,
    pub unused_days: i64,
    pub whole_days: i64,
    /// The used days' share of the whole price (zero when none was used).
    pub used: Decimal,
    /// The unused days' share; all that was charged when no day was used.
    pub unused: Decimal,
}

impl Covers {
    /// A whole span of a period (or a part period), at `whole_total`.
    pub fn span(span: &Span, whole_total: Decimal) -> Covers {
        Covers { from: span.start, to: span.end, whole_days: span.whole_days, whole_total }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days()
    }

    /// Whether a charge of these days bills a line: a period cut to no
    /// days (resumed and cancelled the same day) is counted charged and
    /// bills none.
    pub fn bills_a_line(&self) -> bool {
        self.days() > 0
    }

    /// The days from `from` (one of its days, or before them) to its end.
    pub fn from_day(&self, from: NaiveDate) -> Covers {
        Covers { from: from.clamp(self.from, self.to), ..*self }
    }

    /// What its days from `from` on cost (prorated by the day).
    pub fn amount(&self, currency: Currency) -> Decimal {
        prorate(self.whole_total, self.days(), self.whole_days, currency)
    }

    /// Its days split on `on`, of a charge of `charged`: none when none of
    /// its days is on `on` or later (nothing to take back). The used days
    /// cost their share of the whole price (prorated, half away from zero
    /// at the currency's minor unit), the unused ones the rest of what was
    /// charged, so the two add up to it to the cent; a charge none of whose
    /// days was used is taken back whole.
    pub fn cut(&self, on: NaiveDate, charged: Decimal, currency: Currency) -> Option<Cut> {
        let used_days = (on.clamp(self.from, self.to) - self.from).num_days();
        let unused_days = self.days() - used_days;
        if unused_days <= 0 {
            return None;
        }
        let used = match used_days {
            0 => currency.round(Decimal::ZERO),
            _ => prorate(self.whole_total, used_days, self.whole_days, currency).min(charged),
        };
        let unused = charged - used;
        Some(Cut { used_days, unused_days, whole_days: self.whole_days, used, unused })
    }
}

/// What credit is asked to authorize for a change on `on` in `period`
/// (from `old` to `new`, each a whole period's price): the new terms'
/// amount for the days from `on` to the period's end less the old terms'
/// for the same days; zero or less for a downgrade (nothing to authorize).
pub fn difference(period: &Span, on: NaiveDate, (old, new): (Decimal, Decimal), currency: Currency) -> Decimal {
    let change = super::cycle::change(period, on, old, new, currency);
    change.charge - change.credit
}

/// What a subscription is sold at: its product, quantity and a whole
/// period's price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Terms {
    /// The product as the caller named it (id or code).
    pub product: String,
    /// Pricing's id of the product.
    pub product_id: String,
    /// The invoice line's description ("<product> subscription").
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// A whole period's price.
    pub total: Decimal,
    pub price_rule: String,
    pub price_source_id: String,
}

/// What an entry of a subscription's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    Created,
    /// Another product, at a higher (or the same) period price.
    Upgrade,
    /// Another product, at a lower period price.
    Downgrade,
    /// The same product, another quantity.
    Quantity,
    Cancelled,
    Paused,
    Resumed,
}

impl ChangeKind {
    /// The kind of a change from `from` to `to`.
    pub fn of(from: &Terms, to: &Terms) -> ChangeKind {
        match (from.product_id == to.product_id, to.total >= from.total) {
            (true, _) => ChangeKind::Quantity,
            (false, true) => ChangeKind::Upgrade,
            (false, false) => ChangeKind::Downgrade,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::Created => "CREATED",
            ChangeKind::Upgrade => "UPGRADE",
            ChangeKind::Downgrade => "DOWNGRADE",
            ChangeKind::Quantity => "QUANTITY",
            ChangeKind::Cancelled => "CANCELLED",
            ChangeKind::Paused => "PAUSED",
            ChangeKind::Resumed => "RESUMED",
        }
    }
}

/// Where a history entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeStatus {
    /// Done (from its effective day).
    Applied,
    /// Takes effect on its day (the next period's first).
    Scheduled,
    /// Held by credit: applied on the day credit approves it.
    PendingApproval,
    /// Refused by credit (or its held order rejected or expired).
    Rejected,
    /// Replaced by a later change, or dropped by a cancellation, before
    /// its day.
    Superseded,
}

impl ChangeStatus {
    pub fn code(self) -> &'static str {
        match self {
            ChangeStatus::Applied => "APPLIED",
            ChangeStatus::Scheduled => "SCHEDULED",
            ChangeStatus::PendingApproval => "PENDING_APPROVAL",
            ChangeStatus::Rejected => "REJECTED",
            ChangeStatus::Superseded => "SUPERSEDED",
        }
    }
}

/// An entry of a subscription's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionChange {
    pub id: Uuid,
    pub subscription_id: Uuid,
    /// The subscription's account.
    pub account_id: Uuid,
    pub kind: ChangeKind,
    pub status: ChangeStatus,
    /// Asked for the next period's start rather than now.
    pub at_period_end: bool,
    /// The first day of the new terms (a cancellation's: the first day not
    /// charged).
    pub effective_on: NaiveDate,
    /// The terms before (none for a creation).
    pub from: Option<Terms>,
    /// The terms after (none for a cancellation).
    pub to: Option<Terms>,
    /// What the old terms' days from the effective day were credited
    /// (credit notes, and charges not invoiced yet cut).
    pub credited: Decimal,
    /// What the new terms were charged for those days.
    pub charged: Decimal,
    /// What credit authorized: the difference, when above zero.
    pub authorized: Decimal,
    /// The reference credit knows the change by (empty when it asked
    /// credit nothing).
    pub reference: String,
    /// Credit's reasons: why it was held or refused, its warnings.
    pub reasons: Vec<CreditReason>,
    pub held_order_id: Option<Uuid>,
    /// Who asked for it.
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

impl Subscription {
    /// Refused (FAILED_PRECONDITION naming the rule) unless it may be
    /// changed: active, with no cancellation set.
    pub fn check_changeable(&self) -> Result<(), BillingError> {
        let refused = |reason: &'static str, why: String| BillingError::precondition(reason, why);
        match (self.state, self.cancel_date) {
            (SubscriptionState::Active, None) => Ok(()),
            // Ending with its fixed term, it is still changed within it.
            (SubscriptionState::Active, Some(on)) if Some(on) == self.fixed_end() => Ok(()),
            (SubscriptionState::Active | SubscriptionState::Cancelled, Some(on)) => Err(refused(
                "SUBSCRIPTION_CANCELLED",
                format!("subscription {} is cancelled from {on}: it is not changed", self.id),
            )),
            (SubscriptionState::Cancelled, None) => {
                Err(refused("SUBSCRIPTION_CANCELLED", format!("subscription {} is cancelled", self.id)))
            }
            (SubscriptionState::PendingApproval, _) => Err(refused(
                "SUBSCRIPTION_PENDING_APPROVAL",
                format!("subscription {} waits for credit's approval: it is changed once active", self.id),
            )),
            (SubscriptionState::Rejected, _) => Err(refused(
                "SUBSCRIPTION_REJECTED",
                format!("subscription {} was refused by credit: it was never charged", self.id),
            )),
            (SubscriptionState::Paused, _) => {
                Err(refused("SUBSCRIPTION_PAUSED", format!("subscription {} is paused: resume it first", self.id)))
            }
        }
    }

    /// The day a change asked on `today` takes effect and the period it
    /// falls in (its index and span): today (or the start, for one not
    /// started yet) in the period running then, or with `at_period_end`
    /// the next period's first day, with that period. Refused
    /// (SUBSCRIPTION_TERM_ENDS) when that day is not before the day its
    /// fixed term ends it: asked in the term's last period, a change at
    /// its end would be for a period that never comes.
    pub fn change_day(&self, today: NaiveDate, at_period_end: bool) -> Result<(NaiveDate, u32, Span), BillingError> {
        let out_of_range =
            || BillingError::precondition("PERIOD_OUT_OF_RANGE", "the subscription's period is past the last date");
        let schedule = self.schedule().ok_or_else(out_of_range)?;
        let on = today.max(schedule.start);
        let (index, running) = schedule.period_on(on).ok_or_else(out_of_range)?;
        let (on, index, period) = match at_period_end {
            false => (on, index, running),
            true => {
                let next_index = index.checked_add(1).ok_or_else(out_of_range)?;
                let next = schedule.period(next_index).ok_or_else(out_of_range)?;
                (next.start, next_index, next)
            }
        };
        match self.cancel_date {
            Some(end) if on >= end => Err(BillingError::precondition(
                "SUBSCRIPTION_TERM_ENDS",
                format!("subscription {} ends with its fixed term on {end}: a change from {on} is past it", self.id),
            )),
            _ => Ok((on, index, period)),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::domain::cycle::{AnchorDay, Cycle, Schedule, Timing};

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    #[test]
    fn a_period_cut_to_no_days_bills_no_line() {
        let covers = Covers { from: day("2026-03-10"), to: day("2026-03-10"), whole_days: 31, whole_total: dec!(31) };
        assert!(!covers.bills_a_line());
        assert!(Covers { to: day("2026-03-11"), ..covers }.bills_a_line());
    }

    fn terms(product_id: &str, quantity: Decimal, total: Decimal) -> Terms {
        Terms {
            product: product_id.to_owned(),
            product_id: product_id.to_owned(),
            description: format!("{product_id} subscription"),
            quantity,
            unit_price: total / quantity,
            total,
            price_rule: String::new(),
            price_source_id: String::new(),
        }
    }

    #[test]
    fn a_cut_splits_the_days_and_prices_each_part_from_the_whole() {
        // April (30 days) at 30.00, cut on 11 April: 10 days used, 20 not.
        let april = Covers { from: day("2026-04-01"), to: day("2026-05-01"), whole_days: 30, whole_total: dec!(30.00) };
        let cut = april.cut(day("2026-04-11"), dec!(30.00), eur()).expect("cut");
        assert_eq!(cut, Cut { used_days: 10, unused_days: 20, whole_days: 30, used: dec!(10.00), unused: dec!(20.00) });
        // Cut on its first day (or before): taken back whole, as charged.
        let whole = april.cut(day("2026-03-20"), dec!(29.99), eur()).expect("cut");
        assert_eq!((whole.used, whole.unused, whole.unused_days), (dec!(0.00), dec!(29.99), 30));
        // Cut on its end or later: nothing to take back.
        assert_eq!(april.cut(day("2026-05-01"), dec!(30.00), eur()), None);
        // A part period (20 of April's days from the 11th, at 45.00 a
        // month) cut on the 21st: 10 and 10 of 30 days, 15.00 each.
        let part = april.from_day(day("2026-04-11"));
        let part = Covers { whole_total: dec!(45.00), ..part };
        assert_eq!(part.amount(eur()), dec!(30.00));
        let cut = part.cut(day("2026-04-21"), dec!(30.00), eur()).expect("cut");
        assert_eq!((cut.used_days, cut.unused_days, cut.used, cut.unused), (10, 10, dec!(15.00), dec!(15.00)));
        // 10.00 a month over 31 days, cut after 1 day: 0.32 and 9.68.
        let may = Covers { from: day("2026-05-01"), to: day("2026-06-01"), whole_days: 31, whole_total: dec!(10.00) };
        let cut = may.cut(day("2026-05-02"), dec!(10.00), eur()).expect("cut");
        assert_eq!((cut.used, cut.unused), (dec!(0.32), dec!(9.68)), "0.3225... and the rest");
        // The two parts add up to what was charged, to the cent: 9.99 over
        // 30 days cut on the 16th is 15 days each, 5.00 (4.995) and 4.99.
        let odd = Covers { from: day("2026-04-01"), to: day("2026-05-01"), whole_days: 30, whole_total: dec!(9.99) };
        let cut = odd.cut(day("2026-04-16"), dec!(9.99), eur()).expect("cut");
        assert_eq!((cut.used, cut.unused), (dec!(5.00), dec!(4.99)));
    }

    #[test]
    fn credit_is_asked_for_the_difference_over_the_days_left() {
        let april = Schedule::from_start(Cycle::Monthly, day("2026-04-01")).period(0).expect("period");
        // 30.00 to 45.00 on 11 April: 30.00 for 20 days less 20.00.
        assert_eq!(difference(&april, day("2026-04-11"), (dec!(30.00), dec!(45.00)), eur()), dec!(10.00));
        assert_eq!(difference(&april, day("2026-04-11"), (dec!(45.00), dec!(30.00)), eur()), dec!(-10.00));
        assert_eq!(difference(&april, day("2026-04-01"), (dec!(30.00), dec!(45.00)), eur()), dec!(15.00));
    }

    #[test]
    fn a_change_is_an_upgrade_a_downgrade_or_of_quantity() {
        let basic = terms("basic", dec!(1), dec!(30.00));
        assert_eq!(ChangeKind::of(&basic, &terms("pro", dec!(1), dec!(45.00))), ChangeKind::Upgrade);
        assert_eq!(ChangeKind::of(&basic, &terms("lite", dec!(1), dec!(10.00))), ChangeKind::Downgrade);
        assert_eq!(ChangeKind::of(&basic, &terms("basic", dec!(3), dec!(90.00))), ChangeKind::Quantity);
        assert_eq!(ChangeKind::of(&basic, &terms("basic", dec!(1), dec!(20.00))), ChangeKind::Quantity);
    }

    fn subscription(state: SubscriptionState, start: Option<NaiveDate>) -> Subscription {
        Subscription {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            product: "basic".to_owned(),
            quantity: dec!(1),
            payment_type: bss_platform::payment::PaymentType::OnAccount,
            currency: "EUR".to_owned(),
            unit_price: dec!(30.00),
            paid: true,
            state,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            cancel_date: None,
            reasons: vec![],
            payers: vec![],
            reference: "subscription:s-1".to_owned(),
            held_order_id: None,
            cycle: Cycle::Quarterly,
            anchor: Some(AnchorDay::new(1).expect("anchor")),
            timing: Timing::Advance,
            start_date: start,
            trial: None,
            term: None,
            paused_on: None,
            pauses: Vec::new(),
            metered: Vec::new(),
        }
    }

    #[test]
    fn only_an_active_subscription_without_a_cancellation_is_changed() {
        let reason = |result: Result<(), BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        };
        let start = Some(day("2026-11-15"));
        assert!(subscription(SubscriptionState::Active, start).check_changeable().is_ok());
        let ending =
            Subscription { cancel_date: Some(day("2027-01-01")), ..subscription(SubscriptionState::Active, start) };
        assert_eq!(reason(ending.check_changeable()), "SUBSCRIPTION_CANCELLED");
        assert_eq!(
            reason(subscription(SubscriptionState::Cancelled, start).check_changeable()),
            "SUBSCRIPTION_CANCELLED"
        );
        let held = subscription(SubscriptionState::PendingApproval, None);
        assert_eq!(reason(held.check_changeable()), "SUBSCRIPTION_PENDING_APPROVAL");
        assert_eq!(reason(subscription(SubscriptionState::Rejected, None).check_changeable()), "SUBSCRIPTION_REJECTED");
    }

    #[test]
    fn a_change_takes_effect_today_or_at_the_next_periods_start() {
        // Quarterly on the 1st from 15 November: a part period to 1
        // December, then quarters.
        let running = subscription(SubscriptionState::Active, Some(day("2026-11-15")));
        let (on, index, period) = running.change_day(day("2026-12-04"), false).expect("day");
        assert_eq!((on, index, period.start, period.end), (day("2026-12-04"), 1, day("2026-12-01"), day("2027-03-01")));
        let (on, index, period) = running.change_day(day("2026-12-04"), true).expect("day");
        assert_eq!((on, index, period.start, period.end), (day("2027-03-01"), 2, day("2027-03-01"), day("2027-06-01")));
        let (on, index, period) = running.change_day(day("2026-11-20"), true).expect("day");
        assert_eq!((on, index, period.start), (day("2026-12-01"), 1, day("2026-12-01")), "after the part period");
        // Not started yet: from its start.
        let waiting = subscription(SubscriptionState::Active, Some(day("2027-01-10")));
        let (on, index, period) = waiting.change_day(day("2026-12-04"), false).expect("day");
        assert_eq!((on, index, period.start, period.end), (day("2027-01-10"), 0, day("2027-01-10"), day("2027-02-01")));
    }

    #[test]
    fn a_change_at_the_end_of_a_fixed_terms_last_period_is_refused() {
        // Quarterly on the 1st from 15 November, a term of 2 quarters that
        // does not renew: the part period, then December to June.
        let mut fixed = subscription(SubscriptionState::Active, None);
        fixed.term = Some(crate::domain::subscription::Term { periods: 2, auto_renew: false });
        fixed.start_on(day("2026-11-15"));
        assert_eq!(fixed.cancel_date, Some(day("2027-06-01")));
        assert!(fixed.check_changeable().is_ok(), "still changed within its term");
        // In the term's first quarter, at its end: the last quarter.
        let (on, index, _) = fixed.change_day(day("2027-02-10"), true).expect("day");
        assert_eq!((on, index), (day("2027-03-01"), 2));
        // In its last quarter: now, yes; at its end, no quarter follows.
        let (on, _, _) = fixed.change_day(day("2027-04-10"), false).expect("day");
        assert_eq!(on, day("2027-04-10"));
        match fixed.change_day(day("2027-04-10"), true) {
            Err(BillingError::Precondition { reason, .. }) => assert_eq!(reason, "SUBSCRIPTION_TERM_ENDS"),
            other => panic!("refused, not {other:?}"),
        }
        // Renewing, the next term's first quarter follows.
        fixed.term = Some(crate::domain::subscription::Term { periods: 2, auto_renew: true });
        fixed.cancel_date = None;
        let (on, index, _) = fixed.change_day(day("2027-04-10"), true).expect("day");
        assert_eq!((on, index), (day("2027-06-01"), 3));
    }
}
