use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::error::AccountsError;
use crate::domain::history::{FieldChange, HistoryLine};

/// A stored history line.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredLine {
    pub id: i64,
    pub account_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub changes: Json<Vec<FieldChange>>,
    pub reason: String,
}

pub async fn insert(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    actor: &str,
    line: &HistoryLine,
) -> Result<(), AccountsError> {
    sqlx::query(
        "INSERT INTO accounts.account_history (tenant_id, account_id, actor, action, changes, reason)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(actor)
    .bind(line.action)
    .bind(Json(&line.changes))
    .bind(&line.reason)
    .execute(connection)
    .await?;
    Ok(())
}

/// Lines of an account, newest first, before the line `before` when given.
pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<StoredLine>, AccountsError> {
    let lines = sqlx::query_as(
        "SELECT id, account_id, occurred_at, actor, action, changes, reason FROM accounts.account_history
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::bigint IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(lines)
}
