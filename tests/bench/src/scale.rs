//! P9, the cost curve: the same calls on a tenant of 10,000 accounts and on
//! one of `BENCH_SCALE` accounts (100,000 unless set; 1,000,000 is the
//! issue's full size), a price book of 100,000 products, and billing runs
//! at both sizes.
//!
//! The accounts are seeded by set-based SQL into the accounts service's
//! table and into pricing's and credit's read models of them (as their
//! streams would have them), so seeding a million takes seconds, not the
//! hours a million CreateAccount calls would. Every call measured goes to
//! the service straight (no gateway: P1 prices that), from 8 clients, for
//! one phase (`BENCH_PHASE_SECONDS`).

use std::sync::Arc;

use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{GetAccountRequest, ListAccountsRequest};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{AuthorizeOrderRequest, EventKind};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteLineRequest, QuoteRequest};
use bss_proto::types::{Decimal, Money, PaymentType};
use bss_testkit::authorized;
use uuid::Uuid;

use crate::summary::Entry;
use crate::{bench_tenant, billing, channels, checkpoint, footprint, load, phase_time};

/// The tenant every figure at scale is compared with.
const SMALL: i64 = 10_000;
/// Products of the large price book.
const BOOK_PRODUCTS: i64 = 100_000;
/// Lines of each quote.
const LINES: usize = 10;
/// Clients calling at once.
const CLIENTS: usize = 8;
/// Characters of a searched prefix: over hexadecimal codes and names, one
/// account in 4,096 starts with a given three.
const PREFIX: usize = 3;
/// Most a search may take at the 99th percentile.
const SEARCH_P99_US: u64 = 20_000;

/// Accounts of the large tenant (`BENCH_SCALE`).
pub fn scale() -> i64 {
    std::env::var("BENCH_SCALE").ok().and_then(|value| value.parse().ok()).unwrap_or(100_000)
}

/// One seeded account, as the calls name it.
#[derive(sqlx::FromRow)]
struct Seeded {
    id: Uuid,
    code: String,
    name_key: String,
}

/// Seeds `count` accounts of the tenant (codes and names from a hash, so
/// prefixes spread evenly) with credit's and pricing's rows for them, and
/// `products` products; returns a sample of the accounts.
async fn seed_tenant(pool: &sqlx::PgPool, tenant_id: Uuid, count: i64, products: i64) -> Vec<Seeded> {
    sqlx::query(
        "INSERT INTO accounts.accounts (id, tenant_id, code, name, name_key, name_scope, kind, profile,
             currency_code, created_by)
         SELECT id, $1, upper(substr(h, 1, 6)) || '-' || n, initcap(substr(h, 7, 8)) || ' ' || n,
             lower(substr(h, 7, 8)) || ' ' || n, $1, 'direct', 'normal', 'EUR', 'bench'
         FROM (SELECT gen_random_uuid() AS id, md5(n::text || $1::text) AS h, n FROM generate_series(1, $2) n) s",
    )
    .bind(tenant_id)
    .bind(count)
    .execute(pool)
    .await
    .expect("seed accounts");
    sqlx::query(
        "INSERT INTO credit.accounts (tenant_id, account_id, currency, credit_limit)
         SELECT tenant_id, id, 'EUR', 1000000000000 FROM accounts.accounts WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .execute(pool)
    .await
    .expect("seed credit's accounts");
    // Pricing's triggers tell its replicas of each account row; a replica
    // that has not read an account has nothing to forget, so the seed
    // skips them (as a superuser may) rather than send a million notices.
    let mut tx = pool.begin().await.expect("begin");
    let superuser: bool = sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        .fetch_one(&mut *tx)
        .await
        .expect("role");
    if superuser {
        sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.expect("no triggers");
    }
    sqlx::query(
        "INSERT INTO pricing.accounts (tenant_id, account_id, currency)
         SELECT tenant_id, id, 'EUR' FROM accounts.accounts WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .execute(&mut *tx)
    .await
    .expect("seed pricing's accounts");
    tx.commit().await.expect("commit");
    seed_products(pool, tenant_id, products).await;
    // What autovacuum does soon after a bulk load (its visibility map lets
    // a search read ids from an index alone), done now rather than during
    // the measurement.
    sqlx::query("VACUUM ANALYZE accounts.accounts, credit.accounts, pricing.accounts")
        .execute(pool)
        .await
        .expect("vacuum");
    sqlx::query_as("SELECT id, code, name_key FROM accounts.accounts WHERE tenant_id = $1 ORDER BY random() LIMIT 1000")
        .bind(tenant_id)
        .fetch_all(pool)
        .await
        .expect("sample")
}

/// `count` products (SKU-0, SKU-1, ...) at list prices, each also priced by
/// a price level, and the tenant's book version moved (its replicas reload).
async fn seed_products(pool: &sqlx::PgPool, tenant_id: Uuid, count: i64) {
    let level = Uuid::now_v7();
    sqlx::query("INSERT INTO pricing.price_levels (tenant_id, id, code, currency) VALUES ($1, $2, 'C', 'EUR')")
        .bind(tenant_id)
        .bind(level)
        .execute(pool)
        .await
        .expect("level");
    sqlx::query(
        "WITH p AS (
             INSERT INTO pricing.products (tenant_id, id, code, name, list_price, currency)
             SELECT $1, gen_random_uuid(), 'SKU-' || n, 'Product ' || n, 100 + n % 50, 'EUR'
             FROM generate_series(0, $2 - 1) n RETURNING id, list_price)
         INSERT INTO pricing.level_prices (tenant_id, level_id, product_id, price, break_minimums, break_prices)
         SELECT $1, $3, id, list_price - 10, '{10}', ARRAY[list_price - 20] FROM p",
    )
    .bind(tenant_id)
    .bind(count)
    .bind(level)
    .execute(pool)
    .await
    .expect("products");
    sqlx::query(
        "INSERT INTO pricing.book_versions (tenant_id, version) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET version = pricing.book_versions.version + 1",
    )
    .bind(tenant_id)
    .execute(pool)
    .await
    .expect("book version");
}

/// A quote of `LINES` of the products, spread over `products`.
fn quote(account_id: &str, products: i64, sequence: u64) -> QuoteRequest {
    QuoteRequest {
        account_id: account_id.to_owned(),
        currency_code: "EUR".to_owned(),
        lines: (0..LINES as u64)
            .map(|line| QuoteLineRequest {
                product: format!("SKU-{}", load::spread(sequence, line, products as usize)),
                quantity: Some(Decimal { value: "12".to_owned() }),
                ..QuoteLineRequest::default()
            })
            .collect(),
        ..QuoteRequest::default()
    }
}

/// The p99 (µs) of each call at one size: code search, name search,
/// GetAccount, Quote, AuthorizeOrder.
struct Latencies {
    search_code: u64,
    search_name: u64,
    get: u64,
    quote: u64,
    authorize: u64,
}

/// Runs each call from `CLIENTS` clients for a phase; every call must
/// answer (a search must find what it searched for).
async fn latencies(endpoints: &bss_suite::Endpoints, tenant_id: Uuid, sample: Vec<Seeded>) -> Latencies {
    let token = Arc::new(bss_testkit::token(tenant_id, &[Role::TenantAdmin]));
    let sample = Arc::new(sample);
    let pick = |client: usize, sequence: u64, sample: &[Seeded]| load::spread(client as u64, sequence, sample.len());
    let accounts = channels(endpoints.accounts, 2).await;
    let p99 = |result: load::LoadResult, what: &str| {
        assert_eq!(result.errors, 0, "every {what} answered");
        result.percentile_us(990)
    };
    let search = |by_code: bool| {
        let (accounts, token, sample) = (accounts.clone(), token.clone(), sample.clone());
        move |client: usize, sequence: u64| {
            let mut client_ = AccountServiceClient::new(accounts[client % accounts.len()].clone());
            let account = &sample[pick(client, sequence, &sample)];
            let mut request = ListAccountsRequest { page_size: 50, ..ListAccountsRequest::default() };
            if by_code {
                request.code_prefix = account.code[..PREFIX].to_owned();
            } else {
                request.name_prefix = account.name_key[..PREFIX].to_owned();
            }
            let token = token.clone();
            async move {
                // The first page of the matches (at least the sampled
                // account): every account on it must match.
                let Ok(page) = client_.list_accounts(authorized(request.clone(), &token)).await else {
                    return false;
                };
                let page = page.into_inner();
                !page.accounts.is_empty()
                    && page.accounts.iter().all(|found| {
                        found.code.starts_with(&request.code_prefix)
                            && found.name.to_lowercase().starts_with(&request.name_prefix)
                    })
            }
        }
    };
    let search_code = p99(load::run(CLIENTS, phase_time(), search(true)).await, "search by code");
    let search_name = p99(load::run(CLIENTS, phase_time(), search(false)).await, "search by name");
    let get = {
        let (accounts, token, sample) = (accounts.clone(), token.clone(), sample.clone());
        load::run(CLIENTS, phase_time(), move |client, sequence| {
            let mut client_ = AccountServiceClient::new(accounts[client % accounts.len()].clone());
            let id = sample[pick(client, sequence, &sample)].id.to_string();
            let token = token.clone();
            async move { client_.get_account(authorized(GetAccountRequest { id }, &token)).await.is_ok() }
        })
        .await
    };
    let pricing = channels(endpoints.pricing, 2).await;
    let quote_result = {
        let (token, sample) = (token.clone(), sample.clone());
        load::run(CLIENTS, phase_time(), move |client, sequence| {
            let mut client_ = QuoteServiceClient::new(pricing[client % pricing.len()].clone());
            let request = quote(&sample[pick(client, sequence, &sample)].id.to_string(), LINES as i64, sequence);
            let token = token.clone();
            async move { client_.quote(authorized(request, &token)).await.is_ok() }
        })
        .await
    };
    let credit = channels(endpoints.credit, 2).await;
    let run_id = Uuid::now_v7().simple().to_string();
    let authorize = {
        load::run(CLIENTS, phase_time(), move |client, sequence| {
            let mut client_ = CreditServiceClient::new(credit[client % credit.len()].clone());
            let request_id = format!("S-{run_id}-{client}-{sequence}");
            let request = AuthorizeOrderRequest {
                account_id: sample[pick(client, sequence, &sample)].id.to_string(),
                amount: Some(Money { currency_code: "EUR".to_owned(), amount: "0.01".to_owned() }),
                payment_type: PaymentType::OnAccount as i32,
                event_kind: EventKind::Order as i32,
                keep_until_invoiced: true,
                order_reference: request_id.clone(),
                request_id,
                ..AuthorizeOrderRequest::default()
            };
            let token = token.clone();
            async move { client_.authorize_order(authorized(request, &token)).await.is_ok() }
        })
        .await
    };
    Latencies {
        search_code,
        search_name,
        get: p99(get, "GetAccount"),
        quote: p99(quote_result, "Quote"),
        authorize: p99(authorize, "AuthorizeOrder"),
    }
}

/// A price book of `BOOK_PRODUCTS` products (each with a level price and a
/// break) in a pricing replica of its own: its resident memory before and
/// after it loads the book, and a quote's p99 on it.
async fn large_book(endpoints: &bss_suite::Endpoints, pool: &sqlx::PgPool, database_url: &str) -> Vec<Entry> {
    let tenant_id = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant_id, &[Role::TenantAdmin]);
    let account = seed_tenant(pool, tenant_id, 1, BOOK_PRODUCTS).await.remove(0).id.to_string();
    let (replica, address, _) = footprint::start_alone("pricing", endpoints, database_url).await;
    let pid = replica.id().expect("the replica runs");
    let channel = bss_testkit::channel(address).await;
    let mut quotes = QuoteServiceClient::new(channel.clone());
    // Before: the replica serving, having priced nothing of this tenant.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = footprint::resident_kib(pid).expect("resident memory");
    quotes.quote(authorized(quote(&account, LINES as i64, 0), &token)).await.expect("the first quote");
    let after = footprint::resident_kib(pid).expect("resident memory");
    let result = load::run(CLIENTS, phase_time(), move |_client, sequence| {
        let mut quotes = QuoteServiceClient::new(channel.clone());
        let request = quote(&account, BOOK_PRODUCTS, sequence);
        let token = token.clone();
        async move { quotes.quote(authorized(request, &token)).await.is_ok() }
    })
    .await;
    assert_eq!(result.errors, 0, "every quote on the large book answered");
    drop(replica);
    vec![
        Entry::new(
            "P9-book-memory",
            "a pricing replica's resident memory for a tenant's book of 100,000 products (vs before it loaded it)",
            after.saturating_sub(before),
            "KiB",
            before,
            "KiB",
        ),
        Entry::new(
            "P9-book-quote",
            "Quote of 10 lines on a book of 100,000 products, 8 clients, p99 (vs its median)",
            result.percentile_us(990),
            "us",
            result.percentile_us(500),
            "us",
        ),
    ]
}

/// P9: the figures at `BENCH_SCALE` accounts against the same at 10,000.
pub async fn cost_curve(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    let large = scale();
    let mut at = Vec::new();
    for count in [SMALL, large] {
        let tenant_id = bench_tenant(endpoints).await;
        let seeding = std::time::Instant::now();
        let sample = seed_tenant(&pool, tenant_id, count, LINES as i64).await;
        println!("P9: seeded {count} accounts in {:.1} s", seeding.elapsed().as_secs_f64());
        billing::settle(&pool).await;
        checkpoint(&pool).await;
        at.push(latencies(endpoints, tenant_id, sample).await);
    }
    let (small, big) = (&at[0], &at[1]);
    let versus = |id: &str, what: &str, get: fn(&Latencies) -> u64| {
        Entry::new(
            id,
            &format!("{what} over {large} accounts, {CLIENTS} clients, p99 (vs over {SMALL})"),
            get(big),
            "us",
            get(small),
            "us",
        )
    };
    let search = |entry: Entry| {
        let met = entry.value <= SEARCH_P99_US;
        entry.goal(&format!("at most {SEARCH_P99_US} us"), met)
    };
    let mut entries = vec![
        search(versus("P9-search-code", "ListAccounts by a 3-character code prefix", |at| at.search_code)),
        search(versus("P9-search-name", "ListAccounts by a 3-character name prefix", |at| at.search_name)),
        versus("P9-get", "GetAccount", |at| at.get),
        versus("P9-quote", "Quote of 10 lines", |at| at.quote),
        versus("P9-authorize", "AuthorizeOrder", |at| at.authorize),
    ];
    entries.extend(large_book(endpoints, &pool, database_url).await);

    let mut invoices = InvoiceServiceClient::new(bss_testkit::channel(endpoints.billing).await);
    let small_run = billing::run_and_baseline(endpoints, &pool, &mut invoices, SMALL).await;
    let large_run = billing::run_and_baseline(endpoints, &pool, &mut invoices, large).await;
    entries.extend(billing::linearity("P9-billing", large, (&small_run, SMALL), &large_run));
    entries.push(Entry::new(
        "P9-billing-baseline",
        &format!("billing run over {large} accounts (vs the same rows written by SQL)"),
        large_run.run,
        "invoices/s",
        large_run.baseline,
        "invoices/s",
    ));
    entries
}
