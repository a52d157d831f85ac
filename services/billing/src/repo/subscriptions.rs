//! Subscriptions in billing's own terms: each a JSON document of
//! [`Subscription`], its state by billing's own code, and the columns its
//! charging and lookups need (payer, price, start date, periods charged).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::cycle::{AnchorDay, Timing};
use crate::domain::error::BillingError;
use crate::domain::order::Charge;
use crate::domain::subscription::{Subscription, SubscriptionState};

/// Stores a new subscription with what charging it needs: its period's
/// charge and the day it starts (none: not started, never charged).
pub async fn insert(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    charge: &Charge,
    start_date: Option<NaiveDate>,
) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate,
             product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
             status, reference, held_order_id, price_rule, price_source_id, cycle_months, anchor_day, in_arrears)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, 'infinity'::date), 0,
             $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(tenant_id)
    .bind(subscription.id)
    .bind(subscription.account_id)
    .bind(Json(subscription))
    .bind(charge.bill_to_account_id)
    .bind(charge.separate)
    .bind(&charge.product_id)
    .bind(format!("{} subscription", charge.description))
    .bind(&charge.currency)
    .bind(charge.quantity)
    .bind(charge.unit_price)
    .bind(charge.total)
    .bind(start_date)
    .bind(subscription.state.code())
    .bind(&subscription.reference)
    .bind(subscription.held_order_id)
    .bind(&charge.priced_by.rule)
    .bind(&charge.priced_by.source_id)
    .bind(subscription.cycle.months() as i32)
    .bind(subscription.anchor.map(|anchor| anchor.day() as i32))
    .bind(subscription.timing == Timing::Arrears)
    .execute(tx)
    .await?;
    Ok(())
}

/// The account's billing anchor day, if it has one.
pub async fn billing_anchor(db: &PgPool, tenant_id: Uuid, account_id: Uuid) -> Result<Option<AnchorDay>, BillingError> {
    let day: Option<i32> =
        sqlx::query_scalar("SELECT anchor_day FROM billing.billing_anchors WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    day.map(|day| {
        AnchorDay::new(u32::try_from(day).unwrap_or(0)).map_err(|_| super::corrupt("anchor_day", &day.to_string()))
    })
    .transpose()
}

/// Sets (or, with none, clears) the account's billing anchor day.
pub async fn set_billing_anchor(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    anchor: Option<AnchorDay>,
) -> Result<(), BillingError> {
    match anchor {
        Some(anchor) => sqlx::query(
            "INSERT INTO billing.billing_anchors (tenant_id, account_id, anchor_day) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, account_id) DO UPDATE SET anchor_day = excluded.anchor_day, updated_at = now()",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(anchor.day() as i32),
        None => sqlx::query("DELETE FROM billing.billing_anchors WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account_id),
    }
    .execute(tx)
    .await?;
    Ok(())
}

/// Stores what changed of a subscription; `starts` starts its first period
/// on the day its document says (its activation was approved).
pub async fn save(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    starts: bool,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions SET doc = $3, status = $4, cancelled_on = $5, body = NULL,
             start_date = CASE WHEN $6 THEN coalesce($7, start_date) ELSE start_date END
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(subscription.id)
    .bind(Json(subscription))
    .bind(subscription.state.code())
    .bind(subscription.cancel_date)
    .bind(starts)
    .bind(subscription.start_date)
    .execute(tx)
    .await?;
    Ok(())
}

/// Ends every subscription cancelled at a period's end whose day has come
/// (`today` or before): ACTIVE becomes CANCELLED, in the column and the
/// document. Returns how many.
pub async fn end_cancelled(db: &PgPool, today: NaiveDate) -> Result<u64, BillingError> {
    let ended = sqlx::query(
        "UPDATE billing.subscriptions SET status = 'CANCELLED', doc = jsonb_set(doc, '{state}', '\"CANCELLED\"')
         WHERE status = 'ACTIVE' AND cancelled_on <= $1 AND doc IS NOT NULL",
    )
    .bind(today)
    .execute(db)
    .await?;
    Ok(ended.rows_affected())
}

/// A charge of a subscription's period, as a cancellation reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodCharge {
    pub id: Uuid,
    /// Who pays it (the invoice's account).
    pub payer: Uuid,
    /// The period's first day.
    pub start: NaiveDate,
    pub total: Decimal,
    pub description: String,
    /// The invoice holding it, and whether that is posted.
    pub invoice: Option<(Uuid, bool)>,
}

/// The subscription's charges of periods starting on `from` or later,
/// locked, oldest first, each with the invoice holding it (read after the
/// lock, so a run that invoiced it meanwhile is seen).
pub async fn charges_from(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    from: NaiveDate,
) -> Result<Vec<PeriodCharge>, BillingError> {
    let rows: Vec<(Uuid, Uuid, NaiveDate, Decimal, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, bill_to_account_id, charge_date, total, description, invoice_id FROM billing.charges
         WHERE tenant_id = $1 AND subscription_id = $2 AND charge_date >= $3
         ORDER BY charge_date, id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let invoices: Vec<Uuid> = rows.iter().filter_map(|row| row.5).collect();
    let posted: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM billing.invoices WHERE tenant_id = $1 AND id = ANY($2) AND status = 'POSTED'",
    )
    .bind(tenant_id)
    .bind(&invoices)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, payer, start, total, description, invoice)| PeriodCharge {
            id,
            payer,
            start,
            total,
            description,
            invoice: invoice.map(|invoice| (invoice, posted.contains(&invoice))),
        })
        .collect())
}

/// Charges only `total` for a period cut short, on a charge no invoice
/// holds yet; its description names the days (`days`: ", 5 of 31 days").
pub async fn cut_charge(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charge_id: Uuid,
    (total, days): (Decimal, &str),
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.charges SET total = $3,
             description = regexp_replace(description, ', [0-9]+ of [0-9]+ days$', '') || $4
         WHERE tenant_id = $1 AND id = $2 AND invoice_id IS NULL",
    )
    .bind(tenant_id)
    .bind(charge_id)
    .bind(total)
    .bind(days)
    .execute(tx)
    .await?;
    Ok(())
}

/// The price of a whole period of the subscription (its latest).
pub async fn period_total(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Decimal, BillingError> {
    Ok(sqlx::query_scalar("SELECT total FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_one(tx)
        .await?)
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<Subscription>, BillingError> {
    let doc: Option<Json<Subscription>> =
        sqlx::query_scalar("SELECT doc FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(doc.map(|Json(subscription)| subscription))
}

/// The subscription, locked, and whether nothing of it was or will be
/// charged: no period charged and none started before `today` (one never
/// activated starts at 'infinity', a date only Postgres compares).
pub async fn lock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    today: NaiveDate,
) -> Result<Option<(Subscription, bool)>, BillingError> {
    let row: Option<(Json<Subscription>, bool)> = sqlx::query_as(
        "SELECT doc, charged_periods = 0 AND start_date >= $3 FROM billing.subscriptions
         WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(today)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|(Json(subscription), nothing_started)| (subscription, nothing_started)))
}

/// Takes back the (locked) subscription's charges of periods starting on
/// `day` or later that no invoice holds yet (a cancellation that day owes
/// none of them), and counts its periods charged back to match. Returns
/// each one taken back: (its credit reference, its payer, its amount).
pub async fn uncharge_from(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    day: NaiveDate,
) -> Result<Vec<(Option<String>, Uuid, Decimal)>, BillingError> {
    let removed: Vec<(Option<String>, Uuid, Decimal)> = sqlx::query_as(
        "DELETE FROM billing.charges
         WHERE tenant_id = $1 AND subscription_id = $2 AND invoice_id IS NULL AND charge_date >= $3
         RETURNING order_reference, bill_to_account_id, total",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(day)
    .fetch_all(&mut *tx)
    .await?;
    if !removed.is_empty() {
        sqlx::query(
            "UPDATE billing.subscriptions SET charged_periods = charged_periods - $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(removed.len() as i32)
        .execute(tx)
        .await?;
    }
    Ok(removed)
}

/// The subscription whose activation waits for credit's decision on a held
/// order, locked.
pub async fn lock_held(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<Subscription>, BillingError> {
    let doc: Option<Json<Subscription>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscriptions
         WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(SubscriptionState::PendingApproval.code())
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(subscription)| subscription))
}

/// An account's subscriptions, oldest first, after `after` when given.
pub async fn of_account(
    db: &PgPool,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Subscription>, BillingError> {
    let docs: Vec<Json<Subscription>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscriptions WHERE tenant_id = $1 AND account_id = $2
           AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(docs.into_iter().map(|Json(subscription)| subscription).collect())
}

/// Records the subscription as its account's first paid one; false when
/// the account has one already.
pub async fn mark_first_paid(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
) -> Result<bool, BillingError> {
    let inserted = sqlx::query!(
        "INSERT INTO billing.first_paid_subscriptions (tenant_id, account_id, subscription_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        tenant_id,
        subscription.account_id,
        subscription.id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
