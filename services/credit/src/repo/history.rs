//! The history of each account's terms, and of its exposure.

use chrono::NaiveDate;

use super::*;
use crate::domain::account::TermsChange;
use crate::domain::exposure::Exposure;

fn document(change: &TermsChange) -> Result<serde_json::Value, CreditError> {
    serde_json::to_value(change).map_err(|error| corrupt("terms change", &error.to_string()))
}

pub async fn add_history(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    change: &TermsChange,
    reason: &str,
    actor: &str,
) -> Result<DateTime<Utc>, CreditError> {
    let changed_at = sqlx::query_scalar(
        "INSERT INTO credit.terms_history (tenant_id, account_id, id, change, reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING changed_at",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(Uuid::now_v7())
    .bind(document(change)?)
    .bind(reason)
    .bind(actor)
    .fetch_one(tx)
    .await?;
    Ok(changed_at)
}

pub struct HistoryRow {
    pub id: Uuid,
    pub change: TermsChange,
    pub reason: String,
    pub actor: String,
    pub changed_at: DateTime<Utc>,
}

/// Newest first, before `before` (an id) when given.
pub async fn history(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<HistoryRow>, CreditError> {
    let rows: Vec<(Uuid, serde_json::Value, String, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, change, reason, actor, changed_at FROM credit.terms_history
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(id, change, reason, actor, changed_at)| {
            let change = serde_json::from_value(change).map_err(|error| corrupt("terms change", &error.to_string()))?;
            Ok(HistoryRow { id, change, reason, actor, changed_at })
        })
        .collect()
}

/// The account's figures at the end of each day from `from` to `to`
/// (days counted in `time_zone`): the last recorded before the next
/// midnight. Days before the first record are left out.
pub async fn exposure_by_day(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    (from, to): (NaiveDate, NaiveDate),
    time_zone: &str,
) -> Result<Vec<(NaiveDate, Exposure)>, CreditError> {
    let rows: Vec<(NaiveDate, Decimal, Decimal, Decimal, bool)> = sqlx::query_as(
        "SELECT day::date, h.balance, h.reserved, h.credit_limit, h.unlimited
         FROM generate_series($3::date::timestamp, $4::date::timestamp, interval '1 day') AS day
         CROSS JOIN LATERAL (
             SELECT balance, reserved, credit_limit, unlimited FROM credit.exposure_history
             WHERE tenant_id = $1 AND account_id = $2
               AND bucket < ((day::date + 1)::timestamp AT TIME ZONE $5)
             ORDER BY bucket DESC LIMIT 1
         ) AS h
         ORDER BY day",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(from)
    .bind(to)
    .bind(time_zone)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, balance, reserved, limit, unlimited)| {
            (day, Exposure { balance, reserved, limit: (!unlimited).then_some(limit) })
        })
        .collect())
}
