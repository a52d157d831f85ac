//! Subscription changes: another product or quantity now (the period
//! running today split on today, prorated by the day) or from the next
//! period's start, authorized by credit for the difference like an
//! activation (held: applied the day credit approves it); and what a
//! cancellation or change takes back of the days already charged. Every
//! change is an entry of the subscription's history.

use std::collections::BTreeSet;

use bss_platform::auth::Caller;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::{Currency, money_to_wire};
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, now};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{OrderCancelled, OrderPayer, SubscriptionCancelled, SubscriptionPeriodCharged};
use bss_proto::credit::EventKind;
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::orders::CreditAsk;
use super::payments::{adjust, credit_subscription_line};
use super::{Billing, held_orders, publish_all, unreadable};
use crate::domain::change::{ChangeKind, ChangeStatus, Covers, Cut, SubscriptionChange, Terms, difference};
use crate::domain::cycle::Span;
use crate::domain::error::BillingError;
use crate::domain::order::{Charge, Line, OrderState, charges, credit_reference, payer_shares};
use crate::domain::subscription::{Subscription, period_line};
use crate::repo::subscriptions::{self, PeriodCharge};
use crate::repo::{self, changes};

/// A change as the caller asks for it: another product and/or quantity
/// (none: the current one), now or from the next period's start.
pub struct ChangeAsk {
    pub subscription_id: Uuid,
    pub product: Option<String>,
    pub quantity: Option<Decimal>,
    pub at_period_end: bool,
    /// The oldest pricing book version that may price the new terms.
    pub min_pricing_version: i64,
}

/// How a charged day from a cut was taken back.
pub(crate) enum Taken {
    /// A charge no invoice holds, cut to its days before the cut.
    Cut,
    /// A charge no invoice holds, none of whose days was used: left to the
    /// caller (a cancellation removes it, a change charges it anew).
    Whole,
    /// A charge on a posted invoice, credited this much by a credit note.
    Noted(Decimal),
}

/// A charge with days on or after a cut, and what was done with them.
pub(crate) struct TakenBack {
    pub charge: PeriodCharge,
    /// Its days from the cut (at its own whole price).
    pub unused: Covers,
    pub cut: Cut,
    pub taken: Taken,
}

/// Takes back what the subscription was charged for its days from `on`
/// (a cancellation's or change's day), `verb` saying which in the credit
/// notes' reasons: a charge no invoice holds is cut to the days before
/// `on` (one with none before is left to the caller); one on a posted
/// invoice gets a credit note for its unused days' share, crediting its
/// invoice line (never beyond what is left of it: a line a clerk credited
/// already is not credited twice), the invoice first while it is open; one
/// on a draft is refused (FAILED_PRECONDITION SUBSCRIPTION_PERIOD_ON_DRAFT:
/// post or void it first), nothing written. A charge stored before its
/// days were kept covers the period it starts (`running`, at
/// `whole_total`) or, starting later, none of its days is used.
pub(crate) async fn take_back(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &Subscription,
    (on, verb): (NaiveDate, &str),
    (running, whole_total): (Option<&Span>, Decimal),
) -> Result<Vec<TakenBack>, BillingError> {
    let from = running.map_or(on, |period| period.start.min(on));
    let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
    let mut taken_back = Vec::new();
    for charge in subscriptions::charges_from(tx, tenant_id, subscription.id, from).await? {
        let covers = charge.covers.unwrap_or_else(|| match running {
            Some(period) if period.start == charge.start => Covers::span(period, whole_total),
            _ => Covers { from: charge.start, to: charge.start + chrono::Days::new(1), whole_days: 1, whole_total },
        });
        let Some(cut) = covers.cut(on, charge.total, currency) else {
            continue;
        };
        let taken = match charge.invoice {
            Some((invoice_id, false)) => return Err(on_draft(subscription.id, charge.start, invoice_id)),
            None if cut.used_days == 0 => Taken::Whole,
            None => {
                let days = format!(", {} of {} days", covers.days() - cut.unused_days, cut.whole_days);
                let kept = Covers { to: on, ..covers };
                subscriptions::cut_charge(tx, tenant_id, charge.id, (cut.used, &days, kept)).await?;
                Taken::Cut
            }
            Some((invoice_id, true)) => {
                let line = (charge.description.as_str(), charge.total, cut.unused);
                let credited = credit_subscription_line(tx, tenant_id, (charge.payer, invoice_id), line).await?;
                // Its days from the cut are credited (or were, by a clerk):
                // it covers those before it only.
                let kept = Covers { to: on.max(covers.from), ..covers };
                subscriptions::set_covers(tx, tenant_id, charge.id, kept).await?;
                let Some((amount, first)) = credited else {
                    continue;
                };
                let why = match cut.used_days {
                    0 => "days it never ran".to_owned(),
                    _ => format!("{} unused days of {}", cut.unused_days, cut.whole_days),
                };
                let reason = format!(
                    "subscription {} {verb} on {on}: {why} of the period from {}",
                    subscription.id, charge.start
                );
                adjust(tx, actor, tenant_id, (charge.payer, currency), Some(amount), first, &reason).await?;
                Taken::Noted(amount)
            }
        };
        taken_back.push(TakenBack { unused: covers.from_day(on), charge, cut, taken });
    }
    Ok(taken_back)
}

/// Takes back what the subscription, cancelled today, was charged for its
/// days from today ([`take_back`]); the charges none of whose days was
/// used are left to the cancellation (it removes them with what credit
/// reserved for them). Returns what the credit notes and cuts took back,
/// and credit releases what it reserved for the days cut off charges not
/// invoiced yet (one captured by amount would keep it otherwise).
pub(crate) async fn cancel_days(
    tx: &mut PgConnection,
    actor: (&str, Uuid),
    subscription: &Subscription,
    running: Option<&Span>,
) -> Result<Decimal, BillingError> {
    let Some(today) = subscription.cancel_date else {
        return Ok(Decimal::ZERO);
    };
    let whole_total = subscriptions::period_total(tx, actor.1, subscription.id).await?;
    let taken_back = take_back(tx, actor, subscription, (today, "cancelled"), (running, whole_total)).await?;
    let mut moves = releases_of_cuts(subscription, &taken_back);
    // A first period not charged yet is held by its activation until its
    // own charge, cut short on today, is invoiced: credit now holds there
    // only its days before today, beside what its charges not invoiced yet
    // owe (each captured by its amount from now on).
    let stored = subscriptions::stored(tx, actor.1, subscription.id).await?;
    let first_running = subscription.schedule().and_then(|schedule| schedule.period_on(today));
    // (One that starts today owes none of it: the cancellation frees it.)
    if let (Some((0, period)), 0, true) =
        (first_running, stored.charged_periods, subscription.payment_type.uses_credit())
        && period.start < today
    {
        let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
        let first = stored.billed_from.filter(|day| period.contains(*day)).unwrap_or(period.start);
        let used = Covers { from: first, to: today.max(first), whole_days: period.whole_days, whole_total };
        moves.extend(
            hold_first_period(tx, actor.1, subscription, (stored.bill_to, used.amount(currency)), today).await?,
        );
    }
    publish_moves(tx, actor, subscription, moves).await?;
    Ok(taken_back
        .iter()
        .map(|taken| match taken.taken {
            Taken::Noted(amount) => amount,
            Taken::Cut => taken.cut.unused,
            Taken::Whole => taken.charge.total,
        })
        .sum())
}

/// What credit releases of the charges not invoiced yet that a cut
/// shortened: the unused part, under each one's reference.
pub(crate) fn releases_of_cuts(subscription: &Subscription, taken_back: &[TakenBack]) -> Vec<Move> {
    let uses_credit = subscription.payment_type.uses_credit();
    taken_back
        .iter()
        .filter(|taken| matches!(taken.taken, Taken::Cut))
        .filter_map(|taken| {
            let reference = taken.charge.reference.clone().filter(|_| uses_credit)?;
            Some(Move::Release { reference, payer: taken.charge.payer, amount: taken.cut.unused })
        })
        .collect()
}

/// Records an entry of the subscription's history by `actor`: its
/// creation (the terms it starts on), pause, resumption or cancellation
/// (the terms it runs on), effective on `on`, with what it credited and
/// charged.
pub(crate) async fn record(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &Subscription,
    (kind, on): (ChangeKind, NaiveDate),
    (credited, charged): (Decimal, Decimal),
    asked: Option<(&str, Decimal)>,
) -> Result<(), BillingError> {
    let terms = subscriptions::stored(tx, tenant_id, subscription.id).await?.terms;
    let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
    let created = kind == ChangeKind::Created;
    let starts = matches!(kind, ChangeKind::Created | ChangeKind::Resumed);
    let (from, to) = if starts { (None, Some(terms)) } else { (Some(terms), None) };
    let entry = SubscriptionChange {
        id: Uuid::now_v7(),
        subscription_id: subscription.id,
        account_id: subscription.account_id,
        kind,
        status: ChangeStatus::Applied,
        at_period_end: false,
        effective_on: on,
        from,
        to,
        credited: currency.round(credited),
        charged: currency.round(charged),
        authorized: currency.round(asked.map_or(Decimal::ZERO, |(_, amount)| amount)),
        // A creation shows credit's decision on the activation; a
        // resumption what credit authorized for it.
        reference: match (created, asked) {
            (true, _) => subscription.reference.clone(),
            (false, Some((reference, _))) => reference.to_owned(),
            (false, None) => String::new(),
        },
        reasons: if created { subscription.reasons.clone() } else { Vec::new() },
        held_order_id: subscription.held_order_id.filter(|_| created),
        actor: actor.to_owned(),
        created_at: now(),
    };
    changes::save(tx, tenant_id, &entry).await
}

/// Whether a request's write failed on its own (so what credit authorized
/// for it goes back), not because another with its request id is writing
/// or wrote (whose authorization it shares).
pub(crate) fn refused_here(error: &BillingError) -> bool {
    use bss_platform::error::PlatformError;
    !matches!(error, BillingError::Platform(PlatformError::RequestInProgress | PlatformError::RequestIdReused))
}

/// The refusal of taking back days of a period on a draft invoice.
fn on_draft(id: Uuid, start: NaiveDate, invoice_id: Uuid) -> BillingError {
    BillingError::precondition(
        "SUBSCRIPTION_PERIOD_ON_DRAFT",
        format!("the period from {start} of subscription {id} is on draft invoice {invoice_id}: post or void it first"),
    )
}

/// What credit is told about a subscription's reservations, by reference.
pub(crate) enum Move {
    /// Reserve more (never refused: the subscription owes it).
    Reserve { reference: String, payer: Uuid, amount: Decimal, period_start: NaiveDate },
    /// Release part of what is reserved.
    Release { reference: String, payer: Uuid, amount: Decimal },
    /// Release everything reserved, and withdraw a held order.
    ReleaseAll { reference: String },
}

/// What credit must hold again under `reference` once everything under it
/// was released: the subscription's charges under it not invoiced yet (a
/// paid trial's days used, a first period's days owed), plus `more`, on
/// the payer. None for a payment type that does not use credit.
pub(crate) async fn hold_again(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (subscription, reference): (&Subscription, &str),
    more: Option<(Uuid, Decimal)>,
    today: NaiveDate,
) -> Result<Vec<Move>, BillingError> {
    if !subscription.payment_type.uses_credit() {
        return Ok(Vec::new());
    }
    let mut owed = subscriptions::unbilled_under(tx, tenant_id, subscription.id, reference).await?;
    if let Some((payer, amount)) = more {
        match owed.iter_mut().find(|(owing, _)| *owing == payer) {
            Some((_, owing)) => *owing += amount,
            None => owed.push((payer, amount)),
        }
    }
    Ok(owed
        .into_iter()
        .map(|(payer, amount)| Move::Reserve { reference: reference.to_owned(), payer, amount, period_start: today })
        .collect())
}

/// Credit's release of everything it holds under `reference` for a
/// subscription (and the withdrawal of a held order of it): on the
/// subscriber and on each of `payers`, since a parent or reseller paying
/// for the subscription holds what it reserved.
pub(crate) fn release_everything(
    (subscription_id, account_id): (Uuid, Uuid),
    reference: String,
    payers: &BTreeSet<Uuid>,
) -> Payload {
    Payload::SubscriptionCancelled(SubscriptionCancelled {
        subscription_id: subscription_id.to_string(),
        account_id: account_id.to_string(),
        reference,
        payers: payers
            .iter()
            .filter(|payer| **payer != account_id)
            .map(|payer| OrderPayer { account_id: payer.to_string(), ..OrderPayer::default() })
            .collect(),
    })
}

/// What credit holds under the activation of a (locked) subscription whose
/// first period's own charge is not written yet, set to `owed` of that
/// period on its payer beside what its charges not invoiced yet owe: those
/// are captured by their amount from now on, everything under the
/// activation released, and held again ([`hold_again`]).
pub(crate) async fn hold_first_period(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    owed: (Uuid, Decimal),
    today: NaiveDate,
) -> Result<Vec<Move>, BillingError> {
    let activation = subscription.reference.as_str();
    subscriptions::capture_by_amount(tx, tenant_id, subscription.id, activation).await?;
    let mut moves = vec![Move::ReleaseAll { reference: activation.to_owned() }];
    moves.extend(hold_again(tx, tenant_id, (subscription, activation), Some(owed), today).await?);
    Ok(moves)
}

/// The events telling credit of the moves (none of a zero amount); a
/// release of everything names `payers`.
fn moves_to_events(
    subscription: &Subscription,
    moves: Vec<Move>,
    currency: Currency,
    payers: &BTreeSet<Uuid>,
) -> Vec<Payload> {
    let (id, account_id) = (subscription.id.to_string(), subscription.account_id.to_string());
    moves
        .into_iter()
        .filter_map(|one| match one {
            Move::Reserve { amount, .. } | Move::Release { amount, .. } if amount <= Decimal::ZERO => None,
            Move::Reserve { reference, payer, amount, period_start } => {
                Some(Payload::SubscriptionPeriodCharged(SubscriptionPeriodCharged {
                    subscription_id: id.clone(),
                    account_id: account_id.clone(),
                    payer_account_id: payer.to_string(),
                    reference,
                    amount: Some(money_to_wire(amount, currency)),
                    period_start: format_date(period_start),
                }))
            }
            Move::Release { reference, payer, amount } => Some(Payload::OrderCancelled(OrderCancelled {
                order_id: id.clone(),
                account_id: account_id.clone(),
                reference,
                whole: false,
                released: vec![OrderPayer {
                    account_id: payer.to_string(),
                    amount: Some(money_to_wire(amount, currency)),
                    ..OrderPayer::default()
                }],
                reason: "subscription changed".to_owned(),
            })),
            Move::ReleaseAll { reference } => {
                Some(release_everything((subscription.id, subscription.account_id), reference, payers))
            }
        })
        .collect()
}

/// A subscription's charge for days `covers` at `terms`, under the change's
/// `reference`.
pub(crate) fn change_charge(
    subscription: &Subscription,
    (terms, covers, bill_to): (&Terms, Covers, Uuid),
    reference: Option<&str>,
    currency: Currency,
) -> Charge {
    let total = covers.amount(currency);
    Charge {
        id: Uuid::now_v7(),
        account_id: subscription.account_id,
        bill_to_account_id: bill_to,
        separate: false,
        order_id: None,
        order_reference: reference.map(str::to_owned),
        order_line: None,
        product_id: terms.product_id.clone(),
        description: period_line(&terms.description, covers.from, (covers.days(), covers.whole_days)),
        currency: currency.code.to_owned(),
        quantity: terms.quantity,
        unit_price: terms.unit_price,
        total,
        charge_date: Some(covers.from),
        subscription_id: Some(subscription.id),
        priced_by: crate::domain::order::PricedBy {
            rule: terms.price_rule.clone(),
            source_id: terms.price_source_id.clone(),
            on: Some(covers.from),
            ..Default::default()
        },
        covers: Some(covers),
        changed: true,
    }
}

/// Applies `change` to the (locked) subscription on `today` (the day it
/// was asked, or credit approved it): asked for the period's end it is
/// scheduled; asked for now, the period running today is split on today:
/// the old terms' days from today are taken back ([`take_back`]) and the
/// new terms charged for them under the change's reference (a charge none
/// of whose days was used is charged anew in place); a running period not
/// charged yet has its old terms' days before today charged now, and its
/// own charge bills the new terms from today (a first period's, held by
/// its activation, is held there at the new terms from today instead).
/// Credit reserves what is charged beyond what it authorized for the
/// change and releases what the old terms no longer owe. Refused
/// (SUBSCRIPTION_TERM_ENDS) at the period's end of a fixed term's last
/// period ([`Subscription::change_day`]).
pub(crate) async fn apply(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &mut Subscription,
    change: &mut SubscriptionChange,
    today: NaiveDate,
) -> Result<(), BillingError> {
    let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
    let (on, index, period) = subscription.change_day(today, change.at_period_end)?;
    change.effective_on = on;
    let Some(to) = change.to.clone() else {
        return Err(unreadable("billing", "a change without its terms"));
    };
    // From the terms it has now (a change held for approval may have been
    // asked before another was applied).
    let stored = subscriptions::stored(tx, tenant_id, subscription.id).await?;
    let from = stored.terms.clone();
    change.from = Some(from.clone());
    // Changed now, every period before the one running is charged first,
    // at the terms it ran on (the caller charged what was due); at the
    // period's end, the change waits for them.
    let charged = u32::try_from(stored.charged_periods).unwrap_or(0);
    if !change.at_period_end && charged < index {
        return Err(BillingError::precondition(
            "SUBSCRIPTION_PERIODS_NOT_CHARGED",
            format!(
                "subscription {} has periods before {on} not charged yet: invoice them (GenerateInvoices) first",
                subscription.id
            ),
        ));
    }
    if change.at_period_end && charged > index {
        return Err(BillingError::precondition(
            "SUBSCRIPTION_PERIOD_CHARGED",
            format!(
                "the period of subscription {} from {on} is charged already (by a run dated ahead): change it now",
                subscription.id
            ),
        ));
    }
    let mut moves = Vec::new();
    // A change scheduled before is replaced by this one.
    if let Some(mut replaced) = changes::unschedule(tx, tenant_id, subscription.id).await? {
        replaced.status = ChangeStatus::Superseded;
        changes::save(tx, tenant_id, &replaced).await?;
        moves.push(Move::ReleaseAll { reference: replaced.reference.clone() });
    }
    if change.at_period_end {
        change.status = ChangeStatus::Scheduled;
        changes::schedule(tx, tenant_id, change).await?;
        return publish_moves(tx, (actor, tenant_id), subscription, moves).await;
    }
    let uses_credit = subscription.payment_type.uses_credit();
    let reference = uses_credit.then_some(change.reference.as_str());
    let taken_back =
        take_back(tx, (actor, tenant_id), subscription, (on, "changed"), (Some(&period), stored.terms.total)).await?;
    moves.extend(releases_of_cuts(subscription, &taken_back));
    let mut written = Vec::new();
    for TakenBack { charge, unused, cut, taken } in taken_back {
        let new_days = Covers { whole_total: to.total, ..unused };
        let old_reference = charge.reference.clone().filter(|_| uses_credit);
        match taken {
            Taken::Whole => {
                let total = new_days.amount(currency);
                let line = period_line(&to.description, new_days.from, (new_days.days(), new_days.whole_days));
                subscriptions::recharge(tx, tenant_id, charge.id, (&to, new_days, total, &line)).await?;
                change.credited += charge.total;
                change.charged += total;
                if let Some(reference) = old_reference {
                    let payer = charge.payer;
                    moves.push(match total >= charge.total {
                        true => Move::Reserve { reference, payer, amount: total - charge.total, period_start: on },
                        false => Move::Release { reference, payer, amount: charge.total - total },
                    });
                }
            }
            Taken::Cut | Taken::Noted(_) => {
                change.credited += match taken {
                    Taken::Noted(amount) => amount,
                    _ => cut.unused,
                };
                written.push(change_charge(subscription, (&to, new_days, charge.payer), reference, currency));
            }
        }
    }
    // The running period not charged yet (in arrears, or not reached by
    // the accrual): its old terms' days before today are charged now, and
    // its own charge bills the new terms from today.
    let running_charged = stored.charged_periods > i32::try_from(index).unwrap_or(i32::MAX);
    let mut billed_from = None;
    if !running_charged {
        let first = stored.billed_from.filter(|day| period.contains(*day)).unwrap_or(period.start);
        if first < on {
            let old_days = Covers { from: first, to: on, whole_days: period.whole_days, whole_total: from.total };
            written.push(change_charge(subscription, (&from, old_days, stored.bill_to), reference, currency));
        }
        billed_from = Some(on);
        // A first period is held by its activation until its own charge
        // is invoiced: credit now holds there its days from today at the
        // new terms, not the old terms' days, beside what its charges not
        // invoiced yet owe (each captured by its amount from now on).
        if index == 0 && uses_credit {
            let new_days = Covers { from: on, to: period.end, whole_days: period.whole_days, whole_total: to.total };
            let owed = (stored.bill_to, new_days.amount(currency));
            moves.extend(hold_first_period(tx, tenant_id, subscription, owed, today).await?);
        }
    }
    change.charged += written.iter().map(|charge| charge.total).sum::<Decimal>();
    if let Some(reference) = reference {
        // The change's own charges are reserved under its reference:
        // what credit authorized for it, topped up or given back.
        let owed: Decimal = written.iter().map(|charge| charge.total).sum();
        let payer = stored.bill_to;
        let reference = reference.to_owned();
        moves.push(match owed >= change.authorized {
            true => Move::Reserve { reference, payer, amount: owed - change.authorized, period_start: on },
            false => Move::Release { reference, payer, amount: change.authorized - owed },
        });
    } else if change.authorized > Decimal::ZERO {
        moves.push(Move::ReleaseAll { reference: change.reference.clone() });
    }
    repo::insert_charges(tx, tenant_id, &written).await?;
    subscription.product = to.product.clone();
    subscription.quantity = to.quantity;
    subscription.unit_price = to.unit_price;
    subscriptions::save_terms(tx, tenant_id, subscription, &to, billed_from).await?;
    change.status = ChangeStatus::Applied;
    publish_moves(tx, (actor, tenant_id), subscription, moves).await
}

/// Drops the (locked) subscription's scheduled change, if any, as
/// superseded (by its cancellation), releasing what credit authorized for
/// it.
pub(crate) async fn drop_scheduled(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &Subscription,
) -> Result<(), BillingError> {
    let Some(mut dropped) = changes::unschedule(tx, tenant_id, subscription.id).await? else {
        return Ok(());
    };
    dropped.status = ChangeStatus::Superseded;
    changes::save(tx, tenant_id, &dropped).await?;
    publish_moves(tx, (actor, tenant_id), subscription, vec![Move::ReleaseAll { reference: dropped.reference }]).await
}

/// Withdraws the (locked) subscription's change waiting for credit's
/// approval, if any (it is cancelled or paused meanwhile): SUPERSEDED, and
/// credit releases what it holds for it and withdraws its held order.
pub(crate) async fn withdraw_pending(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &Subscription,
) -> Result<(), BillingError> {
    let Some(pending) = changes::pending_of(tx, tenant_id, subscription.id).await? else {
        return Ok(());
    };
    // Locked after the subscription, as credit's decision locks them.
    let Some(mut change) = changes::lock_pending(tx, tenant_id, pending).await? else {
        return Ok(());
    };
    change.status = ChangeStatus::Superseded;
    changes::save(tx, tenant_id, &change).await?;
    let release = vec![Move::ReleaseAll { reference: change.reference.clone() }];
    publish_moves(tx, (actor, tenant_id), subscription, release).await
}

/// Releases what credit authorized for the scheduled changes just applied
/// (their periods are reserved as each is charged), on whoever pays for
/// each subscription.
pub(crate) async fn applied_releases(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    applied: &[SubscriptionChange],
) -> Result<Vec<Payload>, BillingError> {
    let authorized: Vec<&SubscriptionChange> =
        applied.iter().filter(|change| change.authorized > Decimal::ZERO).collect();
    if authorized.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = authorized.iter().map(|change| change.subscription_id).collect();
    let paying = subscriptions::payers_of(tx, tenant_id, &ids).await?;
    Ok(authorized
        .into_iter()
        .map(|change| {
            let payers = paying.get(&change.subscription_id).cloned().unwrap_or_default();
            release_everything((change.subscription_id, change.account_id), change.reference.clone(), &payers)
        })
        .collect())
}

/// Publishes the moves' events, if any.
pub(crate) async fn publish_moves(
    tx: &mut PgConnection,
    (actor, tenant_id): (&str, Uuid),
    subscription: &Subscription,
    moves: Vec<Move>,
) -> Result<(), BillingError> {
    let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
    let payers = match moves.iter().any(|one| matches!(one, Move::ReleaseAll { .. })) {
        true => subscriptions::payers_of(tx, tenant_id, &[subscription.id]).await?.remove(&subscription.id),
        false => None,
    };
    let events = moves_to_events(subscription, moves, currency, &payers.unwrap_or_default());
    if events.is_empty() {
        return Ok(());
    }
    publish_all(tx, tenant_id, actor, events).await
}

impl Billing {
    /// Changes a subscription's product or quantity, now or from its next
    /// period's start ([`apply`]), authorized by credit for the difference
    /// when above zero; the answer, made by `respond` of the subscription
    /// and the change's history entry, is what a retry gets. Held by
    /// credit, the change waits (PENDING_APPROVAL) and is applied on the day
    /// credit approves it; refused, it is REJECTED and nothing changes.
    pub async fn change_subscription<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        ask: ChangeAsk,
        respond: impl FnOnce(&Subscription, &SubscriptionChange) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let id = ask.subscription_id;
        let subscription = self.subscription_for(caller, tenant_id, id).await?;
        subscription.check_changeable()?;
        let today = now().date_naive();
        let (on, _, period) = subscription.change_day(today, ask.at_period_end)?;
        let account = self.fetch_account(caller, subscription.account_id).await?;
        let product = ask.product.unwrap_or_else(|| subscription.product.clone());
        let quantity = ask.quantity.unwrap_or(subscription.quantity);
        let mut line = [Line { product: product.clone(), quantity, ..Line::default() }];
        let priced = self
            .price(caller, (subscription.account_id, ask.min_pricing_version), &mut line)
            .await
            .map_err(super::lines_as(|_| "product".to_owned()))?;
        if priced.currency.code != subscription.currency {
            return Err(BillingError::precondition(
                "CURRENCY_MISMATCH",
                format!(
                    "the new terms are priced in {}, the subscription is billed in {}",
                    priced.currency.code, subscription.currency
                ),
            ));
        }
        let bill_to = self.payers_of(tenant_id, &account, &line).await?;
        let Some(quoted) = charges(subscription.account_id, &line, &bill_to, None, priced.currency, today).pop() else {
            return Err(BillingError::Unavailable { what: "pricing", cause: "a quote without its line".to_owned() });
        };
        let to = Terms {
            product,
            product_id: quoted.product_id.clone(),
            description: format!("{} subscription", quoted.description),
            quantity,
            unit_price: quoted.unit_price,
            total: quoted.total,
            price_rule: quoted.priced_by.rule.clone(),
            price_source_id: quoted.priced_by.source_id.clone(),
        };
        let mut conn = self.db.acquire().await?;
        let stored = subscriptions::stored(&mut conn, tenant_id, id).await?;
        // One change waits for credit at a time; and a period on a draft
        // is posted or voided first (before credit is asked anything).
        if let Some(pending) = changes::pending_of(&mut conn, tenant_id, id).await? {
            return Err(BillingError::precondition(
                "SUBSCRIPTION_CHANGE_PENDING",
                format!("change {pending} of subscription {id} waits for credit's approval"),
            ));
        }
        if !ask.at_period_end
            && let Some((invoice_id, start)) = subscriptions::on_draft(&mut conn, tenant_id, id, period.start).await?
        {
            return Err(on_draft(id, start, invoice_id));
        }
        drop(conn);
        let from = stored.terms;
        if from.product_id == to.product_id && from.quantity == to.quantity {
            let mut v = Violations::new();
            v.add("product", "with the quantity, is what the subscription has: a change changes one of them");
            return Err(v.into());
        }
        let change_id = Uuid::now_v7();
        let request_id = key.as_ref().map(RequestKey::request_id).unwrap_or_default();
        let mut change = SubscriptionChange {
            id: change_id,
            subscription_id: id,
            account_id: subscription.account_id,
            kind: ChangeKind::of(&from, &to),
            status: ChangeStatus::Applied,
            at_period_end: ask.at_period_end,
            effective_on: on,
            // At the currency's scale, as every amount it adds.
            authorized: priced.currency.round(Decimal::ZERO),
            credited: priced.currency.round(Decimal::ZERO),
            charged: priced.currency.round(Decimal::ZERO),
            reference: credit_reference("subscription-change", request_id, change_id),
            reasons: Vec::new(),
            held_order_id: None,
            actor: caller.subject.clone(),
            created_at: now(),
            from: Some(from.clone()),
            to: Some(to.clone()),
        };
        // Credit authorizes what the new terms cost beyond the old over the
        // days left of the period (a whole period for one at its end).
        let more = difference(&period, on, (from.total, to.total), priced.currency);
        if more > Decimal::ZERO && subscription.payment_type != PaymentType::RunningQuote {
            let shares = payer_shares([(stored.bill_to, more)]);
            let ask = CreditAsk {
                account_id: subscription.account_id,
                reference: &change.reference,
                currency: priced.currency,
                shares: &shares,
                payment_type: subscription.payment_type,
                event_kind: EventKind::SubscriptionActivation,
                prepay_over_limit: false,
            };
            let credited = self.authorize_credit(tenant_id, ask).await?;
            change.authorized = more;
            change.reasons = credited.reasons;
            change.held_order_id = credited.held_order_id;
            change.status = match credited.state {
                OrderState::Executed => ChangeStatus::Applied,
                OrderState::HeldForApproval => ChangeStatus::PendingApproval,
                _ => ChangeStatus::Rejected,
            };
        }
        let reserved = change.authorized > Decimal::ZERO && change.status != ChangeStatus::Rejected;
        let reference = change.reference.clone();
        let written = self
            .write(key, async |tx| {
                if let Some(held_order_id) = change.held_order_id {
                    held_orders::lock_held(tx, held_order_id).await?;
                }
                // What was due is charged first, at the terms it ran on.
                if change.status == ChangeStatus::Applied {
                    self.charge_subscriptions(tx, tenant_id, &[subscription.account_id], true, today).await?;
                }
                let (mut subscription, _) = subscriptions::lock(tx, tenant_id, id, today)
                    .await?
                    .ok_or_else(|| BillingError::not_found("subscription", id))?;
                if change.status == ChangeStatus::Applied {
                    subscription.check_changeable()?;
                    apply(tx, (&caller.subject, tenant_id), &mut subscription, &mut change, today).await?;
                }
                changes::save(tx, tenant_id, &change).await?;
                // Credit may have decided the held change already: its
                // decision applies now.
                if let Some(held_order_id) = change.held_order_id
                    && held_orders::apply_recorded(tx, tenant_id, held_order_id).await?
                {
                    (subscription, _) = subscriptions::lock(tx, tenant_id, id, today)
                        .await?
                        .ok_or_else(|| BillingError::not_found("subscription", id))?;
                    change = changes::get(tx, tenant_id, change.id).await?;
                }
                Ok(respond(&subscription, &change))
            })
            .await;
        // Refused after credit reserved (or held) for it: that goes back.
        if written.as_ref().err().is_some_and(refused_here) && reserved {
            self.release_all(&caller.subject, tenant_id, &subscription, reference).await?;
        }
        written
    }

    /// Tells credit, in a transaction of its own, to release everything it
    /// holds under `reference` for the subscription (and withdraw a held
    /// order): what it authorized for a step that was then refused.
    pub(crate) async fn release_all(
        &self,
        actor: &str,
        tenant_id: Uuid,
        subscription: &Subscription,
        reference: String,
    ) -> Result<(), BillingError> {
        let mut tx = self.db.begin().await?;
        publish_moves(&mut tx, (actor, tenant_id), subscription, vec![Move::ReleaseAll { reference }]).await?;
        tx.commit().await?;
        self.events.written();
        Ok(())
    }

    /// A subscription's history (its creation, changes and cancellation),
    /// oldest first, after `after` (the caller checked it may see the
    /// subscription).
    pub async fn subscription_history(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        page: (Option<Uuid>, i64),
    ) -> Result<Vec<SubscriptionChange>, BillingError> {
        changes::of_subscription(&self.db, tenant_id, id, page).await
    }
}

/// Applies or rejects the change waiting for a held order credit decided;
/// false when none waits for it. Approved, it is applied that day.
pub(crate) async fn decide_change(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    approved: bool,
) -> Result<bool, BillingError> {
    // The subscription is locked first, then its change (as a
    // cancellation withdrawing the change locks them).
    let Some(subscription_id) = changes::held_for(tx, tenant_id, held_order_id).await? else {
        return Ok(false);
    };
    let today = now().date_naive();
    let locked = subscriptions::lock(tx, tenant_id, subscription_id, today).await?;
    let Some(mut change) = changes::lock_held(tx, tenant_id, held_order_id).await? else {
        return Ok(false);
    };
    let changeable = locked.as_ref().is_some_and(|(subscription, _)| subscription.check_changeable().is_ok());
    let actor = (crate::overdue::ACTOR, tenant_id);
    let mut dropped = !approved;
    if let (true, Some((mut subscription, _))) = (approved, locked.clone())
        && changeable
    {
        // Applied in a savepoint: a rule refusing it now (a period on a
        // draft, periods not charged) drops it, rather than holding up
        // credit's stream.
        let mut savepoint = sqlx::Connection::begin(&mut *tx).await?;
        match apply(&mut savepoint, actor, &mut subscription, &mut change, today).await {
            Ok(()) => savepoint.commit().await?,
            Err(BillingError::Precondition { reason, description }) => {
                savepoint.rollback().await?;
                tracing::warn!(%held_order_id, reason, description, "an approved change no longer applies: dropped");
                dropped = true;
            }
            Err(error) => return Err(error),
        }
    } else {
        dropped = true;
    }
    if dropped {
        // Rejected, or no longer applies (the subscription cancelled
        // meanwhile): what credit reserved on approval goes back.
        change.status = if approved { ChangeStatus::Superseded } else { ChangeStatus::Rejected };
        if let (true, Some((subscription, _))) = (approved, locked) {
            let release = vec![Move::ReleaseAll { reference: change.reference.clone() }];
            publish_moves(tx, actor, &subscription, release).await?;
        }
    }
    changes::save(tx, tenant_id, &change).await?;
    Ok(true)
}
