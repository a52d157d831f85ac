//! Credit's event stream: each decision on a held order (approved,
//! rejected, expired) is applied by `app::held_orders`, and each change of
//! an account's saved payment methods by `app::collections`, once, in the
//! transaction that moves the consumer's cursor.

use bss_platform::events::{HandlerError, Source, Subscription, parse_id as id};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{CreditEvent, HeldOrderState};
use sqlx::PgConnection;

use crate::app::{collections, held_orders};

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
        let changed = match &event.payload {
            Some(Payload::HeldOrderChanged(changed)) => changed,
            Some(Payload::PaymentMethodsChanged(methods)) => {
                return collections::methods_changed(tx, id(&event.tenant_id)?, methods)
                    .await
                    .map_err(|error| HandlerError::Retry(error.to_string()));
            }
            _ => return Ok(()),
        };
        let held = changed.held_order.clone().unwrap_or_default();
        let approved = match HeldOrderState::try_from(held.state) {
            Ok(HeldOrderState::Approved) => true,
            Ok(HeldOrderState::Rejected | HeldOrderState::Expired) => false,
            // Pending, or withdrawn because billing cancelled it.
            _ => return Ok(()),
        };
        let ids = (id(&event.tenant_id)?, id(&held.id)?);
        held_orders::decided(tx, ids, &held, approved).await.map_err(|error| HandlerError::Retry(error.to_string()))
    }
}
