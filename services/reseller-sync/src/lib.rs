//! The reseller-sync context, in the `reseller_sync` schema: links of
//! reseller tenants to their distributors, and the copies of reseller
//! customers it keeps in the distributor's books (copied on the customer's
//! first paid subscription, from billing's stream; kept in step from the
//! accounts stream). Every effect goes through the accounts service, with
//! request ids derived from the event that caused it.
//!
//! `domain` holds the rules, `repo` the storage, `sync` the calls to
//! accounts, `feeds` the two stream consumers, `app` the use cases of the
//! API, and `grpc` the adapter that converts and calls them.

pub mod app;
pub mod domain;
pub mod feeds;
pub mod grpc;
pub mod repo;
pub mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use bss_platform::auth::{ServiceIdentity, TokenVerifier};
use bss_platform::client;
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::events::{Source, run_consumer};
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_proto::resellersync::reseller_sync_service_server::ResellerSyncServiceServer;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::app::ResellerSync;
use crate::feeds::{AccountsFeed, BillingFeed};
use crate::sync::Syncer;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "reseller_sync";

/// The reseller-sync service's configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct ResellerSyncConfig {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    /// The accounts service of the resellers (`BSS_ACCOUNTS_URL`): their
    /// customers and the accounts event stream. Required.
    pub accounts_url: String,
    /// The billing service (`BSS_BILLING_URL`): its event stream of first
    /// paid subscriptions. Required.
    pub billing_url: String,
    /// The distributor's accounts service (`BSS_DISTRIBUTOR_ACCOUNTS_URL`)
    /// when it is another deployment; the same as `accounts_url` when unset.
    #[serde(default)]
    pub distributor_accounts_url: Option<String>,
}

impl ResellerSyncConfig {
    pub fn new(platform: PlatformConfig, accounts_url: String, billing_url: String) -> ResellerSyncConfig {
        ResellerSyncConfig { platform, accounts_url, billing_url, distributor_accounts_url: None }
    }
}

/// The reseller-sync service, connected, migrated and bound.
pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
    db: PgPool,
}

/// The service's own migrations (the shared plumbing's run first, see
/// `bss_platform::db::migrate`).
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

impl App {
    pub async fn build(
        config: &ResellerSyncConfig,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> Result<App, StartupError> {
        let platform = &config.platform;
        let db = db::connect(&platform.database, SCHEMA, "bss-reseller-sync").await?;
        db::migrate(&db, SCHEMA, migrator()).await?;
        let verifier = Arc::new(TokenVerifier::from_config(&platform.auth)?);
        let channel = |what: &str, url: &str| {
            client::channel(url, platform.peer_tls.as_ref())
                .map_err(|error| StartupError::Config(format!("{what}: {error}")))
        };
        let accounts = channel("accounts service", &config.accounts_url)?;
        let billing = channel("billing service", &config.billing_url)?;
        let distributor_accounts = match &config.distributor_accounts_url {
            Some(url) => channel("distributor accounts service", url)?,
            None => accounts.clone(),
        };
        let identity = ServiceIdentity::new("reseller-sync", &platform.auth);
        if identity.token().is_none() {
            return Err(StartupError::Config(
                "the sync acts as a service: it needs BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET".to_owned(),
            ));
        }
        // Its callers are distributors: their tenants are the distributor
        // books' to tell.
        let tenants = bss_platform::tenancy::remote(Some(&distributor_accounts), identity.clone());
        let syncer =
            Syncer { db: db.clone(), accounts: accounts.clone(), distributor_accounts, identity: identity.clone() };
        let billing_feed = Arc::new(BillingFeed {
            source: Source { channel: billing, identity: identity.clone() },
            syncer: syncer.clone(),
        });
        // The accounts stream gets a connection of its own: events it
        // buffers while one is applied must not hold back the replies of the
        // sync's calls (HTTP/2 flow control is per connection).
        let stream = channel("accounts service", &config.accounts_url)?;
        let accounts_feed =
            Arc::new(AccountsFeed { source: Source { channel: stream, identity }, syncer: syncer.clone() });
        tokio::spawn(run_consumer(db.clone(), billing_feed.clone(), shutdown.clone()));
        tokio::spawn(run_consumer(db.clone(), accounts_feed.clone(), shutdown.clone()));
        let api = ResellerSync::new(db.clone(), syncer, billing_feed, accounts_feed);
        let server = GrpcServer::new(listener, platform.server.clone(), verifier)
            .named("reseller-sync")
            .metrics(platform.metrics_addr)
            .tenant_share(platform.tenant_share())
            .tenants_if(tenants)
            .add_service(ResellerSyncServiceServer::new(api))
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
