//! Billing's posted transactions applied to each account's position, each
//! in the transaction that also moves the consumer's cursor (exactly once):
//! an invoice raises the balance and captures the reservations of the
//! orders it bills, in the same transaction; credit notes, payments and
//! write-offs lower it; overdue and settled invoices set the account out of
//! terms and back.
//!
//! The billing service serves these events on its stream; the consumer
//! that follows that stream calls [`apply`] for each.

use bss_platform::events::HandlerError;
use bss_platform::money::{Currency, parse_decimal};
use bss_proto::billing::BillingEvent;
use bss_proto::billing::billing_event::Payload;
use bss_proto::credit::ReservationChanged;
use bss_proto::credit::credit_event::Payload as CreditPayload;
use bss_proto::types::Money;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::error::CreditError;
use crate::grpc::convert::reservation_to_proto;
use crate::grpc::{ACTOR, publish};
use crate::repo;

fn id(value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|_| HandlerError::DeadLetter(format!("not an id: {value:?}")))
}

fn amount(money: Option<&Money>) -> Result<(Decimal, Currency), HandlerError> {
    let money = money.ok_or_else(|| HandlerError::DeadLetter("a transaction without an amount".to_owned()))?;
    let currency = Currency::parse(&money.currency_code).map_err(HandlerError::DeadLetter)?;
    let amount = parse_decimal(&money.amount).map_err(HandlerError::DeadLetter)?;
    if amount < Decimal::ZERO {
        return Err(HandlerError::DeadLetter(format!("a negative amount {amount}")));
    }
    Ok((amount, currency))
}

fn retry(error: CreditError) -> HandlerError {
    HandlerError::Retry(error.to_string())
}

/// Moves the balance of an account by `delta` (recording the account with
/// the tenant's defaults when credit has not met it yet), capturing the
/// open reservations of `orders`.
async fn post(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
    delta: Decimal,
    orders: &[String],
) -> Result<(), HandlerError> {
    let settings = repo::settings(tx, tenant_id).await.map_err(retry)?;
    repo::insert_account(tx, tenant_id, account_id, currency, settings.default_limit).await.map_err(retry)?;
    let account = repo::lock_account(tx, tenant_id, account_id).await.map_err(retry)?;
    if account.currency != currency {
        return Err(HandlerError::DeadLetter(format!(
            "an amount in {} for an account in {}",
            currency.code, account.currency.code
        )));
    }
    let mut captured = Decimal::ZERO;
    for order in orders {
        for reservation in repo::open_reservations_of_order(tx, tenant_id, account_id, order).await.map_err(retry)? {
            if let Some(closed) =
                repo::close_reservation(tx, tenant_id, reservation, "CAPTURED").await.map_err(retry)?
            {
                captured += closed.amount;
                let changed = ReservationChanged { reservation: Some(reservation_to_proto(&closed, currency)) };
                publish(tx, tenant_id, ACTOR, CreditPayload::ReservationChanged(changed)).await.map_err(retry)?;
            }
        }
    }
    repo::move_exposure(tx, tenant_id, account_id, -captured, delta).await.map_err(retry)?;
    let before = account.exposure().total();
    crate::grpc::credit::notify_thresholds(tx, tenant_id, &settings, &account, before, before + delta - captured)
        .await
        .map_err(retry)?;
    Ok(())
}

/// Applies one billing event to credit's state.
pub async fn apply(tx: &mut PgConnection, event: &BillingEvent) -> Result<(), HandlerError> {
    let tenant_id = id(&event.tenant_id)?;
    match &event.payload {
        Some(Payload::InvoicePosted(invoice)) => {
            let (amount, currency) = amount(invoice.amount.as_ref())?;
            post(tx, tenant_id, id(&invoice.account_id)?, currency, amount, &invoice.order_references).await
        }
        Some(Payload::CreditNotePosted(note)) => {
            let (amount, currency) = amount(note.amount.as_ref())?;
            post(tx, tenant_id, id(&note.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::PaymentPosted(payment)) => {
            let (amount, currency) = amount(payment.amount.as_ref())?;
            post(tx, tenant_id, id(&payment.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::WriteOffPosted(write_off)) => {
            let (amount, currency) = amount(write_off.amount.as_ref())?;
            post(tx, tenant_id, id(&write_off.account_id)?, currency, -amount, &[]).await
        }
        Some(Payload::InvoiceOverdue(overdue)) => {
            repo::mark_overdue(tx, tenant_id, id(&overdue.invoice_id)?, id(&overdue.account_id)?, true)
                .await
                .map_err(retry)
        }
        Some(Payload::InvoiceSettled(settled)) => {
            repo::mark_overdue(tx, tenant_id, id(&settled.invoice_id)?, id(&settled.account_id)?, false)
                .await
                .map_err(retry)
        }
        // Not about money owed.
        Some(Payload::FirstPaidSubscriptionCreated(_) | Payload::OrderOutcome(_)) | None => Ok(()),
    }
}

/// Billing's event stream, applied to credit's accounts.
pub struct BillingFeed {
    pub billing: tonic::transport::Channel,
    pub identity: bss_platform::auth::ServiceIdentity,
}

impl bss_platform::events::Subscription for BillingFeed {
    type Event = BillingEvent;

    fn stream_name(&self) -> &str {
        "billing"
    }

    async fn open(
        &self,
        after: i64,
    ) -> Result<futures::stream::BoxStream<'static, Result<BillingEvent, tonic::Status>>, tonic::Status> {
        use futures::StreamExt;
        let request = self.identity.request(bss_proto::billing::StreamEventsRequest { after_sequence: after })?;
        let stream =
            bss_proto::billing::billing_event_service_client::BillingEventServiceClient::new(self.billing.clone())
                .stream_events(request)
                .await?
                .into_inner();
        Ok(stream.map(|message| message.map(|message| message.event.unwrap_or_default())).boxed())
    }

    fn position(&self, event: &BillingEvent) -> (i64, Uuid) {
        (event.sequence, event.tenant_id.parse().unwrap_or_default())
    }

    fn occurred(&self, event: &BillingEvent) -> Option<std::time::SystemTime> {
        bss_platform::time::system_time(event.occur_time.as_ref())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &BillingEvent) -> Result<(), HandlerError> {
        apply(tx, event).await
    }
}
