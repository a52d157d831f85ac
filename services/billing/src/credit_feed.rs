//! Credit's event stream, applied to held orders: credit's approval
//! executes the order (with the reservation credit made), its rejection or
//! expiry rejects it. Each applies once, in the transaction that moves the
//! consumer's cursor.

use bss_platform::auth::ServiceIdentity;
use bss_platform::events::{HandlerError, Subscription};
use bss_proto::billing::{Order, OrderStatus};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::credit_event_service_client::CreditEventServiceClient;
use bss_proto::credit::{CreditEvent, HeldOrderState, StreamEventsRequest};
use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use sqlx::PgConnection;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

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
        let status = match HeldOrderState::try_from(held.state) {
            Ok(HeldOrderState::Approved) => OrderStatus::Executed,
            Ok(HeldOrderState::Rejected | HeldOrderState::Expired) => OrderStatus::Rejected,
            _ => return Ok(()),
        };
        let (tenant_id, held_order_id) = (id(&event.tenant_id)?, id(&held.id)?);
        let row: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, body FROM billing.orders WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
        )
        .bind(tenant_id)
        .bind(held_order_id)
        .bind(OrderStatus::HeldForApproval.as_str_name())
        .fetch_optional(&mut *tx)
        .await?;
        // Not an order of billing's (placed straight with credit), or decided.
        let Some((order_id, body)) = row else {
            return Ok(());
        };
        let mut order = Order::decode(body.as_slice()).map_err(|error| HandlerError::DeadLetter(error.to_string()))?;
        order.status = status as i32;
        order.reservation_id = held.reservation_id.clone();
        sqlx::query("UPDATE billing.orders SET status = $3, body = $4 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(order_id)
            .bind(status.as_str_name())
            .bind(order.encode_to_vec())
            .execute(&mut *tx)
            .await?;
        publish(&mut *tx, tenant_id, ACTOR, order_outcome(&order))
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        Ok(())
    }
}
