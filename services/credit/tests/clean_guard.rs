//! The clean-order fast path decides in SQL (one conditional statement on
//! the account's row) what the domain decides in Rust
//! (`authorization::is_clean`): over random account positions, limits,
//! holds, overdue invoices, thresholds and amounts, the statement reserves
//! exactly when the rule says the order is clean, and reserves nothing
//! otherwise.

use bss_credit::domain::authorization::is_clean;
use bss_credit::repo::{self, Clean, CleanReservation};
use bss_testapp::credit::*;
use rust_decimal::Decimal;
use uuid::Uuid;

/// A small deterministic generator (xorshift): a failing case is replayed
/// from the printed seed.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// An amount in cents, from -`max` to `max` when `signed`.
    fn cents(&mut self, max: u64, signed: bool) -> Decimal {
        let value = self.below(max + 1) as i64;
        let value = if signed && self.below(4) == 0 { -value } else { value };
        Decimal::new(value, 2)
    }
}

const CASES: usize = 400;

#[tokio::test]
async fn the_sql_guard_reserves_exactly_when_the_rule_says_clean() {
    let mut app = spawn().await;
    let (tenant_id, _) = app.tenant("EUR").await;
    let seed = std::env::var("CLEAN_GUARD_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(0x5EED_C0DE_u64);
    let mut cases = Cases(seed);
    let mut agreed = [0usize; 2];
    for case in 0..CASES {
        let account_id = Uuid::now_v7();
        // Around the limit, so every side of each condition is met often.
        let limit = cases.cents(20_000, true);
        let balance = cases.cents(20_000, true);
        let reserved = cases.cents(10_000, false);
        let unlimited = cases.below(8) == 0;
        let on_hold = cases.below(6) == 0;
        let overdue = if cases.below(6) == 0 { 1 } else { 0 };
        let amount = cases.cents(10_000, false).max(Decimal::new(1, 2));
        let thresholds: Vec<Decimal> = match cases.below(3) {
            0 => Vec::new(),
            1 => vec![Decimal::from(50), Decimal::from(90)],
            _ => vec![Decimal::from(cases.below(100) + 1)],
        };
        sqlx::query(
            "INSERT INTO credit.accounts (tenant_id, account_id, currency, credit_limit, unlimited, balance, reserved,
                 on_hold, overdue_invoices)
             VALUES ($1, $2, 'EUR', $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(limit)
        .bind(unlimited)
        .bind(balance)
        .bind(reserved)
        .bind(on_hold)
        .bind(overdue)
        .execute(&app.db)
        .await
        .expect("account row");
        let mut connection = app.db.acquire().await.expect("connection");
        let account = repo::account(&mut connection, tenant_id, account_id).await.expect("read").expect("account");
        drop(connection);
        let rule = is_clean(&account, &thresholds, amount);

        let now = chrono::Utc::now();
        let clean = CleanReservation {
            tenant_id,
            account_id,
            amount,
            order_reference: "guard",
            reservation_id: Uuid::now_v7(),
            created_at: now,
            expires_at: Some(now + chrono::Duration::hours(1)),
            thresholds: &thresholds,
            event: Vec::new(),
            request: None,
        };
        let guard = match repo::reserve_if_clean(&app.db, &clean).await.expect("statement") {
            Clean::Reserved(_) => true,
            Clean::NotClean => false,
            Clean::RequestIdTaken | Clean::RequestInProgress => panic!("no request id was given"),
        };
        let mut connection = app.db.acquire().await.expect("connection");
        let after = repo::account(&mut connection, tenant_id, account_id).await.expect("read").expect("account");
        assert_eq!(
            guard, rule,
            "seed {seed}, case {case}: limit {limit} unlimited {unlimited} balance {balance} reserved {reserved} \
             on hold {on_hold} overdue {overdue} thresholds {thresholds:?} amount {amount}"
        );
        let expected_reserved = if guard { reserved + amount } else { reserved };
        assert_eq!(after.reserved, expected_reserved, "seed {seed}, case {case}: reserved only when clean");
        agreed[usize::from(guard)] += 1;
    }
    // Both outcomes were exercised, each many times.
    assert!(agreed[0] > CASES / 10 && agreed[1] > CASES / 10, "{agreed:?}");
}
