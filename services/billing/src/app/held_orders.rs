//! Credit's decisions on held orders: its approval executes the order
//! (with the reservations credit made on its payers) or activates the
//! subscription (charged from that day), its rejection or expiry rejects
//! it. A decision that arrives before billing stored what it decides is
//! kept and applied when it is stored. Credit's event stream
//! (`credit_feed`) calls these in the transaction that moves its cursor.

use bss_proto::credit::{HeldOrder, HeldOrderState};
use sqlx::PgConnection;
use uuid::Uuid;

use super::locations::give_back_stock;
use super::publish;
use super::subscriptions::{charge_trial, publish_if_first_paid, reserve_first_period_beyond_authorized};
use crate::domain::error::BillingError;
use crate::overdue::ACTOR;
use crate::repo::held::Recorded;
use crate::repo::{self, orders, subscriptions};
use crate::wire;

/// Applies credit's decision (`approved` or not) on a held order, once:
/// to the order or subscription of billing's waiting for it, else kept
/// for when billing stores one.
pub(crate) async fn decided(
    tx: &mut PgConnection,
    (tenant_id, held_order_id): (Uuid, Uuid),
    held: &HeldOrder,
    approved: bool,
) -> Result<(), BillingError> {
    lock_held(tx, held_order_id).await?;
    if decide(tx, tenant_id, held_order_id, held, approved).await? {
        return Ok(());
    }
    // Nothing of billing's holds it yet (its order or subscription is
    // still being stored, or will be on a retry): kept for it. A held
    // order of billing's decided already, or placed straight with credit,
    // needs nothing.
    if !repo::held::known(tx, tenant_id, held_order_id).await? {
        let decision = Recorded {
            approved,
            reservation_ids: held.reservation_ids.clone(),
            reservation_id: held.reservation_id.clone(),
        };
        repo::held::record(tx, tenant_id, held_order_id, &decision).await?;
    }
    Ok(())
}

/// Serializes what billing does about one held order: credit's decision
/// arriving and the order or subscription being stored never miss each
/// other.
pub(crate) async fn lock_held(tx: &mut PgConnection, held_order_id: Uuid) -> Result<(), BillingError> {
    repo::held::lock(tx, held_order_id).await
}

/// Applies a decision credit made before billing stored the held order's
/// order or subscription (stored just now, under [`lock_held`]); true when
/// one was waiting.
pub(crate) async fn apply_recorded(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<bool, BillingError> {
    let Some(Recorded { approved, reservation_ids, reservation_id }) =
        repo::held::take(tx, tenant_id, held_order_id).await?
    else {
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

/// Executes or rejects the held order's order, activates or rejects its
/// subscription, or applies or rejects its subscription change; false when
/// none of billing's waits for it.
async fn decide(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    held: &HeldOrder,
    approved: bool,
) -> Result<bool, BillingError> {
    Ok(decide_order(tx, tenant_id, held_order_id, held, approved).await?
        || decide_subscription(tx, tenant_id, held_order_id, held, approved).await?
        || super::changes::decide_change(tx, tenant_id, held_order_id, approved).await?)
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
    if approved {
        // What shipped of its goods is the account's now.
        super::assets::shipped(tx, tenant_id, &order, &order.shipped_lines()).await?;
    } else {
        // A rejected order owes nothing, and gives back the stock it took.
        repo::delete_open_charges(tx, tenant_id, order.id).await?;
        give_back_stock(tx, tenant_id, &order).await?;
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
    subscription.decide(approved, &reservations(held), bss_platform::time::now().date_naive());
    subscriptions::save(tx, tenant_id, &subscription, approved).await?;
    if approved {
        let bill_to = subscriptions::stored(tx, tenant_id, subscription.id).await?.bill_to;
        charge_trial(tx, tenant_id, &subscription, bill_to).await?;
        reserve_first_period_beyond_authorized(tx, tenant_id, &subscription).await?;
        publish_if_first_paid(tx, tenant_id, ACTOR, &subscription).await?;
    }
    Ok(true)
}
