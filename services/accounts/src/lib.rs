//! The accounts context: tenants, customer accounts, their contacts and
//! addresses, in the `accounts` schema.

pub mod domain;
pub mod grpc;
pub mod repo;

use std::net::SocketAddr;
use std::sync::Arc;

use bss_platform::auth::TokenVerifier;
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_service_server::AccountServiceServer;
use bss_proto::accounts::tenant_service_server::TenantServiceServer;
use sqlx::PgPool;

use crate::grpc::accounts::AccountsApi;
use crate::grpc::tenants::TenantsApi;
use crate::repo::tenants::TenantCache;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "accounts";

/// The accounts service, connected, migrated and bound; `run_until_stopped`
/// serves it.
pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
    db: PgPool,
}

impl App {
    pub async fn build(config: &PlatformConfig, shutdown: Shutdown) -> Result<App, StartupError> {
        let db = db::connect(&config.database, SCHEMA, "bss-accounts").await?;
        db::migrate(&db, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let verifier = Arc::new(TokenVerifier::from_config(&config.auth)?);
        let limit = config.server.max_message_bytes;
        let tenants = Arc::new(TenantCache::default());
        let server = GrpcServer::bind(config.listen_addr, config.server.clone(), verifier)
            .await?
            .add_service(
                AccountServiceServer::new(AccountsApi::new(db.clone(), tenants.clone()))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
            .add_service(
                TenantServiceServer::new(TenantsApi::new(db.clone(), tenants))
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
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
