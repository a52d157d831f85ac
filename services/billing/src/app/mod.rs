//! The application layer: billing's use cases. Each takes the caller and
//! a command in billing's own terms, asks the peers it needs (accounts,
//! pricing, credit), applies the rules of `domain/`, stores through
//! `repo/` in one transaction with the request's idempotency claim and its
//! events, and returns the result. `grpc/` only converts to and from the
//! wire and calls these; the workers and the credit consumer call them
//! too, never `grpc/`.

pub mod assets;
pub mod changes;
pub mod checkout;
pub mod collections;
pub mod held_orders;
pub mod invoices;
pub mod invoicing;
pub mod ledger;
pub mod locations;
pub mod orders;
pub mod pauses;
pub mod payers;
pub mod payments;
pub mod settings;
pub mod subscriptions;
pub mod usage;
pub mod wallets;

use std::sync::Arc;

use bss_platform::auth::{Caller, ServiceIdentity};
use bss_platform::client;
use bss_platform::events::EventLog;
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::money::Currency;
use bss_platform::peers::{self, PEER_TIMEOUT};

use bss_platform::time::{format_date, parse_date};
use bss_proto::billing::{BillingEvent, billing_event};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{ComputeDueDateRequest, ComputeDueDatesRequest};
pub use checkout::PaymentProvider;
use chrono::NaiveDate;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domain::error::BillingError;

/// The services billing calls.
pub struct Peers {
    pub accounts: peers::Accounts,
    pub credit: Option<Channel>,
    pub pricing: Option<Channel>,
}

/// Billing's use cases and what they work with.
pub struct Billing {
    pub(crate) db: PgPool,
    pub(crate) events: EventLog,
    pub(crate) peers: Peers,
    /// Wakes the billing-run worker.
    pub(crate) runs: Arc<Notify>,
    /// Billing's own identity: once billing has authorized its caller, it
    /// asks credit and reads payers as itself (a sales rep may order for
    /// an account whose bill-to parent it cannot see).
    pub(crate) identity: ServiceIdentity,
    /// The payment gateway card and PayPal orders are paid through.
    pub(crate) payments: PaymentProvider,
}

impl Billing {
    pub fn new(db: PgPool, events: EventLog, peers: Peers, runs: Arc<Notify>, identity: ServiceIdentity) -> Billing {
        Billing { db, events, peers, runs, identity, payments: PaymentProvider::None }
    }

    /// Takes card and PayPal payments through `provider`.
    pub fn with_payments(self, payments: PaymentProvider) -> Billing {
        Billing { payments, ..self }
    }

    /// Billing itself, acting in the tenant.
    pub(crate) fn as_service(&self, tenant_id: Uuid) -> Result<Caller, BillingError> {
        self.identity.caller(Some(tenant_id)).ok_or_else(|| BillingError::Unavailable {
            what: "credit",
            cause: "billing has no service token (BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET)".to_owned(),
        })
    }

    /// A peer's channel, or UNAVAILABLE when it is not configured.
    pub(crate) fn peer(&self, what: &'static str, channel: &Option<Channel>) -> Result<Channel, BillingError> {
        channel.clone().ok_or_else(|| BillingError::Unavailable { what, cause: "not configured".to_owned() })
    }

    /// The account as the accounts service shows it to the caller.
    pub(crate) async fn fetch_account(
        &self,
        caller: &Caller,
        account_id: Uuid,
    ) -> Result<bss_proto::accounts::Account, BillingError> {
        self.peers
            .accounts
            .account(caller, account_id)
            .await?
            .ok_or_else(|| BillingError::not_found("account", account_id))
    }

    /// The account a customer's own user acts for (accounts refuses an
    /// unknown user or an inactive account); `None` for any other caller.
    pub async fn own_account(&self, caller: &Caller) -> Result<Option<Uuid>, BillingError> {
        Ok(self.peers.accounts.acting_account(caller).await?)
    }

    /// NOT_FOUND (`what` `id`) for a customer's own user unless its account
    /// is one of `accounts` (what the object belongs to), and for a sales
    /// rep unless one of them carries its sales-rep id; any other caller
    /// passes.
    pub(crate) async fn check_own(
        &self,
        caller: &Caller,
        accounts: &[Uuid],
        (what, id): (&'static str, Uuid),
    ) -> Result<(), BillingError> {
        if let Some(limit) = caller.sales_rep_limit() {
            for account_id in accounts {
                match self.fetch_account(caller, *account_id).await {
                    Ok(account) if account.sales_rep_id == limit => return Ok(()),
                    Ok(_) | Err(BillingError::NotFound { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            return Err(BillingError::not_found(what, id));
        }
        match self.own_account(caller).await? {
            Some(own) if !accounts.contains(&own) => Err(BillingError::not_found(what, id)),
            _ => Ok(()),
        }
    }

    /// The stored answer of `key`'s request if it ran already (before a
    /// use case asks other services to repeat their work); `None` when it
    /// has not, or cannot be told yet (then `open` decides).
    pub(crate) async fn replay<R: Message + Default>(
        &self,
        key: &Option<RequestKey>,
    ) -> Result<Option<R>, BillingError> {
        Ok(idempotency::replay(&self.db, key).await?)
    }

    /// Runs a write once per request id (see
    /// [`idempotency::once`]) and wakes the event sequencer for the events
    /// it wrote.
    pub(crate) async fn write<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, BillingError>,
    ) -> Result<R, BillingError> {
        let response = idempotency::once(&self.db, key, work).await?;
        self.events.written();
        Ok(response)
    }

    /// The account's currency, if the caller may see the account.
    pub(crate) async fn account_currency(&self, caller: &Caller, account_id: Uuid) -> Result<Currency, BillingError> {
        account_currency(&self.fetch_account(caller, account_id).await?)
    }

    /// The due dates of invoices (account, invoice date, delivery date),
    /// from credit's payment terms, in order.
    pub(crate) async fn due_dates(
        &self,
        caller: &Caller,
        invoices: &[(Uuid, NaiveDate, Option<NaiveDate>)],
    ) -> Result<Vec<NaiveDate>, BillingError> {
        const BATCH: usize = 1_000;
        let channel = self.peer("credit", &self.peers.credit)?;
        let unavailable = |cause: String| BillingError::Unavailable { what: "credit", cause };
        let mut due_dates = Vec::with_capacity(invoices.len());
        for batch in invoices.chunks(BATCH) {
            let request = ComputeDueDatesRequest {
                invoices: batch
                    .iter()
                    .map(|(account_id, invoice_date, delivery_date)| ComputeDueDateRequest {
                        account_id: account_id.to_string(),
                        invoice_date: format_date(*invoice_date),
                        delivery_date: delivery_date.map(format_date).unwrap_or_default(),
                    })
                    .collect(),
            };
            let answer = CreditServiceClient::new(channel.clone())
                .compute_due_dates(client::request(request, caller, PEER_TIMEOUT))
                .await
                .map_err(upstream("credit"))?
                .into_inner();
            if answer.due_dates.len() != batch.len() {
                return Err(unavailable(format!("{} due dates for {} invoices", answer.due_dates.len(), batch.len())));
            }
            for due in answer.due_dates {
                due_dates.push(parse_date(&due.due_date).map_err(unavailable)?);
            }
        }
        Ok(due_dates)
    }
}

/// A peer's refusal goes back to the caller as it came; a peer that cannot
/// answer is UNAVAILABLE.
pub(crate) fn upstream(what: &'static str) -> impl Fn(Status) -> BillingError {
    move |status| client::peer_error(what, status).into()
}

/// Pricing's refusal of quote lines with its subjects (`lines[2]`, and
/// anything after) renamed as the caller's request names them
/// (`name(2)`); any other error unchanged.
pub(crate) fn lines_as(name: impl Fn(usize) -> String) -> impl Fn(BillingError) -> BillingError {
    move |error| match error {
        BillingError::Upstream(status) => {
            BillingError::Upstream(bss_platform::error::renamed_subjects(status, |subject| {
                let (index, after) = subject.strip_prefix("lines[")?.split_once(']')?;
                Some(format!("{}{after}", name(index.parse().ok()?)))
            }))
        }
        other => other,
    }
}

/// A peer's answer billing cannot read.
pub(crate) fn unreadable(what: &'static str, cause: impl Into<String>) -> BillingError {
    BillingError::Unavailable { what, cause: cause.into() }
}

/// An amount of pricing's answer.
pub(crate) fn priced_amount(money: &Option<bss_proto::types::Money>) -> Result<rust_decimal::Decimal, BillingError> {
    let text = money.as_ref().map(|money| money.amount.as_str()).unwrap_or_default();
    bss_platform::money::parse_decimal(text).map_err(|_| unreadable("pricing", format!("an amount {text:?}")))
}

/// The name of a rule of pricing's quote line (empty for one this build
/// does not know).
pub(crate) fn rule_name(rule: i32) -> String {
    bss_proto::pricing::PriceRule::try_from(rule).map(|rule| rule.as_str_name().to_owned()).unwrap_or_default()
}

/// The currency of an account as accounts shows it.
pub(crate) fn account_currency(account: &bss_proto::accounts::Account) -> Result<Currency, BillingError> {
    Ok(peers::currency_of(account)?)
}

/// Writes an event of billing's stream, made by `actor` now, in the
/// caller's transaction.
pub async fn publish(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    payload: billing_event::Payload,
) -> Result<(), BillingError> {
    publish_all(connection, tenant_id, actor, vec![payload]).await
}

/// Writes events of billing's stream in order, in one statement.
pub async fn publish_all(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    payloads: Vec<billing_event::Payload>,
) -> Result<(), BillingError> {
    bss_platform::events::publish::<BillingEvent>(connection, tenant_id, actor, payloads).await?;
    Ok(())
}
