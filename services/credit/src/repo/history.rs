//! The history of each account's terms.

use super::*;
use crate::domain::account::TermsChange;

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
