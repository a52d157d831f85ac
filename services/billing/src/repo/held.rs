//! Credit's decisions on held orders, as billing keeps them: serialized per
//! held order, and kept when they arrive before what they decide.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::error::BillingError;

/// A decision credit made, as kept until billing stores what it decides.
pub struct Recorded {
    pub approved: bool,
    pub reservation_ids: Vec<String>,
    pub reservation_id: String,
}

/// Serializes what billing does about one held order (until the
/// transaction ends).
pub async fn lock(tx: &mut PgConnection, held_order_id: Uuid) -> Result<(), BillingError> {
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 15))", format!("held-order:{held_order_id}"))
        .execute(tx)
        .await?;
    Ok(())
}

/// Whether an order or a subscription of billing's is waiting for the
/// held order.
pub async fn known(tx: &mut PgConnection, tenant_id: Uuid, held_order_id: Uuid) -> Result<bool, BillingError> {
    let known = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM billing.orders WHERE tenant_id = $1 AND held_order_id = $2)
             OR EXISTS (SELECT 1 FROM billing.subscriptions WHERE tenant_id = $1 AND held_order_id = $2)
           AS "known!""#,
        tenant_id,
        held_order_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(known)
}

/// Keeps a decision until billing stores what it decides (the first one
/// kept stays).
pub async fn record(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    decision: &Recorded,
) -> Result<(), BillingError> {
    sqlx::query!(
        "INSERT INTO billing.held_decisions (tenant_id, held_order_id, approved, reservation_ids, reservation_id)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        tenant_id,
        held_order_id,
        decision.approved,
        &decision.reservation_ids,
        decision.reservation_id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes the decision kept for a held order, if any.
pub async fn take(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<Recorded>, BillingError> {
    Ok(sqlx::query_as!(
        Recorded,
        "DELETE FROM billing.held_decisions WHERE tenant_id = $1 AND held_order_id = $2
         RETURNING approved, reservation_ids, reservation_id",
        tenant_id,
        held_order_id,
    )
    .fetch_optional(&mut *tx)
    .await?)
}
