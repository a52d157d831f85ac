//! The application layer of credit: its use cases (authorizing orders,
//! deciding held orders, terms, holds, reservations, settings, payment
//! preferences), each taking a command in credit's own terms, applying the
//! rules of `domain/` and storing through `repo/` in one transaction with
//! the request's idempotency claim and its events. `grpc/` only converts
//! and calls these; the billing consumer and the workers (expiries,
//! suspensions) call this module too, never `grpc/`.

pub mod authorization;
pub mod held_orders;
pub mod holds;
pub mod preferences;
pub mod reservations;
pub mod settings;
pub mod terms;

use bss_platform::auth::{Caller, ServiceIdentity};
use bss_platform::events::EventLog;
use bss_platform::idempotency::{self, PendingRequest, RequestKey};
use bss_platform::input::HistoryQuery;
use bss_platform::money::{Currency, decimal_to_wire};
use bss_platform::peers;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{CreditEvent, CreditThresholdCrossed, SuspensionRequested, credit_event};
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::account::{CreditAccount, Settings};
use crate::domain::error::CreditError;
use crate::domain::exposure::{Exposure, suspension_due, thresholds_crossed};
use crate::repo;
use crate::wire::money;

/// The actor of the service's own changes (expiries, billing events
/// applied, suspensions).
pub const ACTOR: &str = "credit";

/// Everything the credit RPCs work with; one instance serves every service
/// of the context.
pub struct Credit {
    pub(crate) db: PgPool,
    pub(crate) events: EventLog,
    /// The accounts service: the currency of an account credit meets for
    /// the first time, and whether the caller may see it.
    accounts: peers::Accounts,
    /// An external credit check asked about every order that would use
    /// credit (`bss.provider.v1.CreditCheckProviderService`).
    pub(crate) credit_check: Option<Channel>,
    /// Credit's own identity, for what it asks of accounts itself (whether
    /// an account is shared).
    identity: ServiceIdentity,
}

impl Credit {
    pub fn new(
        db: PgPool,
        events: EventLog,
        (accounts, credit_check): (Option<Channel>, Option<Channel>),
        identity: ServiceIdentity,
    ) -> Credit {
        Credit { db, events, accounts: peers::Accounts::new(accounts), credit_check, identity }
    }

    /// Runs a write once per request id (see [`idempotency::once`]) and
    /// wakes the event sequencer for the events it wrote.
    pub(crate) async fn write<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, CreditError>,
    ) -> Result<R, CreditError> {
        let response = idempotency::once(&self.db, key, work).await?;
        self.events.written();
        Ok(response)
    }

    /// Stores the answer of the request, commits, and wakes the event
    /// sequencer.
    pub(crate) async fn commit(
        &self,
        tx: Transaction<'static, Postgres>,
        pending: PendingRequest,
        response: &impl Message,
    ) -> Result<(), CreditError> {
        pending.commit(tx, response).await?;
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
            let (account, settings) =
                repo::account_with_settings(&mut connection, tenant_id, account_id, false).await?;
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

    /// The account's exposure at the end of each day of the query's range
    /// (days in its time zone) up to today, in its currency; days before credit
    /// began recording it are left out.
    pub async fn exposure_history(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        query: &HistoryQuery,
    ) -> Result<(Currency, Vec<(NaiveDate, Exposure)>), CreditError> {
        let (account, _) = self.account(caller, tenant_id, query.account_id).await?;
        let mut connection = self.db.acquire().await?;
        let zone = &query.time_zone;
        let today = bss_platform::db::today_in::<CreditError>(&mut connection, "time_zone", zone).await?;
        let range = (query.from, query.to.min(today));
        let points = repo::exposure_by_day(&mut connection, tenant_id, query.account_id, range, zone).await?;
        Ok((account.currency, points))
    }

    /// What credit holds open for the accounts: (account, reason, count),
    /// reasons RESERVATIONS_OPEN and HELD_ORDERS_PENDING.
    pub async fn unsettled(
        &self,
        tenant_id: Uuid,
        account_ids: &[Uuid],
    ) -> Result<Vec<(Uuid, String, i64)>, CreditError> {
        let mut connection = self.db.acquire().await?;
        repo::unsettled(&mut connection, tenant_id, account_ids).await
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

/// Emits an event for each notification threshold a move of exposure
/// crossed upwards, and requests the account's suspension when it passed
/// the limit by the tenant's auto-suspend percentage.
pub(crate) async fn notify_thresholds(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    settings: &Settings,
    account: &CreditAccount,
    before: Decimal,
    after: Decimal,
) -> Result<(), CreditError> {
    let limit = account.exposure().limit;
    let wire = |amount: Decimal| money(amount, account.currency);
    for percent in thresholds_crossed(limit, &settings.thresholds, before, after) {
        let crossed = CreditThresholdCrossed {
            account_id: account.account_id.to_string(),
            threshold_percent: Some(decimal_to_wire(percent)),
            exposure: Some(wire(after)),
            credit_limit: limit.map(wire),
        };
        publish(tx, tenant_id, ACTOR, Payload::CreditThresholdCrossed(crossed)).await?;
    }
    if suspension_due(limit, settings.auto_suspend_over_percent, before, after) {
        repo::request_suspension(tx, tenant_id, account.account_id).await?;
        let requested = SuspensionRequested {
            account_id: account.account_id.to_string(),
            exposure: Some(wire(after)),
            credit_limit: limit.map(wire),
        };
        publish(tx, tenant_id, ACTOR, Payload::SuspensionRequested(requested)).await?;
    }
    Ok(())
}
