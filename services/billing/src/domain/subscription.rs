//! A subscription as billing keeps it (in its own terms, not the wire
//! message), where it stands, and the rules of its life: what credit's
//! verdict on its activation makes of it, and when it may be cancelled.

use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::change::Covers;
use super::cycle::{AnchorDay, Cycle, Schedule, Span, Timing, prorate};
use super::error::BillingError;
use super::order::{Charge, CreditReason, OrderState, Payer, PricedBy, with_reservations};
use super::usage::Metered;

/// A subscription as billing keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Uuid,
    pub account_id: Uuid,
    /// The product as the caller named it (id or code).
    pub product: String,
    pub quantity: Decimal,
    #[serde(with = "super::order::payment_code")]
    pub payment_type: PaymentType,
    /// The currency of its price (pricing's quote).
    pub currency: String,
    /// The unit price, fixed when it was created.
    pub unit_price: Decimal,
    /// Whether it is charged for (a price above zero, not a running quote).
    pub paid: bool,
    pub state: SubscriptionState,
    pub created_at: DateTime<Utc>,
    pub cancel_date: Option<NaiveDate>,
    /// Why credit decided its activation as it did.
    pub reasons: Vec<CreditReason>,
    /// Who pays it, with the reservation credit made on each.
    pub payers: Vec<Payer>,
    /// The reference credit knows its activation by.
    pub reference: String,
    /// Credit's held order while (or since) its activation waited.
    pub held_order_id: Option<Uuid>,
    /// How often it is billed (monthly for one stored before cycles).
    #[serde(default)]
    pub cycle: Cycle,
    /// The day of the month its periods start on, its own or its
    /// account's when it was created; none: the day it starts.
    #[serde(default)]
    pub anchor: Option<AnchorDay>,
    /// When its periods are billed (in advance for one stored before).
    #[serde(default)]
    pub timing: Timing,
    /// The day its first period started (none: not started, or stored
    /// before it was kept here); with a trial, the day after the trial.
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    /// A trial before its first period.
    #[serde(default)]
    pub trial: Option<Trial>,
    /// A fixed term (none: evergreen).
    #[serde(default)]
    pub term: Option<Term>,
    /// The day it was paused, while it is.
    #[serde(default)]
    pub paused_on: Option<NaiveDate>,
    /// The days it was paused and then resumed, oldest first: it records
    /// no usage for them.
    #[serde(default)]
    pub pauses: Vec<Paused>,
    /// The metrics it meters.
    #[serde(default)]
    pub metered: Vec<Metered>,
}

/// A trial before a subscription's first period: its days, free or at a
/// price for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trial {
    pub days: u32,
    /// The price of all its days (none: free).
    pub price: Option<Decimal>,
}

impl Trial {
    /// Its price (zero when free).
    pub fn price(&self) -> Decimal {
        self.price.unwrap_or_default()
    }
}

/// Days a subscription was paused: from the day it was paused up to, not
/// including, the day it was resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    pub from: NaiveDate,
    pub until: NaiveDate,
}

/// A fixed term of a subscription: its periods, and whether it renews for
/// as many at its end (else the subscription ends with it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Term {
    pub periods: u32,
    pub auto_renew: bool,
}

/// Where a subscription stands; stored by [`SubscriptionState::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionState {
    Active,
    Cancelled,
    PendingApproval,
    Rejected,
    Paused,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 5] = [
        SubscriptionState::Active,
        SubscriptionState::Cancelled,
        SubscriptionState::PendingApproval,
        SubscriptionState::Rejected,
        SubscriptionState::Paused,
    ];

    /// The code billing stores the state by (its `status` column).
    pub fn code(self) -> &'static str {
        match self {
            SubscriptionState::Active => "ACTIVE",
            SubscriptionState::Cancelled => "CANCELLED",
            SubscriptionState::PendingApproval => "PENDING_APPROVAL",
            SubscriptionState::Rejected => "REJECTED",
            SubscriptionState::Paused => "PAUSED",
        }
    }

    /// What credit's verdict on the activation makes of a subscription: an
    /// executed activation is active, a held one waits for approval,
    /// anything else is rejected.
    pub fn after(activation: OrderState) -> SubscriptionState {
        match activation {
            OrderState::Executed => SubscriptionState::Active,
            OrderState::HeldForApproval => SubscriptionState::PendingApproval,
            _ => SubscriptionState::Rejected,
        }
    }
}

impl Subscription {
    /// How its time is cut into periods, once started.
    pub fn schedule(&self) -> Option<Schedule> {
        let start = self.start_date?;
        Some(Schedule { cycle: self.cycle, anchor: self.anchor.unwrap_or(AnchorDay::of(start)), start })
    }

    /// The day its first period starts when it starts (with its trial) on
    /// `day`: after the trial, or that day.
    pub fn first_period_from(trial: Option<Trial>, day: NaiveDate) -> NaiveDate {
        trial.map_or(day, |trial| day + chrono::Days::new(u64::from(trial.days)))
    }

    /// Its trial's days (first, and first after), once started.
    pub fn trial_span(&self) -> Option<(NaiveDate, NaiveDate)> {
        let (trial, first) = (self.trial?, self.start_date?);
        Some((first - chrono::Days::new(u64::from(trial.days)), first))
    }

    /// The first day after its current term (the term of the period running
    /// on `today`, or of its first): none when evergreen or not started. A
    /// term counts whole periods: a part period up to the anchor first is
    /// in the first term, beside them.
    pub fn term_end(&self, today: NaiveDate) -> Option<NaiveDate> {
        let (term, schedule) = (self.term?, self.schedule()?);
        let first_whole = schedule.first_whole()?;
        let index = schedule.period_on(today).map_or(0, |(index, _)| index).saturating_sub(first_whole);
        let next_term = (index / term.periods).checked_add(1)?.checked_mul(term.periods)?;
        schedule.period(next_term.checked_add(first_whole)?).map(|span| span.start)
    }

    /// The day it ends with a fixed term that does not renew: its first
    /// term's end.
    pub fn fixed_end(&self) -> Option<NaiveDate> {
        let term = self.term.filter(|term| !term.auto_renew)?;
        let schedule = self.schedule()?;
        schedule.period(term.periods.checked_add(schedule.first_whole()?)?).map(|span| span.start)
    }

    /// Starts it on `day` (created or approved then): its first period
    /// after its trial, and a fixed term that does not renew ends it at the
    /// term's end.
    pub fn start_on(&mut self, day: NaiveDate) {
        self.start_date = Some(Subscription::first_period_from(self.trial, day));
        if let Some(end) = self.fixed_end() {
            self.cancel_date = Some(end);
        }
    }

    /// What its first period bills beyond what credit authorized for it
    /// (the payers' amounts), at `whole_total` a whole period: an
    /// activation held for approval starts on the day it is approved, and
    /// with an anchor off that day its first period is another part of a
    /// period than the one authorized when it was created. None when it
    /// bills no more (what it bills less is freed when its invoice
    /// captures the reservation), or uses no credit.
    pub fn first_period_beyond_authorized(&self, whole_total: Decimal) -> Option<Decimal> {
        if !self.payment_type.uses_credit() || self.payers.is_empty() {
            return None;
        }
        let first = self.schedule()?.period(0)?;
        let currency = Currency::parse(&self.currency).ok()?;
        let billed = prorate(whole_total, first.days(), first.whole_days, currency);
        // Credit authorized the trial's price with it.
        let trial = self.trial.map(|trial| trial.price()).unwrap_or_default();
        let authorized = self.payers.iter().map(|payer| payer.amount).sum::<Decimal>() - trial;
        (billed > authorized).then(|| billed - authorized)
    }

    /// The period running on `today`: none before it starts, once
    /// cancelled (or past the day a cancellation set for a period's end
    /// takes effect), or never active.
    pub fn current_period(&self, today: NaiveDate) -> Option<Span> {
        if self.state != SubscriptionState::Active || self.cancel_date.is_some_and(|on| on <= today) {
            return None;
        }
        self.schedule()?.period_on(today).map(|(_, span)| span)
    }

    /// Pauses it from `today`: refused unless it may be changed (active, no
    /// cancellation set but its fixed term's end) and started. Returns the
    /// period running today, with its index.
    pub fn pause(&mut self, today: NaiveDate) -> Result<(u32, Span), BillingError> {
        self.check_changeable()?;
        let running = self.schedule().and_then(|schedule| schedule.period_on(today)).ok_or_else(|| {
            BillingError::precondition(
                "SUBSCRIPTION_NOT_STARTED",
                format!("subscription {} has not started: cancel it, or pause it once it runs", self.id),
            )
        })?;
        self.state = SubscriptionState::Paused;
        self.paused_on = Some(today);
        Ok(running)
    }

    /// Resumes it from `today`: refused unless paused. Returns the period
    /// running today, with its index (owed from today on).
    pub fn resume(&mut self, today: NaiveDate) -> Result<(u32, Span), BillingError> {
        let running = self.schedule().and_then(|schedule| schedule.period_on(today));
        let (SubscriptionState::Paused, Some(running)) = (self.state, running) else {
            return Err(BillingError::precondition(
                "SUBSCRIPTION_NOT_PAUSED",
                format!("subscription {} is not paused", self.id),
            ));
        };
        self.state = SubscriptionState::Active;
        if let Some(from) = self.paused_on.take().filter(|from| *from < today) {
            self.pauses.push(Paused { from, until: today });
        }
        Ok(running)
    }

    /// Credit's decision on its held activation: approved activates it
    /// from `today` with the reservations credit made on its payers (in
    /// order), rejected or expired rejects it.
    pub fn decide(&mut self, approved: bool, reservations: &[Option<Uuid>], today: NaiveDate) {
        self.state = if approved { SubscriptionState::Active } else { SubscriptionState::Rejected };
        if approved {
            self.start_on(today);
        }
        with_reservations(&mut self.payers, reservations);
    }

    /// Cancels it from `today`, or with `at_period_end` from the first day
    /// after the period running today (it stays active, and is charged,
    /// until then; one not running yet is cancelled today). Refused when it
    /// was cancelled already (a cancellation set for a period's end may
    /// still be brought forward to today) or never activated (rejected by
    /// credit).
    pub fn cancel(&mut self, today: NaiveDate, at_period_end: bool) -> Result<(), BillingError> {
        let cancelled = |on: Option<NaiveDate>| {
            BillingError::precondition(
                "SUBSCRIPTION_CANCELLED",
                format!(
                    "subscription {} is cancelled from {}",
                    self.id,
                    on.map(|date| date.to_string()).unwrap_or_default()
                ),
            )
        };
        match (self.state, self.cancel_date) {
            (SubscriptionState::Cancelled, on) => Err(cancelled(on)),
            (SubscriptionState::Rejected, _) => Err(BillingError::precondition(
                "SUBSCRIPTION_REJECTED",
                format!("subscription {} was refused by credit: it was never charged", self.id),
            )),
            // Set for a period's end: once, and ended once its day came.
            (_, Some(on)) if at_period_end || on <= today => Err(cancelled(Some(on))),
            _ => {
                match self.current_period(today).filter(|_| at_period_end) {
                    Some(period) => self.cancel_date = Some(period.end),
                    None => {
                        self.state = SubscriptionState::Cancelled;
                        self.cancel_date = Some(today);
                    }
                }
                Ok(())
            }
        }
    }
}

/// A period of a subscription, and the product and quantity it sells.
pub type PeriodKey = (Uuid, i32, String, Decimal);

/// A subscription period due to be charged.
#[derive(Clone, Debug, PartialEq)]
pub struct DuePeriod {
    pub subscription_id: Uuid,
    pub account_id: Uuid,
    pub bill_to_account_id: Uuid,
    pub separate: bool,
    /// The reference credit knows the activation by (its reservation is
    /// of the first period).
    pub reference: String,
    /// How it is paid (`None`: a subscription stored before billing kept
    /// it in its own terms).
    pub payment_type: Option<PaymentType>,
    pub product_id: String,
    /// The subscription's description ("<product> subscription").
    pub description: String,
    pub currency: String,
    pub quantity: Decimal,
    /// The price of the latest charged period (at first: the activation's).
    pub unit_price: Decimal,
    pub total: Decimal,
    /// The rule that priced it, and the day.
    pub priced_by: PricedBy,
    /// Which period: 0 for the first.
    pub index: i32,
    /// Its first day.
    pub start: NaiveDate,
    /// The days it bills of the days of its whole period: all of them but
    /// for a part period up to the anchor, one cut short by a
    /// cancellation, or one changed before it was charged (its own terms
    /// billed from the change).
    pub days: (i64, i64),
    /// The first day it bills (its start, or a change's day) and the first
    /// it does not.
    pub billed: (NaiveDate, NaiveDate),
    /// When it is the first period of a renewed fixed term: the term's
    /// number (2 for the first renewal) and the first day after it.
    pub renews: Option<(u32, NaiveDate)>,
}

/// What a due period costs.
#[derive(Clone, Debug, PartialEq)]
pub enum PeriodPrice {
    /// The first period: the price credit authorized at activation.
    AsActivated,
    /// Pricing's price on the period's first day, and its rule.
    Quoted { unit_price: Decimal, total: Decimal, rule: String, source_id: String },
    /// Pricing refused to price it (the product is gone, or sold only under
    /// a contract the account no longer has, ...): the previous price is
    /// kept, with pricing's reason, rather than charging nothing.
    Refused { reason: String },
}

impl DuePeriod {
    /// Which period of which subscription it is, with what it sells (a
    /// price quoted for other terms, before a change, is not its price).
    pub fn key(&self) -> PeriodKey {
        (self.subscription_id, self.index, self.product_id.clone(), self.quantity)
    }
    /// The reference credit reserves the period under: the activation's for
    /// the first period (reserved at activation); for a later one paid on
    /// account or by direct deposit, "<activation reference>#<index>"
    /// (reserved when charged); none for one paid by card or PayPal, which
    /// use no credit.
    pub fn reference(&self) -> Option<String> {
        match self.index {
            _ if self.reference.is_empty() => None,
            0 => Some(self.reference.clone()),
            index => {
                self.payment_type.is_some_and(PaymentType::uses_credit).then(|| format!("{}#{index}", self.reference))
            }
        }
    }

    /// Whether credit is told of the period's charge to reserve it: a later
    /// period with a reference and an amount.
    pub fn reserved_when_charged(&self, charge: &Charge) -> bool {
        self.index > 0 && charge.order_reference.is_some() && charge.total > Decimal::ZERO
    }

    /// What the period bills of `total`, the price of a whole period: all
    /// of it, or for a part of a period its days' share ([`prorate`]).
    fn prorated(&self, total: Decimal) -> Decimal {
        let (days, whole_days) = self.days;
        match Currency::parse(&self.currency) {
            Ok(currency) if days != whole_days => prorate(total, days, whole_days, currency),
            _ => total,
        }
    }

    /// The whole period's unit price and total at `price`, and the rule.
    pub fn priced(&self, price: PeriodPrice) -> (Decimal, Decimal, PricedBy) {
        match price {
            PeriodPrice::AsActivated => (self.unit_price, self.total, self.priced_by.clone()),
            PeriodPrice::Quoted { unit_price, total, rule, source_id } => {
                (unit_price, total, PricedBy { rule, source_id, on: Some(self.start), ..PricedBy::default() })
            }
            PeriodPrice::Refused { reason } => {
                let priced_by = PricedBy {
                    rule: PricedBy::KEPT.to_owned(),
                    source_id: String::new(),
                    on: Some(self.start),
                    note: reason,
                    ..PricedBy::default()
                };
                (self.unit_price, self.total, priced_by)
            }
        }
    }

    /// The charge of the period at `price`: the first period carries the
    /// activation's credit reference (its invoice captures the
    /// reservation); its description names its first day. A part of a
    /// period is charged its days' share of the period's total.
    pub fn charge(&self, price: PeriodPrice) -> Charge {
        let (unit_price, total, priced_by) = self.priced(price);
        Charge {
            id: Uuid::now_v7(),
            account_id: self.account_id,
            bill_to_account_id: self.bill_to_account_id,
            separate: self.separate,
            order_id: None,
            order_reference: self.reference(),
            order_line: None,
            product_id: self.product_id.clone(),
            description: period_line(&self.description, self.billed.0, self.days),
            currency: self.currency.clone(),
            quantity: self.quantity,
            unit_price,
            total: self.prorated(total),
            charge_date: Some(self.start),
            subscription_id: Some(self.subscription_id),
            priced_by,
            covers: Some(Covers {
                from: self.billed.0,
                to: self.billed.1,
                whole_days: self.days.1,
                whole_total: total,
            }),
            changed: false,
        }
    }
}

/// A subscription charge's line: "<description> from <first day>", and
/// for a part of a period ", <days> of <whole period's> days".
pub fn period_line(description: &str, from: NaiveDate, (days, whole_days): (i64, i64)) -> String {
    match days == whole_days {
        true => format!("{description} from {}", from.format("%Y-%m-%d")),
        false => format!("{description} from {}, {days} of {whole_days} days", from.format("%Y-%m-%d")),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn subscription(state: SubscriptionState) -> Subscription {
        Subscription {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            product: "PLAN".to_owned(),
            quantity: dec!(2),
            payment_type: PaymentType::OnAccount,
            currency: "EUR".to_owned(),
            unit_price: dec!(9.99),
            paid: true,
            state,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            cancel_date: None,
            reasons: vec![],
            payers: vec![Payer { account_id: Uuid::from_u128(2), amount: dec!(19.98), reservation_id: None }],
            reference: "subscription:s-1".to_owned(),
            held_order_id: None,
            cycle: Cycle::Monthly,
            anchor: None,
            timing: Timing::Advance,
            start_date: None,
            trial: None,
            term: None,
            paused_on: None,
            pauses: Vec::new(),
            metered: Vec::new(),
        }
    }

    #[test]
    fn a_state_is_stored_by_its_own_code() {
        for state in SubscriptionState::ALL {
            assert_eq!(serde_json::to_value(state).expect("json"), serde_json::json!(state.code()));
        }
        let kept = subscription(SubscriptionState::Active);
        let json = serde_json::to_string(&kept).expect("json");
        assert_eq!(serde_json::from_str::<Subscription>(&json).expect("read back"), kept);
    }

    #[test]
    fn credits_verdict_decides_the_activation() {
        assert_eq!(SubscriptionState::after(OrderState::Executed), SubscriptionState::Active);
        assert_eq!(SubscriptionState::after(OrderState::HeldForApproval), SubscriptionState::PendingApproval);
        assert_eq!(SubscriptionState::after(OrderState::Rejected), SubscriptionState::Rejected);
        let mut held = subscription(SubscriptionState::PendingApproval);
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        held.decide(true, &[Some(Uuid::from_u128(9))], today);
        assert_eq!((held.state, held.payers[0].reservation_id), (SubscriptionState::Active, Some(Uuid::from_u128(9))));
        assert_eq!(held.start_date, Some(today), "started on the day credit approved it");
        held.decide(false, &[], today);
        assert_eq!(held.state, SubscriptionState::Rejected);
    }

    #[test]
    fn an_activation_approved_later_reserves_what_its_first_period_bills_beyond_the_authorized_part() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        // 300.00 a quarter anchored on the 1st, created on 4 December:
        // credit authorized 28 of 92 days, 91.30.
        let mut held = Subscription {
            anchor: Some(AnchorDay::new(1).expect("anchor")),
            cycle: Cycle::Quarterly,
            payers: vec![Payer { account_id: Uuid::from_u128(2), amount: dec!(91.30), reservation_id: None }],
            ..subscription(SubscriptionState::PendingApproval)
        };
        held.decide(true, &[Some(Uuid::from_u128(9))], day("2026-12-31"));
        assert_eq!(held.first_period_beyond_authorized(dec!(300.00)), None, "1 of 92 days: 3.26, less");
        held.decide(true, &[Some(Uuid::from_u128(9))], day("2027-01-01"));
        assert_eq!(held.first_period_beyond_authorized(dec!(300.00)), Some(dec!(208.70)), "a whole quarter");
        let by_card = Subscription { payment_type: PaymentType::CreditCard, ..held.clone() };
        assert_eq!(by_card.first_period_beyond_authorized(dec!(300.00)), None, "a card reserves nothing");
    }

    #[test]
    fn only_a_live_subscription_is_cancelled_and_once() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        let mut live = subscription(SubscriptionState::Active);
        live.cancel(today, false).expect("cancelled");
        assert_eq!((live.state, live.cancel_date), (SubscriptionState::Cancelled, Some(today)));
        let reason = |result: Result<(), BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        };
        assert_eq!(reason(live.cancel(today, false)), "SUBSCRIPTION_CANCELLED");
        assert_eq!(reason(subscription(SubscriptionState::Rejected).cancel(today, false)), "SUBSCRIPTION_REJECTED");
        assert!(subscription(SubscriptionState::PendingApproval).cancel(today, false).is_ok());
    }

    #[test]
    fn cancelled_at_its_periods_end_it_runs_to_that_day_and_may_still_be_cancelled_now() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        let started = Subscription { start_date: Some(day("2026-11-15")), ..subscription(SubscriptionState::Active) };
        let mut ending = started.clone();
        ending.cancel(day("2026-12-02"), true).expect("cancelled at the period's end");
        assert_eq!((ending.state, ending.cancel_date), (SubscriptionState::Active, Some(day("2026-12-15"))));
        assert_eq!(ending.current_period(day("2026-12-02")).map(|span| span.end), Some(day("2026-12-15")));
        let again = ending.clone().cancel(day("2026-12-03"), true).expect_err("set already");
        assert!(matches!(again, BillingError::Precondition { reason: "SUBSCRIPTION_CANCELLED", .. }), "{again:?}");
        let late = ending.clone().cancel(day("2026-12-15"), false).expect_err("ended that day");
        assert!(matches!(late, BillingError::Precondition { reason: "SUBSCRIPTION_CANCELLED", .. }), "{late:?}");
        ending.cancel(day("2026-12-03"), false).expect("brought forward");
        assert_eq!((ending.state, ending.cancel_date), (SubscriptionState::Cancelled, Some(day("2026-12-03"))));
        // Not started yet: cancelled today.
        let mut waiting = subscription(SubscriptionState::PendingApproval);
        waiting.cancel(day("2026-12-02"), true).expect("cancelled");
        assert_eq!((waiting.state, waiting.cancel_date), (SubscriptionState::Cancelled, Some(day("2026-12-02"))));
    }

    #[test]
    fn a_running_subscription_is_paused_and_only_a_paused_one_resumed() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        let mut running =
            Subscription { start_date: Some(day("2026-11-15")), ..subscription(SubscriptionState::Active) };
        let (index, period) = running.pause(day("2026-12-20")).expect("paused");
        assert_eq!((index, period.start, period.end), (1, day("2026-12-15"), day("2027-01-15")));
        assert_eq!((running.state, running.paused_on), (SubscriptionState::Paused, Some(day("2026-12-20"))));
        assert_eq!(running.current_period(day("2026-12-21")), None, "nothing runs while paused");
        let again = running.clone().pause(day("2026-12-21")).expect_err("paused already");
        assert!(matches!(again, BillingError::Precondition { .. }), "{again:?}");
        let (index, period) = running.resume(day("2027-02-03")).expect("resumed");
        assert_eq!((index, period.start), (2, day("2027-01-15")), "on the same anchor");
        assert_eq!((running.state, running.paused_on), (SubscriptionState::Active, None));
        assert_eq!(running.pauses, vec![Paused { from: day("2026-12-20"), until: day("2027-02-03") }], "kept");
        let not_paused = running.resume(day("2027-02-04")).expect_err("not paused");
        assert!(matches!(not_paused, BillingError::Precondition { reason: "SUBSCRIPTION_NOT_PAUSED", .. }));
        let mut waiting =
            Subscription { start_date: Some(day("2027-03-01")), ..subscription(SubscriptionState::Active) };
        let early = waiting.pause(day("2027-02-01")).expect_err("not started");
        assert!(matches!(early, BillingError::Precondition { reason: "SUBSCRIPTION_NOT_STARTED", .. }));
    }

    #[test]
    fn a_fixed_term_counts_whole_periods_after_a_part_period_up_to_the_anchor() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        // Yearly on the 1st, started 20 January: 12 days to 1 February,
        // then a whole year.
        let mut yearly = Subscription {
            cycle: Cycle::Yearly,
            anchor: Some(AnchorDay::new(1).expect("anchor")),
            term: Some(Term { periods: 1, auto_renew: false }),
            ..subscription(SubscriptionState::Active)
        };
        yearly.start_on(day("2027-01-20"));
        assert_eq!(yearly.cancel_date, Some(day("2028-02-01")), "the part period and one whole year");
        assert_eq!(yearly.term_end(day("2027-01-25")), Some(day("2028-02-01")));
        // Monthly from its own day, renewing every 3 months.
        let mut monthly = Subscription {
            term: Some(Term { periods: 3, auto_renew: true }),
            ..subscription(SubscriptionState::Active)
        };
        monthly.start_on(day("2027-01-20"));
        assert_eq!(monthly.cancel_date, None, "it renews");
        assert_eq!(monthly.term_end(day("2027-03-01")), Some(day("2027-04-20")));
        assert_eq!(monthly.term_end(day("2027-04-20")), Some(day("2027-07-20")), "the second term");
    }

    fn due(index: i32) -> DuePeriod {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        DuePeriod {
            subscription_id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            bill_to_account_id: Uuid::from_u128(3),
            separate: false,
            reference: "subscription:s-1".to_owned(),
            payment_type: Some(PaymentType::OnAccount),
            product_id: "p-1".to_owned(),
            description: "PLAN subscription".to_owned(),
            currency: "EUR".to_owned(),
            quantity: dec!(2),
            unit_price: dec!(9.99),
            total: dec!(19.98),
            priced_by: PricedBy {
                rule: "PRICE_RULE_PRICE_LEVEL".to_owned(),
                source_id: "level-c".to_owned(),
                on: Some(day("2026-10-05")),
                ..PricedBy::default()
            },
            index,
            start: day("2026-10-05").checked_add_months(chrono::Months::new(index as u32)).expect("date"),
            days: (31, 31),
            billed: (
                day("2026-10-05").checked_add_months(chrono::Months::new(index as u32)).expect("date"),
                day("2026-11-05").checked_add_months(chrono::Months::new(index as u32)).expect("date"),
            ),
            renews: None,
        }
    }

    #[test]
    fn periods_fall_due_monthly_from_the_start_clamped_at_month_ends_and_stop_at_cancellation() {
        use crate::domain::cycle::{Cycle, Schedule, Timing};
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        let schedule = Schedule::from_start(Cycle::Monthly, day("2026-01-31"));
        let due = |charged: u32, cancelled: Option<NaiveDate>, date: &str| {
            schedule
                .due(charged, Timing::Advance, day(date), cancelled)
                .into_iter()
                .map(|(index, _)| index)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            schedule.period(1).map(|span| span.start),
            Some(day("2026-02-28")),
            "clamped to February's last day"
        );
        assert_eq!(schedule.period(2).map(|span| span.start), Some(day("2026-03-31")), "counted from the start");
        assert_eq!(due(0, None, "2026-01-30"), Vec::<u32>::new(), "not started");
        assert_eq!(due(0, None, "2026-02-28"), vec![0, 1], "due on its clamped first day");
        assert_eq!(due(1, None, "2026-03-30"), vec![1]);
        assert_eq!(due(2, None, "2026-03-30"), Vec::<u32>::new(), "charged already");
        assert_eq!(due(0, Some(day("2026-03-31")), "2026-06-01"), vec![0, 1], "not the period starting that day");
        let leap = Schedule::from_start(Cycle::Monthly, day("2028-01-31"));
        assert_eq!(leap.period(1).map(|span| span.start), Some(day("2028-02-29")));
    }

    #[test]
    fn the_first_period_is_charged_as_activated_and_carries_its_credit_reference() {
        let charge = due(0).charge(PeriodPrice::AsActivated);
        assert_eq!((charge.unit_price, charge.total), (dec!(9.99), dec!(19.98)));
        assert_eq!(charge.order_reference.as_deref(), Some("subscription:s-1"), "its invoice captures the reservation");
        assert_eq!(charge.priced_by.rule, "PRICE_RULE_PRICE_LEVEL");
        assert_eq!(charge.description, "PLAN subscription from 2026-10-05");
        assert_eq!((charge.subscription_id, charge.bill_to_account_id), (Some(Uuid::from_u128(1)), Uuid::from_u128(3)));
    }

    #[test]
    fn a_later_period_takes_the_price_of_its_first_day_with_the_rule() {
        let quoted = PeriodPrice::Quoted {
            unit_price: dec!(7.50),
            total: dec!(15.00),
            rule: "PRICE_RULE_RATE_PLAN".to_owned(),
            source_id: "gold".to_owned(),
        };
        let charge = due(2).charge(quoted);
        assert_eq!((charge.unit_price, charge.total), (dec!(7.50), dec!(15.00)));
        assert_eq!(charge.order_reference.as_deref(), Some("subscription:s-1#2"), "reserved when charged");
        assert!(due(2).reserved_when_charged(&charge));
        assert!(!due(0).reserved_when_charged(&due(0).charge(PeriodPrice::AsActivated)), "reserved at activation");
        let by_card = DuePeriod { payment_type: Some(PaymentType::CreditCard), ..due(2) };
        assert_eq!(by_card.reference(), None, "a card uses no credit");
        assert_eq!(DuePeriod { reference: String::new(), ..due(1) }.reference(), None);
        assert_eq!(charge.charge_date, "2026-12-05".parse().ok());
        assert_eq!(
            (charge.priced_by.rule.as_str(), charge.priced_by.source_id.as_str(), charge.priced_by.on),
            ("PRICE_RULE_RATE_PLAN", "gold", "2026-12-05".parse().ok())
        );
    }

    #[test]
    fn a_period_pricing_refuses_keeps_the_previous_price_and_says_why() {
        let refused = PeriodPrice::Refused { reason: "PRODUCT_NOT_AVAILABLE: sold only under a contract".to_owned() };
        let charge = due(1).charge(refused);
        assert_eq!((charge.unit_price, charge.total), (dec!(9.99), dec!(19.98)), "never charged nothing");
        assert_eq!(charge.priced_by.rule, PricedBy::KEPT);
        assert!(charge.priced_by.note.starts_with("PRODUCT_NOT_AVAILABLE"));
    }
}
