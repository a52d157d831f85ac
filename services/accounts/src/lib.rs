//! The accounts context: tenants, customer accounts, their contacts,
//! addresses, users, groups and custom fields, the account lifecycle and
//! history, imports, and the accounts event stream, in the `accounts`
//! schema.

pub mod app;
pub mod domain;
pub mod grpc;
pub mod repo;
pub mod validator;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use bss_platform::auth::TokenVerifier;
use bss_platform::client;
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::events::EventLog;
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_event_service_server::AccountEventServiceServer;
use bss_proto::accounts::account_service_server::AccountServiceServer;
use bss_proto::accounts::custom_field_service_server::CustomFieldServiceServer;
use bss_proto::accounts::group_service_server::GroupServiceServer;
use bss_proto::accounts::tenant_service_server::TenantServiceServer;
use bss_proto::accounts::user_service_server::UserServiceServer;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::grpc::tenants::TenantsApi;
use crate::grpc::{AccountsApi, Peers};
use crate::repo::tenants::TenantCache;
use crate::validator::AddressValidator;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "accounts";

/// The accounts service's configuration.
#[derive(Clone, Debug, Deserialize)]
pub struct AccountsConfig {
    #[serde(flatten)]
    pub platform: PlatformConfig,
    /// An external address validator implementing
    /// `bss.provider.v1.AddressValidationProviderService`
    /// (`BSS_ADDRESS_VALIDATOR_URL`); the built-in checks when unset.
    #[serde(default)]
    pub address_validator_url: Option<String>,
    /// The pricing service (`BSS_PRICING_URL`), asked whether a group member
    /// has pricing of its own. Unset: no account has (accounts alone).
    #[serde(default)]
    pub pricing_url: Option<String>,
    /// The billing service (`BSS_BILLING_URL`), asked before an account is
    /// terminated whether its billing is final. Unset: not asked (accounts
    /// alone).
    #[serde(default)]
    pub billing_url: Option<String>,
    /// The credit service (`BSS_CREDIT_URL`), asked before an account is
    /// deleted whether credit holds reservations or held orders for it.
    /// Unset: not asked.
    #[serde(default)]
    pub credit_url: Option<String>,
}

impl AccountsConfig {
    pub fn new(platform: PlatformConfig) -> AccountsConfig {
        AccountsConfig { platform, address_validator_url: None, pricing_url: None, billing_url: None, credit_url: None }
    }
}

/// The accounts service, connected, migrated and bound; `run_until_stopped`
/// serves it.
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
        config: &AccountsConfig,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> Result<App, StartupError> {
        let platform = &config.platform;
        let db = db::connect(&platform.database, SCHEMA, "bss-accounts").await?;
        db::migrate(&db, SCHEMA, migrator()).await?;
        let verifier = Arc::new(TokenVerifier::from_config(&platform.auth)?);
        let events = EventLog::start(db.clone(), shutdown.clone()).await?;
        // The built-in address rules (also the external validator's
        // fallback), read before the first call rather than during it.
        domain::address_check::load();
        let validator = match &config.address_validator_url {
            Some(url) => AddressValidator::External(
                client::channel(url, None)
                    .map_err(|error| StartupError::Config(format!("address validator: {error}")))?,
            ),
            None => AddressValidator::Builtin,
        };
        let tenants = Arc::new(TenantCache::default());
        let peer = |name: &str, url: &Option<String>| {
            url.as_deref()
                .map(|url| client::channel(url, platform.peer_tls.as_ref()))
                .transpose()
                .map_err(|error| StartupError::Config(format!("{name} service: {error}")))
        };
        let peers = Peers {
            pricing: peer("pricing", &config.pricing_url)?,
            billing: peer("billing", &config.billing_url)?,
            credit: peer("credit", &config.credit_url)?,
        };
        let api = Arc::new(AccountsApi::new(db.clone(), tenants.clone(), events, validator, peers));
        let server = GrpcServer::new(listener, platform.server.clone(), verifier)
            .named("accounts")
            .metrics(platform.metrics_addr)
            .tenant_share(platform.tenant_share())
            .tenants(Arc::new(crate::repo::tenants::LocalTenants { db: db.clone(), cache: tenants.clone() }))
            .add_service(AccountServiceServer::from_arc(api.clone()))
            .add_service(UserServiceServer::from_arc(api.clone()))
            .add_service(GroupServiceServer::from_arc(api.clone()))
            .add_service(CustomFieldServiceServer::from_arc(api.clone()))
            .add_service(AccountEventServiceServer::from_arc(api))
            .add_service(TenantServiceServer::new(TenantsApi::new(db.clone(), tenants)))
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool (tests look at rows through it).
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
