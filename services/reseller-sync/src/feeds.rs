//! The two streams the sync follows: billing's (a reseller customer's first
//! paid subscription makes its copy) and accounts' (the customer's changes
//! keep the copy in step). Each event applies once, in the transaction that
//! moves the stream's cursor.

use bss_platform::events::{HandlerError, Source, Subscription, parse_id as id};
use bss_proto::accounts::AccountEvent;
use bss_proto::accounts::account_event::Payload as AccountPayload;
use bss_proto::billing::BillingEvent;
use bss_proto::billing::billing_event::Payload as BillingPayload;
use sqlx::PgConnection;

use crate::sync::{self, Syncer};

/// Remembers when the last applied event of `stream` happened at its source.
async fn stamp(tx: &mut PgConnection, stream: &str, at: Option<&prost_types::Timestamp>) -> Result<(), HandlerError> {
    let Some(at) = at.and_then(|at| chrono::DateTime::from_timestamp(at.seconds, at.nanos.max(0) as u32)) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO reseller_sync.stream_times (stream, occurred_at, applied_at) VALUES ($1, $2, clock_timestamp())
         ON CONFLICT (stream) DO UPDATE SET occurred_at = $2, applied_at = clock_timestamp()",
    )
    .bind(stream)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Billing's stream: copies on FirstPaidSubscriptionCreated.
pub struct BillingFeed {
    pub source: Source,
    pub syncer: Syncer,
}

impl Subscription for BillingFeed {
    type Event = BillingEvent;

    fn stream_name(&self) -> &str {
        "billing"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    /// The copies live in the accounts service, made with request ids: an
    /// event applied again after a crash changes nothing.
    fn relaxed_commit(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &mut PgConnection, event: &BillingEvent) -> Result<(), HandlerError> {
        stamp(tx, self.stream_name(), event.occur_time.as_ref()).await?;
        let Some(BillingPayload::FirstPaidSubscriptionCreated(created)) = &event.payload else {
            return Ok(());
        };
        let Some(link) = sync::link(tx, id(&event.tenant_id)?).await? else {
            return Ok(());
        };
        self.syncer.copy(tx, &link, id(&created.account_id)?).await
    }
}

/// Accounts' stream: a copied customer's changes.
pub struct AccountsFeed {
    pub source: Source,
    pub syncer: Syncer,
}

impl Subscription for AccountsFeed {
    type Event = AccountEvent;

    fn stream_name(&self) -> &str {
        "accounts"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    /// The copies live in the accounts service, made with request ids: an
    /// event applied again after a crash changes nothing.
    fn relaxed_commit(&self) -> bool {
        true
    }

    async fn apply(&self, tx: &mut PgConnection, event: &AccountEvent) -> Result<(), HandlerError> {
        stamp(tx, self.stream_name(), event.occur_time.as_ref()).await?;
        // The account concerned, and whether its addresses may have changed.
        let concerned = match &event.payload {
            Some(AccountPayload::AccountUpdated(updated)) => {
                updated.account.as_ref().map(|account| (account.id.clone(), false))
            }
            Some(AccountPayload::AccountStatusChanged(changed)) => Some((changed.account_id.clone(), false)),
            Some(AccountPayload::AccountDeleted(deleted)) => {
                deleted.account.as_ref().map(|account| (account.id.clone(), false))
            }
            Some(AccountPayload::AddressChanged(changed)) => {
                changed.address.as_ref().map(|address| (address.account_id.clone(), true))
            }
            _ => None,
        };
        let Some((account_id, addresses)) = concerned else {
            return Ok(());
        };
        let Some(link) = sync::link(tx, id(&event.tenant_id)?).await? else {
            return Ok(());
        };
        let cause = format!("accounts-{}", event.sequence);
        self.syncer.keep_in_step(tx, &link, id(&account_id)?, &cause, addresses).await
    }
}
