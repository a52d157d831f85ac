//! Metered usage: events recorded against the metrics a subscription
//! meters, each once by its idempotency key, and the running usage of the
//! period open today.

use std::collections::{BTreeMap, BTreeSet};

use bss_platform::auth::Caller;
use bss_platform::time::now;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use bss_platform::money::{Currency, decimal_to_wire, money_to_wire};
use bss_platform::payment::PaymentType;
use bss_platform::time::format_date;
use bss_proto::billing::UsageReserved;
use bss_proto::billing::billing_event::Payload;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use sqlx::PgConnection;

use super::payments::{adjust, credit_subscription_line};
use super::{Billing, priced_amount, publish_all, unreadable};
use crate::domain::cycle::{Span, Timing};
use crate::domain::error::BillingError;
use crate::domain::order::{Charge, PricedBy};
use crate::domain::subscription::SubscriptionState;
use crate::domain::usage::{
    Metered, Rated, UsageTier, adjustment, metering_subscription, midnight, usage_line, usage_lines_of, usage_reference,
};
use crate::overdue::ACTOR;
use crate::repo::usage::{self, BilledPeriod, MeteredRow, MeteredSubscription, NewEvent, Window};
use crate::repo::{self, charges};
use crate::wire;

/// Gives back `owed` of what the subscription's usage of `metric` for the
/// period from `from` was billed, now rated lower: the posted lines that
/// billed it are credited, newest first, each up to what is left of it,
/// by a credit note. Returns what was given back: less than `owed` while
/// the rest is on an invoice not posted yet (or not invoiced yet).
async fn give_back(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (row, metric, from): (&MeteredSubscription, &str, NaiveDate),
    owed: Decimal,
) -> Result<Decimal, BillingError> {
    let currency = Currency::parse(&row.currency).map_err(|cause| unreadable("billing", cause))?;
    let reference = usage_reference(row.id);
    let lines = usage::billed_lines(tx, tenant_id, (&reference, from, &usage_lines_of(metric, from))).await?;
    let mut given = Decimal::ZERO;
    for line in lines.iter().filter(|line| line.posted) {
        let (Some(invoice_id), true) = (line.invoice_id, given < owed) else { continue };
        let payer = line.bill_to_account_id;
        let asked = (line.description.as_str(), line.total, owed - given);
        let Some((amount, first)) = credit_subscription_line(tx, tenant_id, (payer, invoice_id), asked).await? else {
            continue;
        };
        let reason = format!("{metric} usage of subscription {} from {from}: rated lower after late events", row.id);
        adjust(tx, ACTOR, tenant_id, (payer, currency), Some(amount), first, &reason).await?;
        given += amount;
    }
    Ok(given)
}

impl Billing {
    /// Records a batch of usage events in one transaction, each once:
    /// answers (recorded now, recorded already). Every event's subscription
    /// is the tenant's and the caller's to see (NOT_FOUND otherwise) and
    /// meters its metric (FAILED_PRECONDITION METRIC_NOT_METERED); nothing
    /// is recorded unless all are.
    pub async fn ingest_usage(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        events: Vec<(Option<Uuid>, NewEvent)>,
    ) -> Result<(u64, u64), BillingError> {
        let events = self.addressed(caller, tenant_id, events).await?;
        let events = events.as_slice();
        let ids: Vec<Uuid> =
            events.iter().map(|event| event.subscription_id).collect::<BTreeSet<_>>().into_iter().collect();
        let mut tx = self.db.begin().await?;
        let found: BTreeMap<Uuid, MeteredRow> =
            usage::metered_of(&mut tx, tenant_id, &ids).await?.into_iter().map(|row| (row.id, row)).collect();
        if let Some(id) = ids.iter().find(|id| !found.contains_key(id)) {
            return Err(BillingError::not_found("subscription", *id));
        }
        // Each account once (a subscription of it named when refused).
        let accounts: BTreeMap<Uuid, Uuid> = found.values().map(|row| (row.account_id, row.id)).collect();
        for (account_id, id) in accounts {
            self.check_own(caller, &[account_id], ("subscription", id)).await?;
        }
        if let Some(row) = found.values().find(|row| !row.started) {
            return Err(BillingError::precondition(
                "SUBSCRIPTION_NOT_ACTIVE",
                format!("subscription {} was never active (held or refused by credit): it records no usage", row.id),
            ));
        }
        for event in events {
            let Some(row) = found.get(&event.subscription_id) else { continue };
            if !row.metered.iter().any(|metered| metered.metric == event.metric) {
                return Err(BillingError::precondition(
                    "METRIC_NOT_METERED",
                    format!("subscription {} meters no metric {:?}", event.subscription_id, event.metric),
                ));
            }
            if !row.window().is_some_and(|window| window.admits(event.at.date_naive())) {
                let window = row.window().map(|window| window.describe());
                return Err(BillingError::precondition(
                    "USAGE_OUTSIDE_SUBSCRIPTION",
                    format!(
                        "subscription {} records usage {}: an event at {} is outside it",
                        row.id,
                        window.unwrap_or_else(|| "once it starts".to_owned()),
                        event.at
                    ),
                ));
            }
        }
        let recorded = usage::insert(&mut tx, tenant_id, events).await?;
        tx.commit().await?;
        Ok((recorded, events.len() as u64 - recorded))
    }

    /// Each event with its subscription: one addressed to an account (the
    /// account beside it) goes to the account's one active subscription
    /// metering its metric (FAILED_PRECONDITION METRIC_NOT_METERED when it
    /// has none, METRIC_AMBIGUOUS when several).
    async fn addressed(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        events: Vec<(Option<Uuid>, NewEvent)>,
    ) -> Result<Vec<NewEvent>, BillingError> {
        let accounts: Vec<Uuid> =
            events.iter().filter_map(|(account, _)| *account).collect::<BTreeSet<_>>().into_iter().collect();
        // The caller's to see (NOT_FOUND names the account, not a
        // subscription of it).
        for account in &accounts {
            self.check_own(caller, &[*account], ("account", *account)).await?;
        }
        let metering = match accounts.is_empty() {
            true => Vec::new(),
            false => usage::metering(&self.db, tenant_id, &accounts).await?,
        };
        let mut resolved = Vec::with_capacity(events.len());
        for (account, mut event) in events {
            if let Some(account) = account {
                let of_account = metering.iter().filter(|(_, of, _)| *of == account);
                let metering = of_account.map(|(id, _, metered)| (*id, metered.0.as_slice()));
                event.subscription_id = metering_subscription(account, &event.metric, metering)?;
            }
            resolved.push(event);
        }
        Ok(resolved)
    }

    /// The period running today of the subscription (for one paused, the
    /// period it was paused in, until it ends: its usage is still to be
    /// billed) and, for each metric it meters, what its events so far
    /// aggregate to and rate to (priced on the period's first day, as its
    /// invoice will be) and how many there are. FAILED_PRECONDITION
    /// NO_PERIOD_RUNNING when none runs (not started, cancelled, or paused
    /// in a period that has ended), USAGE_NOT_RATED when pricing cannot
    /// rate a metric (its reason said).
    pub async fn current_usage(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<(Span, String, Vec<(Metered, Rated, i64)>), BillingError> {
        let subscription = self.subscription_for(caller, tenant_id, id).await?;
        let today = now().date_naive();
        let paused_in = || {
            let paused_on = subscription.paused_on.filter(|_| subscription.state == SubscriptionState::Paused)?;
            let (_, period) = subscription.schedule()?.period_on(paused_on)?;
            (period.end > today).then_some(period)
        };
        let period = subscription.current_period(today).or_else(paused_in).ok_or_else(|| {
            BillingError::precondition("NO_PERIOD_RUNNING", format!("subscription {id} has no period running today"))
        })?;
        let windows: Vec<Window> = subscription
            .metered
            .iter()
            .map(|metered| Window {
                subscription_id: id,
                metric: &metered.metric,
                aggregation: metered.aggregation,
                from: midnight(period.start),
                to: midnight(period.end),
            })
            .collect();
        let counted = usage::aggregate_all(&mut *self.db.acquire().await?, tenant_id, &windows).await?;
        let asks: Vec<RateAsk> = subscription
            .metered
            .iter()
            .zip(&counted)
            .map(|(metered, (quantity, _))| RateAsk {
                account_id: subscription.account_id,
                currency: &subscription.currency,
                day: period.start,
                metered,
                quantity: *quantity,
            })
            .collect();
        let rated = self.rate_usage(tenant_id, &asks).await?;
        let mut metrics = Vec::with_capacity(rated.len());
        for ((metered, (_, events)), rated) in subscription.metered.iter().zip(counted).zip(rated) {
            let rated = rated.map_err(|reason| {
                BillingError::precondition(
                    "USAGE_NOT_RATED",
                    format!("pricing cannot rate {}: {reason}", metered.metric),
                )
            })?;
            metrics.push((metered.clone(), rated, events));
        }
        Ok((period, subscription.currency, metrics))
    }
}

/// A quantity of a metric to rate: for the account, in its currency, by
/// the metric's product and rating, priced on `day`.
pub struct RateAsk<'a> {
    pub account_id: Uuid,
    pub currency: &'a str,
    pub day: NaiveDate,
    pub metered: &'a Metered,
    pub quantity: Decimal,
}

impl Billing {
    /// Rates each quantity by pricing's tiers (one quote each, in batches):
    /// its amount and tiers, or pricing's reason for refusing it. Nothing
    /// used rates to nothing without asking; a metric counted, not billed,
    /// is never rated.
    pub(crate) async fn rate_usage(
        &self,
        tenant_id: Uuid,
        asks: &[RateAsk<'_>],
    ) -> Result<Vec<Result<Rated, String>>, BillingError> {
        let priced = |ask: &RateAsk| ask.quantity > Decimal::ZERO && ask.metered.billed();
        let quotes = asks
            .iter()
            .filter(|ask| priced(ask))
            .map(|ask| QuoteRequest {
                account_id: ask.account_id.to_string(),
                currency_code: ask.currency.to_owned(),
                date: format_date(ask.day),
                lines: vec![QuoteLineRequest {
                    product: ask.metered.product.clone(),
                    quantity: Some(decimal_to_wire(ask.quantity)),
                    rating: wire::rating_to_wire(ask.metered.rating) as i32,
                }],
                ..QuoteRequest::default()
            })
            .collect();
        let mut answers = self.quote_batches(tenant_id, quotes).await?.into_iter();
        let mut rated = Vec::with_capacity(asks.len());
        for ask in asks {
            if !priced(ask) {
                rated.push(Ok(Rated { quantity: ask.quantity, ..Rated::default() }));
                continue;
            }
            let answer = answers.next().ok_or_else(|| unreadable("pricing", "fewer quotes than asked"))?;
            let Some(quote) = &answer.quote else {
                rated.push(Err(super::invoicing::refusal(&answer)));
                continue;
            };
            let line = quote.lines.first().ok_or_else(|| unreadable("pricing", "a quote without its line"))?;
            let tiers = line.tiers.iter().map(tier_from_wire).collect::<Result<Vec<_>, _>>()?;
            rated.push(Ok(Rated {
                quantity: ask.quantity,
                amount: priced_amount(&line.total)?,
                unit_price: priced_amount(&line.unit_price)?,
                tiers,
            }));
        }
        Ok(rated)
    }

    /// Bills the usage of the metered subscriptions billed to the accounts
    /// (or, when `bought`, bought by them), in the caller's transaction:
    /// each period ended by `date` (in arrears: [`Schedule::due`] of its
    /// usage periods; one cut short by a cancellation ends on its day) is
    /// charged, per metric, what its quantity rates to on its first day,
    /// as a line showing the quantity and tiers; a billed period with late
    /// events is charged the difference as an adjustment line. A
    /// subscription pricing cannot rate waits, whole, for a later run
    /// (nothing is lost). Answers how many periods it billed.
    pub(crate) async fn charge_usage(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        (accounts, bought): (&[Uuid], bool),
        date: NaiveDate,
    ) -> Result<usize, BillingError> {
        let due = usage::due(tx, tenant_id, (accounts, bought), date).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = due.iter().map(|row| row.id).collect();
        let late = usage::late(tx, tenant_id, &ids).await?;
        // What to rate: each closed period's metrics, and the late periods
        // again ([`Closing`]).
        let mut closing: Vec<Closing> = Vec::new();
        let mut counted: Vec<(usize, i32)> = Vec::new();
        for (at, row) in due.iter().enumerate() {
            let schedule = charges::schedule(row.start_date, row.cycle_months, row.anchor_day)?;
            let billed = u32::try_from(row.usage_periods).unwrap_or(0);
            let periods = schedule.due(billed, Timing::Arrears, date, row.cancelled_on);
            for (_, span) in &periods {
                let to = span.ended_by(row.cancelled_on);
                for (metric, _) in row.metered.iter().enumerate().filter(|(_, metered)| metered.billed()) {
                    closing.push(Closing { at, metric, window: (span.start, to), before: None });
                }
            }
            counted.push((at, row.usage_periods + i32::try_from(periods.len()).unwrap_or(i32::MAX)));
            for period in late.iter().filter(|period| period.subscription_id == row.id) {
                let Some(metric) = row.metered.iter().position(|metered| metered.metric == period.metric) else {
                    continue;
                };
                let before = Rated { quantity: period.quantity, amount: period.amount, ..Rated::default() };
                let window = (period.period_from, period.period_to);
                closing.push(Closing { at, metric, window, before: Some(before) });
            }
        }
        let windows: Vec<Window> = closing
            .iter()
            .map(|Closing { at, metric, window: (from, to), .. }| {
                let metered = &due[*at].metered[*metric];
                Window {
                    subscription_id: due[*at].id,
                    metric: &metered.metric,
                    aggregation: metered.aggregation,
                    from: midnight(*from),
                    to: midnight(*to),
                }
            })
            .collect();
        let aggregated = usage::aggregate_all(tx, tenant_id, &windows).await?;
        let asks: Vec<RateAsk> = closing
            .iter()
            .zip(aggregated)
            .map(|(Closing { at, metric, window: (from, _), .. }, (quantity, _))| {
                let row = &due[*at];
                let metered = &row.metered[*metric];
                RateAsk { account_id: row.account_id, currency: &row.currency, day: *from, metered, quantity }
            })
            .collect();
        let rated = self.rate_usage(tenant_id, &asks).await?;
        // A subscription with any quantity pricing refused waits whole.
        let mut waiting = BTreeSet::new();
        for (Closing { at, .. }, rated) in closing.iter().zip(&rated) {
            if let Err(reason) = rated {
                tracing::warn!(subscription_id = %due[*at].id, %reason, "usage not rated: billed on a later run");
                waiting.insert(*at);
            }
        }
        let mut charged = Vec::new();
        let mut billed = Vec::new();
        for (Closing { at, metric, window, before }, rated) in closing.iter().zip(rated) {
            let (Ok(now), false) = (rated, waiting.contains(at)) else { continue };
            let (row, metered) = (&due[*at], &due[*at].metered[*metric]);
            let line = match before {
                None => (now.quantity > Decimal::ZERO)
                    .then(|| (usage_line(&metered.metric, *window, now.quantity), now.quantity, now.amount)),
                Some(before) => adjustment(&metered.metric, *window, before, &now),
            };
            // An adjustment line shows no tiers: its amount is a difference.
            let tiers = if before.is_none() { now.tiers.clone() } else { Vec::new() };
            if let Some((description, quantity, total)) = line {
                charged.push(Charge {
                    id: Uuid::now_v7(),
                    account_id: row.account_id,
                    bill_to_account_id: row.bill_to_account_id,
                    separate: row.separate,
                    order_id: None,
                    order_reference: Some(usage_reference(row.id)),
                    order_line: None,
                    product_id: metered.product.clone(),
                    description,
                    currency: row.currency.clone(),
                    quantity,
                    unit_price: now.unit_price,
                    total,
                    charge_date: Some(date),
                    subscription_id: None,
                    priced_by: PricedBy { on: Some(window.0), tiers, ..PricedBy::default() },
                    covers: None,
                    changed: false,
                });
            }
            // Rated lower than it was billed: what it was billed beyond is
            // given back (see `adjustment`); what is on an invoice not
            // posted yet is given back on a later run.
            let (mut amount, mut late) = (now.amount, false);
            if let Some(before) = before.as_ref().filter(|before| before.amount > now.amount) {
                let owed = before.amount - now.amount;
                let given = give_back(tx, tenant_id, (row, &metered.metric, window.0), owed).await?;
                (amount, late) = (before.amount - given, given < owed);
            }
            billed.push(BilledPeriod {
                subscription_id: row.id,
                metric: metered.metric.clone(),
                period_from: window.0,
                period_to: window.1,
                quantity: now.quantity,
                amount,
                late,
            });
        }
        let mut due = due;
        let counted: Vec<(Uuid, i32)> = counted
            .into_iter()
            .filter(|(at, _)| !waiting.contains(at))
            .map(|(at, periods)| {
                due[at].usage_periods = periods;
                (due[at].id, periods)
            })
            .collect();
        repo::insert_charges(tx, tenant_id, &charged).await?;
        usage::record(tx, tenant_id, &billed, &counted).await?;
        // What credit holds follows: the ended periods are charges now.
        self.reserve_usage(tx, tenant_id, &due, now().date_naive()).await?;
        Ok(billed.len())
    }

    /// Asks credit to hold what each (locked) metered subscription's usage
    /// not invoiced yet comes to: its usage charges not on a posted invoice
    /// and each period whose usage is not billed that has begun by `today`
    /// (the running one; and ended ones pricing could not rate yet), rated
    /// so far. Publishes the move (UsageReserved) and
    /// records it; a subscription pricing cannot rate keeps what credit
    /// holds (the next rating tries again).
    pub(crate) async fn reserve_usage(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        subscriptions: &[MeteredSubscription],
        today: NaiveDate,
    ) -> Result<(), BillingError> {
        let references: Vec<String> = subscriptions.iter().map(|row| usage_reference(row.id)).collect();
        let charged: BTreeMap<String, Decimal> =
            usage::not_invoiced(tx, tenant_id, &references).await?.into_iter().collect();
        // The periods not billed of each, counted in one statement: whose
        // each window is, its first day, and it.
        let (mut owners, mut windows) = (Vec::new(), Vec::new());
        for (at, row) in subscriptions.iter().enumerate() {
            let schedule = charges::schedule(row.start_date, row.cycle_months, row.anchor_day)?;
            let mut index = u32::try_from(row.usage_periods).unwrap_or(0);
            while let Some(period) = schedule.period(index) {
                let to = period.ended_by(row.cancelled_on);
                if period.start > today || to <= period.start {
                    break;
                }
                for metered in row.metered.iter().filter(|metered| metered.billed()) {
                    owners.push((at, period.start, metered));
                    windows.push(Window {
                        subscription_id: row.id,
                        metric: &metered.metric,
                        aggregation: metered.aggregation,
                        from: midnight(period.start),
                        to: midnight(to),
                    });
                }
                index += 1;
            }
        }
        let counted = usage::aggregate_all(tx, tenant_id, &windows).await?;
        let asks: Vec<RateAsk> = owners
            .iter()
            .zip(counted)
            .map(|((at, day, metered), (quantity, _))| {
                let row = &subscriptions[*at];
                RateAsk { account_id: row.account_id, currency: &row.currency, day: *day, metered, quantity }
            })
            .collect();
        let owners: Vec<usize> = owners.into_iter().map(|(at, _, _)| at).collect();
        let rated = self.rate_usage(tenant_id, &asks).await?;
        // Each one's running amount; none when pricing refused a metric.
        let mut so_far: BTreeMap<usize, Option<Decimal>> = BTreeMap::new();
        for (at, rated) in owners.iter().zip(rated) {
            let entry = so_far.entry(*at).or_insert(Some(Decimal::ZERO));
            *entry = match (*entry, rated) {
                (Some(sum), Ok(rated)) => Some(sum + rated.amount),
                _ => None,
            };
        }
        let mut moves = Vec::new();
        let mut held = Vec::new();
        for (at, (row, reference)) in subscriptions.iter().zip(references).enumerate() {
            let Some(running) = so_far.get(&at).copied().unwrap_or(Some(Decimal::ZERO)) else {
                // Rated again with its next events.
                tracing::warn!(subscription_id = %row.id, "running usage not rated: credit's hold kept");
                held.push((row.id, row.usage_reserved));
                continue;
            };
            let uses_credit = row
                .payment_type
                .as_deref()
                .and_then(|code| PaymentType::from_code(code).ok())
                .is_some_and(PaymentType::uses_credit);
            let target = match uses_credit {
                true => (charged.get(&reference).copied().unwrap_or_default() + running).max(Decimal::ZERO),
                false => Decimal::ZERO,
            };
            held.push((row.id, target));
            if target == row.usage_reserved {
                continue;
            }
            let currency = Currency::parse(&row.currency).map_err(|cause| unreadable("billing", cause))?;
            moves.push(Payload::UsageReserved(UsageReserved {
                subscription_id: row.id.to_string(),
                account_id: row.account_id.to_string(),
                payer_account_id: row.bill_to_account_id.to_string(),
                reference,
                amount: Some(money_to_wire((target - row.usage_reserved).abs(), currency)),
                release: target < row.usage_reserved,
            }));
        }
        usage::reserved(tx, tenant_id, &held).await?;
        if !moves.is_empty() {
            publish_all(tx, tenant_id, ACTOR, moves).await?;
        }
        Ok(())
    }
}

/// A metric's period to rate as a charge run bills it: its subscription
/// and metric (by position), its days, and what it was billed before (a
/// late period's; none for one closing now).
struct Closing {
    at: usize,
    metric: usize,
    window: (NaiveDate, NaiveDate),
    before: Option<Rated>,
}

/// A tier of pricing's rated line.
fn tier_from_wire(tier: &bss_proto::pricing::RatedTier) -> Result<UsageTier, BillingError> {
    let decimal = |value: &Option<bss_proto::types::Decimal>| {
        let text = value.as_ref().map(|value| value.value.as_str()).unwrap_or_default();
        bss_platform::money::parse_decimal(text).map_err(|_| unreadable("pricing", format!("a tier's {text:?}")))
    };
    Ok(UsageTier {
        from: decimal(&tier.from)?,
        to: tier.to.as_ref().map(|to| decimal(&Some(to.clone()))).transpose()?,
        quantity: decimal(&tier.quantity)?,
        unit_price: priced_amount(&tier.unit_price)?,
        amount: priced_amount(&tier.amount)?,
    })
}
