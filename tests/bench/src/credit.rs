//! P4 and P5: AuthorizeOrder on the credit service, as billing calls it
//! (straight to the service, with request ids), against pgbench running the
//! same statements in the same run.
//!
//! - P4: orders spread over 10,000 accounts, 32 clients; the baseline runs
//!   the service's two statements for a clean order (the read of the
//!   account with its tenant's settings, then the guarded reservation
//!   statement), 32 clients.
//! - P5: 256 clients on one account against pgbench's single-row UPDATE of
//!   that account, 256 clients; and the service at 8 clients, whose rate the
//!   256 clients may not fall below by more than 10 %.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest};
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::credit_settings_service_client::CreditSettingsServiceClient;
use bss_proto::credit::*;
use bss_proto::types::{Decimal, Money, PaymentType};
use bss_testkit::authorized;
use futures::StreamExt;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::summary::Entry;
use crate::{ROUNDS, bench_tenant, channels, checkpoint, load, median, pgbench, phase_time};

const ACCOUNTS: usize = 10_000;
/// A limit no run reaches: every order is clean.
const LIMIT: &str = "1000000000000";
/// Clients on the one hot account (P5), and the few it is compared with.
const HOT_CLIENTS: usize = 256;
const FEW_CLIENTS: usize = 8;

fn order(account_id: &str, request_id: String) -> AuthorizeOrderRequest {
    AuthorizeOrderRequest {
        payers: Vec::new(),
        // As billing asks: kept until invoiced or cancelled.
        keep_until_invoiced: true,
        order_reference: request_id.clone(),
        request_id,
        account_id: account_id.to_owned(),
        amount: Some(Money { currency_code: "EUR".to_owned(), amount: "0.01".to_owned() }),
        payment_type: PaymentType::OnAccount as i32,
        event_kind: EventKind::Order as i32,
        prepay_over_limit: false,
    }
}

/// The tenant's accounts, created through the accounts service and met by
/// credit once each (so the runs measure authorizations, not first
/// meetings).
async fn accounts(channel: &Channel, token: &str) -> Vec<String> {
    let created: Vec<String> = futures::stream::iter(0..ACCOUNTS)
        .map(|index| {
            let mut accounts = AccountServiceClient::new(channel.clone());
            let token = token.to_owned();
            async move {
                let account =
                    Account { code: format!("C{index}"), name: format!("Credit bench {index}"), ..Account::default() };
                let request = CreateAccountRequest { account: Some(account), request_id: String::new() };
                accounts
                    .create_account(authorized(request, &token))
                    .await
                    .expect("account")
                    .into_inner()
                    .account
                    .expect("account")
                    .id
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    created
}

pub async fn authorize_throughput(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[Role::TenantAdmin]);
    let credit_channels = channels(endpoints.credit, 4).await;
    let settings = CreditSettings {
        default_credit_period_days: 30,
        max_credit_period_days: 90,
        default_credit_limit: Some(Decimal { value: LIMIT.to_owned() }),
        default_policy: Some(CreditPolicy {
            on_hold_action: CreditAction::Block as i32,
            out_of_terms_action: CreditAction::Warn as i32,
            out_of_credit_action: CreditAction::Block as i32,
        }),
        ..CreditSettings::default()
    };
    CreditSettingsServiceClient::new(credit_channels[0].clone())
        .update_credit_settings(authorized(
            UpdateCreditSettingsRequest { settings: Some(settings), request_id: String::new(), update_mask: None },
            &token,
        ))
        .await
        .expect("settings");
    let accounts_channel = bss_testkit::channel(endpoints.accounts).await;
    let ids = Arc::new(accounts(&accounts_channel, &token).await);
    let run_id = Uuid::new_v4().simple().to_string()[..8].to_owned();
    futures::stream::iter(ids.iter().cloned())
        .map(|account_id| {
            let mut credit = CreditServiceClient::new(credit_channels[0].clone());
            let request = order(&account_id, format!("W-{run_id}-{account_id}"));
            let token = token.clone();
            async move { credit.authorize_order(authorized(request, &token)).await.expect("warm-up") }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;

    let pool = sqlx::PgPool::connect(database_url).await.expect("bench database");
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS public.bench_credit_accounts (n integer PRIMARY KEY, account_id uuid NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("account table");
    for (n, account_id) in ids.iter().enumerate() {
        sqlx::query("INSERT INTO public.bench_credit_accounts VALUES ($1, $2)")
            .bind(n as i32 + 1)
            .bind(account_id.parse::<Uuid>().expect("uuid"))
            .execute(&pool)
            .await
            .expect("account row");
    }

    // The service, one call per order, each with its own request id.
    let refused = Arc::new(AtomicU64::new(0));
    let call = |clients_channels: Vec<Channel>, one_account: bool, round: usize| {
        let (ids, token, run_id, refused) = (ids.clone(), token.clone(), run_id.clone(), refused.clone());
        move |client: usize, sequence: u64| {
            let mut credit = CreditServiceClient::new(clients_channels[client % clients_channels.len()].clone());
            let pick = if one_account { 0 } else { load::spread(client as u64, sequence, ids.len()) };
            let request = order(&ids[pick], format!("P-{run_id}-{round}-{one_account}-{client}-{sequence}"));
            let (token, refused) = (token.clone(), refused.clone());
            async move {
                // As a client should: a call the tenant's share refuses
                // (TENANT_BUSY) is sent again, the same, after the delay
                // the refusal names.
                loop {
                    match credit.authorize_order(authorized(request.clone(), &token)).await {
                        Ok(_) => return true,
                        Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            let delay = status.get_details_retry_info().and_then(|retry| retry.retry_delay);
                            tokio::time::sleep(delay.unwrap_or(Duration::from_millis(100))).await;
                        }
                        Err(_) => return false,
                    }
                }
            }
        }
    };

    // The baseline's events are a copy of one the service wrote: they go
    // into the same outbox, and credit's stream and its consumers (billing)
    // read them as they read the service's. An event that does not decode
    // would stop the stream there for every consumer.
    let payload: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM credit.outbox WHERE tenant_id = $1 AND event_type = 'ReservationChanged' LIMIT 1",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .expect("a ReservationChanged event of the warm-up");
    <CreditEvent as prost::Message>::decode(payload.as_slice()).expect("the copied event decodes");
    let event_hex: String = payload.iter().map(|byte| format!("{byte:02x}")).collect();

    // The same two statements for pgbench, on the same tables.
    let clean = format!(
        "\\set n random(1, {ACCOUNTS})\n\
         SELECT a.account_id, a.currency, a.credit_limit, a.unlimited, a.credit_rating, a.terms_kind, a.terms_days, \
         a.terms_day_of_month, a.credit_period_days, a.classification, a.kyc_profile, a.on_hold_action, \
         a.out_of_terms_action, a.out_of_credit_action, a.balance, a.reserved, a.on_hold, a.hold_reason, \
         a.overdue_invoices, a.updated_at, s.default_credit_period_days AS s_default_credit_period_days, s.min_credit_period_days AS s_min_credit_period_days, \
         s.max_credit_period_days AS s_max_credit_period_days, s.default_credit_limit AS s_default_credit_limit, s.on_hold_action AS s_on_hold_action, s.out_of_terms_action AS s_out_of_terms_action, \
         s.out_of_credit_action AS s_out_of_credit_action, s.notification_thresholds AS s_notification_thresholds, s.auto_suspend_over_percent AS s_auto_suspend_over_percent, s.reservation_ttl_seconds AS s_reservation_ttl_seconds, \
         s.held_order_ttl_seconds AS s_held_order_ttl_seconds, s.updated_at AS s_updated_at \
         FROM (SELECT '{tenant}'::uuid AS tenant_id) t LEFT JOIN credit.settings s ON s.tenant_id = t.tenant_id \
         LEFT JOIN LATERAL (SELECT * FROM credit.accounts WHERE tenant_id = '{tenant}' AND account_id = \
         (SELECT account_id FROM public.bench_credit_accounts WHERE n = :n)) a ON true \\gset\n\
         WITH upd AS (UPDATE credit.accounts SET reserved = reserved + 0.01, updated_at = now() \
         WHERE tenant_id = '{tenant}' AND account_id = :account_id AND NOT on_hold AND overdue_invoices = 0 \
         AND (unlimited OR balance + reserved + 0.01 <= credit_limit) \
         AND (unlimited OR credit_limit <= 0 OR NOT EXISTS (SELECT 1 FROM unnest('{{}}'::numeric[]) AS t(percent) \
         WHERE balance + reserved < credit_limit * percent / 100 AND credit_limit * percent / 100 <= balance + reserved + 0.01)) \
         RETURNING CASE WHEN unlimited THEN NULL ELSE credit_limit - balance - reserved + 0.01 END AS available_before), \
         res AS (INSERT INTO credit.reservations (tenant_id, id, account_id, order_reference, amount, open_amount, \
         created_at, expires_at, available_before) SELECT '{tenant}', gen_random_uuid(), :account_id, md5(random()::text), \
         0.01, 0.01, now(), \
         now() + interval '7 days', available_before FROM upd RETURNING available_before), \
         event AS (INSERT INTO credit.outbox (tenant_id, event_type, payload) SELECT '{tenant}', 'ReservationChanged', \
         decode('{event_hex}', 'hex') FROM res), \
         claim AS (INSERT INTO credit.idempotency_keys (tenant_id, request_id, request_hash, response) \
         SELECT '{tenant}', md5(random()::text), sha256(random()::text::bytea), decode(repeat('cd', 40), 'hex') FROM res) \
         SELECT available_before FROM res;\n"
    );
    let one = ids[0].clone();
    let single_update = format!(
        "UPDATE credit.accounts SET reserved = reserved + 0.01 WHERE tenant_id = '{tenant}' AND account_id = '{one}';\n"
    );

    let (mut spread, mut spread_base, mut hot, mut hot_base, mut hot8) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        checkpoint(&pool).await;
        spread.push(load::run(32, phase_time(), call(credit_channels.clone(), false, round)).await);
        checkpoint(&pool).await;
        spread_base.push(pgbench::run(database_url, &clean, 32, phase_time()).await.expect("pgbench"));
        checkpoint(&pool).await;
        hot.push(load::run(HOT_CLIENTS, phase_time(), call(credit_channels.clone(), true, round)).await);
        checkpoint(&pool).await;
        hot_base.push(pgbench::run(database_url, &single_update, HOT_CLIENTS, phase_time()).await.expect("pgbench"));
        checkpoint(&pool).await;
        hot8.push(load::run(FEW_CLIENTS, phase_time(), call(credit_channels.clone(), true, round + 100)).await);
    }
    let errors: u64 = spread.iter().chain(&hot).chain(&hot8).map(|result| result.errors).sum();
    let calls: u64 = spread.iter().chain(&hot).chain(&hot8).map(|result| result.calls).sum();
    let hot_rate = median(hot.iter().map(load::LoadResult::rate));
    let hot8_rate = median(hot8.iter().map(load::LoadResult::rate));
    vec![
        Entry::new(
            "P4",
            "AuthorizeOrder over 10,000 accounts, 32 clients (vs pgbench, same statements)",
            median(spread.iter().map(load::LoadResult::rate)),
            "calls/s",
            median(spread_base.iter().map(|result| result.tps)),
            "tx/s",
        )
        .ratio_at_least(0.8),
        Entry::new(
            "P4-p99",
            "AuthorizeOrder p99, 32 clients (vs pgbench mean latency)",
            median(spread.iter().map(|result| result.percentile_us(990))),
            "us",
            median(spread_base.iter().map(|result| result.latency_average_us)),
            "us",
        ),
        Entry::new(
            "P5",
            &format!(
                "AuthorizeOrder on one account, {HOT_CLIENTS} clients (vs pgbench single-row UPDATE, {HOT_CLIENTS})"
            ),
            hot_rate,
            "calls/s",
            median(hot_base.iter().map(|result| result.tps)),
            "tx/s",
        )
        .ratio_at_least(0.9),
        Entry::new(
            "P5-scaling",
            &format!("AuthorizeOrder on one account, {HOT_CLIENTS} clients (vs {FEW_CLIENTS} clients)"),
            hot_rate,
            "calls/s",
            hot8_rate,
            "calls/s",
        )
        .ratio_at_least(0.9),
        Entry::new("P4-errors", "AuthorizeOrder failed calls during the runs", errors, "calls", calls, "calls")
            .goal("no failed call", errors == 0),
        Entry::new(
            "P5-refused",
            "AuthorizeOrder calls refused for the tenant's share (TENANT_BUSY) and sent again after the named delay",
            refused.load(Ordering::Relaxed),
            "calls",
            calls,
            "calls",
        ),
    ]
}
