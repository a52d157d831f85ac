//! A consumer of the accounts stream, killed mid-way through a backlog of
//! several batches and started again, applies every event exactly once:
//! its cursor moves in the transaction of the effects (one per batch of
//! events already waiting).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bss_e2e::TestApp;
use bss_platform::auth::ServiceIdentity;
use bss_platform::config::DatabaseConfig;
use bss_platform::events::{HandlerError, Source, Subscription, run_consumer};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, AccountEvent, CreateAccountRequest};
use bss_testkit::authorized;
use sqlx::{Connection, PgConnection, PgPool};
use tonic::transport::Channel;

struct AccountCreations {
    source: Source,
    /// The event to refuse (as a transient failure, to retry) while set.
    stalled: Option<(i64, Arc<AtomicBool>)>,
}

impl Subscription for AccountCreations {
    type Event = AccountEvent;

    fn stream_name(&self) -> &str {
        "accounts"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    type Prepared = ();

    async fn prepare(&self, _: &AccountEvent) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &AccountEvent, (): ()) -> Result<(), HandlerError> {
        if let Some((sequence, stalled)) = &self.stalled
            && *sequence == event.sequence
            && stalled.load(Ordering::SeqCst)
        {
            return Err(HandlerError::Retry("not yet".to_owned()));
        }
        let account_id = match &event.payload {
            Some(Payload::AccountCreated(created)) => {
                created.account.as_ref().map(|account| account.id.clone()).unwrap_or_default()
            }
            _ => String::new(),
        };
        sqlx::query("INSERT INTO consumer_test.effects (sequence, account_id) VALUES ($1, $2)")
            .bind(event.sequence)
            .bind(account_id)
            .execute(tx)
            .await?;
        // Slow enough that the kill lands in the middle of the stream.
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(())
    }
}

/// The test consumer's own schema in the suite's database, and its identity.
async fn consumer_database(suite: &TestApp) -> (PgPool, ServiceIdentity) {
    let url = suite.database_url().to_owned();
    let pool =
        bss_platform::db::connect(&DatabaseConfig::new(url), "consumer_test", "e2e-consumer").await.expect("pool");
    bss_platform::db::migrate(&pool, "consumer_test", sqlx::migrate!("./migrations")).await.expect("migrations");
    (pool, ServiceIdentity::new("consumer-test", &bss_testkit::auth_config()))
}

/// The sequences applied, in order, and where the cursor stands.
async fn applied_and_cursor(pool: &PgPool) -> (Vec<i64>, i64) {
    let sequences = sqlx::query_scalar("SELECT sequence FROM consumer_test.effects ORDER BY sequence")
        .fetch_all(pool)
        .await
        .expect("rows");
    let cursor = sqlx::query_scalar("SELECT position FROM consumer_test.consumer_cursors WHERE stream = 'accounts'")
        .fetch_one(pool)
        .await
        .expect("cursor");
    (sequences, cursor)
}

async fn effects(pool: &PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT sequence) FROM consumer_test.effects")
        .fetch_one(pool)
        .await
        .expect("count")
}

async fn create_accounts(gateway: &Channel, token: &str, from: usize, count: usize) {
    let mut accounts = AccountServiceClient::new(gateway.clone());
    for index in from..from + count {
        let account = Account { code: format!("K{index}"), name: format!("Consumed {index}"), ..Account::default() };
        accounts
            .create_account(authorized(
                CreateAccountRequest { account: Some(account), request_id: String::new() },
                token,
            ))
            .await
            .expect("created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_way_resumes_without_losing_or_repeating_an_effect() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Consumed Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_accounts(&gateway, &admin, 0, 600).await;

    let (pool, identity) = consumer_database(&suite).await;
    let subscription =
        || AccountCreations { source: Source { channel: gateway.clone(), identity: identity.clone() }, stalled: None };

    let first = tokio::spawn(run_consumer(pool.clone(), subscription(), Shutdown::new()));
    loop {
        let (applied, _) = effects(&pool).await;
        if applied >= 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.abort();
    let _ = first.await;
    let (at_kill, _) = effects(&pool).await;
    assert!(at_kill < 600, "the kill came mid-way ({at_kill} applied)");

    create_accounts(&gateway, &admin, 600, 50).await;
    let shutdown = Shutdown::new();
    let second = tokio::spawn(run_consumer(pool.clone(), subscription(), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (applied, _) = effects(&pool).await;
        if applied >= 650 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.trigger();
    let _ = second.await;

    let (applied, distinct) = effects(&pool).await;
    assert_eq!((applied, distinct), (650, 650), "every event once, none twice");
    assert_eq!(applied_and_cursor(&pool).await, ((1..=650).collect::<Vec<i64>>(), 650));
}

/// A consumer stopped while an event waits to be retried leaves it, and
/// every event after it, to the next start: none is passed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stopped_while_an_event_waits_to_be_retried_passes_over_nothing() {
    let suite = TestApp::start().await;
    let (_, admin) = suite.tenant("Stalled Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_accounts(&gateway, &admin, 0, 3).await;

    let (pool, identity) = consumer_database(&suite).await;
    let stalled = Arc::new(AtomicBool::new(true));
    let subscription = || AccountCreations {
        source: Source { channel: gateway.clone(), identity: identity.clone() },
        stalled: Some((3, stalled.clone())),
    };

    let shutdown = Shutdown::new();
    let first = tokio::spawn(run_consumer(pool.clone(), subscription(), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while effects(&pool).await.0 < 2 {
        assert!(tokio::time::Instant::now() < deadline, "events 1 and 2 never applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Event 3 is being retried (its backoff grows from 50 ms) while events
    // 4 and 5 arrive behind it, and the consumer is told to stop.
    create_accounts(&gateway, &admin, 3, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.trigger();
    first.await.expect("stopped");
    assert_eq!(applied_and_cursor(&pool).await, (vec![1, 2], 2), "nothing after the stalled event");

    stalled.store(false, Ordering::SeqCst);
    let shutdown = Shutdown::new();
    let second = tokio::spawn(run_consumer(pool.clone(), subscription(), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while effects(&pool).await.0 < 5 {
        assert!(tokio::time::Instant::now() < deadline, "the rest never applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.trigger();
    second.await.expect("stopped");
    assert_eq!(applied_and_cursor(&pool).await, (vec![1, 2, 3, 4, 5], 5));
}

/// A tenant's stream, read by its own statement: from the start of an
/// outbox where two tenants' events alternate, more than one read's batch
/// (1,000) of them, it sends every one of its tenant's, in order, and none
/// of the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_stream_sends_all_of_its_events_in_order_across_batches_and_none_of_another() {
    use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
    use bss_proto::accounts::{AccountUpdated, StreamEventsRequest};
    use prost::Message;

    let suite = TestApp::start().await;
    let (ours, admin) = suite.tenant("Interleaved", "EUR").await;
    let (theirs, _) = suite.tenant("Other Books", "EUR").await;
    // 1,300 events of each tenant, alternating, written as the service
    // writes them (the account's code says which event it is).
    let mut connection = PgConnection::connect(suite.database_url()).await.expect("database");
    sqlx::query("SET search_path TO accounts").execute(&mut connection).await.expect("schema");
    for index in 0..1_300 {
        for tenant in [ours, theirs] {
            let account = Account { code: format!("{tenant}-{index}"), ..Account::default() };
            let payload =
                Payload::AccountUpdated(AccountUpdated { account: Some(account), changed_fields: Vec::new() });
            let event: AccountEvent = bss_platform::events::event(tenant, "e2e", payload);
            bss_platform::events::publish_all(&mut connection, tenant, &[("AccountUpdated", event.encode_to_vec())])
                .await
                .expect("written");
        }
    }

    let mut stream = AccountEventServiceClient::new(suite.gateway().await)
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &admin))
        .await
        .expect("stream")
        .into_inner();
    let mut codes = Vec::new();
    let mut sequences = Vec::new();
    while codes.len() < 1_300 {
        let next = tokio::time::timeout(Duration::from_secs(10), stream.message()).await;
        let event = next.expect("the next event in time").expect("not an error").expect("open").event.expect("event");
        assert_eq!(event.tenant_id, ours.to_string(), "only our tenant's events");
        sequences.push(event.sequence);
        if let Some(Payload::AccountUpdated(updated)) = event.payload {
            codes.push(updated.account.unwrap_or_default().code);
        }
    }
    let expected: Vec<String> = (0..1_300).map(|index| format!("{ours}-{index}")).collect();
    assert_eq!(codes, expected, "every one of ours, in the order written");
    assert!(sequences.windows(2).all(|pair| pair[0] < pair[1]), "in stream order");
    let nothing_more = tokio::time::timeout(Duration::from_millis(300), stream.message()).await;
    assert!(nothing_more.is_err(), "and nothing after them: {nothing_more:?}");
}
