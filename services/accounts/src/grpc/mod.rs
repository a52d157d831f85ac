//! The gRPC adapter: each RPC authorizes the caller, parses the request,
//! runs the use case in one transaction (with its history line and its
//! event) and converts the answer.

pub mod accounts;
pub mod contacts;
pub mod convert;
pub mod custom_fields;
pub mod error;
pub mod events;
pub mod groups;
pub mod import;
pub mod lifecycle;
pub mod tenants;
pub mod users;

use std::sync::Arc;

use bss_platform::auth::{Caller, Role};
use bss_platform::events::EventLog;
use bss_platform::idempotency::RequestKey;
use bss_proto::accounts as proto;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::error::AccountsError;
use crate::domain::history::HistoryLine;
use crate::repo;
use crate::repo::tenants::TenantCache;
use crate::validator::AddressValidator;

/// Roles that may read accounts (a sales rep only its own).
pub const READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::SalesRep,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
];

/// Roles that may create, change and delete accounts.
pub const WRITERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration];

/// Everything the accounts RPCs work with; one instance serves every
/// service of the context.
pub struct AccountsApi {
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

impl AccountsApi {
    pub fn new(
        db: PgPool,
        tenants: Arc<TenantCache>,
        events: EventLog,
        validator: AddressValidator,
        peers: Peers,
    ) -> AccountsApi {
        AccountsApi { db, tenants, events, validator, peers }
    }

    /// Runs a write once per request id (see
    /// [`bss_platform::idempotency::once`]) and wakes the event sequencer
    /// for the events it wrote.
    async fn write<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, AccountsError>,
    ) -> Result<R, AccountsError> {
        let response = bss_platform::idempotency::once(&self.db, key, work).await?;
        self.events.written();
        Ok(response)
    }
}

pub use bss_platform::auth::authorize;

/// An event of the accounts stream, made by `caller` now.
pub fn event(tenant_id: Uuid, caller: &Caller, payload: proto::account_event::Payload) -> proto::AccountEvent {
    bss_platform::events::event(tenant_id, &caller.subject, payload)
}

/// Writes an event of `tenant_id` to the outbox in the caller's transaction.
pub async fn publish(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    caller: &Caller,
    payload: proto::account_event::Payload,
) -> Result<(), AccountsError> {
    bss_platform::events::publish::<proto::AccountEvent>(connection, tenant_id, &caller.subject, [payload]).await?;
    Ok(())
}

/// Writes a history line of `account_id` made by `caller`.
pub async fn record(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    caller: &Caller,
    line: &HistoryLine,
) -> Result<(), AccountsError> {
    repo::history::insert(connection, tenant_id, account_id, &caller.subject, line).await
}
