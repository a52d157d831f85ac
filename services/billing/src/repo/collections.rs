//! Automatic collection: each account's method opted in for subscriptions
//! (from credit's stream), the collections of posted invoices (on the
//! invoice row: its Collection as JSON, queued by `collect_after`), and
//! the claim of due collections by the collector (SKIP LOCKED, with a
//! lease: a collector that dies leaves them due again once it ends).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::collection::{Collection, SavedMethod};
use crate::domain::error::BillingError;

/// Keeps the account's method for collections (`None`: it has none).
pub async fn set_method(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    method: Option<&SavedMethod>,
) -> Result<(), BillingError> {
    match method {
        Some(method) => {
            sqlx::query(
                "INSERT INTO billing.collection_methods (tenant_id, account_id, method_id, token_reference, label)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, account_id) DO UPDATE SET method_id = $3, token_reference = $4,
                     label = $5, updated_at = now()",
            )
            .bind(tenant_id)
            .bind(account_id)
            .bind(&method.id)
            .bind(&method.token_reference)
            .bind(&method.label)
            .execute(tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM billing.collection_methods WHERE tenant_id = $1 AND account_id = $2")
                .bind(tenant_id)
                .bind(account_id)
                .execute(tx)
                .await?;
        }
    }
    Ok(())
}

/// The account's method for collections now: (id, label, token).
pub async fn method_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<(String, String, String)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT method_id, label, token_reference FROM billing.collection_methods
         WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?)
}

/// An invoice to collect: what it owes and the method of its account.
#[derive(sqlx::FromRow)]
pub struct ToCollect {
    pub invoice_id: Uuid,
    pub owed: Decimal,
    pub method_id: String,
    pub label: String,
    pub token_reference: String,
}

/// The posted invoices among `invoices` that owe something and whose
/// account has a method for collections.
pub async fn to_collect(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[Uuid],
) -> Result<Vec<ToCollect>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT i.id AS invoice_id, i.total - i.settled AS owed, m.method_id, m.label, m.token_reference
         FROM billing.invoices i
         JOIN billing.collection_methods m ON m.tenant_id = i.tenant_id AND m.account_id = i.account_id
         WHERE i.tenant_id = $1 AND i.id = ANY($2) AND i.status = 'POSTED' AND i.total > i.settled",
    )
    .bind(tenant_id)
    .bind(invoices)
    .fetch_all(tx)
    .await?)
}

/// Stores invoices' collections, each due again at its time (`None`: no
/// more attempts).
pub async fn save(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    collections: &[(Uuid, Collection, Option<DateTime<Utc>>)],
) -> Result<(), BillingError> {
    let ids: Vec<Uuid> = collections.iter().map(|(id, _, _)| *id).collect();
    let docs: Vec<Json<&Collection>> = collections.iter().map(|(_, collection, _)| Json(collection)).collect();
    let due: Vec<Option<DateTime<Utc>>> = collections.iter().map(|(_, _, due)| *due).collect();
    sqlx::query(
        "UPDATE billing.invoices i SET collection = c.doc, collect_after = c.due
         FROM unnest($2::uuid[], $3::jsonb[], $4::timestamptz[]) AS c(id, doc, due)
         WHERE i.tenant_id = $1 AND i.id = c.id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(&docs)
    .bind(&due)
    .execute(tx)
    .await?;
    Ok(())
}

/// A collection due now, as claimed.
#[derive(sqlx::FromRow)]
pub struct Claimed {
    pub tenant_id: Uuid,
    pub invoice_id: Uuid,
    pub account_id: Uuid,
    pub currency: String,
    /// What the invoice owes now.
    pub owed: Decimal,
    pub collection: Json<Collection>,
}

/// Claims up to `limit` due collections of any tenant for `lease`: they
/// are not due again until it ends (a collector that dies mid-attempt
/// leaves them to the next).
pub async fn claim(
    tx: &mut PgConnection,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<Claimed>, BillingError> {
    Ok(sqlx::query_as(
        "UPDATE billing.invoices i SET collect_after = now() + make_interval(secs => $2)
         FROM (SELECT tenant_id, id FROM billing.invoices
               WHERE collect_after <= now() ORDER BY collect_after LIMIT $1 FOR UPDATE SKIP LOCKED) d
         WHERE i.tenant_id = d.tenant_id AND i.id = d.id AND i.collection IS NOT NULL
         RETURNING i.tenant_id, i.id AS invoice_id, i.account_id, i.currency, i.total - i.settled AS owed,
             i.collection",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(tx)
    .await?)
}

/// An invoice's collection and what the invoice owes now, locked.
pub async fn lock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
) -> Result<Option<(Json<Collection>, Decimal)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT collection, total - settled FROM billing.invoices
         WHERE tenant_id = $1 AND id = $2 AND collection IS NOT NULL FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(invoice_id)
    .fetch_optional(tx)
    .await?)
}
