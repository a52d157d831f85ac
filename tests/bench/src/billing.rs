//! P6: a billing run (every account's subscription period charged, its
//! invoice drafted with its line, numbered, dated by credit's payment terms,
//! posted and published) against the same rows written by set-based SQL in
//! transactions of the run's batch size, at 10,000 and 100,000 accounts.
//!
//! The subscriptions to bill are seeded with SQL (one per account, as
//! CreateSubscription stores them); the run itself goes through the
//! service: StartBillingRun, then the run's own start and completion times.

use bss_platform::auth::Role;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::{BillingEvent, BillingRun, BillingRunStatus, GetBillingRunRequest, StartBillingRunRequest};
use bss_testkit::authorized;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::summary::Entry;
use crate::{bench_tenant, checkpoint};
use bss_billing::runs::BATCH;

/// Seeds `accounts` monthly subscriptions of one tenant starting today.
async fn seed(pool: &sqlx::PgPool, tenant_id: Uuid, accounts: i64) {
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

/// Seconds since the epoch of a wire timestamp (0 when absent).
fn epoch_seconds(time: &Option<prost_types::Timestamp>) -> f64 {
    time.as_ref().map_or(0.0, |time| time.seconds as f64 + f64::from(time.nanos) / 1e9)
}

/// The rows a run of `accounts` subscriptions writes, written straight by
/// set-based SQL in transactions of the run's batch size (the
/// subscriptions' batch locked, their charges inserted and the periods
/// marked charged, the invoices drafted with their lines, the charges
/// assigned, the numbers taken and the invoices posted, each invoice's
/// InvoicePosted event made from one of the run's, `template`, the run's
/// cursor moved): a tenant of its own seeded like the run's. The events
/// are real, so billing's consumers apply them (credit raises balances)
/// while the baseline writes, as they do while a run does. Returns
/// invoices per second.
async fn same_rows(pool: &sqlx::PgPool, tenant_id: Uuid, accounts: i64, template: &BillingEvent) -> u64 {
    let run_id = Uuid::now_v7();
    // Not RUNNING: billing's own workers leave it alone.
    sqlx::query(
        "INSERT INTO billing.billing_runs (tenant_id, id, invoice_date, post, status, accounts_total, actor)
         VALUES ($1, $2, current_date, true, 'COMPLETED', $3, 'bench')",
    )
    .bind(tenant_id)
    .bind(run_id)
    .bind(accounts)
    .execute(pool)
    .await
    .expect("baseline run");
    let started = Instant::now();
    let mut cursor = Uuid::nil();
    let mut invoiced = 0;
    loop {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM billing.billing_runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .expect("lock the run");
        let batch: Vec<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, bill_to_account_id FROM billing.subscriptions
             WHERE tenant_id = $1 AND bill_to_account_id > $2 AND charged_periods = 0
             ORDER BY bill_to_account_id LIMIT $3 FOR UPDATE",
        )
        .bind(tenant_id)
        .bind(cursor)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await
        .expect("the batch");
        let Some(&(_, last)) = batch.last() else { break };
        let subscriptions: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
        let payers: Vec<Uuid> = batch.iter().map(|(_, payer)| *payer).collect();
        let charges: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
        let invoices: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
        let count = batch.len() as i64;
        let statements: [(&str, &[&Vec<Uuid>]); 5] = [
            (
                "INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, subscription_id,
                     product_id, description, currency, quantity, unit_price, total, charge_date, priced_on)
                 SELECT $1, c.id, c.payer, c.payer, false, c.subscription, 'bench-plan', 'PLAN subscription', 'EUR',
                     1, 9.99, 9.99, current_date, current_date
                 FROM unnest($2::uuid[], $3::uuid[], $4::uuid[]) AS c(id, payer, subscription)",
                &[&charges, &payers, &subscriptions],
            ),
            (
                "UPDATE billing.subscriptions s SET charged_periods = 1, unit_price = 9.99, total = 9.99,
                     price_rule = '', price_source_id = '', doc = jsonb_set(s.doc, '{unit_price}', to_jsonb('9.99'::text))
                 WHERE s.tenant_id = $1 AND s.id = ANY($2)",
                &[&subscriptions],
            ),
            (
                "INSERT INTO billing.invoices (tenant_id, id, account_id, currency, invoice_date, total, created_at)
                 SELECT $1, i.id, i.payer, 'EUR', current_date, 9.99, now()
                 FROM unnest($2::uuid[], $3::uuid[]) AS i(id, payer)",
                &[&invoices, &payers],
            ),
            (
                "INSERT INTO billing.invoice_lines (tenant_id, invoice_id, line_number, product_id, description,
                     quantity, unit_price, total, priced_on)
                 SELECT $1, id, 1, 'bench-plan', 'PLAN subscription', 1, 9.99, 9.99, current_date
                 FROM unnest($2::uuid[]) AS id",
                &[&invoices],
            ),
            (
                "UPDATE billing.charges c SET invoice_id = i.invoice_id
                 FROM unnest($2::uuid[], $3::uuid[]) AS i(charge_id, invoice_id)
                 WHERE c.tenant_id = $1 AND c.id = i.charge_id",
                &[&charges, &invoices],
            ),
        ];
        for (statement, arrays) in statements {
            let mut query = sqlx::query(statement).bind(tenant_id);
            for array in arrays {
                query = query.bind(*array);
            }
            let written = query.execute(&mut *tx).await.expect("baseline statement").rows_affected();
            assert_eq!(written, count as u64, "every row of the batch written: {statement}");
        }
        sqlx::query(
            "INSERT INTO billing.invoice_counters (tenant_id, last_number) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO UPDATE SET last_number = billing.invoice_counters.last_number + $2",
        )
        .bind(tenant_id)
        .bind(count)
        .execute(&mut *tx)
        .await
        .expect("numbers");
        let posted = sqlx::query(
            "UPDATE billing.invoices i SET status = 'POSTED', due_date = current_date + 30, posted_at = now(),
                 number = c.last_number - $3 + p.n
             FROM unnest($2::uuid[]) WITH ORDINALITY AS p(id, n), billing.invoice_counters c
             WHERE i.tenant_id = $1 AND i.id = p.id AND i.status = 'DRAFT' AND c.tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(&invoices)
        .bind(count)
        .execute(&mut *tx)
        .await
        .expect("posted");
        assert_eq!(posted.rows_affected(), count as u64, "every invoice of the batch posted");
        let events: Vec<Vec<u8>> = invoices
            .iter()
            .zip(&payers)
            .map(|(invoice, payer)| invoice_posted(template, tenant_id, *invoice, *payer))
            .collect();
        sqlx::query(
            "INSERT INTO billing.outbox (tenant_id, event_type, payload)
             SELECT $1, 'InvoicePosted', e.payload FROM unnest($2::bytea[]) WITH ORDINALITY AS e(payload, n) ORDER BY n",
        )
        .bind(tenant_id)
        .bind(&events)
        .execute(&mut *tx)
        .await
        .expect("events");
        sqlx::query(
            "UPDATE billing.billing_runs SET cursor_account_id = $3, accounts_done = accounts_done + $4,
                 invoices_created = invoices_created + $4
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(run_id)
        .bind(last)
        .bind(count)
        .execute(&mut *tx)
        .await
        .expect("cursor");
        tx.commit().await.expect("commit");
        (cursor, invoiced) = (last, invoiced + count);
    }
    assert_eq!(invoiced, accounts, "the baseline invoiced every account once");
    (accounts as f64 / started.elapsed().as_secs_f64()) as u64
}

/// `posted` (an InvoicePosted event of the run) of `invoice` billed to
/// `payer` in `tenant_id`, encoded.
fn invoice_posted(posted: &BillingEvent, tenant_id: Uuid, invoice: Uuid, payer: Uuid) -> Vec<u8> {
    use bss_proto::billing::billing_event::Payload;
    use prost::Message;
    let mut event = posted.clone();
    event.tenant_id = tenant_id.to_string();
    if let Some(Payload::InvoicePosted(invoice_posted)) = &mut event.payload {
        invoice_posted.invoice_id = invoice.to_string();
        invoice_posted.account_id = payer.to_string();
    }
    event.encode_to_vec()
}

/// Waits until every event consumer of the suite has applied the last
/// event of its source (a stream is named after the schema whose outbox it
/// reads), at most two minutes, and says which are behind when it gives
/// up: the events one phase wrote are not consumed during the next, and a
/// consumer stuck on an event shows here, not as a slow phase later.
pub async fn settle(pool: &sqlx::PgPool) {
    let cursors = cursors(pool).await;
    let streams: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT DISTINCT stream FROM ({cursors}) c ORDER BY 1")))
            .fetch_all(pool)
            .await
            .expect("the consumers' streams");
    let heads = streams
        .iter()
        .filter(|stream| stream.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(|stream| format!("SELECT '{stream}' AS stream, coalesce(max(sequence), 0) AS head FROM {stream}.outbox"))
        .collect::<Vec<_>>();
    if heads.is_empty() {
        return;
    }
    let behind = format!(
        "WITH c AS ({cursors}), h AS ({}) SELECT c.stream, c.position, h.head FROM c JOIN h USING (stream)
         WHERE c.position < h.head",
        heads.join(" UNION ALL ")
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let lagging: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(behind.clone()))
            .fetch_all(pool)
            .await
            .expect("the consumers' positions");
        if lagging.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!("consumers still behind their sources after two minutes (stream, position, head): {lagging:?}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A query of every consumer cursor of the suite (`stream`, `position`),
/// whichever schema holds it.
async fn cursors(pool: &sqlx::PgPool) -> String {
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'consumer_cursors' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("the consumers' schemas");
    schemas
        .iter()
        .map(|schema| format!("SELECT stream, position FROM {schema}.consumer_cursors"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// When (the database's clock, seconds since the epoch) every consumer of
/// billing's events (credit's balances, reseller-sync's copies) had applied
/// the last event `tenant_id` published: until then the run's invoices are
/// not yet in every book they change.
async fn applied_everywhere(pool: &sqlx::PgPool, tenant_id: Uuid) -> f64 {
    let last: i64 = sqlx::query_scalar("SELECT max(id) FROM billing.outbox WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(pool)
        .await
        .expect("the tenant's last event");
    let behind = format!(
        "SELECT extract(epoch FROM clock_timestamp())::float8 FROM billing.outbox o \
         WHERE o.id = $1 AND o.sequence IS NOT NULL \
         AND NOT EXISTS (SELECT 1 FROM ({}) c WHERE c.stream = 'billing' AND c.position < o.sequence)",
        cursors(pool).await
    );
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let applied: Option<f64> = sqlx::query_scalar(sqlx::AssertSqlSafe(behind.clone()))
            .bind(last)
            .fetch_optional(pool)
            .await
            .expect("cursors");
        if let Some(at) = applied {
            return at;
        }
        assert!(Instant::now() < deadline, "billing's consumers never applied the run's events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A billing run over `accounts` fresh subscriptions of a tenant of their
/// own, then the baseline writing the same rows for as many of another.
pub async fn run_and_baseline(
    endpoints: &bss_suite::Endpoints,
    pool: &sqlx::PgPool,
    invoices: &mut InvoiceServiceClient<tonic::transport::Channel>,
    accounts: i64,
) -> Rates {
    let tenant_id = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let baseline_tenant = Uuid::now_v7();
    seed(pool, tenant_id, accounts).await;
    seed(pool, baseline_tenant, accounts).await;
    sqlx::query("ANALYZE billing.subscriptions").execute(pool).await.expect("analyze");
    settle(pool).await;
    checkpoint(pool).await;
    let run = billing_run(invoices, &token).await;
    assert_eq!((run.accounts_done, run.invoices_created), (accounts, accounts), "every account invoiced once");
    let started = epoch_seconds(&run.create_time);
    let run_rate = (accounts as f64 / (epoch_seconds(&run.complete_time) - started)) as u64;
    let applied_rate = (accounts as f64 / (applied_everywhere(pool, tenant_id).await - started)) as u64;
    let (events, payload): (i64, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT count(*), (SELECT payload FROM billing.outbox WHERE tenant_id = $1 AND event_type = 'InvoicePosted' LIMIT 1)
         FROM billing.outbox WHERE tenant_id = $1 AND event_type = 'InvoicePosted'",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await
    .expect("the run's events");
    assert_eq!(events, accounts, "one InvoicePosted per invoice");
    let posted = <BillingEvent as prost::Message>::decode(payload.unwrap_or_default().as_slice()).expect("an event");
    settle(pool).await;
    checkpoint(pool).await;
    let baseline_rate = same_rows(pool, baseline_tenant, accounts, &posted).await;
    settle(pool).await;
    Rates { run: run_rate, applied: applied_rate, baseline: baseline_rate }
}

/// Invoices per second of a billing run: to its end (`run`), until every
/// consumer of its events had applied them (`applied`), and of the same
/// rows written by SQL (`baseline`).
pub struct Rates {
    pub run: u64,
    pub applied: u64,
    pub baseline: u64,
}

/// P6-10k, P6 and P6-linear.
pub async fn billing_run_throughput(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    let mut invoices = InvoiceServiceClient::new(bss_testkit::channel(endpoints.billing).await);
    let mut entries = Vec::new();
    let mut rates = Vec::new();
    for (id, accounts) in [("P6-10k", 10_000_i64), ("P6", 100_000)] {
        let run = run_and_baseline(endpoints, &pool, &mut invoices, accounts).await;
        let measure = format!(
            "billing run over {accounts} accounts, invoices posted per second (vs the same rows written by SQL, \
             set-based, {BATCH} per transaction)"
        );
        entries.push(Entry::new(id, &measure, run.run, "invoices/s", run.baseline, "invoices/s").ratio_at_least(0.5));
        rates.push(run);
    }
    entries.extend(linearity("P6-linear", 100_000, (&rates[0], 10_000), &rates[1]));
    entries
}

/// Whether a run over `accounts` keeps the rate of one over fewer: until
/// every consumer applied the invoices (the goal: a run over a few
/// thousand accounts ends before credit has applied most of them, so its
/// rate alone leaves out work a larger run pays for while it runs), and to
/// the run's end alone (information).
pub fn linearity(id: &str, accounts: i64, (small, fewer): (&Rates, i64), large: &Rates) -> Vec<Entry> {
    vec![
        Entry::new(
            id,
            &format!(
                "billing run over {accounts} accounts (vs over {fewer}), invoices per second until every consumer \
                 of billing's events (credit, reseller-sync) applied them"
            ),
            large.applied,
            "invoices/s",
            small.applied,
            "invoices/s",
        )
        .ratio_at_least(0.9),
        Entry::new(
            &format!("{id}-run"),
            &format!("billing run over {accounts} accounts (vs over {fewer}), invoices per second to the run's end"),
            large.run,
            "invoices/s",
            small.run,
            "invoices/s",
        ),
    ]
}
