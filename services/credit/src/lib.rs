//! The credit context: credit settings and ratings, each account's credit
//! terms and payment terms, holds, and whether an order may use credit,
//! with reservations and held orders, in the `credit` schema.
//!
//! The limit is guarded in the database: an authorization takes the
//! account's row lock, decides, and reserves in one transaction, so racing
//! orders never take exposure over the limit.

pub mod app;
pub mod billing;
pub mod domain;
pub mod expiry;
pub mod grpc;
pub mod repo;
pub mod suspensions;
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
use bss_proto::credit::credit_event_service_server::CreditEventServiceServer;
use bss_proto::credit::credit_service_server::CreditServiceServer;
use bss_proto::credit::credit_settings_service_server::CreditSettingsServiceServer;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::app::Credit;
use crate::billing::BillingFeed;
use crate::suspensions::Suspender;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "credit";

/// The credit service's configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct CreditConfig {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    /// The accounts service (`BSS_ACCOUNTS_URL`): the currency of each
    /// account credit meets, and whether the caller may see it. Without it,
    /// credit knows no account.
    #[serde(default)]
    pub accounts_url: Option<String>,
    /// An external credit check (`BSS_CREDIT_CHECK_URL`) implementing
    /// `bss.provider.v1.CreditCheckProviderService`, asked about every
    /// order that would use credit. None when unset.
    #[serde(default)]
    pub credit_check_url: Option<String>,
    /// The billing service (`BSS_BILLING_URL`): its event stream of posted
    /// transactions moves each account's balance. Without it, balances stay
    /// as they are.
    #[serde(default)]
    pub billing_url: Option<String>,
}

impl CreditConfig {
    pub fn new(platform: PlatformConfig) -> CreditConfig {
        CreditConfig { platform, accounts_url: None, credit_check_url: None, billing_url: None }
    }
}

/// The credit service, connected, migrated and bound; `run_until_stopped`
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
    pub async fn build(config: &CreditConfig, listener: TcpListener, shutdown: Shutdown) -> Result<App, StartupError> {
        let platform = &config.platform;
        let db = db::connect(&platform.database, SCHEMA, "bss-credit").await?;
        db::migrate(&db, SCHEMA, migrator()).await?;
        let converted = repo::convert_stored(&db, wire::stored_terms, wire::stored_reason)
            .await
            .map_err(|error| StartupError::Convert(error.to_string()))?;
        if converted > 0 {
            tracing::info!(rows = converted, "converted history and held orders stored as wire messages");
        }
        let verifier = Arc::new(TokenVerifier::from_config(&platform.auth)?);
        let peer = |what: &str, url: &Option<String>| {
            url.as_ref()
                .map(|url| client::channel(url, platform.peer_tls.as_ref()))
                .transpose()
                .map_err(|error| StartupError::Config(format!("{what}: {error}")))
        };
        let accounts = peer("accounts service", &config.accounts_url)?;
        let tenants = bss_platform::tenancy::remote(accounts.as_ref(), ServiceIdentity::new("credit", &platform.auth));
        let credit_check = peer("credit check", &config.credit_check_url)?;
        let billing = peer("billing service", &config.billing_url)?;
        let events = EventLog::start(db.clone(), shutdown.clone()).await?;
        let suspender = accounts
            .clone()
            .map(|accounts| Suspender { accounts, identity: ServiceIdentity::new("credit", &platform.auth) });
        tokio::spawn(expiry::run(db.clone(), events.clone(), suspender, shutdown.clone()));
        if let Some(billing) = billing {
            let identity = ServiceIdentity::new("credit", &platform.auth);
            if identity.token().is_none() {
                return Err(StartupError::Config(
                    "reading the billing stream needs BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET".to_owned(),
                ));
            }
            tokio::spawn(run_consumer(
                db.clone(),
                BillingFeed { source: Source { channel: billing, identity } },
                shutdown.clone(),
            ));
        }
        let api = Arc::new(Credit::new(
            db.clone(),
            events.clone(),
            (accounts, credit_check),
            ServiceIdentity::new("credit", &platform.auth),
        ));
        let server = GrpcServer::new(listener, platform.server.clone(), verifier)
            .named("credit")
            .metrics(platform.metrics_addr)
            .tenant_share(platform.tenant_share())
            .tenants_if(tenants)
            .add_service(CreditSettingsServiceServer::from_arc(api.clone()))
            .add_service(CreditServiceServer::from_arc(api.clone()))
            .add_service(CreditEventServiceServer::from_arc(api))
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db, events })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool (tests look at rows through it).
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The service's event log (tests run the expiry with it).
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
