//! The two streams the sync follows: billing's (a reseller customer's first
//! paid subscription makes its copy) and accounts' (the customer's changes
//! keep the copy in step). The calls to accounts run before each event's
//! transaction ([`Subscription::prepare`]); the transaction that moves the
//! stream's cursor records what they did, once.

use bss_platform::events::{HandlerError, Source, Subscription, parse_id as id};
use bss_proto::accounts::AccountEvent;
use bss_proto::accounts::account_event::Payload as AccountPayload;
use bss_proto::billing::BillingEvent;
use bss_proto::billing::billing_event::Payload as BillingPayload;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::repo::{self, Step};
use crate::sync::Syncer;

/// What the sync did for an event: the reseller tenant and the step, none
/// when the event concerns no linked reseller.
pub type Done = Option<(Uuid, Step)>;

/// Records what the sync did, and when the event happened at its source.
async fn record(
    tx: &mut PgConnection,
    stream: &str,
    at: Option<&prost_types::Timestamp>,
    done: Done,
) -> Result<(), HandlerError> {
    if let Some(at) = at.and_then(|at| chrono::DateTime::from_timestamp(at.seconds, at.nanos.max(0) as u32)) {
        repo::stamp(tx, stream, at).await?;
    }
    if let Some((reseller_tenant_id, step)) = done {
        repo::record(tx, reseller_tenant_id, step).await?;
    }
    Ok(())
}

/// Billing's stream: copies on FirstPaidSubscriptionCreated.
pub struct BillingFeed {
    pub source: Source,
    pub syncer: Syncer,
}

// Both feeds prepare by reading the copies that `apply` records, and a
// batch of waiting events is prepared before any of it is recorded. That
// is safe here: a copy is made with a request id of its customer, and a
// change kept in step with one of the event, so preparing an event before
// an earlier one is recorded can only repeat a call accounts answers the
// same way.
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

    type Prepared = Done;

    async fn prepare(&self, event: &BillingEvent) -> Result<Done, HandlerError> {
        let Some(BillingPayload::FirstPaidSubscriptionCreated(created)) = &event.payload else {
            return Ok(None);
        };
        let Some(link) = repo::link(&self.syncer.db, id(&event.tenant_id)?).await? else {
            return Ok(None);
        };
        Ok(Some((link.reseller_tenant_id, self.syncer.copy(&link, id(&created.account_id)?).await?)))
    }

    async fn apply(&self, tx: &mut PgConnection, event: &BillingEvent, done: Done) -> Result<(), HandlerError> {
        record(tx, self.stream_name(), event.occur_time.as_ref(), done).await
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

    type Prepared = Done;

    /// An event touches one customer and its copy: the events of different
    /// accounts are prepared at once, one account's in order (two address
    /// changes of one customer must not both add the same address).
    fn prepare_key(&self, event: &AccountEvent) -> String {
        concerned(event).map_or_else(|| event.sequence.to_string(), |(account_id, _)| account_id)
    }

    async fn prepare(&self, event: &AccountEvent) -> Result<Done, HandlerError> {
        let Some((account_id, addresses)) = concerned(event) else {
            return Ok(None);
        };
        let Some(link) = repo::link(&self.syncer.db, id(&event.tenant_id)?).await? else {
            return Ok(None);
        };
        let cause = format!("accounts-{}", event.sequence);
        let step = self.syncer.keep_in_step(&link, id(&account_id)?, &cause, addresses).await?;
        Ok(Some((link.reseller_tenant_id, step)))
    }

    async fn apply(&self, tx: &mut PgConnection, event: &AccountEvent, done: Done) -> Result<(), HandlerError> {
        record(tx, self.stream_name(), event.occur_time.as_ref(), done).await
    }
}

/// The account an accounts event concerns, and whether its addresses may
/// have changed; `None` for events the sync has nothing to do with.
fn concerned(event: &AccountEvent) -> Option<(String, bool)> {
    match &event.payload {
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
    }
}
