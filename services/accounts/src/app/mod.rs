//! The application layer of accounts: its use cases (accounts, contacts and
//! addresses, the lifecycle and history, groups, users, custom fields,
//! imports, tenants, the event stream), each taking accounts' own terms,
//! applying the rules of `domain/` and storing through `repo/`: a write runs
//! once per request id in one transaction, with its history line and its
//! event. `grpc/` only converts and calls these.

pub mod accounts;
pub mod contacts;
pub mod custom_fields;
pub mod events;
pub mod groups;
pub mod import;
pub mod lifecycle;
pub mod tenants;
pub mod users;

use std::sync::Arc;

use bss_platform::auth::{self, Caller};
use bss_platform::events::EventLog;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts as proto;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::error::AccountsError;
use crate::domain::history::HistoryLine;
use crate::repo;
use crate::repo::accounts::Visibility;
use crate::repo::tenants::TenantCache;
use crate::validator::AddressValidator;

/// Everything the accounts use cases work with; one instance serves every
/// service of the context; a clone shares everything (a task of its own
/// uses one).
#[derive(Clone)]
pub struct Accounts {
    pub(crate) db: PgPool,
    pub(crate) tenants: Arc<TenantCache>,
    pub(crate) events: EventLog,
    pub(crate) validator: AddressValidator,
    pub(crate) peers: Peers,
}

pub(crate) use bss_platform::peers::PEER_TIMEOUT;

/// The other services of the suite accounts calls, when configured.
#[derive(Clone, Debug, Default)]
pub struct Peers {
    pub pricing: Option<Channel>,
    pub billing: Option<Channel>,
    pub credit: Option<Channel>,
}

impl Accounts {
    pub fn new(
        db: PgPool,
        tenants: Arc<TenantCache>,
        events: EventLog,
        validator: AddressValidator,
        peers: Peers,
    ) -> Accounts {
        Accounts { db, tenants, events, validator, peers }
    }

    /// Which accounts `caller` may see: a sales rep only those carrying its
    /// sales-rep id; a customer's user only its user's account, and only
    /// while that account is active (PERMISSION_DENIED otherwise).
    pub(crate) async fn scope<'a>(&self, caller: &'a Caller, tenant_id: Uuid) -> Result<Visibility<'a>, AccountsError> {
        let Some(user_id) = caller.customer_user() else {
            return Ok(visibility(caller));
        };
        let mut connection = self.db.acquire().await?;
        let user = match repo::users::get(&mut connection, tenant_id, user_id, false).await {
            Ok(user) => user,
            Err(AccountsError::NotFound { .. }) => return Err(auth::unknown_user(user_id).into()),
            Err(other) => return Err(other),
        };
        let account = repo::accounts::get(&mut connection, tenant_id, user.account_id, Visibility::All, false).await?;
        auth::check_customer_account(account.id, account.fields.is_active)?;
        Ok(Visibility::Own(account.id))
    }

    /// A page of what `list` reads of an account (given the page's cursor
    /// and how many to fetch), if the caller may see the account; and the
    /// next page's token, made by `cursor` from the page's last item.
    pub(crate) async fn account_page<T>(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        page: &Page,
        list: impl AsyncFnOnce(&mut PgConnection, &Page) -> Result<Vec<T>, AccountsError>,
        cursor: impl Fn(&T) -> Vec<u8>,
    ) -> Result<(Vec<T>, String), AccountsError> {
        let visibility = self.scope(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, account_id, visibility, false).await?;
        let items = list(&mut connection, page).await?;
        Ok(page.finish(items, cursor))
    }

    /// Runs a write once per request id (see
    /// [`bss_platform::idempotency::once`]) and wakes the event sequencer
    /// for the events it wrote.
    pub(crate) async fn write<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, AccountsError>,
    ) -> Result<R, AccountsError> {
        let response = bss_platform::idempotency::once(&self.db, key, work).await?;
        self.events.written();
        Ok(response)
    }
}

/// Which accounts `caller` may see, as far as its token says: a sales rep
/// only those carrying its sales-rep id. (A customer's user: see
/// [`Accounts::scope`].)
pub(crate) fn visibility(caller: &Caller) -> Visibility<'_> {
    Visibility::from_limit(caller.sales_rep_limit())
}

/// An event of the accounts stream, made by `caller` now.
pub(crate) fn event(tenant_id: Uuid, caller: &Caller, payload: proto::account_event::Payload) -> proto::AccountEvent {
    bss_platform::events::event(tenant_id, &caller.subject, payload)
}

/// Writes an event of `tenant_id` to the outbox in the caller's transaction.
pub(crate) async fn publish(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    caller: &Caller,
    payload: proto::account_event::Payload,
) -> Result<(), AccountsError> {
    bss_platform::events::publish::<proto::AccountEvent>(connection, tenant_id, &caller.subject, [payload]).await?;
    Ok(())
}

/// Writes a history line of `account_id` made by `caller`.
pub(crate) async fn record(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    caller: &Caller,
    line: &HistoryLine,
) -> Result<(), AccountsError> {
    repo::history::insert(connection, tenant_id, account_id, &caller.subject, line).await
}
