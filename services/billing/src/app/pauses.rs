//! Pausing and resuming a subscription: paused, it owes nothing for its
//! days from the pause (what was charged for them is taken back, as a
//! cancellation takes it back); resumed, it is owed from that day on, on
//! the same anchor (the period running then prorated by the day), after
//! credit authorizes that part period like an activation.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use bss_platform::time::now;
use bss_proto::credit::EventKind;
use prost::Message;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::changes::{self, Move, Taken, change_charge, publish_moves, refused_here, take_back};
use super::orders::CreditAsk;
use super::{Billing, unreadable};
use crate::domain::change::{ChangeKind, Covers};
use crate::domain::cycle::{Timing, prorate};
use crate::domain::error::BillingError;
use crate::domain::order::{Charge, OrderState, credit_reference, payer_shares};
use crate::domain::subscription::Subscription;
use crate::repo;
use crate::repo::subscriptions;

impl Billing {
    /// Pauses a subscription from today. What was due is charged first, at
    /// the terms it ran on; the days from today are taken back (a charge
    /// none of whose days was used is removed and what credit reserved for
    /// it released); a running period not charged yet is charged now for
    /// its days before today, and counted as charged. The answer, made by
    /// `respond`, is what a retry gets.
    pub async fn pause_subscription<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: impl FnOnce(&Subscription) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let subscription = self.subscription_for(caller, tenant_id, id).await?;
        self.write(key, async |tx| {
            let today = now().date_naive();
            self.charge_subscriptions(tx, tenant_id, &[subscription.account_id], true, today).await?;
            let (mut subscription, _) = subscriptions::lock(tx, tenant_id, id, today)
                .await?
                .ok_or_else(|| BillingError::not_found("subscription", id))?;
            let (index, running) = subscription.pause(today)?;
            let actor = (caller.subject.as_str(), tenant_id);
            let stored = subscriptions::stored(tx, tenant_id, id).await?;
            let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
            let taken =
                take_back(tx, actor, &subscription, (today, "paused"), (Some(&running), stored.terms.total)).await?;
            let mut credited = Decimal::ZERO;
            for taken in &taken {
                credited += match taken.taken {
                    Taken::Noted(amount) => amount,
                    Taken::Cut => taken.cut.unused,
                    Taken::Whole => taken.charge.total,
                };
            }
            // Charges none of whose days was used are owed no more: removed,
            // and what credit reserved for each released.
            let mut moves = Vec::new();
            let uses_credit = subscription.payment_type.uses_credit();
            for (reference, payer, amount) in subscriptions::uncharge_from(tx, tenant_id, id, today).await? {
                if let Some(reference) = reference.filter(|_| uses_credit) {
                    moves.push(Move::Release { reference, payer, amount });
                }
            }
            moves.extend(changes::releases_of_cuts(&subscription, &taken));
            // The running period not charged yet owes its days before today,
            // charged now under its own reference.
            let stored = subscriptions::stored(tx, tenant_id, id).await?;
            let charged = u32::try_from(stored.charged_periods).unwrap_or(0);
            let mut charged_now = Decimal::ZERO;
            if charged <= index {
                let first = stored.billed_from.filter(|day| running.contains(*day)).unwrap_or(running.start);
                // A first period paused on its first day owes nothing: what
                // credit reserved for it at activation goes back.
                // What it still owes under it (a paid trial not invoiced
                // yet) is held again.
                if first >= today && index == 0 {
                    moves.push(Move::ReleaseAll { reference: subscription.reference.clone() });
                    let reference = subscription.reference.as_str();
                    moves.extend(changes::hold_again(tx, tenant_id, (&subscription, reference), None, today).await?);
                }
                if first < today {
                    let reference = period_reference(&subscription, index);
                    let days = Covers {
                        from: first,
                        to: today,
                        whole_days: running.whole_days,
                        whole_total: stored.terms.total,
                    };
                    let charge = change_charge(
                        &subscription,
                        (&stored.terms, days, stored.bill_to),
                        reference.as_deref(),
                        currency,
                    );
                    if let Some(reference) = reference.filter(|_| index > 0) {
                        moves.push(Move::Reserve {
                            reference,
                            payer: stored.bill_to,
                            amount: charge.total,
                            period_start: first,
                        });
                    }
                    charged_now = charge.total;
                    // The period's own charge, cut short by the pause: its
                    // invoice captures all credit reserved for the period.
                    let charge = Charge { changed: false, ..charge };
                    repo::insert_charges(tx, tenant_id, &[charge]).await?;
                }
            }
            let counted = stored.charged_periods.max(i32::try_from(index).unwrap_or(i32::MAX).saturating_add(1));
            subscriptions::save(tx, tenant_id, &subscription, false).await?;
            subscriptions::set_pause(tx, tenant_id, id, (Some(today), counted, None)).await?;
            changes::drop_scheduled(tx, actor, &subscription).await?;
            changes::withdraw_pending(tx, actor, &subscription).await?;
            changes::record(tx, actor, &subscription, (ChangeKind::Paused, today), (credited, charged_now), None)
                .await?;
            publish_moves(tx, actor, &subscription, moves).await?;
            Ok(respond(&subscription))
        })
        .await
    }

    /// Resumes a paused subscription from today: the period running today
    /// is owed from today, authorized by credit like an activation (held or
    /// refused: RESUME_NOT_AUTHORIZED, still paused); in advance it is
    /// charged now under the resumption's reference, in arrears when it
    /// ends. The answer, made by `respond`, is what a retry gets.
    pub async fn resume_subscription<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: impl FnOnce(&Subscription) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let today = now().date_naive();
        let mut asked = self.subscription_for(caller, tenant_id, id).await?;
        let (_, running) = asked.resume(today)?;
        let stored = {
            let mut conn = self.db.acquire().await?;
            subscriptions::stored(&mut conn, tenant_id, id).await?
        };
        let currency = Currency::parse(&asked.currency).map_err(|cause| unreadable("billing", cause))?;
        let amount = prorate(stored.terms.total, running.days_from(today), running.whole_days, currency);
        let request_id = key.as_ref().map(RequestKey::request_id).unwrap_or_default();
        let reference = credit_reference("subscription-resume", request_id, Uuid::now_v7());
        let mut authorized = false;
        if amount > Decimal::ZERO && asked.payment_type != PaymentType::RunningQuote {
            let shares = payer_shares([(stored.bill_to, amount)]);
            let ask = CreditAsk {
                account_id: asked.account_id,
                reference: &reference,
                currency,
                shares: &shares,
                payment_type: asked.payment_type,
                event_kind: EventKind::SubscriptionActivation,
                prepay_over_limit: false,
            };
            let credited = self.authorize_credit(tenant_id, ask).await?;
            if credited.state != OrderState::Executed {
                // What credit holds for it goes back; it stays paused.
                self.release_all(&caller.subject, tenant_id, &asked, reference).await?;
                let reasons: Vec<String> =
                    credited.reasons.iter().map(|reason| format!("{}: {}", reason.code, reason.message)).collect();
                return Err(BillingError::precondition(
                    "RESUME_NOT_AUTHORIZED",
                    format!("credit did not authorize resuming subscription {id}: {}", reasons.join("; ")),
                ));
            }
            authorized = true;
        }
        let written = self
            .write(key, async |tx| {
                let (mut subscription, _) = subscriptions::lock(tx, tenant_id, id, today)
                    .await?
                    .ok_or_else(|| BillingError::not_found("subscription", id))?;
                let (index, running) = subscription.resume(today)?;
                let actor = (caller.subject.as_str(), tenant_id);
                let stored = subscriptions::stored(tx, tenant_id, id).await?;
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                let mut charged = Decimal::ZERO;
                let mut moves = Vec::new();
                // In advance the days from today are charged now (credit
                // reserved them under the resumption's reference); in
                // arrears the period is billed from today when it ends, and
                // reserved then.
                let counted = if subscription.timing == Timing::Advance {
                    let days = Covers::span(&running, stored.terms.total).from_day(today);
                    let uses_credit = subscription.payment_type.uses_credit();
                    let charge = change_charge(
                        &subscription,
                        (&stored.terms, days, stored.bill_to),
                        Some(reference.as_str()).filter(|_| uses_credit && authorized),
                        currency,
                    );
                    charged = charge.total;
                    repo::insert_charges(tx, tenant_id, &[charge]).await?;
                    if authorized && !uses_credit {
                        moves.push(Move::ReleaseAll { reference: reference.clone() });
                    }
                    (index.saturating_add(1), None)
                } else {
                    if authorized {
                        moves.push(Move::ReleaseAll { reference: reference.clone() });
                    }
                    // A first period is not reserved when charged (its
                    // activation was, and the pause's charge captures that):
                    // credit holds its days from today again under the
                    // activation's reference, beside what its charges not
                    // invoiced yet owe (each captured by its amount now).
                    if authorized && index == 0 {
                        let owed = (stored.bill_to, amount);
                        moves.extend(changes::hold_first_period(tx, tenant_id, &subscription, owed, today).await?);
                    }
                    (index, Some(today))
                };
                subscriptions::save(tx, tenant_id, &subscription, false).await?;
                subscriptions::set_pause(tx, tenant_id, id, (None, counted.0, counted.1)).await?;
                let asked = authorized.then_some((reference.as_str(), amount));
                changes::record(
                    tx,
                    actor,
                    &subscription,
                    (ChangeKind::Resumed, today),
                    (Decimal::ZERO, charged),
                    asked,
                )
                .await?;
                publish_moves(tx, actor, &subscription, moves).await?;
                Ok(respond(&subscription))
            })
            .await;
        if written.as_ref().err().is_some_and(refused_here) && authorized {
            self.release_all(&caller.subject, tenant_id, &asked, reference).await?;
        }
        written
    }
}

/// The reference credit reserves period `index` of the subscription
/// under (see [`crate::domain::subscription::DuePeriod::reference`]).
fn period_reference(subscription: &Subscription, index: u32) -> Option<String> {
    match index {
        0 => Some(subscription.reference.clone()),
        index => subscription.payment_type.uses_credit().then(|| format!("{}#{index}", subscription.reference)),
    }
}
