//! `make bench`: each figure of the suite next to a baseline measured in the
//! same run on the same machine, written to `target/bench/summary.json`.
//!
//! Entries (`BENCH_ONLY=P1,P2` picks some):
//! - P1: a trivial RPC (ValidateAddress) and a read (GetAccount) through
//!   the gateway vs straight to the service, and
//!   the gateway's CPU per forwarded call (a gateway process of its own).
//! - P2: CreateAccount vs pgbench inserting the same row.
//! - P3: a 10-line Quote vs a cheap RPC, both through the gateway, and how
//!   far behind a write a second pricing replica prices (P3-stale).
//! - P4, P5: AuthorizeOrder vs pgbench running the same statements.
//! - P6: a billing run over 10,000 and 100,000 accounts vs the same rows
//!   written by set-based SQL in batches of the run's size.
//! - P7: reseller copies' lag behind their customers, and catch-up.
//! - P8: each service's time to SERVING and resident memory idle (alone),
//!   and the suite's peak resident memory under the P-series.
//! - P9: the cost curve: search, GetAccount, Quote, AuthorizeOrder and a
//!   billing run at `BENCH_SCALE` accounts (100,000 unless set) vs 10,000,
//!   and a price book of 100,000 products.
//! - U1, U2: usage ingested through the gateway vs COPY of the same rows,
//!   and a period of 1,000,000 events aggregated and rated.
//! - A1: ImportAccounts of 10,000 rows.
//! - A2: latency from a change to its event on an open stream.
//! - S1: rows and bytes per row of the largest tables, as the rest left
//!   them (last: it weighs what the others wrote).

// Floats here are ratios of measured rates, never money.
#![allow(clippy::expect_used, clippy::float_arithmetic)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod billing;
mod compare;
mod credit;
mod footprint;
mod gateway_cpu;
mod h2load;
mod load;
mod pgbench;
mod quote;
mod resellersync;
mod scale;
mod storage;
mod suite;
mod summary;
mod usage;

use std::time::Duration;

use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest};
use bss_testkit::{TestDatabase, authorized};
use compare::{HalfOf, Target};
use suite::SuiteProcess;
use summary::Entry;
use tonic::transport::Channel;

/// Rounds of each comparison: the service and its baseline alternate, so
/// both see the same machine, and the medians are reported.
pub const ROUNDS: usize = 3;

/// How long each phase of a round runs (`BENCH_PHASE_SECONDS`, default 5).
pub fn phase_time() -> Duration {
    let seconds = std::env::var("BENCH_PHASE_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(5);
    Duration::from_secs(seconds)
}

#[tokio::main]
async fn main() {
    let database = TestDatabase::create().await;
    let suite = SuiteProcess::start(database.url()).await;
    let endpoints = suite.endpoints.clone();
    let url = database.url().to_owned();
    let mut summary = summary::Summary::start(&url).await;
    let suite_peak = footprint::sample_peak(suite.pid().expect("the suite runs"));
    summary.follow_peak(suite_peak.clone(), suite.pid().and_then(footprint::resident_kib).unwrap_or(0));

    // BENCH_ONLY=P1,P2 runs some entries only. Each group runs as a task of
    // its own: one that fails is recorded as failed and the others still
    // run; the summary is written after each.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wanted = |id: &str| only.is_empty() || only.split(',').any(|wanted| wanted.trim() == id);
    if wanted("P1") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        let suite_pid = suite.pid().expect("the suite runs");
        summary
            .measure("P1", async move {
                let mut entries = gateway_overhead(&endpoints).await;
                entries.extend(gateway_on_a_read(&endpoints).await);
                entries.extend(gateway_cpu::gateway_cpu(&endpoints, suite_pid, &url).await);
                entries
            })
            .await;
    }
    if wanted("P2") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P2", async move { create_account(&endpoints, &url).await }).await;
    }
    if wanted("P3") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P3", async move { quote::quote_throughput(&endpoints, &url).await }).await;
    }
    if wanted("P4") || wanted("P5") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P4, P5", async move { credit::authorize_throughput(&endpoints, &url).await }).await;
    }
    if wanted("P6") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P6", async move { billing::billing_run_throughput(&endpoints, &url).await }).await;
    }
    if wanted("P7") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P7", async move { resellersync::copy_lag(&endpoints, &url).await }).await;
    }
    if wanted("P8") {
        // The peak sampled, or what it holds now if no sample was taken yet.
        let now = suite.pid().and_then(footprint::resident_kib).unwrap_or(0);
        let peak = suite_peak.load(std::sync::atomic::Ordering::Relaxed).max(now);
        let (endpoints, by_group) = (endpoints.clone(), summary.peaks.clone());
        summary.measure("P8", async move { footprint::footprint(&endpoints, peak, &by_group).await }).await;
    }
    if wanted("P9") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("P9", async move { scale::cost_curve(&endpoints, &url).await }).await;
    }
    if wanted("U1") || wanted("U2") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("U1, U2", async move { usage::usage(&endpoints, &url).await }).await;
    }
    if wanted("A1") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("A1", async move { import_accounts(&endpoints, &url).await }).await;
    }
    if wanted("A2") {
        let (endpoints, url) = (endpoints.clone(), url.clone());
        summary.measure("A2", async move { event_latency(&endpoints, &url).await }).await;
    }

    if wanted("S1") {
        let url = url.clone();
        summary.measure("S1", async move { storage::storage(&url).await }).await;
    }

    println!();
    summary.print();
    println!("\nwritten to {} (and the README's table to summary.md beside it)", summary::PATH);
    suite.stop().await;
    if summary.any_failed() {
        std::process::exit(1);
    }
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
        .ratio_at_least(0.65),
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

/// The GetTenant method every comparison uses as its cheap RPC: answered
/// from memory.
pub async fn get_tenant(address: std::net::SocketAddr, tenant: uuid::Uuid, token: &str) -> Target {
    use bss_proto::accounts::tenant_service_client::TenantServiceClient;
    use bss_proto::accounts::{GetTenantRequest, GetTenantResponse};
    use prost::Message;
    let request = GetTenantRequest { id: tenant.to_string() };
    // h2load cannot read grpc-status: make sure the call succeeds, and learn
    // the size of a successful answer.
    let answer = TenantServiceClient::new(bss_testkit::channel(address).await)
        .get_tenant(authorized(request.clone(), token))
        .await
        .expect("GetTenant answers")
        .into_inner();
    Target {
        url: format!("http://{address}/bss.accounts.v1.TenantService/GetTenant"),
        body: h2load::frame(&request.encode_to_vec()),
        answer_size: GetTenantResponse::encoded_len(&answer) as u64,
    }
}

/// A call that costs the service next to nothing: ValidateAddress, which
/// checks an address against the country's rules held in memory (no
/// database, no peer).
pub async fn validate_address(address: std::net::SocketAddr, token: &str) -> Target {
    use bss_proto::accounts::{Address, ValidateAddressRequest, ValidateAddressResponse};
    use prost::Message;
    let request = ValidateAddressRequest {
        address: Some(Address {
            lines: vec!["Unter den Linden 1".to_owned()],
            city: "Berlin".to_owned(),
            postal_code: "10117".to_owned(),
            country_code: "DE".to_owned(),
            ..Address::default()
        }),
    };
    let answer = AccountServiceClient::new(bss_testkit::channel(address).await)
        .validate_address(authorized(request.clone(), token))
        .await
        .expect("ValidateAddress answers")
        .into_inner();
    Target {
        url: format!("http://{address}/bss.accounts.v1.AccountService/ValidateAddress"),
        body: h2load::frame(&request.encode_to_vec()),
        answer_size: ValidateAddressResponse::encoded_len(&answer) as u64,
    }
}

/// P1: a trivial unary RPC (ValidateAddress) through the gateway against
/// the same RPC on the service directly, with the same light client
/// (h2load): the highest rate of each, and p99 at half of the direct
/// maximum.
async fn gateway_overhead(endpoints: &bss_suite::Endpoints) -> Vec<Entry> {
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[bss_platform::auth::Role::TenantAdmin]);
    let direct = validate_address(endpoints.accounts, &token).await;
    let gateway = validate_address(endpoints.gateway, &token).await;
    let result = compare::compare(&gateway, &direct, &token, HalfOf::Baseline).await;
    let added = result.measured_p99_us.saturating_sub(result.baseline_p99_us);
    vec![
        Entry::new(
            "P1",
            "ValidateAddress (no database) via the gateway, h2load 4x16 streams (vs direct)",
            result.measured_rate,
            "calls/s",
            result.baseline_rate,
            "calls/s",
        )
        .ratio_at_least(0.6),
        Entry::new(
            "P1-p99",
            &format!("ValidateAddress p99 via the gateway at {}/s, half the direct max (vs direct)", result.half),
            result.measured_p99_us,
            "us",
            result.baseline_p99_us,
            "us",
        )
        .goal(&format!("at most 1000 us added (added {added} us)"), added <= 1_000),
        Entry::new(
            "P1-answers",
            "ValidateAddress calls answered with a message",
            result.requests,
            "calls",
            result.requests,
            "calls",
        )
        .goal("every call answered", result.all_answered),
    ]
}

/// P1-read: what the gateway costs on a typical read that touches
/// Postgres (GetAccount by id), same light client; goal 0.85 of direct.
async fn gateway_on_a_read(endpoints: &bss_suite::Endpoints) -> Vec<Entry> {
    use bss_proto::accounts::account_service_client::AccountServiceClient;
    use bss_proto::accounts::{GetAccountRequest, GetAccountResponse};
    use prost::Message;
    const METHOD: &str = "/bss.accounts.v1.AccountService/GetAccount";
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[bss_platform::auth::Role::TenantAdmin]);
    let mut accounts = AccountServiceClient::new(bss_testkit::channel(endpoints.gateway).await);
    let created = accounts
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account {
                    code: "READ-1".to_owned(),
                    name: "Read Bench".to_owned(),
                    ..Account::default()
                }),
                request_id: String::new(),
            },
            &token,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account");
    let request = GetAccountRequest { id: created.id };
    let answer = accounts.get_account(authorized(request.clone(), &token)).await.expect("read").into_inner();
    let answer_size = GetAccountResponse::encoded_len(&answer) as u64;
    let body = h2load::frame(&request.encode_to_vec());
    let mut direct = Vec::new();
    let mut gateway = Vec::new();
    let mut all_answered = true;
    for _ in 0..ROUNDS {
        for (address, rates) in [(endpoints.accounts, &mut direct), (endpoints.gateway, &mut gateway)] {
            let run = h2load::run(&format!("http://{address}{METHOD}"), &body, &token, phase_time(), None)
                .await
                .expect("h2load");
            all_answered &= run.all_answered_with_data(answer_size);
            rates.push(run.rate);
        }
    }
    let entry = Entry::new(
        "P1-read",
        "GetAccount (a Postgres read) via the gateway (vs direct)",
        median(gateway.into_iter()),
        "calls/s",
        median(direct.into_iter()),
        "calls/s",
    );
    let met = all_answered && entry.ratio >= 0.85;
    let answered = if all_answered { "all were" } else { "some were not" };
    vec![entry.goal(&format!("ratio >= 0.85, every call answered ({answered})"), met)]
}

/// A1: ImportAccounts of 10,000 rows (1 % of them bad) through the gateway,
/// rows per second, against pgbench inserting the same rows one by one
/// from one client.
async fn import_accounts(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    use bss_proto::accounts::{ImportAccountsRequest, ImportRow};
    const ROWS: i64 = 10_000;
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[bss_platform::auth::Role::TenantAdmin]);
    let mut accounts = AccountServiceClient::new(bss_testkit::channel(endpoints.gateway).await);
    let rows: Vec<ImportRow> = (1..=ROWS)
        .map(|line| ImportRow {
            line,
            account: Some(Account {
                external_key: format!("ERP-{line}"),
                code: format!("I{line}"),
                name: format!("Imported {line}"),
                email: if line % 100 == 0 { "bad".to_owned() } else { format!("i{line}@import.example") },
                ..Account::default()
            }),
            payment_type_codes: "AC,CC".to_owned(),
            create_user: false,
        })
        .collect();
    let messages: Vec<ImportAccountsRequest> = rows
        .chunks(1_000)
        .map(|chunk| ImportAccountsRequest { rows: chunk.to_vec(), request_id: String::new() })
        .collect();
    let started = std::time::Instant::now();
    let answer = accounts
        .import_accounts(authorized(futures::stream::iter(messages), &token))
        .await
        .expect("import")
        .into_inner();
    let elapsed = started.elapsed();
    let rate = (ROWS as u128 * 1_000_000 / elapsed.as_micros().max(1)) as u64;

    let baseline_tenant = uuid::Uuid::now_v7();
    let insert = format!(
        "\\set n random(1, 1000000000)\n\
         INSERT INTO accounts.accounts (id, tenant_id, code, name, name_key, name_scope, kind, profile, email, \
         currency_code, created_by, created_by_import) VALUES (gen_random_uuid(), '{baseline_tenant}', md5(random()::text), \
         'Imported ' || :n || random(), 'imported ' || :n || random(), '{baseline_tenant}', 'direct', 'normal', \
         'i@import.example', 'EUR', 'bench', true);\n"
    );
    let baseline = pgbench::run(database_url, &insert, 1, phase_time()).await.expect("pgbench");
    vec![
        Entry::new(
            "A1",
            "ImportAccounts, 10,000 rows with 1% bad (vs pgbench INSERT, 1 client)",
            rate,
            "rows/s",
            baseline.tps,
            "tx/s",
        )
        .goal(
            "every row answered exactly (information)",
            answer.results.len() as i64 == ROWS && answer.rejected == 100,
        ),
    ]
}

/// A2: how long a change takes to reach an open event stream through the
/// gateway (from the start of the call that makes it to the event's
/// arrival), against a raw Postgres NOTIFY reaching a LISTEN in the same run.
async fn event_latency(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    use bss_proto::accounts::StreamEventsRequest;
    use bss_proto::accounts::account_event::Payload;
    use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
    use futures::StreamExt;
    const CHANGES: usize = 200;
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[bss_platform::auth::Role::TenantAdmin]);
    let gateway = bss_testkit::channel(endpoints.gateway).await;
    let mut accounts = AccountServiceClient::new(gateway.clone());
    let mut events = AccountEventServiceClient::new(gateway);
    // The tenant is new: its stream is empty, so following it from 0 sees
    // exactly the changes made below.
    let mut stream = events
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &token))
        .await
        .expect("stream")
        .into_inner();
    let (sender, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Some(Payload::AccountCreated(created)) = message.event.and_then(|event| event.payload) {
                let _ = sender
                    .send((created.account.map(|account| account.code).unwrap_or_default(), std::time::Instant::now()));
            }
        }
    });
    let mut latencies = Vec::with_capacity(CHANGES);
    for index in 0..CHANGES {
        let code = format!("A2-{index}");
        let started = std::time::Instant::now();
        let request = CreateAccountRequest {
            account: Some(Account { code: code.clone(), name: format!("Latency {index}"), ..Account::default() }),
            request_id: String::new(),
        };
        accounts.create_account(authorized(request, &token)).await.expect("created");
        while let Some((arrived_code, arrived_at)) =
            tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await.expect("event in time")
        {
            if arrived_code == code {
                latencies.push(arrived_at.duration_since(started).as_micros() as u64);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort_unstable();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];

    let baseline = notify_latency(database_url, CHANGES).await;
    vec![
        Entry::new(
            "A2",
            "change to event on an open stream via the gateway, p99 (vs NOTIFY to LISTEN)",
            p99,
            "us",
            baseline,
            "us",
        )
        .goal(&format!("at most 200000 us (p99 {p99} us)"), p99 <= 200_000),
    ]
}

/// p99 of a raw Postgres NOTIFY reaching a LISTENing connection.
pub async fn notify_latency(database_url: &str, count: usize) -> u64 {
    let pool = sqlx::PgPool::connect(database_url).await.expect("pool");
    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.expect("listener");
    listener.listen("bench_latency").await.expect("listen");
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let started = std::time::Instant::now();
        sqlx::query("SELECT pg_notify('bench_latency', $1)")
            .bind(index.to_string())
            .execute(&pool)
            .await
            .expect("notify");
        listener.recv().await.expect("notification");
        latencies.push(started.elapsed().as_micros() as u64);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    latencies.sort_unstable();
    latencies[latencies.len() * 99 / 100 - 1]
}

/// The median of some measurements (the upper one of an even count).
pub fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// Flushes dirty pages now, so no checkpoint lands inside a measurement.
async fn checkpoint(pool: &sqlx::PgPool) {
    sqlx::query("CHECKPOINT").execute(pool).await.expect("checkpoint");
}

/// A tenant to load, created through the service like any client would.
pub async fn bench_tenant(endpoints: &bss_suite::Endpoints) -> uuid::Uuid {
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
