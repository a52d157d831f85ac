//! `make bench`: each figure of the suite next to a baseline measured in the
//! same run on the same machine, written to `target/bench/summary.json`.
//!
//! Entries:
//! - P2: CreateAccount throughput at 32 clients vs pgbench single-row
//!   INSERT at 32 clients (goal: ratio >= 0.5).

// Floats here are ratios of measured rates, never money.
#![allow(clippy::expect_used, clippy::float_arithmetic)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load;
mod pgbench;
mod summary;

use std::time::Duration;

use bss_platform::config::ServerConfig;
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest};
use bss_suite::{Suite, SuiteConfig};
use bss_testkit::{TestDatabase, authorized};
use summary::Entry;
use tonic::transport::Channel;

/// Rounds of each comparison: the service and its baseline alternate, so
/// both see the same machine, and the medians are reported.
const ROUNDS: usize = 3;

/// How long each phase of a round runs (`BENCH_PHASE_SECONDS`, default 5).
fn phase_time() -> Duration {
    let seconds = std::env::var("BENCH_PHASE_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(5);
    Duration::from_secs(seconds)
}

#[tokio::main]
async fn main() {
    let database = TestDatabase::create().await;
    let shutdown = Shutdown::new();
    let config = SuiteConfig {
        database_url: database.url().to_owned(),
        host: [127, 0, 0, 1].into(),
        base_port: 0,
        auth: bss_testkit::auth_config(),
        server: ServerConfig::default(),
        max_connections_per_service: 16,
    };
    let suite = Suite::start(&config, shutdown.clone()).await.expect("the suite starts");
    let endpoints = suite.endpoints.clone();
    let suite_task = tokio::spawn(suite.wait());

    let mut entries = Vec::new();
    entries.extend(create_account(&endpoints, database.url()).await);

    println!();
    for entry in &entries {
        println!("{}", entry.line());
    }
    let path = summary::write(&entries).expect("write the summary");
    println!("\nwritten to {}", path.display());

    shutdown.trigger();
    let _ = suite_task.await;
}

/// Channels to `address`, several connections as several clients would use.
async fn channels(address: std::net::SocketAddr, count: usize) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        channels.push(bss_testkit::channel(address).await);
    }
    channels
}

/// P2: CreateAccount (with a request id, as retrying clients send) against
/// pgbench inserting the same account row, both at 32 clients, in
/// alternating rounds.
async fn create_account(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    const CLIENTS: usize = 32;
    let suite_tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(suite_tenant, &[bss_platform::auth::Role::TenantAdmin]);
    let channels = channels(endpoints.accounts, 4).await;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let call = std::sync::Arc::new(move |client: usize, sequence: u64| {
        let mut accounts = AccountServiceClient::new(channels[client % channels.len()].clone());
        let token = token.clone();
        let code = format!("B{}-{client}-{sequence}", &run_id[..8]);
        async move {
            let request = CreateAccountRequest {
                account: Some(Account {
                    name: format!("Bench {code}"),
                    email: "bench@example.com".to_owned(),
                    code: code.clone(),
                    ..Account::default()
                }),
                request_id: code,
            };
            accounts.create_account(authorized(request, &token)).await.is_ok()
        }
    });

    // The baseline: the same account row inserted into the same table (same
    // columns and indexes, time-ordered ids like the service's UUIDv7), one
    // prepared single-row INSERT per transaction.
    let baseline_tenant = uuid::Uuid::now_v7();
    let account_insert = format!(
        "\\set n random(1, 1000000000)\n\
         INSERT INTO accounts.accounts (id, tenant_id, code, name, name_key, name_scope, kind, profile, email, \
         currency_code, created_by) VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000)::bigint), 16, '0') \
         || substr(md5(random()::text), 1, 16))::uuid, '{baseline_tenant}', md5(random()::text), 'Bench ' || :n || random(), \
         'bench ' || :n || random(), '{baseline_tenant}', 'direct', 'normal', 'bench@example.com', 'EUR', 'bench');\n"
    );
    // For context only: an INSERT into a table with one index.
    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.bench_narrow (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, \
         code text NOT NULL, name text NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("narrow table");
    let narrow_insert = format!(
        "INSERT INTO public.bench_narrow (tenant_id, code, name) VALUES ('{baseline_tenant}', md5(random()::text), 'Bench');\n"
    );

    let warm = call.clone();
    load::run(CLIENTS, Duration::from_secs(3), move |client, sequence| warm(client, sequence + 1_000_000_000)).await;
    let mut services = Vec::new();
    let mut baselines = Vec::new();
    let mut narrows = Vec::new();
    for round in 0..ROUNDS {
        checkpoint(&pool).await;
        let call = call.clone();
        let offset = (round as u64 + 1) * 100_000_000;
        services.push(load::run(CLIENTS, phase_time(), move |client, sequence| call(client, sequence + offset)).await);
        checkpoint(&pool).await;
        baselines.push(pgbench::run(database_url, &account_insert, CLIENTS, phase_time()).await.expect("pgbench runs"));
        checkpoint(&pool).await;
        narrows.push(pgbench::run(database_url, &narrow_insert, CLIENTS, phase_time()).await.expect("pgbench runs"));
    }
    let service_rate = median(services.iter().map(load::LoadResult::rate));
    let errors: u64 = services.iter().map(|result| result.errors).sum();
    let calls: u64 = services.iter().map(|result| result.calls).sum();
    vec![
        Entry::new(
            "P2",
            "CreateAccount, 32 clients (vs pgbench INSERT of the account row, 32)",
            service_rate,
            "calls/s",
            median(baselines.iter().map(|result| result.tps)),
            "tx/s",
        )
        .ratio_at_least(0.5),
        Entry::new(
            "P2-latency",
            "CreateAccount p99 latency, 32 clients (vs pgbench mean)",
            median(services.iter().map(|result| result.percentile_us(990))),
            "us",
            median(baselines.iter().map(|result| result.latency_average_us)),
            "us",
        ),
        Entry::new(
            "P2-narrow",
            "CreateAccount (vs pgbench INSERT into a one-index table)",
            service_rate,
            "calls/s",
            median(narrows.iter().map(|result| result.tps)),
            "tx/s",
        ),
        Entry::new("P2-errors", "CreateAccount failed calls during the runs", errors, "calls", calls, "calls")
            .goal("no failed call", errors == 0),
    ]
}

/// The median of some measurements (the upper one of an even count).
fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Flushes dirty pages now, so no checkpoint lands inside a measurement.
async fn checkpoint(pool: &sqlx::PgPool) {
    sqlx::query("CHECKPOINT").execute(pool).await.expect("checkpoint");
}

/// A tenant to load, created through the service like any client would.
async fn bench_tenant(endpoints: &bss_suite::Endpoints) -> uuid::Uuid {
    use bss_proto::accounts::tenant_service_client::TenantServiceClient;
    use bss_proto::accounts::{CreateTenantRequest, Tenant};
    let mut tenants = TenantServiceClient::new(bss_testkit::channel(endpoints.accounts).await);
    let request = CreateTenantRequest {
        tenant: Some(Tenant { name: "Bench".to_owned(), default_currency: "EUR".to_owned(), ..Tenant::default() }),
        request_id: String::new(),
    };
    let tenant = tenants
        .create_tenant(authorized(request, &bss_testkit::platform_admin_token()))
        .await
        .expect("tenant")
        .into_inner()
        .tenant
        .expect("tenant");
    tenant.id.parse().expect("uuid")
}
