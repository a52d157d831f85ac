//! Credit's event stream, applied to held orders: credit's approval
//! executes the order (with the reservations credit made on its payers) or
//! activates the subscription (charged from that day), its rejection or
//! expiry rejects it. Each applies once, in the transaction that moves the
//! consumer's cursor.

use bss_platform::auth::ServiceIdentity;
use bss_platform::events::{HandlerError, Subscription};
use bss_proto::billing::{Order, OrderPayer, OrderStatus, SubscriptionStatus};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::credit_event_service_client::CreditEventServiceClient;
use bss_proto::credit::{CreditEvent, HeldOrder, HeldOrderState, StreamEventsRequest};
use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use sqlx::PgConnection;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::grpc::subscriptions::{publish_if_first_paid, status_code};
use crate::grpc::{order_outcome, publish};
use crate::overdue::ACTOR;

pub struct CreditFeed {
    pub credit: Channel,
    pub identity: ServiceIdentity,
}

fn id(value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|_| HandlerError::DeadLetter(format!("not an id: {value:?}")))
}

impl Subscription for CreditFeed {
    type Event = CreditEvent;

    fn stream_name(&self) -> &str {
        "credit"
    }

    async fn open(&self, after: i64) -> Result<BoxStream<'static, Result<CreditEvent, Status>>, Status> {
        let request = self.identity.request(StreamEventsRequest { after_sequence: after })?;
        let stream = CreditEventServiceClient::new(self.credit.clone()).stream_events(request).await?.into_inner();
        Ok(stream.map(|message| message.map(|message| message.event.unwrap_or_default())).boxed())
    }

    fn position(&self, event: &CreditEvent) -> (i64, Uuid) {
        (event.sequence, event.tenant_id.parse().unwrap_or_default())
    }

    fn occurred(&self, event: &CreditEvent) -> Option<std::time::SystemTime> {
        bss_platform::time::system_time(event.occur_time.as_ref())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &CreditEvent) -> Result<(), HandlerError> {
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
        if decide_order(tx, tenant_id, held_order_id, &held, approved).await? {
            return Ok(());
        }
        decide_subscription(tx, tenant_id, held_order_id, &held, approved).await
    }
}

fn retry(error: impl std::fmt::Display) -> HandlerError {
    HandlerError::Retry(error.to_string())
}

/// The payers of a held order with the reservations its approval made.
fn with_reservations(payers: &mut [OrderPayer], held: &HeldOrder) {
    for (payer, reservation) in payers.iter_mut().zip(&held.reservation_ids) {
        payer.reservation_id = reservation.clone();
    }
}

/// Executes or rejects the held order's order; false when no order of
/// billing's waits for it (placed straight with credit, or decided).
async fn decide_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
    held: &HeldOrder,
    approved: bool,
) -> Result<bool, HandlerError> {
    let row: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT id, body FROM billing.orders WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(OrderStatus::HeldForApproval.as_str_name())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((order_id, body)) = row else {
        return Ok(false);
    };
    let mut order = Order::decode(body.as_slice()).map_err(|error| HandlerError::DeadLetter(error.to_string()))?;
    let status = if approved { OrderStatus::Executed } else { OrderStatus::Rejected };
    order.status = status as i32;
    order.reservation_id = held.reservation_id.clone();
    with_reservations(&mut order.payers, held);
    sqlx::query("UPDATE billing.orders SET status = $3, body = $4 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(order_id)
        .bind(status.as_str_name())
        .bind(order.encode_to_vec())
        .execute(&mut *tx)
        .await?;
    if !approved {
        // A rejected order owes nothing.
        sqlx::query("DELETE FROM billing.charges WHERE tenant_id = $1 AND order_id = $2 AND invoice_id IS NULL")
            .bind(tenant_id)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
    }
    publish(&mut *tx, tenant_id, ACTOR, order_outcome(&order)).await.map_err(retry)?;
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
) -> Result<(), HandlerError> {
    let row: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
        "SELECT id, body FROM billing.subscriptions
         WHERE tenant_id = $1 AND held_order_id = $2 AND status = 'PENDING_APPROVAL' FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((subscription_id, body)) = row else {
        return Ok(());
    };
    let mut subscription = bss_proto::billing::Subscription::decode(body.as_slice())
        .map_err(|error| HandlerError::DeadLetter(error.to_string()))?;
    let status = if approved { SubscriptionStatus::Active } else { SubscriptionStatus::Rejected };
    subscription.status = status as i32;
    with_reservations(&mut subscription.payers, held);
    sqlx::query(
        "UPDATE billing.subscriptions SET status = $3, body = $4,
             start_date = CASE WHEN $5 THEN current_date ELSE start_date END
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(subscription_id)
    .bind(status_code(status))
    .bind(subscription.encode_to_vec())
    .bind(approved)
    .execute(&mut *tx)
    .await?;
    if approved {
        publish_if_first_paid(tx, tenant_id, ACTOR, &subscription).await.map_err(retry)?;
    }
    Ok(())
}
