//! The janitor's claim of checkout tries (SQL) and the rule it follows
//! (`domain::checkout::unused`) agree: over random tries in every state and
//! of every age, the claim takes exactly the ones the rule says hold money
//! no order has, and each only once.

#![allow(clippy::expect_used)]

use bss_billing::domain::checkout::{PaymentTry, RUNNING_AT_MOST, TryState, unused};
use bss_billing::repo::checkout::claim_unused;
use bss_testkit::TestDatabase;
use chrono::TimeDelta;
use rust_decimal::Decimal;
use uuid::Uuid;

#[tokio::test]
async fn the_janitor_claims_exactly_the_tries_the_rule_calls_unused() {
    // Billing's schema alone: no janitor of a running suite claims first.
    let database = TestDatabase::create().await;
    let config = bss_platform::config::DatabaseConfig::new(database.url());
    let pool = bss_platform::db::connect(&config, bss_billing::SCHEMA, "checkout-tries-property").await.expect("pool");
    bss_platform::db::migrate(&pool, bss_billing::SCHEMA, bss_billing::migrator()).await.expect("migrated");

    let mut next = bss_testkit::seeded(0x7E1A_5EED_u64);
    for round in 0..5 {
        let tenant_id = Uuid::now_v7();
        // The database's clock, which the claim reads too.
        let now: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT now()").fetch_one(&pool).await.expect("the database's clock");
        let mut expected = Vec::new();
        for number in 1..=60 {
            let try_state = TryState::ALL[next(TryState::ALL.len() as u64) as usize];
            // Ages well clear of the two-minute line either way, so the
            // seconds this round takes do not matter.
            let seconds = match next(2) {
                0 => next(RUNNING_AT_MOST.num_seconds() as u64 - 20) as i64,
                _ => RUNNING_AT_MOST.num_seconds() + 20 + next(600) as i64,
            };
            let updated_at = now - TimeDelta::seconds(seconds);
            let amount = Decimal::new(1 + next(10_000) as i64, 2);
            let payment_try = PaymentTry { number, amount, state: try_state, updated_at };
            if unused(&payment_try, now) {
                expected.push(number);
            }
            sqlx::query(
                "INSERT INTO billing.checkout_tries (tenant_id, reference, number, amount, currency, account_id,
                     token_reference, state, started_at, updated_at)
                 VALUES ($1, 'order-1', $2, $3, 'EUR', $4, 'tok_visa', $5, $6, $6)",
            )
            .bind(tenant_id)
            .bind(number)
            .bind(amount)
            .bind(Uuid::now_v7())
            .bind(try_state.code())
            .bind(updated_at)
            .execute(&pool)
            .await
            .expect("a try");
        }
        let mut claimed: Vec<i32> = claim_unused(&pool, 1_000)
            .await
            .expect("claimed")
            .into_iter()
            .inspect(|claimed| assert_eq!(claimed.tenant_id, tenant_id, "round {round}: only this round's tries"))
            .map(|claimed| claimed.number)
            .collect();
        claimed.sort_unstable();
        assert_eq!(claimed, expected, "round {round}");
        // Claimed, each is renewed: nothing is claimed twice while a
        // janitor works on it.
        assert!(claim_unused(&pool, 1_000).await.expect("again").is_empty(), "round {round}");
        let mut renewed: Vec<i32> = sqlx::query_scalar(
            "SELECT number FROM billing.checkout_tries WHERE tenant_id = $1 AND state = 'GIVING_BACK'
                 AND updated_at > $2",
        )
        .bind(tenant_id)
        .bind(now)
        .fetch_all(&pool)
        .await
        .expect("renewed");
        renewed.sort_unstable();
        assert_eq!(renewed, expected, "round {round}: each claimed try is being given back");
        // Gone before the next round, whose clock this round's young tries
        // would otherwise age past the line on.
        sqlx::query("DELETE FROM billing.checkout_tries WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&pool)
            .await
            .expect("cleaned");
    }
}
