//! Automatic collection of posted invoices with the account's saved method
//! opted in for subscriptions: queued when an invoice posts (in the
//! posting transaction), attempted by the collector with no transaction
//! open while the provider answers, and recorded in one transaction: a
//! captured payment is posted (settling the invoice, published for
//! credit), a decline is kept on the invoice with the provider's reason,
//! a provider asking to retry is asked again later.

use bss_platform::money::money_to_wire;
use bss_platform::time::now;
use bss_proto::credit::PaymentMethodsChanged;
use chrono::TimeDelta;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::Billing;
use super::checkout::{Charged, saved_method};
use super::payments::post_payment;
use crate::domain::collection::{Attempt, Collection, CollectionStatus, Use, choose_method};
use crate::domain::error::BillingError;
use crate::overdue::ACTOR;
use crate::repo::collections::{self, Claimed};
use crate::repo::{self, InvoiceRow};

/// Keeps the account's method for collections as credit's methods now
/// say (its default opted in for subscriptions, else its oldest that is).
pub(crate) async fn methods_changed(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    changed: &PaymentMethodsChanged,
) -> Result<(), BillingError> {
    let account_id: Uuid = changed.account_id.parse().map_err(|_| BillingError::Unavailable {
        what: "credit",
        cause: format!("an account {:?}", changed.account_id),
    })?;
    let methods: Vec<_> = changed.methods.iter().map(saved_method).collect();
    let method = choose_method(&methods, (Use::Subscriptions, None), None, None);
    collections::set_method(tx, tenant_id, account_id, method).await
}

/// Queues the collection of the invoices just posted whose account has a
/// method for collections; each row of `posted` shows its collection.
pub(crate) async fn queue(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    posted: &mut [InvoiceRow],
) -> Result<(), BillingError> {
    let ids: Vec<Uuid> = posted.iter().map(|row| row.id).collect();
    let at = now();
    let queued: Vec<(Uuid, Collection, Option<chrono::DateTime<chrono::Utc>>)> =
        collections::to_collect(tx, tenant_id, &ids)
            .await?
            .into_iter()
            .map(|due| {
                let collection = Collection {
                    status: CollectionStatus::Pending,
                    method_id: due.method_id,
                    label: due.label,
                    token_reference: due.token_reference,
                    amount: due.owed,
                    attempts: 0,
                    payment_id: None,
                    authorization_id: String::new(),
                    capture_id: String::new(),
                    decline_reason: String::new(),
                    updated_at: at,
                };
                (due.invoice_id, collection, Some(at))
            })
            .collect();
    if queued.is_empty() {
        return Ok(());
    }
    collections::save(tx, tenant_id, &queued).await?;
    for (id, collection, _) in queued {
        if let Some(row) = posted.iter_mut().find(|row| row.id == id) {
            row.collection = Some(Json(collection));
        }
    }
    Ok(())
}

impl Billing {
    /// Attempts a claimed collection and records what the provider said.
    pub(crate) async fn collect(&self, claimed: Claimed) -> Result<(), BillingError> {
        let Claimed { tenant_id, invoice_id, account_id, currency, owed, collection: Json(mut collection) } = claimed;
        let currency = repo::stored_currency(&currency)?;
        // The amount is what the invoice owed when it posted, on every
        // attempt under the same reference: what the provider replays is
        // what billing records. Settled otherwise before any attempt, it is
        // not collected; after one, the provider is asked again (it may have
        // taken the payment) and what it took is recorded.
        let amount = collection.amount;
        // The account's method now: a removed or opted-out one is not
        // charged again.
        let method = {
            let mut connection = self.db.acquire().await?;
            collections::method_of(&mut connection, tenant_id, account_id).await?
        };
        let attempt = if !collection.to_attempt(owed) {
            None
        } else if let Some((method_id, label, token_reference)) = method {
            collection.method_id = method_id;
            collection.label = label;
            collection.token_reference = token_reference;
            // The same reference on every attempt: the provider answers a
            // repeated call as the first, so an invoice is taken once.
            let reference = format!("{tenant_id}:invoice:{invoice_id}:collect");
            let charged = self
                .charge(
                    (tenant_id, account_id),
                    &collection.token_reference,
                    money_to_wire(amount, currency),
                    (&reference, format!("invoice {invoice_id}")),
                )
                .await;
            Some(match charged {
                Ok(Charged::Captured { authorization_id, capture_id }) => {
                    Attempt::Captured { authorization_id, capture_id }
                }
                Ok(Charged::Declined { authorization_id, reason }) => Attempt::Declined { authorization_id, reason },
                Err(BillingError::Unavailable { cause, .. }) => Attempt::Retry { cause },
                // The provider refused the request itself, or none is
                // configured: asking again changes nothing.
                Err(other) => Attempt::Declined { authorization_id: String::new(), reason: other.to_string() },
            })
        } else {
            Some(Attempt::Declined {
                authorization_id: String::new(),
                reason: "the account has no saved method opted in for subscriptions any more".to_owned(),
            })
        };
        let mut tx = self.db.begin().await?;
        // The account's open invoices first, oldest first, as a payment
        // locks them: never the other way round.
        repo::lock_open_invoices(&mut tx, tenant_id, account_id).await?;
        let Some((Json(mut current), owed_now)) = collections::lock(&mut tx, tenant_id, invoice_id).await? else {
            return Ok(());
        };
        if current.status == CollectionStatus::Pending {
            current.method_id = collection.method_id.clone();
            current.label = collection.label.clone();
            current.token_reference = collection.token_reference.clone();
        }
        let at = now();
        let (mut next, again) = current.record(attempt, amount, at);
        if next.status == CollectionStatus::Collected && next.payment_id.is_none() {
            // What was captured is posted whole: settling this invoice
            // while it is open, the rest (paid otherwise meanwhile) kept
            // as the account's credit.
            let first = (owed_now > rust_decimal::Decimal::ZERO).then_some(invoice_id);
            let receipt = post_payment(&mut tx, tenant_id, ACTOR, (account_id, currency, amount, first)).await?;
            next.payment_id = Some(receipt.id);
        }
        if next.status == CollectionStatus::Failed {
            tracing::warn!(%tenant_id, %invoice_id, reason = %next.decline_reason, "collecting an invoice failed");
        }
        let due = again.map(|pause| at + TimeDelta::from_std(pause).unwrap_or(TimeDelta::MAX));
        collections::save(&mut tx, tenant_id, &[(invoice_id, next, due)]).await?;
        tx.commit().await?;
        self.events.written();
        Ok(())
    }

    /// Claims the collections due now and attempts each; how many.
    pub async fn collect_due(&self) -> Result<usize, BillingError> {
        let mut tx = self.db.begin().await?;
        let claimed = collections::claim(&mut tx, BATCH, LEASE).await?;
        tx.commit().await?;
        let count = claimed.len();
        for claimed in claimed {
            let invoice_id = claimed.invoice_id;
            if let Err(error) = self.collect(claimed).await {
                tracing::warn!(%error, %invoice_id, "collecting an invoice failed; it is due again after its lease");
            }
        }
        Ok(count)
    }
}

/// Collections claimed at once.
const BATCH: i64 = 20;
/// How long a claimed collection is not due again: longer than a batch of
/// attempts can take (each up to three provider calls of 5 seconds).
const LEASE: std::time::Duration = std::time::Duration::from_secs(600);
