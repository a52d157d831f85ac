//! Usage events: stored once per (subscription, metric, idempotency key),
//! and a period's events aggregated in one statement per metric (the same
//! rule as [`Aggregation::aggregate`]; a test compares them).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::usage::{Aggregation, Metered};

/// A usage event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub subscription_id: Uuid,
    pub metric: String,
    pub key: String,
    pub quantity: Decimal,
    pub at: DateTime<Utc>,
    pub property: String,
}

/// Records the events, each once by (subscription, metric, key): an event
/// recorded already (in this batch or before) is not recorded again.
/// Returns how many were recorded now.
pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, events: &[NewEvent]) -> Result<u64, BillingError> {
    let inserted = sqlx::query(
        "INSERT INTO billing.usage_events (tenant_id, subscription_id, metric, key, quantity, at, property)
         SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[], $7::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(events.iter().map(|event| event.subscription_id).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.metric.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.key.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.quantity).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.at).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.property.as_str()).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected())
}

/// The tenant's subscriptions among `ids` with their account, the metrics
/// each meters and whether it was ever active (not held or refused by
/// credit); one not found is left out.
pub async fn metered_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, Vec<Metered>, bool)>, BillingError> {
    let rows: Vec<(Uuid, Uuid, Json<Vec<Metered>>, bool)> = sqlx::query_as(
        "SELECT id, account_id, coalesce(doc->'metered', '[]'::jsonb),
             status NOT IN ('PENDING_APPROVAL', 'REJECTED')
         FROM billing.subscriptions WHERE tenant_id = $1 AND id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, account_id, Json(metered), started)| (id, account_id, metered, started)).collect())
}

/// What the subscription's events of `metric` from `from` up to, not
/// including, `to` aggregate to by `aggregation`, and how many there are.
/// The latest event is the one with the latest time, then the greatest key
/// by its bytes (as Rust compares them).
pub async fn aggregate(
    conn: &mut PgConnection,
    (tenant_id, subscription_id): (Uuid, Uuid),
    (metric, aggregation): (&str, Aggregation),
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(Decimal, i64), BillingError> {
    let (events, sum, max, unique, last): (i64, Decimal, Decimal, i64, Decimal) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(quantity), 0), coalesce(max(quantity), 0),
             count(DISTINCT property) FILTER (WHERE property <> ''),
             coalesce((SELECT quantity FROM billing.usage_events
                 WHERE tenant_id = $1 AND subscription_id = $2 AND metric = $3 AND at >= $4 AND at < $5
                 ORDER BY at DESC, key COLLATE \"C\" DESC LIMIT 1), 0)
         FROM billing.usage_events
         WHERE tenant_id = $1 AND subscription_id = $2 AND metric = $3 AND at >= $4 AND at < $5",
    )
    .bind(tenant_id)
    .bind(subscription_id)
    .bind(metric)
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await?;
    let quantity = match aggregation {
        Aggregation::Sum => sum,
        Aggregation::Count => Decimal::from(events),
        Aggregation::Max => max,
        Aggregation::UniqueCount => Decimal::from(unique),
        Aggregation::Last => last,
    };
    Ok((quantity, events))
}
