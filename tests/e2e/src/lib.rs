//! The whole suite started in the test process on ephemeral ports, with a
//! fresh database, for the end-to-end scenarios in `tests/`. Scenarios call
//! the gateway, as real clients do.

#![allow(clippy::expect_used)]

use std::path::PathBuf;

use bss_gateway::rate_limit::RateLimitConfig;
use bss_platform::auth::Role;
use bss_platform::config::ServerConfig;
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{CreateTenantRequest, Tenant};
use bss_suite::{Endpoints, Suite, SuiteConfig};
use bss_testkit::{TestDatabase, authorized, platform_admin_token};
use tonic::transport::Channel;
use uuid::Uuid;

pub struct TestSuite {
    pub endpoints: Endpoints,
    shutdown: Shutdown,
    database: TestDatabase,
}

impl Drop for TestSuite {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestSuite {
    /// The suite as `make run` starts it, on ephemeral ports.
    pub async fn start() -> TestSuite {
        TestSuite::start_with(|_| {}).await
    }

    /// The suite with its configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut SuiteConfig)) -> TestSuite {
        bss_testkit::init_logging();
        let database = TestDatabase::create().await;
        let shutdown = Shutdown::new();
        let mut config = SuiteConfig {
            database_url: database.url().to_owned(),
            host: [127, 0, 0, 1].into(),
            base_port: 0,
            auth: bss_testkit::auth_config(),
            server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 2_000, ..ServerConfig::default() },
            max_connections_per_service: 6,
            rate_limit: RateLimitConfig::default(),
            tls: None,
        };
        adjust(&mut config);
        let suite = Suite::start(&config, shutdown.clone()).await.expect("the suite starts");
        let endpoints = suite.endpoints.clone();
        tokio::spawn(suite.wait());
        TestSuite { endpoints, shutdown, database }
    }

    /// The suite's database (each service in its own schema).
    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// A channel to the gateway, as clients use it.
    pub async fn gateway(&self) -> Channel {
        bss_testkit::channel(self.endpoints.gateway).await
    }

    /// Creates a tenant and returns its id with a tenant admin's token.
    pub async fn tenant(&self, name: &str, currency: &str) -> (Uuid, String) {
        let mut tenants = TenantServiceClient::new(self.gateway().await);
        let request = CreateTenantRequest {
            tenant: Some(Tenant { name: name.to_owned(), default_currency: currency.to_owned(), ..Tenant::default() }),
            request_id: String::new(),
        };
        let tenant = tenants
            .create_tenant(authorized(request, &platform_admin_token()))
            .await
            .expect("tenant")
            .into_inner()
            .tenant
            .expect("tenant");
        let id: Uuid = tenant.id.parse().expect("uuid");
        (id, bss_testkit::token(id, &[Role::TenantAdmin]))
    }
}

/// The repository's root folder.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
