//! A subscription's history (its creation, changes and cancellation), each
//! entry a JSON document of [`SubscriptionChange`] beside the columns its
//! lookups need; and the change scheduled for a subscription's next period,
//! applied once the periods before it are charged.

use chrono::NaiveDate;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::change::{ChangeStatus, SubscriptionChange};
use crate::domain::error::BillingError;

/// Stores an entry, or what changed of it (its status, its figures).
pub async fn save(tx: &mut PgConnection, tenant_id: Uuid, change: &SubscriptionChange) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.subscription_changes
             (tenant_id, id, subscription_id, kind, status, effective_on, held_order_id, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, id) DO UPDATE
         SET status = excluded.status, effective_on = excluded.effective_on, doc = excluded.doc",
    )
    .bind(tenant_id)
    .bind(change.id)
    .bind(change.subscription_id)
    .bind(change.kind.code())
    .bind(change.status.code())
    .bind(change.effective_on)
    .bind(change.held_order_id)
    .bind(Json(change))
    .execute(tx)
    .await?;
    Ok(())
}

/// A subscription's history, oldest first, after `after` when given.
pub async fn of_subscription(
    db: &PgPool,
    tenant_id: Uuid,
    subscription_id: Uuid,
    (after, limit): (Option<Uuid>, i64),
) -> Result<Vec<SubscriptionChange>, BillingError> {
    let docs: Vec<Json<SubscriptionChange>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscription_changes
         WHERE tenant_id = $1 AND subscription_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(subscription_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(docs.into_iter().map(|Json(change)| change).collect())
}

/// One entry.
pub async fn get(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<SubscriptionChange, BillingError> {
    let Json(change): Json<SubscriptionChange> =
        sqlx::query_scalar("SELECT doc FROM billing.subscription_changes WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_one(tx)
            .await?;
    Ok(change)
}

/// The subscription's change waiting for credit's approval, if any.
pub async fn pending_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    subscription_id: Uuid,
) -> Result<Option<Uuid>, BillingError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM billing.subscription_changes
         WHERE tenant_id = $1 AND subscription_id = $2 AND status = $3 LIMIT 1",
    )
    .bind(tenant_id)
    .bind(subscription_id)
    .bind(ChangeStatus::PendingApproval.code())
    .fetch_optional(conn)
    .await?)
}

/// The subscription whose change waits for credit's decision on a held
/// order, if one does.
pub async fn held_for(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<Uuid>, BillingError> {
    Ok(sqlx::query_scalar(
        "SELECT subscription_id FROM billing.subscription_changes
         WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(ChangeStatus::PendingApproval.code())
    .fetch_optional(tx)
    .await?)
}

/// The change `id`, locked, while it waits for credit's approval.
pub async fn lock_pending(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<SubscriptionChange>, BillingError> {
    let doc: Option<Json<SubscriptionChange>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscription_changes WHERE tenant_id = $1 AND id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(ChangeStatus::PendingApproval.code())
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(change)| change))
}

/// The change waiting for credit's decision on a held order, locked.
pub async fn lock_held(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<SubscriptionChange>, BillingError> {
    let doc: Option<Json<SubscriptionChange>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscription_changes
         WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(ChangeStatus::PendingApproval.code())
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(change)| change))
}

/// Takes the (locked) subscription's scheduled change off it: the change,
/// locked, when it had one.
pub async fn unschedule(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription_id: Uuid,
) -> Result<Option<SubscriptionChange>, BillingError> {
    let doc: Option<Json<SubscriptionChange>> = sqlx::query_scalar(
        "WITH taken AS (
             UPDATE billing.subscriptions s SET change_id = NULL, change_on = NULL
             FROM (SELECT change_id FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2) before
             WHERE s.tenant_id = $1 AND s.id = $2 AND before.change_id IS NOT NULL
             RETURNING before.change_id)
         SELECT c.doc FROM billing.subscription_changes c JOIN taken ON c.id = taken.change_id
         WHERE c.tenant_id = $1 FOR UPDATE OF c",
    )
    .bind(tenant_id)
    .bind(subscription_id)
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(change)| change))
}

/// Schedules `change` for the (locked) subscription: it takes effect from
/// the period starting on its effective day.
pub async fn schedule(tx: &mut PgConnection, tenant_id: Uuid, change: &SubscriptionChange) -> Result<(), BillingError> {
    sqlx::query("UPDATE billing.subscriptions SET change_id = $3, change_on = $4 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(change.subscription_id)
        .bind(change.id)
        .bind(change.effective_on)
        .execute(tx)
        .await?;
    Ok(())
}

/// Applies the scheduled changes of the subscriptions billed to the
/// accounts (or, when `bought`, bought by them) whose day has come by
/// `date` and whose periods before that day are all charged: the new terms are stored (the periods
/// from then on are priced with them) and the change is APPLIED. Returns
/// the changes applied.
pub async fn apply_ready(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (accounts, bought): (&[Uuid], bool),
    date: NaiveDate,
) -> Result<Vec<SubscriptionChange>, BillingError> {
    let docs: Vec<Json<SubscriptionChange>> = sqlx::query_scalar(
        "WITH ready AS (
             UPDATE billing.subscriptions s
             SET product_id = t.product_id, description = t.description, quantity = t.quantity,
                 unit_price = t.unit_price, total = t.total, price_rule = t.price_rule,
                 price_source_id = t.price_source_id, change_id = NULL, change_on = NULL, body = NULL,
                 doc = s.doc || jsonb_build_object('product', t.product, 'quantity', t.quantity::text,
                     'unit_price', t.unit_price::text)
             FROM billing.subscription_changes c,
                 LATERAL jsonb_to_record(c.doc->'to') AS t(product text, product_id text, description text,
                     quantity numeric, unit_price numeric, total numeric, price_rule text, price_source_id text)
             WHERE s.tenant_id = $1 AND (s.bill_to_account_id = ANY($2) OR ($3 AND s.account_id = ANY($2)))
               AND s.change_on <= $5 AND c.tenant_id = s.tenant_id AND c.id = s.change_id
               AND billing.period_start(s.start_date, s.anchor_day, s.cycle_months, s.charged_periods) >= s.change_on
             RETURNING c.id)
         UPDATE billing.subscription_changes c
         SET status = $4, doc = jsonb_set(c.doc, '{status}', to_jsonb($4::text))
         FROM ready WHERE c.tenant_id = $1 AND c.id = ready.id
         RETURNING c.doc",
    )
    .bind(tenant_id)
    .bind(accounts)
    .bind(bought)
    .bind(ChangeStatus::Applied.code())
    .bind(date)
    .fetch_all(tx)
    .await?;
    Ok(docs.into_iter().map(|Json(change)| change).collect())
}
