//! The billing context, in the `billing` schema: invoices (drafts, then
//! posted with gapless numbers and due dates from credit), payments settling
//! them oldest first, the account's balance, and billing's event stream
//! (`bss.billing.v1.BillingEventService`), which credit applies to each
//! account's balance. Orders, subscriptions, periods and rebates build on it.

pub mod accrual;
pub mod app;
pub mod collector;
pub mod credit_feed;
pub mod domain;
pub mod grpc;
pub mod overdue;
pub mod repo;
pub mod runs;
pub mod sandbox;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use bss_platform::auth::{ServiceIdentity, TokenVerifier};
use bss_platform::client;
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::events::{EventLog, Source, run_consumer};
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_proto::billing::asset_service_server::AssetServiceServer;
use bss_proto::billing::billing_event_service_server::BillingEventServiceServer;
use bss_proto::billing::billing_settings_service_server::BillingSettingsServiceServer;
use bss_proto::billing::invoice_service_server::InvoiceServiceServer;
use bss_proto::billing::ledger_service_server::LedgerServiceServer;
use bss_proto::billing::location_service_server::LocationServiceServer;
use bss_proto::billing::order_service_server::OrderServiceServer;
use bss_proto::billing::payment_service_server::PaymentServiceServer;
use bss_proto::billing::subscription_service_server::SubscriptionServiceServer;
use bss_proto::billing::usage_service_server::UsageServiceServer;
use bss_proto::billing::wallet_service_server::WalletServiceServer;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::app::PaymentProvider;
use crate::app::{Billing, Peers};
use crate::credit_feed::CreditFeed;
use crate::sandbox::SandboxPaymentProvider;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "billing";

/// The billing service's configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct BillingConfig {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    /// The accounts service (`BSS_ACCOUNTS_URL`): each account's currency,
    /// and whether the caller may see it.
    #[serde(default)]
    pub accounts_url: Option<String>,
    /// The credit service (`BSS_CREDIT_URL`): due dates and order
    /// authorization.
    #[serde(default)]
    pub credit_url: Option<String>,
    /// The pricing service (`BSS_PRICING_URL`): order prices.
    #[serde(default)]
    pub pricing_url: Option<String>,
    /// The payment gateway card and PayPal orders are paid through
    /// (`BSS_PAYMENT_PROVIDER_URL`, implementing
    /// `bss.provider.v1.PaymentProviderService`).
    #[serde(default)]
    pub payment_provider_url: Option<String>,
    /// Card and PayPal orders are paid through the built-in SANDBOX
    /// provider, which moves no money (`BSS_SANDBOX_PAYMENTS`; `make run`
    /// turns it on; never in production). Without it or a provider URL,
    /// card and PayPal orders are refused (PAYMENT_PROVIDER_MISSING).
    #[serde(default)]
    pub sandbox_payments: bool,
    /// Bill-to accounts a billing run invoices per transaction
    /// (`BSS_RUN_BATCH_SIZE`, default 500): a stopped run resumes after the
    /// last committed batch.
    #[serde(default = "default_run_batch_size")]
    pub run_batch_size: i64,
}

fn default_run_batch_size() -> i64 {
    runs::BATCH
}

impl BillingConfig {
    pub fn new(platform: PlatformConfig) -> BillingConfig {
        BillingConfig {
            platform,
            accounts_url: None,
            credit_url: None,
            pricing_url: None,
            payment_provider_url: None,
            sandbox_payments: false,
            run_batch_size: runs::BATCH,
        }
    }
}

/// The billing service, connected, migrated and bound; `run_until_stopped`
/// serves it.
pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
    db: PgPool,
    events: EventLog,
}

/// The service's own migrations (the shared plumbing's run first, see
/// `bss_platform::db::migrate`).
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

impl App {
    pub async fn build(config: &BillingConfig, listener: TcpListener, shutdown: Shutdown) -> Result<App, StartupError> {
        let platform = &config.platform;
        let db = db::connect(&platform.database, SCHEMA, "bss-billing").await?;
        db::migrate(&db, SCHEMA, migrator()).await?;
        let converted = repo::convert_encoded(&db, repo::Encoded::Orders, wire::stored_order)
            .await
            .map_err(|error| StartupError::Convert(format!("orders: {error}")))?;
        let converted_subscriptions =
            repo::convert_encoded(&db, repo::Encoded::Subscriptions, wire::stored_subscription)
                .await
                .map_err(|error| StartupError::Convert(format!("subscriptions: {error}")))?;
        if converted + converted_subscriptions > 0 {
            tracing::info!(
                orders = converted,
                subscriptions = converted_subscriptions,
                "records stored as wire messages now kept in billing's own terms"
            );
        }
        let verifier = Arc::new(TokenVerifier::from_config(&platform.auth)?);
        let peer = |what: &str, url: &Option<String>| {
            url.as_ref()
                .map(|url| client::channel(url, platform.peer_tls.as_ref()))
                .transpose()
                .map_err(|error| StartupError::Config(format!("{what}: {error}")))
        };
        let accounts = peer("accounts service", &config.accounts_url)?;
        let credit = peer("credit service", &config.credit_url)?;
        let pricing = peer("pricing service", &config.pricing_url)?;
        let events = EventLog::start(db.clone(), shutdown.clone()).await?;
        tokio::spawn(overdue::run(db.clone(), events.clone(), shutdown.clone()));
        let identity = ServiceIdentity::new("billing", &platform.auth);
        if let Some(credit) = &credit {
            if identity.token().is_none() {
                return Err(StartupError::Config(
                    "reading the credit stream needs BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET".to_owned(),
                ));
            }
            // The stream gets a connection of its own: events it buffers
            // while one is applied must not hold back the replies of the
            // calls to credit (HTTP/2 flow control is per connection).
            let stream = peer("credit service", &config.credit_url)?.unwrap_or_else(|| credit.clone());
            let feed = CreditFeed { source: Source { channel: stream, identity: identity.clone() } };
            tokio::spawn(run_consumer(db.clone(), feed, shutdown.clone()));
        }
        let wake_runs = Arc::new(tokio::sync::Notify::new());
        let tenants = bss_platform::tenancy::remote(accounts.as_ref(), identity.clone());
        let peers = Peers { accounts: bss_platform::peers::Accounts::new(accounts), credit, pricing };
        let payments = match (peer("payment provider", &config.payment_provider_url)?, config.sandbox_payments) {
            (Some(channel), _) => PaymentProvider::External(channel),
            (None, true) => {
                tracing::warn!("card and PayPal orders are paid through the SANDBOX provider: no money moves");
                // A pool of its own, as a gateway is another party: billing
                // calls it while holding its own connections.
                let books = bss_platform::config::DatabaseConfig { max_connections: 4, ..platform.database.clone() };
                let books = db::connect(&books, SCHEMA, "bss-billing-sandbox").await?;
                PaymentProvider::Sandbox(Arc::new(SandboxPaymentProvider::new(books)))
            }
            (None, false) => PaymentProvider::None,
        };
        let api = Arc::new(
            Billing::new(db.clone(), events.clone(), peers, wake_runs.clone(), identity.clone())
                .with_payments(payments),
        );
        tokio::spawn(runs::run(api.clone(), identity, config.run_batch_size.max(1), wake_runs, shutdown.clone()));
        tokio::spawn(collector::run(api.clone(), shutdown.clone()));
        tokio::spawn(accrual::run(api.clone(), shutdown.clone()));
        let server = GrpcServer::new(listener, platform.server.clone(), verifier)
            .named("billing")
            .metrics(platform.metrics_addr)
            .tenant_share(platform.tenant_share())
            .tenants_if(tenants)
            .add_service(InvoiceServiceServer::from_arc(api.clone()))
            .add_service(OrderServiceServer::from_arc(api.clone()))
            .add_service(SubscriptionServiceServer::from_arc(api.clone()))
            .add_service(LedgerServiceServer::from_arc(api.clone()))
            .add_service(PaymentServiceServer::from_arc(api.clone()))
            .add_service(BillingSettingsServiceServer::from_arc(api.clone()))
            .add_service(LocationServiceServer::from_arc(api.clone()))
            .add_service(WalletServiceServer::from_arc(api.clone()))
            .add_service(AssetServiceServer::from_arc(api.clone()))
            .add_service(UsageServiceServer::from_arc(api.clone()))
            .add_service(BillingEventServiceServer::from_arc(api))
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db, events })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The service's event log: a transaction that publishes calls
    /// `written()` after it commits.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
