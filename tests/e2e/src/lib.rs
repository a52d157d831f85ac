//! The whole suite started in the test process on ephemeral ports, with a
//! fresh database, for the end-to-end scenarios in `tests/`.

#![allow(clippy::expect_used)]

use std::path::PathBuf;

use bss_platform::auth::Role;
use bss_platform::config::ServerConfig;
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{CreateTenantRequest, Tenant};
use bss_suite::{Endpoints, Suite, SuiteConfig};
use bss_testkit::{TestDatabase, authorized, platform_admin_token};
use uuid::Uuid;

pub struct TestSuite {
    pub endpoints: Endpoints,
    shutdown: Shutdown,
    _database: TestDatabase,
}

impl Drop for TestSuite {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestSuite {
    pub async fn start() -> TestSuite {
        bss_testkit::init_logging();
        let database = TestDatabase::create().await;
        let shutdown = Shutdown::new();
        let config = SuiteConfig {
            database_url: database.url().to_owned(),
            host: [127, 0, 0, 1].into(),
            base_port: 0,
            auth: bss_testkit::auth_config(),
            server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 2_000, ..ServerConfig::default() },
            max_connections_per_service: 6,
        };
        let suite = Suite::start(&config, shutdown.clone()).await.expect("the suite starts");
        let endpoints = suite.endpoints.clone();
        tokio::spawn(suite.wait());
        TestSuite { endpoints, shutdown, _database: database }
    }

    /// Creates a tenant and returns its id with a tenant admin's token.
    pub async fn tenant(&self, name: &str, currency: &str) -> (Uuid, String) {
        let mut tenants = TenantServiceClient::new(bss_testkit::channel(self.endpoints.accounts).await);
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
