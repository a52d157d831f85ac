//! Subscriptions: what every way of activating one shares (its stored
//! status, the event of an account's first paid subscription).

use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{FirstPaidSubscriptionCreated, Subscription, SubscriptionStatus};
use sqlx::PgConnection;
use uuid::Uuid;

use super::publish;
use crate::domain::error::BillingError;

/// The stored status of a subscription.
pub(crate) fn status_code(status: SubscriptionStatus) -> &'static str {
    match status {
        SubscriptionStatus::Active => "ACTIVE",
        SubscriptionStatus::Cancelled => "CANCELLED",
        SubscriptionStatus::PendingApproval => "PENDING_APPROVAL",
        SubscriptionStatus::Rejected => "REJECTED",
        SubscriptionStatus::Unspecified => "UNSPECIFIED",
    }
}

/// Publishes the account's first paid subscription, once per account.
pub(crate) async fn publish_if_first_paid(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    subscription: &Subscription,
) -> Result<(), BillingError> {
    if !subscription.paid {
        return Ok(());
    }
    let first = sqlx::query(
        "INSERT INTO billing.first_paid_subscriptions (tenant_id, account_id, subscription_id)
         VALUES ($1, $2::uuid, $3::uuid) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&subscription.account_id)
    .bind(&subscription.id)
    .execute(&mut *tx)
    .await?;
    if first.rows_affected() == 1 {
        let event = FirstPaidSubscriptionCreated {
            account_id: subscription.account_id.clone(),
            subscription_id: subscription.id.clone(),
        };
        publish(tx, tenant_id, actor, Payload::FirstPaidSubscriptionCreated(event)).await?;
    }
    Ok(())
}
