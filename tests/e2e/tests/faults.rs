//! Faults, injected into the suite running as separate processes (one per
//! service binary, configured as Kubernetes configures them): Postgres
//! restarted under load, a connection between two services reset mid-call,
//! database latency, SIGTERM mid-call and during a billing run, a stream
//! consumer down and back, the pool exhausted, a client sending every call
//! again, and a rolling restart of every service under steady load.
//!
//! Each drives load through the gateway as a well-behaved client does
//! (`bss_e2e::patient`: retries UNAVAILABLE and the like with the same
//! request id), then reads every side back: each order exactly once in
//! billing, one reservation of the right amount for it in credit, every
//! posted transaction applied once to credit's balances; no call ever
//! answered INTERNAL or UNKNOWN, and the suite recovered by itself within
//! the time the README states.

#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bss_e2e::cluster::{Cluster, ClusterOptions, Service};
use bss_e2e::patient::{Seen, request};
use bss_e2e::{create_account, create_product, create_tenant, decimal, eur, order_request, ordering_account};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::{
    BillingRunStatus, GenerateInvoicesRequest, GetAccountBalanceRequest, GetBillingRunRequest, ListInvoicesRequest,
    ListOrdersRequest, OrderStatus, Payment, RecordPaymentRequest, StartBillingRunRequest,
};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{ChangeCreditTermsRequest, CreditTerms, GetCreditStatusRequest, ListReservationsRequest};
use bss_proto::types::PaymentType;
use rust_decimal::Decimal;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::transport::Channel;

/// A call through `$gateway` with a fresh client, as a future owning all it
/// needs (a patient client makes it again for each attempt).
macro_rules! rpc {
    ($client:ident, $gateway:expr, $method:ident, $message:expr, $token:expr) => {{
        let mut client = $client::new($gateway.clone());
        let message = request($message, $token);
        async move { client.$method(message).await }
    }};
}

/// What the README promises: every service answers again within this of
/// Postgres (or a restarted peer) accepting connections again.
const SERVICE_RECOVERY: Duration = Duration::from_secs(5);
/// ... and every stream consumer has caught up within this of its source
/// and database being back.
const CONSUMER_RECOVERY: Duration = Duration::from_secs(10);
/// The list price of the one product every order buys.
const PRICE: &str = "10.00";

/// A tenant with a product and accounts that may order on account.
struct Books {
    token: String,
    accounts: Vec<String>,
}

async fn open_books(cluster: &Cluster, name: &str, accounts: usize) -> Books {
    let gateway = cluster.gateway().await;
    let (_, token) = create_tenant(&gateway, name, "EUR").await;
    create_product(&gateway, &token, "WIDGET", PRICE, "tools").await;
    let mut ids = Vec::new();
    for index in 0..accounts {
        let account = create_account(&gateway, &token, ordering_account(&format!("A{index:03}"))).await;
        // Patient: some clusters run credit on a pool of two connections
        // with a 10 ms acquire timeout, which a loaded machine can miss.
        Seen::default()
            .ok("set credit terms", || {
                let terms = CreditTerms { credit_limit: decimal("1000000"), ..CreditTerms::default() };
                let message = ChangeCreditTermsRequest {
                    account_id: account.clone(),
                    terms: Some(terms),
                    reason: "opening".to_owned(),
                    request_id: format!("terms-{account}"),
                };
                rpc!(CreditServiceClient, gateway, change_credit_terms, message, &token)
            })
            .await;
        ids.push(account);
    }
    Books { token, accounts: ids }
}

/// A tenant with one account, through the gateway: (gateway, token,
/// account id).
async fn one_account(cluster: &Cluster, name: &str) -> (Channel, String, String) {
    let books = open_books(cluster, name, 1).await;
    let account = books.accounts[0].clone();
    (cluster.gateway().await, books.token, account)
}

/// Places one order of one widget with `request_id`, as a patient client.
async fn place(seen: &Seen, gateway: &Channel, token: &str, account: &str, request_id: &str) -> String {
    let order = seen
        .ok("place an order", || {
            let mut message = order_request(account, &[("WIDGET", "1")], PaymentType::OnAccount);
            message.request_id = request_id.to_owned();
            rpc!(OrderServiceClient, gateway, place_order, message, token)
        })
        .await
        .order
        .expect("order");
    assert_eq!(order.status, OrderStatus::Executed as i32, "{request_id}: {order:?}");
    order.id
}

/// Workers placing orders on one account until stopped; each order's
/// request id maps to the order billing answered with.
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    workers: Vec<JoinHandle<Vec<(String, String)>>>,
}

impl Load {
    fn start(seen: &Seen, gateway: &Channel, token: &str, account: &str, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers)
            .map(|_| {
                let (seen, gateway, token, account) =
                    (seen.clone(), gateway.clone(), token.to_owned(), account.to_owned());
                let (stop, done, next) = (stop.clone(), done.clone(), next.clone());
                tokio::spawn(async move {
                    let mut placed = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let request_id = format!("load-{}", next.fetch_add(1, Ordering::SeqCst));
                        let order = place(&seen, &gateway, &token, &account, &request_id).await;
                        placed.push((request_id, order));
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    placed
                })
            })
            .collect();
        Load { stop, done, workers }
    }

    /// Waits until `count` more orders have been placed.
    async fn progress(&self, count: usize) {
        let target = self.done.load(Ordering::SeqCst) + count;
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.done.load(Ordering::SeqCst) < target {
            assert!(Instant::now() < deadline, "the load made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the workers once their calls in hand are answered.
    async fn finish(self) -> BTreeMap<String, String> {
        self.stop.store(true, Ordering::SeqCst);
        let mut placed = BTreeMap::new();
        for worker in self.workers {
            for (request_id, order) in worker.await.expect("a load worker") {
                assert!(placed.insert(request_id, order).is_none(), "one request id placed twice");
            }
        }
        placed
    }
}

fn money(value: &Option<bss_proto::types::Money>) -> Decimal {
    Decimal::from_str(&value.as_ref().expect("money").amount).expect("a decimal")
}

/// Reads every side back: billing holds exactly the orders placed (one per
/// request id, no other), credit holds one reservation per order for its
/// amount (open unless `invoiced`), and credit's reserved figure is their
/// sum.
async fn assert_each_order_once(
    seen: &Seen,
    gateway: &Channel,
    token: &str,
    account: &str,
    placed: &BTreeMap<String, String>,
    invoiced: bool,
) {
    let listed = seen
        .ok("list orders", || {
            let message =
                ListOrdersRequest { account_id: account.to_owned(), page_size: 500, ..ListOrdersRequest::default() };
            rpc!(OrderServiceClient, gateway, list_orders, message, token)
        })
        .await;
    assert!(listed.next_page_token.is_empty(), "fewer than 500 orders");
    let mut billed: Vec<String> = listed.orders.iter().map(|order| order.id.clone()).collect();
    billed.sort();
    let mut expected: Vec<String> = placed.values().cloned().collect();
    expected.sort();
    assert_eq!(billed, expected, "billing holds exactly the orders placed, each once");

    let reservations = seen
        .ok("list reservations", || {
            let message =
                ListReservationsRequest { account_id: account.to_owned(), page_size: 500, page_token: String::new() };
            rpc!(CreditServiceClient, gateway, list_reservations, message, token)
        })
        .await
        .reservations;
    let mut references: Vec<String> =
        reservations.iter().map(|reservation| reservation.order_reference.clone()).collect();
    references.sort();
    let mut expected: Vec<String> = placed.keys().map(|request_id| format!("order:{request_id}")).collect();
    expected.sort();
    assert_eq!(references, expected, "credit holds one reservation per order");
    let price = Decimal::from_str(PRICE).expect("price");
    assert!(reservations.iter().all(|reservation| money(&reservation.amount) == price), "each for the order's amount");
    let open: Decimal = reservations.iter().map(|reservation| money(&reservation.open_amount)).sum();
    let expected_open = if invoiced { Decimal::ZERO } else { price * Decimal::from(placed.len()) };
    assert_eq!(open, expected_open, "what credit keeps open of the reservations");
    let status = credit(seen, gateway, token, account).await;
    assert_eq!(money(&status.reserved), expected_open, "credit's reserved figure");
}

async fn credit(seen: &Seen, gateway: &Channel, token: &str, account: &str) -> bss_proto::credit::CreditStatus {
    seen.ok("credit status", || {
        let message = GetCreditStatusRequest { account_id: account.to_owned() };
        rpc!(CreditServiceClient, gateway, get_credit_status, message, token)
    })
    .await
    .status
    .expect("status")
}

/// Waits until credit's balance of `account` is `balance` and nothing is
/// reserved: credit applies billing's events a moment after billing posts
/// them. Fails after `within`.
async fn credit_settles(
    seen: &Seen,
    gateway: &Channel,
    token: &str,
    account: &str,
    balance: Decimal,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let status = credit(seen, gateway, token, account).await;
        if money(&status.balance) == balance && money(&status.reserved).is_zero() {
            return;
        }
        assert!(Instant::now() < deadline, "credit did not reach a balance of {balance} within {within:?}: {status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Invoices and posts what an account owes, as a patient client.
async fn invoice(seen: &Seen, gateway: &Channel, token: &str, account: &str, request_id: &str) -> Decimal {
    let invoices = seen
        .ok("generate invoices", || {
            let message = GenerateInvoicesRequest {
                account_id: account.to_owned(),
                invoice_date: bss_e2e::today(),
                post: true,
                request_id: request_id.to_owned(),
            };
            rpc!(InvoiceServiceClient, gateway, generate_invoices, message, token)
        })
        .await
        .invoices;
    invoices.iter().map(|invoice| money(&invoice.total)).sum()
}

/// What billing says the account owes.
async fn owed(seen: &Seen, gateway: &Channel, token: &str, account: &str) -> Decimal {
    let balance = seen
        .ok("account balance", || {
            let message = GetAccountBalanceRequest { account_id: account.to_owned() };
            rpc!(PaymentServiceClient, gateway, get_account_balance, message, token)
        })
        .await;
    money(&balance.balance)
}

/// Waits until a read of each context through the gateway succeeds (an
/// account, its prices, its credit, its orders); returns how long that
/// took.
async fn until_served(gateway: &Channel, token: &str, account: &str) -> Duration {
    use bss_proto::accounts::GetAccountRequest;
    use bss_proto::accounts::account_service_client::AccountServiceClient;
    use bss_proto::pricing::quote_service_client::QuoteServiceClient;
    use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
    let started = Instant::now();
    loop {
        let quote = QuoteRequest {
            account_id: account.to_owned(),
            lines: vec![QuoteLineRequest {
                product: "WIDGET".to_owned(),
                quantity: bss_e2e::decimal("1"),
                ..Default::default()
            }],
            ..QuoteRequest::default()
        };
        let orders = ListOrdersRequest { account_id: account.to_owned(), page_size: 1, ..ListOrdersRequest::default() };
        let (accounts, pricing, credit, billing) = tokio::join!(
            rpc!(AccountServiceClient, gateway, get_account, GetAccountRequest { id: account.to_owned() }, token),
            rpc!(QuoteServiceClient, gateway, quote, quote, token),
            rpc!(
                CreditServiceClient,
                gateway,
                get_credit_status,
                GetCreditStatusRequest { account_id: account.to_owned() },
                token
            ),
            rpc!(OrderServiceClient, gateway, list_orders, orders, token),
        );
        if accounts.is_ok() && pricing.is_ok() && credit.is_ok() && billing.is_ok() {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the suite never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn postgres_restarted_under_load_loses_nothing_and_recovers() {
    let cluster =
        Cluster::start("postgres-restart", ClusterOptions { private_postgres: true, ..ClusterOptions::default() })
            .await;
    let (gateway, token, account) = one_account(&cluster, "Restart").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 4);
    load.progress(10).await;

    cluster.postgres().halt().await.expect("Postgres stops");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.postgres().resume().await.expect("Postgres starts again");
    let recovery = until_served(&gateway, &token, &account).await;
    assert!(recovery < SERVICE_RECOVERY, "served again {recovery:?} after Postgres was back");
    load.progress(10).await;
    let placed = load.finish().await;

    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    // Billing's stream to credit recovered too: what is posted now moves
    // credit's balance, once.
    let total = invoice(&seen, &gateway, &token, &account, "invoice-after-restart").await;
    assert_eq!(total, Decimal::from_str(PRICE).expect("price") * Decimal::from(placed.len()));
    credit_settles(&seen, &gateway, &token, &account, total, CONSUMER_RECOVERY).await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, true).await;
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn connections_between_billing_and_credit_reset_mid_call_lose_and_double_nothing() {
    let cluster = Cluster::start(
        "peer-reset",
        ClusterOptions { peer_proxied: vec![(Service::Billing, Service::Credit)], ..ClusterOptions::default() },
    )
    .await;
    let (gateway, token, account) = one_account(&cluster, "Resets").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 4);
    load.progress(5).await;
    let proxy = cluster.peer_proxy(Service::Billing, Service::Credit);
    for _ in 0..15 {
        proxy.reset_all();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    load.progress(5).await;
    let placed = load.finish().await;
    assert!(proxy.connections() > 1, "billing reconnected to credit after the resets");
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn database_latency_slows_calls_without_doubling_any() {
    let cluster = Cluster::start(
        "database-latency",
        ClusterOptions { database_proxied: vec![Service::Credit, Service::Billing], ..ClusterOptions::default() },
    )
    .await;
    let (gateway, token, account) = one_account(&cluster, "Latency").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 4);
    load.progress(5).await;
    // Every round trip to Postgres now takes 2 × 150 ms: an order's
    // statements outlast the attempt's deadline, which the client retries.
    for service in [Service::Credit, Service::Billing] {
        cluster.database_proxy(service).set_latency(Duration::from_millis(150));
    }
    // In effect: a read of credit's figures now takes several round trips
    // of 300 ms.
    let started = Instant::now();
    credit(&seen, &gateway, &token, &account).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "latency in effect: {:?}", started.elapsed());
    load.progress(3).await;
    for service in [Service::Credit, Service::Billing] {
        cluster.database_proxy(service).set_latency(Duration::ZERO);
    }
    load.progress(5).await;
    let placed = load.finish().await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn a_service_sent_sigterm_mid_call_finishes_or_refuses_and_comes_back() {
    let mut cluster = Cluster::start("sigterm", ClusterOptions::default()).await;
    let (gateway, token, account) = one_account(&cluster, "Sigterm").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 4);
    for service in [Service::Credit, Service::Billing, Service::Pricing, Service::Accounts] {
        load.progress(3).await;
        assert!(cluster.terminate(service).await, "{service:?} exits cleanly on SIGTERM with calls in flight");
        tokio::time::sleep(Duration::from_millis(300)).await;
        cluster.resume(service).await;
        let recovery = until_served(&gateway, &token, &account).await;
        assert!(recovery < SERVICE_RECOVERY, "served {recovery:?} after {service:?} was back");
    }
    load.progress(3).await;
    let placed = load.finish().await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn a_billing_run_stopped_by_sigterm_resumes_and_invoices_each_account_once() {
    let mut cluster = Cluster::start(
        "billing-run",
        ClusterOptions {
            env: vec![(Service::Billing, "BSS_RUN_BATCH_SIZE", "2".to_owned())],
            ..ClusterOptions::default()
        },
    )
    .await;
    let books = open_books(&cluster, "Run", 24).await;
    let (gateway, token) = (cluster.gateway().await, books.token.clone());
    let seen = Seen::default();
    for (index, account) in books.accounts.iter().enumerate() {
        place(&seen, &gateway, &token, account, &format!("order-{index}")).await;
    }
    let run = seen
        .ok("start a billing run", || {
            let message =
                StartBillingRunRequest { invoice_date: bss_e2e::today(), post: true, request_id: "run-1".to_owned() };
            rpc!(InvoiceServiceClient, gateway, start_billing_run, message, &token)
        })
        .await
        .run
        .expect("run");
    assert_eq!(run.accounts_total, 24);
    let get_run = || {
        seen.ok("read the run", || {
            let message = GetBillingRunRequest { id: run.id.clone() };
            rpc!(InvoiceServiceClient, gateway, get_billing_run, message, &token)
        })
    };
    // SIGTERM once the run has done a batch or two, well before its end.
    loop {
        let now = get_run().await.run.expect("run");
        assert!(now.accounts_done < now.accounts_total, "the run ended before it could be stopped");
        if now.accounts_done >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(cluster.terminate(Service::Billing).await, "billing exits cleanly on SIGTERM during a run");
    let pool = sqlx::PgPool::connect(cluster.database_url()).await.expect("database");
    let (status, done): (String, i64) =
        sqlx::query_as("SELECT status, accounts_done FROM billing.billing_runs WHERE id = $1::uuid")
            .bind(&run.id)
            .fetch_one(&pool)
            .await
            .expect("the run");
    assert_eq!(status, "RUNNING", "stopped mid-run ({done} of 24 accounts done)");
    assert!(done < 24);

    cluster.resume(Service::Billing).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let finished = loop {
        let now = get_run().await.run.expect("run");
        if now.status != BillingRunStatus::Running as i32 {
            break now;
        }
        assert!(Instant::now() < deadline, "the run never resumed: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished.status, BillingRunStatus::Completed as i32, "{finished:?}");
    assert_eq!((finished.accounts_done, finished.invoices_created), (24, 24));

    let price = Decimal::from_str(PRICE).expect("price");
    for account in &books.accounts {
        let invoices = seen
            .ok("list invoices", || {
                let message = ListInvoicesRequest { account_id: account.clone(), ..ListInvoicesRequest::default() };
                rpc!(InvoiceServiceClient, gateway, list_invoices, message, &token)
            })
            .await
            .invoices;
        assert_eq!(invoices.len(), 1, "one invoice per account");
        assert_eq!(money(&invoices[0].total), price);
        assert_eq!(owed(&seen, &gateway, &token, account).await, price, "billing's balance");
        credit_settles(&seen, &gateway, &token, account, price, CONSUMER_RECOVERY).await;
    }
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn credit_down_while_billing_posts_catches_up_applying_each_event_once() {
    let mut cluster = Cluster::start("consumer-down", ClusterOptions::default()).await;
    let books = open_books(&cluster, "Consumer", 3).await;
    let (gateway, token) = (cluster.gateway().await, books.token.clone());
    let seen = Seen::default();
    let mut owed_now = BTreeMap::new();
    for (index, account) in books.accounts.iter().enumerate() {
        for order in 0..3 {
            place(&seen, &gateway, &token, account, &format!("order-{index}-{order}")).await;
        }
        let total = invoice(&seen, &gateway, &token, account, &format!("invoice-{index}")).await;
        owed_now.insert(account.clone(), total);
    }

    // Credit (the consumer of billing's stream) stops; billing goes on
    // recording payments, which only credit's balance lags behind.
    assert!(cluster.terminate(Service::Credit).await);
    for (index, account) in books.accounts.iter().enumerate() {
        for payment in 0..2 {
            seen.ok("record a payment", || {
                let message = RecordPaymentRequest {
                    payment: Some(Payment { account_id: account.clone(), amount: eur("4.00"), ..Payment::default() }),
                    invoice_id: String::new(),
                    request_id: format!("payment-{index}-{payment}"),
                };
                rpc!(PaymentServiceClient, gateway, record_payment, message, &token)
            })
            .await;
        }
        *owed_now.get_mut(account).expect("account") -= Decimal::from(8);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.resume(Service::Credit).await;
    for account in &books.accounts {
        let expected = owed_now[account];
        assert_eq!(owed(&seen, &gateway, &token, account).await, expected, "billing's balance");
        credit_settles(&seen, &gateway, &token, account, expected, CONSUMER_RECOVERY).await;
    }
    // Caught up, it stays there: nothing is applied a second time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for account in &books.accounts {
        assert_eq!(money(&credit(&seen, &gateway, &token, account).await.balance), owed_now[account]);
    }
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn an_exhausted_pool_answers_retryable_errors_and_every_order_lands_once() {
    let cluster = Cluster::start(
        "pool-exhausted",
        ClusterOptions {
            // Pools of 2 and a tenant share of 64: the pools themselves run
            // dry (the tenant's share would otherwise turn callers away
            // first).
            env: [Service::Credit, Service::Billing]
                .into_iter()
                .flat_map(|service| {
                    [
                        (service, "BSS_DATABASE__MAX_CONNECTIONS", "2".to_owned()),
                        (service, "BSS_DATABASE__ACQUIRE_TIMEOUT_MS", "10".to_owned()),
                        (service, "BSS_SERVER__TENANT_CONCURRENCY_LIMIT", "64".to_owned()),
                    ]
                })
                .collect(),
            ..ClusterOptions::default()
        },
    )
    .await;
    let (gateway, token, account) = one_account(&cluster, "Pool").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 32);
    load.progress(60).await;
    let placed = load.finish().await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    let codes = seen.codes();
    assert!(
        codes.keys().any(|code| code.starts_with("Unavailable")),
        "32 callers on pools of 2 found them empty at times (UNAVAILABLE, retried): {codes:?}"
    );
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn a_client_sending_every_call_three_times_gets_one_effect_each() {
    let cluster = Cluster::start("retrying-client", ClusterOptions::default()).await;
    let (gateway, token, account) = one_account(&cluster, "Retries").await;
    let seen = Seen::default();
    // Each call twice at once and once more after: the same answer.
    async fn thrice<F, Fut>(call: F) -> Vec<String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = String>,
    {
        let (first, second) = tokio::join!(call(), call());
        vec![first, second, call().await]
    }
    let mut placed = BTreeMap::new();
    for index in 0..5 {
        let request_id = format!("order-{index}");
        let answers = thrice(|| place(&seen, &gateway, &token, &account, &request_id)).await;
        assert!(answers.iter().all(|answer| *answer == answers[0]), "one order per request id: {answers:?}");
        placed.insert(request_id, answers[0].clone());
    }
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;

    let totals = thrice(|| async { invoice(&seen, &gateway, &token, &account, "invoice").await.to_string() }).await;
    assert_eq!(totals, vec!["50.00"; 3], "one invoice, answered three times");
    let payments = thrice(|| async {
        seen.ok("record a payment", || {
            let message = RecordPaymentRequest {
                payment: Some(Payment { account_id: account.clone(), amount: eur("20.00"), ..Payment::default() }),
                invoice_id: String::new(),
                request_id: "payment".to_owned(),
            };
            rpc!(PaymentServiceClient, gateway, record_payment, message, &token)
        })
        .await
        .payment
        .expect("payment")
        .id
    })
    .await;
    assert!(payments.iter().all(|payment| *payment == payments[0]), "one payment: {payments:?}");
    assert_eq!(owed(&seen, &gateway, &token, &account).await, Decimal::from(30), "billing: 50 invoiced, 20 paid once");
    credit_settles(&seen, &gateway, &token, &account, Decimal::from(30), CONSUMER_RECOVERY).await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, true).await;
    seen.assert_no_internal_errors();
}

#[tokio::test]
async fn a_rolling_restart_of_every_service_under_steady_load_loses_no_call() {
    let mut cluster = Cluster::start("rolling-restart", ClusterOptions::default()).await;
    let (gateway, token, account) = one_account(&cluster, "Rolling").await;
    let seen = Seen::default();
    let load = Load::start(&seen, &gateway, &token, &account, 3);
    for service in Service::ALL {
        load.progress(3).await;
        assert!(cluster.restart(service).await, "{service:?} exits cleanly on SIGTERM");
    }
    load.progress(3).await;
    let placed = load.finish().await;
    assert_each_order_once(&seen, &gateway, &token, &account, &placed, false).await;
    let total = invoice(&seen, &gateway, &token, &account, "invoice").await;
    credit_settles(&seen, &gateway, &token, &account, total, CONSUMER_RECOVERY).await;
    seen.assert_no_internal_errors();
}

/// The contexts share no table, so each may have a Postgres cluster of its
/// own: accounts, pricing and reseller-sync on one server, credit and
/// billing on another. An order to cash through the gateway reads back the
/// same from every side, and each server holds only its own contexts'
/// schemas.
#[tokio::test]
async fn contexts_on_separate_postgres_clusters_keep_the_books_agreeing() {
    let options = ClusterOptions {
        private_postgres: true,
        second_postgres: vec![Service::Credit, Service::Billing],
        ..ClusterOptions::default()
    };
    let cluster = Cluster::start("two-databases", options).await;
    let (gateway, token, account) = one_account(&cluster, "Two databases").await;
    let seen = Seen::default();
    let price = Decimal::from_str(PRICE).expect("price");
    for order in 0..3 {
        place(&seen, &gateway, &token, &account, &format!("order-{order}")).await;
    }
    assert_eq!(money(&credit(&seen, &gateway, &token, &account).await.reserved), price * Decimal::from(3));
    let total = invoice(&seen, &gateway, &token, &account, "invoice-1").await;
    assert_eq!(total, price * Decimal::from(3), "billing priced the orders at pricing's price");
    seen.ok("record a payment", || {
        let message = RecordPaymentRequest {
            payment: Some(Payment { account_id: account.clone(), amount: eur("12.00"), ..Payment::default() }),
            invoice_id: String::new(),
            request_id: "payment-1".to_owned(),
        };
        rpc!(PaymentServiceClient, gateway, record_payment, message, &token)
    })
    .await;
    let left = total - Decimal::from(12);
    assert_eq!(owed(&seen, &gateway, &token, &account).await, left, "billing's balance");
    credit_settles(&seen, &gateway, &token, &account, left, CONSUMER_RECOVERY).await;

    // Each server holds its own contexts' schemas and no other's.
    let schemas = |url: String| async move {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT nspname::text FROM pg_namespace WHERE nspname IN \
             ('accounts', 'pricing', 'reseller_sync', 'credit', 'billing') ORDER BY 1",
        )
        .fetch_all(&pool)
        .await
        .expect("schemas");
        pool.close().await;
        names
    };
    assert_eq!(schemas(cluster.database_url_of(Service::Accounts)).await, ["accounts", "pricing", "reseller_sync"]);
    assert_eq!(schemas(cluster.database_url_of(Service::Credit)).await, ["billing", "credit"]);
    seen.assert_no_internal_errors();
}
