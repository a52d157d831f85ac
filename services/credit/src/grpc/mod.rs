//! The gRPC adapter: each RPC authorizes the caller, parses the request,
//! runs the use case (a write in one transaction, holding the account's
//! row lock where the limit is concerned) and converts the answer.

pub mod convert;
pub mod credit;
pub mod error;
pub mod events;
pub mod settings;

use bss_platform::auth::{Caller, Role};
use bss_platform::events::EventLog;
use bss_platform::idempotency::{self, Opened, PendingRequest, RequestKey};
use bss_platform::money::Currency;
use bss_platform::peers;
use bss_proto::credit::{CreditEvent, credit_event};
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::account::{CreditAccount, Settings};
use crate::domain::error::CreditError;
use crate::repo;

/// Roles that may read credit.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk, Role::AccountManager, Role::Integration];

/// Roles that may change credit settings, terms and holds, and decide held
/// orders.
pub const MANAGERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager];

/// Roles that may set payment preferences.
pub const PREFERENCE_WRITERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk];

/// Roles that may authorize orders and release reservations (billing).
pub const ORDER_CHECKERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::Integration];

/// The actor of the service's own changes (expiries, billing events
/// applied, suspensions).
pub const ACTOR: &str = "credit";

/// Everything the credit RPCs work with; one instance serves every service
/// of the context.
pub struct CreditApi {
    pub(crate) db: PgPool,
    pub(crate) events: EventLog,
    /// The accounts service: the currency of an account credit meets for
    /// the first time, and whether the caller may see it.
    accounts: peers::Accounts,
    /// An external credit check asked about every order that would use
    /// credit (`bss.provider.v1.CreditCheckProviderService`).
    pub(crate) credit_check: Option<Channel>,
}

impl CreditApi {
    pub fn new(db: PgPool, events: EventLog, accounts: Option<Channel>, credit_check: Option<Channel>) -> CreditApi {
        CreditApi { db, events, accounts: peers::Accounts::new(accounts), credit_check }
    }

    /// Claims the request id (or replays its answer) and begins the
    /// transaction of a write.
    pub(crate) async fn begin<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        method: &str,
        request_id: &str,
        request: &impl Message,
    ) -> Result<Opened<R>, CreditError> {
        let key = RequestKey::new(tenant_id, method, request_id, request)?;
        Ok(idempotency::open(&self.db, key).await?)
    }

    /// Stores the answer of the request, commits, and wakes the event
    /// sequencer.
    pub(crate) async fn commit(
        &self,
        mut tx: Transaction<'static, Postgres>,
        pending: PendingRequest,
        response: &impl Message,
    ) -> Result<(), CreditError> {
        pending.finish(&mut tx, response).await?;
        tx.commit().await?;
        self.events.written();
        Ok(())
    }

    /// The account as credit keeps it, and its tenant's settings. An
    /// account credit has not met yet is looked up in the accounts service
    /// (with the caller's token: another tenant's account is NOT_FOUND) and
    /// recorded with the tenant's default terms.
    pub(crate) async fn account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<(CreditAccount, Settings), CreditError> {
        {
            let mut connection = self.db.acquire().await?;
            let (account, settings) = repo::account_with_settings(&mut connection, tenant_id, account_id).await?;
            if let Some(account) = account {
                return Ok((account, settings));
            }
        }
        // No pooled connection is held while accounts answers.
        let currency = self.fetch_currency(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let settings = repo::settings(&mut connection, tenant_id).await?;
        repo::insert_account(&mut connection, tenant_id, account_id, currency, settings.default_limit).await?;
        let account = repo::account(&mut connection, tenant_id, account_id)
            .await?
            .ok_or_else(|| CreditError::not_found("account", account_id))?;
        Ok((account, settings))
    }

    async fn fetch_currency(&self, caller: &Caller, account_id: Uuid) -> Result<Currency, CreditError> {
        let account = self
            .accounts
            .account(caller, account_id)
            .await?
            .ok_or_else(|| CreditError::not_found("account", account_id))?;
        Ok(peers::currency_of(&account)?)
    }
}

/// Writes an event of the credit stream, made by `actor` now, in the
/// caller's transaction.
pub async fn publish(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    payload: credit_event::Payload,
) -> Result<(), CreditError> {
    bss_platform::events::publish::<CreditEvent>(connection, tenant_id, actor, [payload]).await?;
    Ok(())
}
