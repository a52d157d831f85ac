//! Credit's event stream, applied to held orders: credit's approval
//! executes the order (with the reservations credit made on its payers) or
//! activates the subscription (charged from that day), its rejection or
//! expiry rejects it. Each applies once, in the transaction that moves the
//! consumer's cursor. A decision that arrives before billing stored what it
//! decides is kept and applied when it is stored.

use bss_platform::events::{HandlerError, Source, Subscription, parse_id as id};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{CreditEvent, HeldOrder, HeldOrderState};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::publish;
use crate::app::subscriptions::publish_if_first_paid;
use crate::domain::error::BillingError;
use crate::overdue::ACTOR;
use crate::repo::{orders, subscriptions};
use crate::wire;

/// Credit's stream, read with billing's own identity.
pub struct CreditFeed {
    pub source: Source,
}

impl Subscription for CreditFeed {
    type Event = CreditEvent;

    fn stream_name(&self) -> &str {
        "credit"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    type Prepared = ();

    async fn prepare(&self, _: &CreditEvent) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &CreditEvent, (): ()) -> Result<(), HandlerError> {
        let Some(Payload::HeldOrderChanged(changed)) = &event.payload else {
            return Ok(());
        };
        let held = changed.held_order.clone().unwrap_or_default();
        let approved = match HeldOrderState::try_from(held.state) {
            Ok(HeldOrderState::Approved) => true,
            Ok(HeldOrderState::Rejected | HeldOrderState::Expired) => false,
            // Pending, or withdrawn because billing cancelled it.
            _ => return Ok(()),
        };
        let (tenant_id, held_order_id) = (id(&event.tenant_id)?, id(&held.id)?);
        let retry = |error: BillingError| HandlerError::Retry(error.to_string());
        lock_held(tx, held_order_id).await.map_err(retry)?;
        if decide(tx, tenant_id, held_order_id, &held, approved).await.map_err(retry)? {
            return Ok(());
        }
        // Nothing of billing's holds it yet (its order or subscription is
        // still being stored, or will be on a retry): kept for it. A held
        // order of billing's decided already, or placed straight with
        // credit, needs nothing.
        let known: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM billing.orders WHERE tenant_id = $1 AND held_order_id = $2
             UNION ALL SELECT 1 FROM billing.subscriptions WHERE tenant_id = $1 AND held_order_id = $2 LIMIT 1",
        )
        .bind(tenant_id)
        .bind(held_order_id)
        .fetch_optional(&mut *tx)
        .await?;
        if known.is_none() {
            sqlx::query(
                "INSERT INTO billing.held_decisions (tenant_id, held_order_id, approved, reservation_ids, reservation_id)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(held_order_id)
            .bind(approved)
            .bind(&held.reservation_ids)
            .bind(&held.reservation_id)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Serializes what billing does about one held order: credit's decision
/// arriving and the order or subscription being stored never miss each
/// other.
pub(crate) async fn lock_held(tx: &mut PgConnection, held_order_id: Uuid) -> Result<(), BillingError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 15))")
        .bind(format!("held-order:{held_order_id}"))
        .execute(tx)
        .await?;
    Ok(())
}

/// Applies a decision credit made before billing stored the held order's
/// order or subscription (stored just now, under [`lock_held`]); true when
/// one was waiting.
pub(crate) async fn apply_recorded(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<bool, BillingError> {
    let recorded: Option<(bool, Vec<String>, String)> = sqlx::query_as(
        "DELETE FROM billing.held_decisions WHERE tenant_id = $1 AND held_order_id = $2
         RETURNING approved, reservation_ids, reservation_id",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((approved, reservation_ids, reservation_id)) = recorded else {
        return Ok(false);
    };
    let state = if approved { HeldOrderState::Approved } else { HeldOrderState::Rejected };
    let held = HeldOrder {
        id: held_order_id.to_string(),
        state: state as i32,
        reservation_id,
        reservation_ids,
        ..HeldOrder::default()
    };
    decide(tx, tenant_id, held_order_id, &held, approved).await
}

/// Executes or rejects the held order's order, or activates or rejects its
/// subscription; false when none of billing's waits for it.
async fn decide(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    held: &HeldOrder,
    approved: bool,
) -> Result<bool, BillingError> {
    Ok(decide_order(tx, tenant_id, held_order_id, held, approved).await?
        || decide_subscription(tx, tenant_id, held_order_id, held, approved).await?)
}

/// The reservations credit's approval made, one per payer in order.
fn reservations(held: &HeldOrder) -> Vec<Option<Uuid>> {
    held.reservation_ids.iter().map(|id| id.parse().ok()).collect()
}

/// Executes or rejects the held order's order; false when no order of
/// billing's waits for it (placed straight with credit, or decided).
async fn decide_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    held: &HeldOrder,
    approved: bool,
) -> Result<bool, BillingError> {
    let Some(mut order) = orders::lock_held(tx, tenant_id, held_order_id).await? else {
        return Ok(false);
    };
    order.decide(approved, held.reservation_id.parse().ok(), &reservations(held));
    orders::save(tx, tenant_id, &order).await?;
    if !approved {
        // A rejected order owes nothing.
        crate::repo::delete_open_charges(tx, tenant_id, order.id).await?;
    }
    publish(&mut *tx, tenant_id, ACTOR, wire::order_outcome(&order)).await?;
    Ok(true)
}

/// Activates (charged from today) or rejects the held subscription, if
/// one waits for the held order.
async fn decide_subscription(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    held: &HeldOrder,
    approved: bool,
) -> Result<bool, BillingError> {
    let Some(mut subscription) = subscriptions::lock_held(tx, tenant_id, held_order_id).await? else {
        return Ok(false);
    };
    subscription.decide(approved, &reservations(held));
    subscriptions::save(tx, tenant_id, &subscription, approved).await?;
    if approved {
        publish_if_first_paid(tx, tenant_id, ACTOR, &subscription).await?;
    }
    Ok(true)
}
