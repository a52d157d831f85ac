//! U1, U2: metered usage.
//!
//! - U1: IngestUsageBatch through the gateway, batches of 500 events each
//!   with its own idempotency key, 8 clients (one metered subscription
//!   each), events per second, against the same rows `COPY`ed into
//!   `billing.usage_events` (same table and indexes) by 8 connections in
//!   batches of 500, in alternating rounds.
//! - U2: GetCurrentUsage through the gateway of a subscription whose
//!   running period holds 1,000,000 events (seeded with COPY): its
//!   aggregation and rating, against the bare SQL sum of the same rows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bss_platform::auth::Role;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::usage_service_client::UsageServiceClient;
use bss_proto::billing::{
    GetCurrentUsageRequest, IngestUsageBatchRequest, MeteredMetric, UsageAggregation, UsageEvent,
};
use bss_proto::types::PaymentType;
use bss_testapp::{create_account, create_product, decimal, ordering_account, set_credit_terms, subscription_request};
use bss_testkit::authorized;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::summary::Entry;
use crate::{ROUNDS, bench_tenant, checkpoint, load, median, phase_time};

/// Events per batch.
const EVENTS: usize = 500;
/// Concurrent clients of each side.
const CLIENTS: usize = 8;
/// Events of U2's period.
const PERIOD_EVENTS: i64 = 1_000_000;

/// A metered subscription of `account` (calls summed, rated graduated by
/// CALLS's price); its id.
async fn metered_subscription(gateway: &Channel, token: &str, account: &str) -> Uuid {
    let mut request = subscription_request(account, "PLAN", "1", PaymentType::OnAccount);
    request.subscription.as_mut().expect("subscription").metered = vec![MeteredMetric {
        metric: "api_calls".to_owned(),
        aggregation: UsageAggregation::Sum as i32,
        product: "CALLS".to_owned(),
        ..MeteredMetric::default()
    }];
    let created = SubscriptionServiceClient::new(gateway.clone())
        .create_subscription(authorized(request, token))
        .await
        .expect("metered subscription")
        .into_inner()
        .subscription
        .expect("subscription");
    created.id.parse().expect("id")
}

/// Batch `sequence` of a client: 500 events, each its own key.
fn batch(run: &str, (client, sequence): (usize, u64), subscription: Uuid) -> IngestUsageBatchRequest {
    let now = bss_platform::time::now().timestamp();
    IngestUsageBatchRequest {
        events: (0..EVENTS)
            .map(|index| UsageEvent {
                subscription_id: subscription.to_string(),
                metric: "api_calls".to_owned(),
                quantity: decimal("1"),
                time: Some(prost_types::Timestamp { seconds: now, nanos: 0 }),
                idempotency_key: format!("{run}-{client}-{sequence}-{index}"),
                property: String::new(),
                account_id: String::new(),
            })
            .collect(),
    }
}

/// The same 500 rows as COPY text (tab-separated) for `tenant`.
fn copy_rows(tenant: Uuid, subscription: Uuid, key: &str) -> String {
    let at = bss_platform::time::now().to_rfc3339();
    let mut rows = String::with_capacity(EVENTS * 120);
    for index in 0..EVENTS {
        rows.push_str(&format!("{tenant}\t{subscription}\tapi_calls\t{key}-{index}\t1\t{at}\t\n"));
    }
    rows
}

/// COPYs `rows` into the usage events in one transaction.
async fn copy(pool: &sqlx::PgPool, rows: String) -> bool {
    let Ok(mut conn) = pool.acquire().await else { return false };
    let Ok(mut copy) = conn
        .copy_in_raw(
            "COPY billing.usage_events (tenant_id, subscription_id, metric, key, quantity, at, property) FROM STDIN",
        )
        .await
    else {
        return false;
    };
    copy.send(rows.into_bytes()).await.is_ok() && copy.finish().await.is_ok()
}

pub async fn usage(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[Role::TenantAdmin]);
    let gateway = bss_testkit::channel(endpoints.gateway).await;
    create_product(&gateway, &token, "PLAN", "10.00", "").await;
    create_product(&gateway, &token, "CALLS", "0.01", "").await;
    let account = create_account(&gateway, &token, ordering_account("USAGE")).await;
    set_credit_terms(&gateway, &token, &account, "100000000", None).await;
    let mut subscriptions = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        subscriptions.push(metered_subscription(&gateway, &token, &account).await);
    }
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(CLIENTS as u32)
        .connect(database_url)
        .await
        .expect("bench database");

    // U1: the service ingests through the gateway; the baseline COPYs the
    // same rows under a tenant of its own.
    let mut channels = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS / 2 {
        channels.push(bss_testkit::channel(endpoints.gateway).await);
    }
    let run = Uuid::now_v7().simple().to_string();
    let ingest = {
        let (token, subscriptions, run) = (token.clone(), subscriptions.clone(), run.clone());
        Arc::new(move |client: usize, sequence: u64| {
            let mut meter = UsageServiceClient::new(channels[client % channels.len()].clone());
            let request = batch(&run, (client, sequence), subscriptions[client]);
            let token = token.clone();
            async move {
                let answer = meter.ingest_usage_batch(authorized(request, &token)).await;
                answer.is_ok_and(|answer| answer.get_ref().accepted == EVENTS as i64)
            }
        })
    };
    let baseline_tenant = Uuid::now_v7();
    let copied = {
        let (pool, run) = (pool.clone(), run.clone());
        Arc::new(move |client: usize, sequence: u64| {
            let rows =
                copy_rows(baseline_tenant, Uuid::from_u128(client as u128), &format!("{run}-{client}-{sequence}"));
            let pool = pool.clone();
            async move { copy(&pool, rows).await }
        })
    };
    let warm = ingest.clone();
    load::run(CLIENTS, Duration::from_secs(2), move |client, sequence| warm(client, sequence + 1_000_000_000)).await;
    let (mut service, mut baseline, mut errors) = (Vec::new(), Vec::new(), 0);
    for round in 0..ROUNDS {
        let offset = (round as u64 + 1) * 100_000_000;
        checkpoint(&pool).await;
        let call = ingest.clone();
        let result = load::run(CLIENTS, phase_time(), move |client, sequence| call(client, sequence + offset)).await;
        errors += result.errors;
        service.push(result.rate() * EVENTS as u64);
        checkpoint(&pool).await;
        let call = copied.clone();
        let result = load::run(CLIENTS, phase_time(), move |client, sequence| call(client, sequence + offset)).await;
        errors += result.errors;
        baseline.push(result.rate() * EVENTS as u64);
    }
    let (service, baseline) = (median(service.into_iter()), median(baseline.into_iter()));

    // U2: a period of a million events, aggregated and rated.
    let period = subscriptions[0];
    let seeded = Instant::now();
    sqlx::query(
        "INSERT INTO billing.usage_events (tenant_id, subscription_id, metric, key, quantity, at)
         SELECT $1, $2, 'api_calls', 'seed-' || i, 1, date_trunc('day', now()) + i * interval '1 millisecond'
         FROM generate_series(1, $3) i",
    )
    .bind(tenant)
    .bind(period)
    .bind(PERIOD_EVENTS)
    .execute(&pool)
    .await
    .expect("a million events");
    sqlx::query("ANALYZE billing.usage_events").execute(&pool).await.expect("analyze");
    println!("U2: seeded {PERIOD_EVENTS} events in {:?}", seeded.elapsed());
    let mut meter = UsageServiceClient::new(gateway.clone());
    let (mut rated, mut summed) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let began = Instant::now();
        let request = GetCurrentUsageRequest { subscription_id: period.to_string() };
        let current = meter.get_current_usage(authorized(request, &token)).await.expect("current usage").into_inner();
        rated.push(began.elapsed().as_millis() as u64);
        assert!(current.metrics[0].events >= PERIOD_EVENTS, "{:?}", current.metrics[0]);
        let began = Instant::now();
        let _: (i64, Option<rust_decimal::Decimal>) = sqlx::query_as(
            "SELECT count(*), sum(quantity) FROM billing.usage_events
             WHERE tenant_id = $1 AND subscription_id = $2 AND metric = 'api_calls' AND at >= date_trunc('day', now())",
        )
        .bind(tenant)
        .bind(period)
        .fetch_one(&pool)
        .await
        .expect("sum");
        summed.push(began.elapsed().as_millis() as u64);
    }
    let (rated, summed) = (median(rated.into_iter()), median(summed.into_iter()));
    vec![
        Entry::new(
            "U1",
            "IngestUsageBatch via the gateway, 500 events a batch, 8 clients (vs COPY)",
            service,
            "events/s",
            baseline,
            "rows/s",
        )
        .ratio_at_least(0.3),
        Entry::new(
            "U1-rate",
            "IngestUsageBatch events per second, batches of 500",
            service,
            "events/s",
            20_000,
            "events/s",
        )
        .goal("at least 20000 events/s", service >= 20_000),
        Entry::new("U1-errors", "IngestUsageBatch and COPY failed calls", errors, "calls", 0, "calls")
            .goal("no failed call", errors == 0),
        Entry::new(
            "U2",
            "GetCurrentUsage of a period of 1,000,000 events: aggregated and rated (vs SQL sum)",
            rated,
            "ms",
            summed,
            "ms",
        )
        .goal("at most 3000 ms", rated <= 3_000),
    ]
}
