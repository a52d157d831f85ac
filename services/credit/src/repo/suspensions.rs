//! Suspensions credit asked accounts for.

use super::*;

pub async fn request_suspension(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), CreditError> {
    sqlx::query("INSERT INTO credit.suspensions (tenant_id, id, account_id) VALUES ($1, $2, $3)")
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(account_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Suspensions not done yet: (tenant, id, account), oldest first.
pub async fn pending_suspensions(
    connection: &mut PgConnection,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, Uuid)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, id, account_id FROM credit.suspensions WHERE done_at IS NULL ORDER BY requested_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

pub async fn suspension_done(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    outcome: &str,
) -> Result<(), CreditError> {
    sqlx::query("UPDATE credit.suspensions SET done_at = now(), outcome = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(outcome)
        .execute(connection)
        .await?;
    Ok(())
}
