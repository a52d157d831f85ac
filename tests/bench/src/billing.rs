//! P6: a billing run (every account's subscription period charged, its
//! invoice drafted with its line, numbered, dated by credit's payment terms,
//! posted and published) against a bulk INSERT of the same number of
//! invoice rows into the same table, at 10,000 and 100,000 accounts.
//!
//! The subscriptions to bill are seeded with SQL (one per account, as
//! CreateSubscription stores them); the run itself goes through the
//! service: StartBillingRun, then the run's own start and completion times.

use bss_platform::auth::Role;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::{BillingRun, BillingRunStatus, GetBillingRunRequest, StartBillingRunRequest};
use bss_testkit::authorized;
use std::time::{Duration, Instant};

use crate::summary::Entry;
use crate::{bench_tenant, checkpoint};

/// Seeds `accounts` monthly subscriptions of one tenant starting today.
async fn seed(pool: &sqlx::PgPool, tenant_id: uuid::Uuid, accounts: i64) {
    sqlx::query(
        "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate, product_id,
             description, currency, quantity, unit_price, total, start_date, status)
         SELECT $1, a.subscription, a.id,
             jsonb_build_object('id', a.subscription, 'account_id', a.id, 'product', 'bench-plan', 'quantity', '1',
                 'payment_type', 'AC', 'currency', 'EUR', 'unit_price', '9.99', 'paid', true, 'state', 'ACTIVE',
                 'created_at', now(), 'cancel_date', null, 'reasons', '[]'::jsonb, 'payers', '[]'::jsonb,
                 'reference', '', 'held_order_id', null),
             a.id, false, 'bench-plan', 'PLAN subscription', 'EUR', 1, 9.99, 9.99, current_date, 'ACTIVE'
         FROM (SELECT gen_random_uuid() AS id, gen_random_uuid() AS subscription FROM generate_series(1, $2)) a",
    )
    .bind(tenant_id)
    .bind(accounts)
    .execute(pool)
    .await
    .expect("seed subscriptions");
}

/// Runs a billing run of the tenant to its end; returns it.
async fn billing_run(invoices: &mut InvoiceServiceClient<tonic::transport::Channel>, token: &str) -> BillingRun {
    let start = StartBillingRunRequest { invoice_date: String::new(), post: true, request_id: String::new() };
    let run = invoices.start_billing_run(authorized(start, token)).await.expect("run").into_inner().run.expect("run");
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let get = GetBillingRunRequest { id: run.id.clone() };
        let run = invoices.get_billing_run(authorized(get, token)).await.expect("run").into_inner().run.expect("run");
        if run.status != BillingRunStatus::Running as i32 {
            assert_eq!(run.status, BillingRunStatus::Completed as i32, "the billing run failed: {}", run.error);
            return run;
        }
        assert!(Instant::now() < deadline, "the billing run never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seconds_between(from: &Option<prost_types::Timestamp>, to: &Option<prost_types::Timestamp>) -> f64 {
    let at = |time: &Option<prost_types::Timestamp>| {
        time.as_ref().map_or(0.0, |time| time.seconds as f64 + f64::from(time.nanos) / 1e9)
    };
    at(to) - at(from)
}

/// The bulk INSERT of `rows` invoice rows (same table, same columns) in one
/// statement; returns rows per second.
async fn bulk_insert(pool: &sqlx::PgPool, rows: i64) -> u64 {
    let tenant_id = uuid::Uuid::now_v7();
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO billing.invoices (tenant_id, id, account_id, currency, invoice_date, total, created_at)
         SELECT $1, gen_random_uuid(), gen_random_uuid(), 'EUR', current_date, 9.99, now()
         FROM generate_series(1, $2)",
    )
    .bind(tenant_id)
    .bind(rows)
    .execute(pool)
    .await
    .expect("bulk insert");
    (rows as f64 / started.elapsed().as_secs_f64()) as u64
}

/// P6 and P6-10k.
pub async fn billing_run_throughput(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    let mut invoices = InvoiceServiceClient::new(bss_testkit::channel(endpoints.billing).await);
    let mut entries = Vec::new();
    for (id, accounts) in [("P6-10k", 10_000_i64), ("P6", 100_000)] {
        let tenant_id = bench_tenant(endpoints).await;
        let token = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
        seed(&pool, tenant_id, accounts).await;
        sqlx::query("ANALYZE billing.subscriptions").execute(&pool).await.expect("analyze");
        checkpoint(&pool).await;
        let run = billing_run(&mut invoices, &token).await;
        assert_eq!((run.accounts_done, run.invoices_created), (accounts, accounts), "every account invoiced once");
        let run_rate = (accounts as f64 / seconds_between(&run.create_time, &run.complete_time)) as u64;
        checkpoint(&pool).await;
        let insert_rate = bulk_insert(&pool, accounts).await;
        let measure = format!(
            "billing run over {accounts} accounts, invoices posted per second (vs bulk INSERT of as many invoice rows)"
        );
        entries.push(Entry::new(id, &measure, run_rate, "invoices/s", insert_rate, "rows/s").ratio_at_least(0.5));
    }
    entries
}
