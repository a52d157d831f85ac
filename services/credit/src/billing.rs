//! Billing's posted transactions applied to each account's position, each
//! in the transaction that also moves the consumer's cursor (exactly once):
//! an invoice raises the balance and captures what it bills of the orders'
//! reservations, in the same transaction; credit notes, payments and
//! write-offs lower it, refunds raise it; a subscription's later period,
//! charged, is reserved until its invoice captures it; a cancelled order or subscription
//! releases what is reserved for it (and withdraws its held order); overdue
//! and settled invoices set the account out of terms and back.
//!
//! The billing service serves these events on its stream; the consumer
//! that follows that stream calls [`apply`] for each.

use std::collections::{BTreeMap, BTreeSet};

use bss_platform::events::{HandlerError, Source, parse_id as id};
use bss_platform::money::{Currency, parse_decimal};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{BillingEvent, InvoicePosted, OrderPayer, SubscriptionPeriodCharged, UsageReserved};
use bss_proto::types::Money;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::held_orders::publish_held;
use crate::app::reservations;
use crate::app::{ACTOR, notify_thresholds};
use crate::domain::account::{CreditAccount, Settings};
use crate::domain::error::CreditError;
use crate::repo;

fn amount(money: Option<&Money>) -> Result<(Decimal, Currency), HandlerError> {
    let money = money.ok_or_else(|| HandlerError::DeadLetter("a transaction without an amount".to_owned()))?;
    let currency = Currency::parse(&money.currency_code).map_err(HandlerError::DeadLetter)?;
    let amount = parse_decimal(&money.amount).map_err(HandlerError::DeadLetter)?;
    if amount < Decimal::ZERO {
        return Err(HandlerError::DeadLetter(format!("a negative amount {amount}")));
    }
    Ok((amount, currency))
}

fn retry(error: CreditError) -> HandlerError {
    HandlerError::Retry(error.to_string())
}

/// The account credit keeps (recorded with the tenant's defaults when
/// credit has not met it yet), locked, in `currency`: one statement for an
/// account credit knows (with the tenant's settings), three the first time.
async fn locked(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
) -> Result<(CreditAccount, Settings), HandlerError> {
    let (known, settings) = repo::account_with_settings(tx, tenant_id, account_id, true).await.map_err(retry)?;
    let account = match known {
        Some(account) => account,
        None => {
            repo::insert_account(tx, tenant_id, account_id, currency, settings.default_limit).await.map_err(retry)?;
            repo::lock_account(tx, tenant_id, account_id).await.map_err(retry)?
        }
    };
    if account.currency != currency {
        return Err(HandlerError::DeadLetter(format!(
            "an amount in {} for an account in {}",
            currency.code, account.currency.code
        )));
    }
    Ok((account, settings))
}

/// Moves the balance of an account by `delta`, capturing what the posted
/// invoice bills of its open reservations: `captures` names each order with
/// the amount billed (`None`: all that is open of it).
async fn post(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
    delta: Decimal,
    captures: &[(String, Option<Decimal>)],
) -> Result<(), HandlerError> {
    let (account, settings) = locked(tx, tenant_id, account_id, currency).await?;
    let mut captured = Decimal::ZERO;
    for (order, amount) in captures {
        captured += reservations::take_for_order(tx, tenant_id, ACTOR, &account, order, *amount, "CAPTURED")
            .await
            .map_err(retry)?;
    }
    repo::move_exposure(tx, tenant_id, account_id, Decimal::ZERO, delta).await.map_err(retry)?;
    let before = account.exposure().total();
    notify_thresholds(tx, tenant_id, &settings, &account, before, before + delta - captured).await.map_err(retry)?;
    Ok(())
}

/// What an invoice captures: each order it bills, by the amount billed, and
/// the orders it names without amounts, in full.
fn captures(invoice: &InvoicePosted) -> Result<Vec<(String, Option<Decimal>)>, HandlerError> {
    let mut captures = Vec::new();
    for billed in &invoice.order_amounts {
        captures.push((billed.reference.clone(), Some(amount(billed.amount.as_ref())?.0)));
    }
    for reference in &invoice.order_references {
        if !captures.iter().any(|(named, _)| named == reference) {
            captures.push((reference.clone(), None));
        }
    }
    Ok(captures)
}

/// An order (or a subscription's activation) of `account_id` cancelled in
/// billing: every open reservation of it on the ordering account and its
/// payers is released and its pending held order withdrawn (`whole`), or
/// only the amounts named per payer are released.
///
/// The accounts concerned are locked first, in id order, as an approval
/// locks them: an approval racing the cancellation either committed before
/// (its reservations are found and released) or finds the held order
/// withdrawn. Accounts credit never met hold nothing and are skipped.
async fn cancel(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    reference: &str,
    whole: bool,
    payers: &[OrderPayer],
) -> Result<(), HandlerError> {
    let mut concerned = BTreeSet::from([account_id]);
    let mut parts: Vec<(Uuid, Option<Decimal>)> = Vec::new();
    for payer in payers {
        let payer_id = id(&payer.account_id)?;
        concerned.insert(payer_id);
        if !whole {
            parts.push((payer_id, Some(amount(payer.amount.as_ref())?.0)));
        }
    }
    let mut accounts = BTreeMap::new();
    for concerned_id in concerned {
        if repo::account(tx, tenant_id, concerned_id).await.map_err(retry)?.is_some() {
            accounts.insert(concerned_id, repo::lock_account(tx, tenant_id, concerned_id).await.map_err(retry)?);
        }
    }
    if whole {
        let held = repo::pending_held_order_of(tx, tenant_id, account_id, reference).await.map_err(retry)?;
        if let Some(held) = held
            && let Some(withdrawn) =
                repo::decide_held_order(tx, tenant_id, held.id, "CANCELLED", ACTOR, "the order was cancelled")
                    .await
                    .map_err(retry)?
            && let Some(account) = accounts.get(&account_id)
        {
            publish_held(tx, tenant_id, ACTOR, &withdrawn, account.currency).await.map_err(retry)?;
        }
        // Read under the locks: an approval that won is seen now.
        parts = accounts.keys().map(|account_id| (*account_id, None)).collect();
    }
    for (account_id, part) in parts {
        let Some(account) = accounts.get(&account_id) else {
            continue;
        };
        reservations::take_for_order(tx, tenant_id, ACTOR, account, reference, part, "RELEASED")
            .await
            .map_err(retry)?;
    }
    Ok(())
}

/// A later period of a subscription was charged: its amount is reserved on
/// the payer until the invoice billing it captures it (never refused: the
/// subscription is active and owes it), so available credit counts it
/// before it is invoiced.
async fn reserve_period(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charged: &SubscriptionPeriodCharged,
) -> Result<(), HandlerError> {
    let (amount, currency) = amount(charged.amount.as_ref())?;
    if charged.reference.is_empty() {
        return Err(HandlerError::DeadLetter("a subscription period without its reference".to_owned()));
    }
    let (account, settings) = locked(tx, tenant_id, id(&charged.payer_account_id)?, currency).await?;
    reservations::reserve(tx, tenant_id, ACTOR, &settings, &account, &charged.reference, amount, true)
        .await
        .map_err(retry)?;
    Ok(())
}

/// What a metered subscription's usage not invoiced yet comes to moved:
/// reserved on the payer until the invoice billing it captures it (never
/// refused: the usage happened), or released.
async fn reserve_usage(tx: &mut PgConnection, tenant_id: Uuid, usage: &UsageReserved) -> Result<(), HandlerError> {
    let (amount, currency) = amount(usage.amount.as_ref())?;
    if usage.reference.is_empty() {
        return Err(HandlerError::DeadLetter("usage without its reference".to_owned()));
    }
    let (account, settings) = locked(tx, tenant_id, id(&usage.payer_account_id)?, currency).await?;
    if usage.release {
        reservations::take_for_order(tx, tenant_id, ACTOR, &account, &usage.reference, Some(amount), "RELEASED")
            .await
            .map_err(retry)?;
    } else {
        reservations::reserve(tx, tenant_id, ACTOR, &settings, &account, &usage.reference, amount, true)
            .await
            .map_err(retry)?;
    }
    Ok(())
}

/// Applies one billing event to credit's state.
pub async fn apply(tx: &mut PgConnection, event: &BillingEvent) -> Result<(), HandlerError> {
    let tenant_id = id(&event.tenant_id)?;
    match &event.payload {
        Some(Payload::InvoicePosted(invoice)) => {
            let (amount, currency) = amount(invoice.amount.as_ref())?;
            post(tx, tenant_id, id(&invoice.account_id)?, currency, amount, &captures(invoice)?).await
        }
        Some(Payload::CreditNotePosted(note)) => {
            let (amount, currency) = amount(note.amount.as_ref())?;
            post(tx, tenant_id, id(&note.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::PaymentPosted(payment)) => {
            let (amount, currency) = amount(payment.amount.as_ref())?;
            post(tx, tenant_id, id(&payment.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::WriteOffPosted(write_off)) => {
            let (amount, currency) = amount(write_off.amount.as_ref())?;
            post(tx, tenant_id, id(&write_off.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::RefundPosted(refund)) => {
            let (amount, currency) = amount(refund.amount.as_ref())?;
            post(tx, tenant_id, id(&refund.account_id)?, currency, amount, &[]).await
        }
        Some(Payload::OrderCancelled(cancelled)) => {
            let account_id = id(&cancelled.account_id)?;
            cancel(tx, tenant_id, account_id, &cancelled.reference, cancelled.whole, &cancelled.released).await
        }
        Some(Payload::SubscriptionCancelled(cancelled)) => {
            let account_id = id(&cancelled.account_id)?;
            cancel(tx, tenant_id, account_id, &cancelled.reference, true, &cancelled.payers).await
        }
        Some(Payload::SubscriptionPeriodCharged(charged)) => reserve_period(tx, tenant_id, charged).await,
        Some(Payload::UsageReserved(usage)) => reserve_usage(tx, tenant_id, usage).await,
        Some(Payload::InvoiceOverdue(overdue)) => {
            repo::mark_overdue(tx, tenant_id, id(&overdue.invoice_id)?, id(&overdue.account_id)?, true)
                .await
                .map_err(retry)
        }
        Some(Payload::InvoiceSettled(settled)) => {
            repo::mark_overdue(tx, tenant_id, id(&settled.invoice_id)?, id(&settled.account_id)?, false)
                .await
                .map_err(retry)
        }
        // Not about money owed: a wallet's payment of invoices comes as
        // PaymentPosted too, and its other movements change no balance; a
        // trial's end or a renewal moves nothing (the periods they start
        // are reserved as each is charged).
        Some(
            Payload::FirstPaidSubscriptionCreated(_)
            | Payload::OrderOutcome(_)
            | Payload::WalletTransactionPosted(_)
            | Payload::SubscriptionTrialEnded(_)
            | Payload::SubscriptionRenewed(_),
        )
        | None => Ok(()),
    }
}

/// Billing's event stream, applied to credit's accounts.
pub struct BillingFeed {
    pub source: Source,
}

impl bss_platform::events::Subscription for BillingFeed {
    type Event = BillingEvent;

    fn stream_name(&self) -> &str {
        "billing"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    type Prepared = ();

    async fn prepare(&self, _: &BillingEvent) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &BillingEvent, (): ()) -> Result<(), HandlerError> {
        apply(tx, event).await
    }
}
