//! Test support shared by every service's API tests and the end-to-end
//! scenarios: a fresh Postgres database per test (dropped afterwards), the
//! configuration of a service on `127.0.0.1:0`, tokens, and channels.
//!
//! The Postgres server is `DATABASE_URL` when set, else the local default
//! `postgres://postgres@127.0.0.1:5432/postgres`. `make test` starts a
//! private server and sets `DATABASE_URL` when none is reachable.

#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod proxy;

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Once;
use std::time::Duration;

use bss_platform::auth::{Role, TokenIssuer, TokenSpec};
use bss_platform::config::{AuthConfig, DatabaseConfig, PlatformConfig, Secret, ServerConfig, TelemetryConfig};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use tonic::transport::Channel;
use uuid::Uuid;

pub const TEST_SECRET: &str = "bss-test-secret-not-for-production";
pub const TEST_ISSUER: &str = "bss-test";
pub const TEST_AUDIENCE: &str = "bss";

/// The URL of the Postgres server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test and is dropped with this value.
pub struct TestDatabase {
    name: String,
    url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let server = PgConnectOptions::from_str(&server_url()).expect("DATABASE_URL is a Postgres URL");
        let name = format!("bss_test_{}", Uuid::new_v4().simple());
        let mut connection = server
            .clone()
            .connect()
            .await
            .expect("reach the test Postgres server (set DATABASE_URL, or run `make test` to start one)");
        connection
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create the test database");
        connection.close().await.ok();
        let url = server.database(&name).to_url_lossy().to_string();
        TestDatabase { name, url }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a dedicated thread with its
        // own runtime can block on the cleanup without stalling it.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let server = PgConnectOptions::from_str(&server_url()).expect("server url");
                if let Ok(mut connection) = server.connect().await {
                    let _ = connection
                        .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .await;
                    let _ = connection.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A reproducible source of random numbers for property tests: each call
/// gives a number below its bound (xorshift64 from `seed`, so a failing
/// run is replayed by its seed).
pub fn seeded(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed.max(1);
    move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    }
}

/// How every test service verifies tokens.
pub fn auth_config() -> AuthConfig {
    AuthConfig {
        issuer: TEST_ISSUER.to_owned(),
        audience: TEST_AUDIENCE.to_owned(),
        hs256_secret: Some(Secret::new(TEST_SECRET)),
        ..AuthConfig::default()
    }
}

/// A service configuration on `127.0.0.1:0` with a small pool and a short
/// drain, against `database_url`.
pub fn platform_config(database_url: &str) -> PlatformConfig {
    PlatformConfig {
        listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics_addr: None,
        database: DatabaseConfig { max_connections: 8, ..DatabaseConfig::new(database_url) },
        auth: auth_config(),
        server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 2_000, ..ServerConfig::default() },
        telemetry: TelemetryConfig::default(),
        peer_tls: None,
    }
}

pub fn issuer() -> TokenIssuer {
    TokenIssuer::hs256(TEST_SECRET, TEST_ISSUER, TEST_AUDIENCE)
}

/// A token of a caller in `tenant` with `roles`.
pub fn token(tenant: Uuid, roles: &[Role]) -> String {
    issuer().mint(&TokenSpec {
        subject: format!("user:{}", roles.first().map_or("none", |role| role.as_str())),
        tenant: Some(tenant.to_string()),
        roles: roles.to_vec(),
        sales_rep_id: None,
        user_id: None,
        ttl: Duration::from_secs(3600),
    })
}

/// A sales representative's token.
pub fn sales_rep_token(tenant: Uuid, sales_rep_id: &str) -> String {
    sales_rep_token_with(tenant, sales_rep_id, &[])
}

/// A sales representative's token with permissions added (`facility`).
pub fn sales_rep_token_with(tenant: Uuid, sales_rep_id: &str, added: &[Role]) -> String {
    issuer().mint(&TokenSpec {
        subject: format!("rep:{sales_rep_id}"),
        tenant: Some(tenant.to_string()),
        roles: [Role::SalesRep].into_iter().chain(added.iter().copied()).collect(),
        sales_rep_id: Some(sales_rep_id.to_owned()),
        user_id: None,
        ttl: Duration::from_secs(3600),
    })
}

/// A customer's own user's token: it acts for the account `user_id`
/// belongs to.
pub fn customer_user_token(tenant: Uuid, user_id: Uuid) -> String {
    issuer().mint(&TokenSpec {
        subject: format!("user:{user_id}"),
        tenant: Some(tenant.to_string()),
        roles: vec![Role::CustomerUser],
        user_id: Some(user_id),
        ttl: Duration::from_secs(3600),
        ..TokenSpec::default()
    })
}

/// A platform administrator's token (no tenant).
pub fn platform_admin_token() -> String {
    issuer().mint(&TokenSpec {
        subject: "admin:platform".to_owned(),
        tenant: None,
        roles: vec![Role::PlatformAdmin],
        sales_rep_id: None,
        user_id: None,
        ttl: Duration::from_secs(3600),
    })
}

/// `message` with `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii token"));
    request
}

/// A channel to a server listening on `address`.
pub async fn channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the service under test")
}

/// The fields named by the BadRequest details of an INVALID_ARGUMENT status.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("BadRequest details")
        .field_violations
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}

/// The ErrorInfo reason of a status.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_details_error_info().expect("ErrorInfo details").reason
}

/// The type of each violation in a status's PreconditionFailure, in order.
pub fn precondition_types(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    let failure = status.get_details_precondition_failure().expect("PreconditionFailure details");
    failure.violations.into_iter().map(|violation| violation.r#type).collect()
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("RUST_LOG").is_ok() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
    });
}

/// Every item of a paged listing, read `page_size` at a time: `page` asks
/// for the page after a token (empty for the first) and gives its items
/// and the next token. Asserts that no page holds more than `page_size`.
pub async fn every_page<T, Fut>(page_size: usize, mut page: impl FnMut(String) -> Fut) -> Vec<T>
where
    Fut: std::future::Future<Output = (Vec<T>, String)>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (mut got, next) = page(token).await;
        assert!(got.len() <= page_size, "a page of {} items for a page size of {page_size}", got.len());
        items.append(&mut got);
        if next.is_empty() {
            return items;
        }
        token = next;
    }
}
