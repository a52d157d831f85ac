//! The pricing context: products, price levels, pricelists, account
//! pricing and prices, contracts with rebate terms, exchange rates, and the
//! Quote that applies them, in the `pricing` schema.

pub mod app;
pub mod books;
pub mod domain;
pub mod feed;
pub mod grpc;
pub mod repo;

use std::net::SocketAddr;
use std::sync::Arc;

use bss_platform::auth::{ServiceIdentity, TokenVerifier};
use bss_platform::client;
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::events::{Source, run_consumer};
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_proto::pricing::account_pricing_service_server::AccountPricingServiceServer;
use bss_proto::pricing::catalog_service_server::CatalogServiceServer;
use bss_proto::pricing::contract_service_server::ContractServiceServer;
use bss_proto::pricing::exchange_rate_service_server::ExchangeRateServiceServer;
use bss_proto::pricing::pricelist_service_server::PricelistServiceServer;
use bss_proto::pricing::quote_service_server::QuoteServiceServer;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::books::Books;
use crate::feed::AccountsFeed;
use crate::grpc::PricingApi;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "pricing";

/// The pricing service's configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct PricingConfig {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    /// The accounts service (`BSS_ACCOUNTS_URL`, for example
    /// `http://accounts:50051`): its event stream feeds pricing's read model
    /// of accounts and group memberships. Without it, pricing knows no
    /// account (development of pricing alone).
    #[serde(default)]
    pub accounts_url: Option<String>,
}

impl PricingConfig {
    pub fn new(platform: PlatformConfig) -> PricingConfig {
        PricingConfig { platform, accounts_url: None }
    }
}

/// The pricing service, connected, migrated and bound; `run_until_stopped`
/// serves it.
pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
    db: PgPool,
    books: Arc<Books>,
}

/// The service's own migrations (the shared plumbing's run first, see
/// `bss_platform::db::migrate`).
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

impl App {
    pub async fn build(config: &PricingConfig, listener: TcpListener, shutdown: Shutdown) -> Result<App, StartupError> {
        let platform = &config.platform;
        let db = db::connect(&platform.database, SCHEMA, "bss-pricing").await?;
        db::migrate(&db, SCHEMA, migrator()).await?;
        let verifier = Arc::new(TokenVerifier::from_config(&platform.auth)?);
        let books = Arc::new(Books::new(db.clone()));
        tokio::spawn(books.clone().listen(shutdown.clone()));
        let accounts = match &config.accounts_url {
            Some(url) => Some(
                client::channel(url, platform.peer_tls.as_ref())
                    .map_err(|error| StartupError::Config(format!("accounts service: {error}")))?,
            ),
            None => None,
        };
        if let Some(url) = &config.accounts_url {
            let identity = ServiceIdentity::new("pricing", &platform.auth);
            if identity.token().is_none() {
                return Err(StartupError::Config(
                    "reading the accounts stream needs BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET".to_owned(),
                ));
            }
            // The stream gets a connection of its own: events it buffers
            // while one is applied must not hold back the replies of the
            // calls to accounts (HTTP/2 flow control is per connection).
            let stream = client::channel(url, platform.peer_tls.as_ref())
                .map_err(|error| StartupError::Config(format!("accounts service: {error}")))?;
            let feed = AccountsFeed { source: Source { channel: stream, identity }, books: books.clone() };
            tokio::spawn(run_consumer(db.clone(), feed, shutdown.clone()));
        }
        let tenants = bss_platform::tenancy::remote(accounts.as_ref(), ServiceIdentity::new("pricing", &platform.auth));
        let api = Arc::new(
            PricingApi::new(db.clone(), books.clone(), accounts)
                .with_identity(ServiceIdentity::new("pricing", &platform.auth)),
        );
        let server = GrpcServer::new(listener, platform.server.clone(), verifier)
            .named("pricing")
            .metrics(platform.metrics_addr)
            .tenant_share(platform.tenant_share())
            .tenants_if(tenants)
            .add_service(CatalogServiceServer::from_arc(api.clone()))
            .add_service(PricelistServiceServer::from_arc(api.clone()))
            .add_service(AccountPricingServiceServer::from_arc(api.clone()))
            .add_service(ContractServiceServer::from_arc(api.clone()))
            .add_service(ExchangeRateServiceServer::from_arc(api.clone()))
            .add_service(QuoteServiceServer::from_arc(api))
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db, books })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool (tests look at rows through it).
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The replica's price books (tests look at how quotes were answered).
    pub fn books(&self) -> Arc<Books> {
        self.books.clone()
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
