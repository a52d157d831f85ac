//! Subscriptions: created (the account checked, priced once by pricing,
//! billed to its payer, its activation authorized by credit), read and
//! listed, cancelled; and the event of an account's first paid
//! subscription, once per account.

use bss_platform::auth::Caller;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::{Currency, money_to_wire};
use bss_platform::payment::PaymentType;
use bss_platform::time::now;
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{FirstPaidSubscriptionCreated, OrderPayer, SubscriptionCancelled, SubscriptionPeriodCharged};
use bss_proto::credit::EventKind;
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::changes;
use super::checkout::missing_method;
use super::held_orders;
use super::orders::CreditAsk;
use super::{Billing, lines_as, publish, publish_all, unreadable};
use crate::domain::change::ChangeKind;
use crate::domain::change::Covers;
use crate::domain::collection::{Use, choose_method, method_kind};
use crate::domain::cycle::{AnchorDay, Cycle, Schedule, Timing, prorate};
use crate::domain::error::BillingError;
use crate::domain::order::{Charge, PricedBy};
use crate::domain::order::{Line, OrderState, charges, check_orderer, credit_reference, payer_shares};
use crate::domain::subscription::{Subscription, SubscriptionState, Term, Trial};
use crate::domain::usage::Metered;
use crate::repo::subscriptions;
use crate::repo::{self, collections};
use crate::wire;

/// A new subscription as the caller asks for it.
pub struct NewSubscription {
    pub account_id: Uuid,
    pub payment_type: PaymentType,
    /// The product (id or code).
    pub product: String,
    pub quantity: Decimal,
    /// The oldest pricing book version that may price it (0: the newest
    /// pricing has heard of).
    pub min_pricing_version: i64,
    /// How often it is billed (its product's price is a period's), its
    /// anchor day (none: its account's, else the day it starts) and when
    /// its periods are billed.
    pub billing: (Cycle, Option<AnchorDay>, Timing),
    /// The day it starts (none: today), with its trial when it has one.
    pub start: Option<NaiveDate>,
    /// A trial before its first period.
    pub trial: Option<Trial>,
    /// A fixed term.
    pub term: Option<Term>,
    /// The metrics it meters.
    pub metered: Vec<Metered>,
}

impl Billing {
    /// Creates a subscription for the caller. The answer, made by `respond`
    /// of the subscription as created, is what a retry with the same
    /// request id gets.
    pub async fn create_subscription<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        new: NewSubscription,
        respond: impl FnOnce(&Subscription) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let account = self.fetch_account(caller, new.account_id).await?;
        check_orderer(&wire::orderer(&account), new.payment_type)?;
        // Priced now, once: later price changes apply to new subscriptions.
        let mut line = [Line { product: new.product.clone(), quantity: new.quantity, ..Line::default() }];
        let priced = self
            .price(caller, (new.account_id, new.min_pricing_version), &mut line)
            .await
            .map_err(lines_as(|_| "subscription.product".to_owned()))?;
        // Each metered metric's product, resolved to its id (pricing knows it).
        let mut metered = new.metered;
        if !metered.is_empty() {
            let mut products: Vec<Line> = metered
                .iter()
                .map(|metered| Line { product: metered.product.clone(), quantity: Decimal::ONE, ..Line::default() })
                .collect();
            self.price(caller, (new.account_id, new.min_pricing_version), &mut products)
                .await
                .map_err(lines_as(|index| format!("subscription.metered[{index}].product")))?;
            for (metered, product) in metered.iter_mut().zip(products) {
                metered.product = product.product_id;
            }
        }
        let id = Uuid::now_v7();
        // A retried request keeps its reference, so credit decides and
        // reserves once.
        let request_id = key.as_ref().map(RequestKey::request_id).unwrap_or_default();
        let reference = credit_reference("subscription", request_id, id);
        let bill_to = self.payers_of(tenant_id, &account, &line).await?;
        let today = now().date_naive();
        let Some(charge) = charges(new.account_id, &line, &bill_to, None, priced.currency, today).pop() else {
            return Err(BillingError::Unavailable { what: "pricing", cause: "a quote without its line".to_owned() });
        };
        let (cycle, anchor, timing) = new.billing;
        let anchor = match anchor {
            Some(anchor) => Some(anchor),
            None => subscriptions::billing_anchor(&self.db, tenant_id, new.account_id).await?,
        };
        // Credit authorizes the first period as it would run from its
        // start (after a trial): a part period up to the anchor is its
        // days' share.
        let start = new.start.unwrap_or(today);
        let first_start = Subscription::first_period_from(new.trial, start);
        let schedule = Schedule { cycle, anchor: anchor.unwrap_or(AnchorDay::of(first_start)), start: first_start };
        let first_period = schedule.period(0).ok_or_else(|| {
            BillingError::precondition("PERIOD_OUT_OF_RANGE", "the first period is past the last date")
        })?;
        // Started in the past, only its first period may have begun: credit
        // authorizes that one, and no later period may be owed unasked.
        if start < today && first_period.end <= today {
            return Err(Violations::single(
                "subscription.start_date",
                format!(
                    "its first period, from {first_start}, ended before today: a subscription starts at most one \
                     billing period back"
                ),
            )
            .into());
        }
        let first_amount = prorate(charge.total, first_period.days(), first_period.whole_days, priced.currency);
        let trial_price = new.trial.map(|trial| priced.currency.round(trial.price())).unwrap_or_default();
        // A card or PayPal subscription is paid by collecting its invoices
        // with its payer's method opted in for subscriptions, which billing
        // knows from now on (credit's stream may follow a moment later).
        let mut collect_with = None;
        if method_kind(new.payment_type).is_some() {
            let methods = self.saved_methods(tenant_id, charge.bill_to_account_id, None).await?;
            choose_method(&methods, (Use::Subscriptions, method_kind(new.payment_type)), None, None)
                .ok_or_else(|| missing_method(charge.bill_to_account_id, Use::Subscriptions, new.payment_type))?;
            collect_with = choose_method(&methods, (Use::Subscriptions, None), None, None).cloned();
        }
        let mut subscription = Subscription {
            id,
            account_id: new.account_id,
            product: new.product,
            quantity: new.quantity,
            payment_type: new.payment_type,
            currency: priced.currency.code.to_owned(),
            unit_price: line[0].unit_price,
            paid: charge.unit_price > Decimal::ZERO && new.payment_type != PaymentType::RunningQuote,
            state: SubscriptionState::Active,
            created_at: now(),
            cancel_date: None,
            reasons: Vec::new(),
            payers: Vec::new(),
            reference: reference.clone(),
            held_order_id: None,
            cycle,
            anchor,
            timing,
            start_date: None,
            trial: new.trial.map(|trial| Trial { price: trial.price.map(|_| trial_price), ..trial }),
            term: new.term,
            paused_on: None,
            pauses: Vec::new(),
            metered,
        };
        // A running quote is recorded, never authorized or charged.
        let mut start_date = None;
        if new.payment_type != PaymentType::RunningQuote {
            let shares = payer_shares([(charge.bill_to_account_id, first_amount + trial_price)]);
            let ask = CreditAsk {
                account_id: new.account_id,
                reference: &reference,
                currency: priced.currency,
                shares: &shares,
                payment_type: new.payment_type,
                event_kind: EventKind::SubscriptionActivation,
                prepay_over_limit: false,
            };
            let credited = self.authorize_credit(tenant_id, ask).await?;
            subscription.state = SubscriptionState::after(credited.state);
            if credited.state == OrderState::Executed {
                subscription.start_on(start);
                start_date = subscription.start_date;
            }
            subscription.reasons = credited.reasons;
            subscription.payers = credited.payers;
            subscription.held_order_id = credited.held_order_id;
        }
        self.write(key, async |tx| {
            if let Some(held_order_id) = subscription.held_order_id {
                held_orders::lock_held(tx, held_order_id).await?;
            }
            subscriptions::insert(tx, tenant_id, &subscription, &charge, start_date).await?;
            if subscription.state == SubscriptionState::Active {
                charge_trial(tx, tenant_id, &subscription, charge.bill_to_account_id).await?;
            }
            let created = (ChangeKind::Created, start_date.unwrap_or(first_start));
            changes::record(
                tx,
                (&caller.subject, tenant_id),
                &subscription,
                created,
                (Decimal::ZERO, Decimal::ZERO),
                None,
            )
            .await?;
            if let Some(method) = &collect_with {
                collections::set_method(tx, tenant_id, charge.bill_to_account_id, Some(method)).await?;
            }
            if subscription.state == SubscriptionState::Active {
                publish_if_first_paid(tx, tenant_id, &caller.subject, &subscription).await?;
            }
            // Credit may have decided the held activation already: its
            // decision applies now.
            if let Some(held_order_id) = subscription.held_order_id
                && held_orders::apply_recorded(tx, tenant_id, held_order_id).await?
            {
                subscription = subscriptions::lock(tx, tenant_id, id, today)
                    .await?
                    .map(|(subscription, _)| subscription)
                    .ok_or_else(|| BillingError::not_found("subscription", id))?;
            }
            let response = respond(&subscription);
            Ok(response)
        })
        .await
    }

    /// The subscription; NOT_FOUND for another tenant's.
    /// A subscription as `caller` may see it: a customer's own user only
    /// its account's.
    pub async fn subscription_for(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Subscription, BillingError> {
        let subscription = self.subscription(tenant_id, id).await?;
        self.check_own(caller, &[subscription.account_id], ("subscription", id)).await?;
        Ok(subscription)
    }

    pub async fn subscription(&self, tenant_id: Uuid, id: Uuid) -> Result<Subscription, BillingError> {
        subscriptions::get(&self.db, tenant_id, id).await?.ok_or_else(|| BillingError::not_found("subscription", id))
    }

    /// The account's billing anchor day; NOT_FOUND when the caller may not
    /// see the account.
    pub async fn billing_anchor(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<Option<AnchorDay>, BillingError> {
        self.fetch_account(caller, account_id).await?;
        subscriptions::billing_anchor(&self.db, tenant_id, account_id).await
    }

    /// Sets (none: clears) the account's billing anchor day, for the
    /// subscriptions created for it from now on. The answer, made by
    /// `respond` of the anchor set, is what a retry gets.
    pub async fn set_billing_anchor<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, anchor): (Uuid, Option<AnchorDay>),
        respond: impl FnOnce(Option<AnchorDay>) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        self.fetch_account(caller, account_id).await?;
        self.write(key, async |tx| {
            subscriptions::set_billing_anchor(tx, tenant_id, account_id, anchor).await?;
            Ok(respond(anchor))
        })
        .await
    }

    /// An account's subscriptions, oldest first, after `after`; NOT_FOUND
    /// when the caller may not see the account.
    pub async fn subscriptions_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<Subscription>, BillingError> {
        // Another tenant's account is NOT_FOUND, not an empty list.
        self.fetch_account(caller, account_id).await?;
        subscriptions::of_account(&self.db, tenant_id, account_id, after, limit).await
    }

    /// Cancels a subscription today, or at the end of the period running
    /// today (`at_period_end`). One of which nothing was or will be charged
    /// frees what credit holds for its activation but what its charges not
    /// invoiced yet still owe (a paid trial's days used); a charged or
    /// started first period is still invoiced, and its invoice captures it.
    pub async fn cancel_subscription<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, at_period_end): (Uuid, bool),
        respond: impl FnOnce(&Subscription) -> R,
    ) -> Result<R, BillingError> {
        if caller.customer_user().is_some() {
            self.subscription_for(caller, tenant_id, id).await?;
        }
        self.write(key, async |tx| {
            let today = now().date_naive();
            let (mut subscription, nothing_started) = subscriptions::lock(tx, tenant_id, id, today)
                .await?
                .ok_or_else(|| BillingError::not_found("subscription", id))?;
            let running = subscription.current_period(today);
            subscription.cancel(today, at_period_end)?;
            let actor = (caller.subject.as_str(), tenant_id);
            let credited = match subscription.state {
                SubscriptionState::Cancelled => {
                    changes::cancel_days(tx, actor, &subscription, running.as_ref()).await?
                }
                _ => Decimal::ZERO,
            };
            changes::drop_scheduled(tx, actor, &subscription).await?;
            changes::withdraw_pending(tx, actor, &subscription).await?;
            let ends = subscription.cancel_date.unwrap_or(today);
            changes::record(tx, actor, &subscription, (ChangeKind::Cancelled, ends), (credited, Decimal::ZERO), None)
                .await?;
            // Periods from its last day on are owed no more, even when
            // charged already (the accrual charges a period on its first
            // day): their charges are taken back and what credit reserved
            // for them freed.
            let taken_back = subscriptions::uncharge_from(tx, tenant_id, id, ends).await?;
            subscriptions::save(tx, tenant_id, &subscription, false).await?;
            let mut releases = Vec::new();
            for (reference, payer, amount) in &taken_back {
                let Some(reference) = reference.as_ref().filter(|reference| **reference != subscription.reference)
                else {
                    continue;
                };
                let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
                releases.push(Payload::SubscriptionCancelled(SubscriptionCancelled {
                    subscription_id: subscription.id.to_string(),
                    account_id: subscription.account_id.to_string(),
                    reference: reference.clone(),
                    payers: vec![OrderPayer {
                        account_id: payer.to_string(),
                        amount: Some(money_to_wire(*amount, currency)),
                        ..OrderPayer::default()
                    }],
                }));
            }
            if !releases.is_empty() {
                publish_all(tx, tenant_id, &caller.subject, releases).await?;
            }
            let first_taken_back =
                taken_back.iter().any(|(reference, _, _)| *reference == Some(subscription.reference.clone()));
            // Cancelled at its period's end, it still owes that period.
            let ended_now = subscription.state == SubscriptionState::Cancelled;
            if ended_now && (nothing_started || first_taken_back) {
                let cancelled = SubscriptionCancelled {
                    subscription_id: subscription.id.to_string(),
                    account_id: subscription.account_id.to_string(),
                    reference: subscription.reference.clone(),
                    payers: subscription
                        .payers
                        .iter()
                        .map(|payer| wire::order_payer(payer, &subscription.currency))
                        .collect(),
                };
                publish(tx, tenant_id, &caller.subject, Payload::SubscriptionCancelled(cancelled)).await?;
                // What it still owes under it (a paid trial's days used,
                // not invoiced yet) is held again.
                let reference = subscription.reference.as_str();
                let again = changes::hold_again(tx, tenant_id, (&subscription, reference), None, today).await?;
                changes::publish_moves(tx, actor, &subscription, again).await?;
            }
            let response = respond(&subscription);
            Ok(response)
        })
        .await
    }
}

/// Reserves on the payer what the approved subscription's first period
/// bills beyond what credit authorized when it was created
/// ([`Subscription::first_period_beyond_authorized`]): a reservation under
/// its activation's reference (SubscriptionPeriodCharged, never refused:
/// credit approved the activation), which its first invoice captures with
/// the rest.
pub(crate) async fn reserve_first_period_beyond_authorized(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
) -> Result<(), BillingError> {
    let whole_total = subscriptions::period_total(tx, tenant_id, subscription.id).await?;
    let (Some(beyond), Some(payer), Some(start)) = (
        subscription.first_period_beyond_authorized(whole_total),
        subscription.payers.first(),
        subscription.start_date,
    ) else {
        return Ok(());
    };
    let currency = Currency::parse(&subscription.currency).map_err(|cause| unreadable("billing", cause))?;
    let reserved = SubscriptionPeriodCharged {
        subscription_id: subscription.id.to_string(),
        account_id: subscription.account_id.to_string(),
        payer_account_id: payer.account_id.to_string(),
        reference: subscription.reference.clone(),
        amount: Some(money_to_wire(beyond, currency)),
        period_start: bss_platform::time::format_date(start),
    };
    publish(tx, tenant_id, crate::overdue::ACTOR, Payload::SubscriptionPeriodCharged(reserved)).await
}

/// Charges the (active) subscription's trial when it has a price: all its
/// days, on its first day, under the activation's reference (credit
/// authorized it with the first period; the invoice billing it captures
/// it). A free trial charges nothing.
pub(crate) async fn charge_trial(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    bill_to: Uuid,
) -> Result<(), BillingError> {
    let (Some(trial), Some((first, end))) = (subscription.trial, subscription.trial_span()) else {
        return Ok(());
    };
    if trial.price() <= Decimal::ZERO || subscription.payment_type == PaymentType::RunningQuote {
        return Ok(());
    }
    let terms = subscriptions::stored(tx, tenant_id, subscription.id).await?.terms;
    let days = i64::from(trial.days);
    let charge = Charge {
        id: Uuid::now_v7(),
        account_id: subscription.account_id,
        bill_to_account_id: bill_to,
        separate: false,
        order_id: None,
        order_reference: Some(subscription.reference.clone()),
        order_line: None,
        product_id: terms.product_id.clone(),
        description: format!("{} trial from {}, {days} days", terms.description, first.format("%Y-%m-%d")),
        currency: subscription.currency.clone(),
        quantity: terms.quantity,
        unit_price: trial.price(),
        total: trial.price(),
        charge_date: Some(first),
        subscription_id: Some(subscription.id),
        priced_by: PricedBy {
            rule: PricedBy::TRIAL.to_owned(),
            source_id: String::new(),
            on: Some(first),
            ..PricedBy::default()
        },
        covers: Some(Covers { from: first, to: end, whole_days: days, whole_total: trial.price() }),
        changed: true,
    };
    repo::insert_charges(tx, tenant_id, &[charge]).await
}

/// Publishes the account's first paid subscription, once per account.
pub(crate) async fn publish_if_first_paid(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    subscription: &Subscription,
) -> Result<(), BillingError> {
    if !subscription.paid {
        return Ok(());
    }
    let first = subscriptions::mark_first_paid(tx, tenant_id, subscription).await?;
    if first {
        let event = FirstPaidSubscriptionCreated {
            account_id: subscription.account_id.to_string(),
            subscription_id: subscription.id.to_string(),
        };
        publish(tx, tenant_id, actor, Payload::FirstPaidSubscriptionCreated(event)).await?;
    }
    Ok(())
}
