//! An operator scrapes the metrics endpoint and finds the RED metrics of the
//! calls made (a stream when it closes), the pools, the outbox, the
//! consumers (a stuck one lagging more at each scrape), the process and the
//! build.

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bss_e2e::TestApp;
use bss_platform::auth::ServiceIdentity;
use bss_platform::config::DatabaseConfig;
use bss_platform::events::{HandlerError, Source, Subscription, run_consumer};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, AccountEvent, CreateAccountRequest, GetAccountRequest, StreamEventsRequest};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use bss_proto::types::Decimal;
use bss_testkit::authorized;
use sqlx::PgConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic::transport::Channel;

/// `GET /metrics` over plain HTTP/1.1, as Prometheus scrapes it.
async fn scrape(address: SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.expect("metrics port");
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n").await.expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample of `metric` whose labels include every one of
/// `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    text.lines().filter(|line| line.starts_with(&format!("{metric}{{"))).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        labels.iter().all(|label| series.contains(label)).then(|| value.parse().ok())?
    })
}

/// The id of a new account of code `code`, created through `accounts`.
async fn create_account(accounts: &mut AccountServiceClient<Channel>, admin: &str, code: &str) -> String {
    let account = Account { code: code.to_owned(), name: format!("Company {code}"), ..Account::default() };
    let created = accounts
        .create_account(authorized(CreateAccountRequest { account: Some(account), request_id: String::new() }, admin))
        .await
        .expect("account");
    created.into_inner().account.expect("the account").id
}

#[tokio::test]
async fn the_metrics_endpoint_counts_calls_by_code_and_shows_pools_outbox_and_consumer_lag() {
    let suite = TestApp::start().await;
    let (_tenant, admin) = suite.tenant("Metrics", "EUR").await;
    let mut accounts = AccountServiceClient::new(suite.gateway().await);
    let mut ids = Vec::new();
    for code in ["M1", "M2", "M3"] {
        ids.push(create_account(&mut accounts, &admin, code).await);
    }
    // Two quotes of one account: pricing reads the first from the
    // database (a cold book), and answers the second from memory once its
    // change listener hears.
    bss_testapp::create_product(&suite.gateway().await, &admin, "Q", "5.00", "tools").await;
    let mut quotes = QuoteServiceClient::new(suite.gateway().await);
    let quote = QuoteRequest {
        account_id: ids[0].clone(),
        lines: vec![QuoteLineRequest {
            product: "Q".to_owned(),
            quantity: Some(Decimal { value: "1".to_owned() }),
            ..Default::default()
        }],
        ..QuoteRequest::default()
    };
    let from_memory = [r#"from="memory""#];
    for _ in 0..100 {
        quotes.quote(authorized(quote.clone(), &admin)).await.expect("quoted");
        if sample(&scrape(suite.endpoints.metrics).await, "bss_pricing_book_reads_total", &from_memory).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = accounts
        .get_account(authorized(GetAccountRequest { id: "not-a-uuid".to_owned() }, &admin))
        .await
        .expect_err("a malformed id");
    assert_eq!(refused.code(), Code::InvalidArgument);

    let created = [r#"server="accounts""#, r#"grpc_method="CreateAccount""#, r#"grpc_code="OK""#];
    let invalid = [r#"server="accounts""#, r#"grpc_method="GetAccount""#, r#"grpc_code="InvalidArgument""#];
    let through_gateway = [r#"server="gateway""#, r#"grpc_method="CreateAccount""#, r#"grpc_code="OK""#];
    let pricing_consumer = [r#"schema="pricing""#, r#"stream="accounts""#];

    // Pricing consumes the accounts stream in the background, and a scrape
    // reads the outbox before the consumers' gauges: wait until one scrape
    // shows both past the three accounts.
    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(suite.endpoints.metrics).await;
        let at_least_three = |metric: &str, labels: &[&str]| sample(&text, metric, labels).is_some_and(|at| at >= 3.0);
        if at_least_three("bss_consumer_position", &pricing_consumer)
            && at_least_three("bss_outbox_latest_sequence", &[r#"schema="accounts""#])
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(sample(&text, "bss_grpc_server_handled_total", &created), Some(3.0), "{text}");
    assert_eq!(sample(&text, "bss_grpc_server_handled_total", &invalid), Some(1.0));
    assert_eq!(sample(&text, "bss_grpc_server_handled_total", &through_gateway), Some(3.0));
    let calls = [r#"server="accounts""#, r#"grpc_method="CreateAccount""#];
    assert_eq!(sample(&text, "bss_grpc_server_started_total", &calls), Some(3.0));
    assert_eq!(sample(&text, "bss_grpc_server_handling_seconds_count", &calls), Some(3.0));
    assert_eq!(
        sample(&text, "bss_grpc_server_handling_seconds_bucket", &[calls[0], calls[1], r#"le="+Inf""#]),
        Some(3.0)
    );

    let max = sample(&text, "bss_db_pool_max_connections", &[r#"schema="accounts""#]).expect("pool size");
    assert_eq!(max, 6.0);
    let idle = sample(&text, "bss_db_pool_connections", &[r#"schema="accounts""#, r#"state="idle""#]).expect("idle");
    let in_use =
        sample(&text, "bss_db_pool_connections", &[r#"schema="accounts""#, r#"state="in_use""#]).expect("busy");
    assert!(idle <= max && in_use <= max);
    assert!(sample(&text, "bss_outbox_latest_sequence", &[r#"schema="accounts""#]).expect("outbox") >= 3.0);
    assert!(sample(&text, "bss_outbox_backlog_events", &[r#"schema="accounts""#]).is_some());
    assert!(sample(&text, "bss_consumer_position", &pricing_consumer).expect("consumer position") >= 3.0);
    let lag = sample(&text, "bss_consumer_lag_seconds", &pricing_consumer).expect("consumer lag");
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
    assert_eq!(sample(&text, "bss_consumer_connected", &pricing_consumer), Some(1.0));
    assert!(sample(&text, "bss_pricing_book_reads_total", &[r#"from="database""#]).is_some_and(|reads| reads >= 1.0));
    assert!(sample(&text, "bss_pricing_book_reads_total", &from_memory).is_some_and(|reads| reads >= 1.0));
    let listening = text.lines().find_map(|line| line.strip_prefix("bss_pricing_change_listener_up "));
    assert_eq!(listening, Some("1"), "pricing's change listener hears");

    // The process and the build.
    let version = format!(r#"version="{}""#, env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, "bss_build_info", &[version.as_str()]), Some(1.0), "{text}");
    assert!(text.lines().any(|line| line.starts_with("process_cpu_seconds_total ")), "process CPU");
    let resident = text
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .and_then(|value| value.parse::<f64>().ok())
        .expect("resident memory");
    assert!(resident > 1_000_000.0, "resident memory {resident}");
    // Every metric of the suite's own is named bss_*.
    for line in text.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
        assert!(line.starts_with("bss_") || line.starts_with("process_"), "unprefixed: {line}");
    }
}

/// A stream counts as handled when it closes, not when it opens: while it
/// is open it is started and not handled; closed by its client it is
/// CANCELLED at every hop.
#[tokio::test]
async fn a_stream_is_counted_when_it_closes() {
    let suite = TestApp::start().await;
    let (_tenant, admin) = suite.tenant("Streams", "EUR").await;
    let account = Account { code: "S1".to_owned(), name: "Streamed".to_owned(), ..Account::default() };
    AccountServiceClient::new(suite.gateway().await)
        .create_account(authorized(CreateAccountRequest { account: Some(account), request_id: String::new() }, &admin))
        .await
        .expect("account");
    let mut events = AccountEventServiceClient::new(suite.gateway().await)
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &admin))
        .await
        .expect("stream")
        .into_inner();
    events.message().await.expect("an event").expect("open");

    // Only this stream passes the gateway (the services' own consumers
    // stream from accounts directly and stay open).
    let opened = [r#"server="gateway""#, r#"grpc_method="StreamEvents""#];
    let text = scrape(suite.endpoints.metrics).await;
    assert_eq!(sample(&text, "bss_grpc_server_started_total", &opened), Some(1.0), "{text}");
    assert_eq!(sample(&text, "bss_grpc_server_handled_total", &opened), None, "an open stream is not handled yet");
    let at_accounts = [r#"server="accounts""#, r#"grpc_method="StreamEvents""#];
    assert_eq!(sample(&text, "bss_grpc_server_handled_total", &at_accounts), None, "nor at the service");

    drop(events);
    let mut closed = None;
    for _ in 0..100 {
        let text = scrape(suite.endpoints.metrics).await;
        let at = |server: &str| {
            let server = format!(r#"server="{server}""#);
            sample(&text, "bss_grpc_server_handled_total", &[&server, opened[1], r#"grpc_code="Canceled""#])
        };
        closed = at("accounts").zip(at("gateway"));
        if closed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(closed, Some((1.0, 1.0)), "closed by its client: CANCELLED at the service and at the gateway");
}

/// A consumer stuck on an event lags more at each scrape, and catches up
/// to no lag once the event applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::float_arithmetic, reason = "Prometheus writes the lag in seconds as a float; no money here")]
async fn a_stalled_consumer_lags_more_at_each_scrape() {
    let suite = TestApp::start().await;
    let (_tenant, admin) = suite.tenant("Stalled", "EUR").await;
    let gateway = suite.gateway().await;
    let pool = bss_platform::db::connect(&DatabaseConfig::new(suite.database_url().to_owned()), "consumer_test", "e2e")
        .await
        .expect("pool");
    bss_platform::db::migrate(&pool, "consumer_test", sqlx::migrate!("./migrations")).await.expect("migrations");
    let stalled = Arc::new(AtomicBool::new(true));
    let identity = ServiceIdentity::new("consumer-test", &bss_testkit::auth_config());
    let subscription = Stalling { source: Source { channel: gateway.clone(), identity }, stalled: stalled.clone() };
    let shutdown = Shutdown::new();
    let consumer = tokio::spawn(run_consumer(pool, subscription, shutdown.clone()));

    let account = Account { code: "L1".to_owned(), name: "Lagging".to_owned(), ..Account::default() };
    AccountServiceClient::new(gateway)
        .create_account(authorized(CreateAccountRequest { account: Some(account), request_id: String::new() }, &admin))
        .await
        .expect("account");
    let ours = [r#"schema="consumer_test""#, r#"stream="accounts""#];
    let lag = |text: &str| sample(text, "bss_consumer_lag_seconds", &ours);
    let mut first = None;
    for _ in 0..100 {
        first = lag(&scrape(suite.endpoints.metrics).await).filter(|lag| *lag > 0.0);
        if first.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = first.expect("the stuck consumer lags");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let later = lag(&scrape(suite.endpoints.metrics).await).expect("lag");
    assert!(later >= first + 1.0, "the lag grows while stuck: {first} then {later}");

    stalled.store(false, Ordering::SeqCst);
    let mut caught_up = None;
    for _ in 0..200 {
        caught_up = lag(&scrape(suite.endpoints.metrics).await).filter(|lag| *lag == 0.0);
        if caught_up.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(caught_up, Some(0.0), "no lag once the event applied");
    shutdown.trigger();
    consumer.await.expect("stopped");
}

/// Applies nothing while `stalled`: every event is retried.
struct Stalling {
    source: Source,
    stalled: Arc<AtomicBool>,
}

impl Subscription for Stalling {
    type Event = AccountEvent;
    type Prepared = ();

    fn stream_name(&self) -> &str {
        "accounts"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    async fn prepare(&self, _: &AccountEvent) -> Result<(), HandlerError> {
        if self.stalled.load(Ordering::SeqCst) {
            return Err(HandlerError::Retry("stalled by the test".to_owned()));
        }
        Ok(())
    }

    async fn apply(&self, _: &mut PgConnection, _: &AccountEvent, (): ()) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// An event stored in the accounts outbox that does not decode (written by
/// SQL from outside the service) neither stops the stream at its position
/// nor is passed over unseen: it is sent with its tenant and no payload,
/// every consumer moves past it and applies the events after it, and the
/// publisher counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_outbox_event_is_sent_bare_and_every_consumer_goes_on() {
    let suite = TestApp::start().await;
    let (tenant, admin) = suite.tenant("Unreadable", "EUR").await;
    let mut accounts = AccountServiceClient::new(suite.gateway().await);
    create_account(&mut accounts, &admin, "U1").await;
    let database = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let unreadable = [r#"schema="accounts""#];
    let before = sample(&scrape(suite.endpoints.metrics).await, "bss_outbox_unreadable_sent_total", &unreadable);
    assert_eq!(before, Some(0.0), "shown at 0 before any, so the first one is an increase");
    // A truncated varint: no message decodes from it.
    sqlx::query("INSERT INTO accounts.outbox (tenant_id, event_type, payload) VALUES ($1, 'AccountCreated', $2)")
        .bind(tenant)
        .bind(vec![0xff_u8; 3])
        .execute(&database)
        .await
        .expect("a row written outside the service");
    let after = create_account(&mut accounts, &admin, "U2").await;

    let mut events = AccountEventServiceClient::new(suite.gateway().await)
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &admin))
        .await
        .expect("stream")
        .into_inner();
    let mut received = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(Duration::from_secs(10), events.message()).await;
        let event = next.expect("the next event in time").expect("not an error").expect("open").event.expect("event");
        received.push((event.sequence, event.tenant_id, event.payload.is_some()));
    }
    let tenant_id = tenant.to_string();
    assert_eq!(
        received,
        [(1, tenant_id.clone(), true), (2, tenant_id.clone(), false), (3, tenant_id, true)],
        "the unreadable event in its place, bare"
    );

    // Every consumer of the stream is past it, and applied what came after.
    let mut cursors: Vec<i64> = Vec::new();
    for _ in 0..200 {
        cursors = sqlx::query_scalar(
            "SELECT position FROM pricing.consumer_cursors WHERE stream = 'accounts'
             UNION ALL SELECT position FROM reseller_sync.consumer_cursors WHERE stream = 'accounts'",
        )
        .fetch_all(&database)
        .await
        .expect("cursors");
        if cursors == [3, 3] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cursors, [3, 3], "pricing's and the reseller sync's cursors");
    let known: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pricing.accounts WHERE tenant_id = $1 AND account_id = $2::uuid")
            .bind(tenant)
            .bind(&after)
            .fetch_one(&database)
            .await
            .expect("pricing's accounts");
    assert_eq!(known, 1, "pricing knows the account created after the unreadable event");

    let text = scrape(suite.endpoints.metrics).await;
    let sent = sample(&text, "bss_outbox_unreadable_sent_total", &unreadable);
    assert!(sent.is_some_and(|sent| sent >= 1.0), "counted where it was sent: {sent:?}");
}
