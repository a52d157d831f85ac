//! The history of each account's terms.

use super::*;

pub async fn add_history(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: &[u8],
    after: &[u8],
    reason: &str,
    actor: &str,
) -> Result<DateTime<Utc>, CreditError> {
    let changed_at = sqlx::query_scalar(
        "INSERT INTO credit.terms_history (tenant_id, account_id, id, before, after, reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING changed_at",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(Uuid::now_v7())
    .bind(before)
    .bind(after)
    .bind(reason)
    .bind(actor)
    .fetch_one(tx)
    .await?;
    Ok(changed_at)
}

#[derive(sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub before: Vec<u8>,
    pub after: Vec<u8>,
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
    Ok(sqlx::query_as(
        "SELECT id, before, after, reason, actor, changed_at FROM credit.terms_history
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?)
}
