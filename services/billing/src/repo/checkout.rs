//! The tries of checkout payments (see `domain::checkout`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::checkout::{PaymentTry, RUNNING_AT_MOST, TryState};
use crate::domain::error::BillingError;

/// The tries of the request whose provider reference is `reference`, by
/// number.
pub async fn tries(db: &PgPool, tenant_id: Uuid, reference: &str) -> Result<Vec<PaymentTry>, BillingError> {
    let rows: Vec<(i32, Decimal, String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT number, amount, state, updated_at FROM billing.checkout_tries
         WHERE tenant_id = $1 AND reference = $2 ORDER BY number",
    )
    .bind(tenant_id)
    .bind(reference)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(number, amount, state, updated_at)| {
            let state = TryState::from_code(&state).ok_or_else(|| super::corrupt("checkout try state", &state))?;
            Ok(PaymentTry { number, amount, state, updated_at })
        })
        .collect()
}

/// Who pays a try: the account, and its method's token at the provider.
pub type Payer<'a> = (Uuid, &'a str);

/// Records try `number` (PAYING) before the provider is asked; false when a
/// racing retry recorded it first.
pub async fn start(
    db: &PgPool,
    tenant_id: Uuid,
    (reference, number): (&str, i32),
    (amount, currency): (Decimal, &str),
    (account_id, token): Payer<'_>,
) -> Result<bool, BillingError> {
    let inserted = sqlx::query(
        "INSERT INTO billing.checkout_tries
             (tenant_id, reference, number, amount, currency, account_id, token_reference, state)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'PAYING') ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(reference)
    .bind(number)
    .bind(amount)
    .bind(currency)
    .bind(account_id)
    .bind(token)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Claims an earlier try to pay under again (PAYING, renewed): one whose
/// call ended, or one paying or taken since longer than any call runs;
/// false when the janitor (or a racing retry) took it first.
pub async fn reclaim(db: &PgPool, tenant_id: Uuid, (reference, number): (&str, i32)) -> Result<bool, BillingError> {
    let ended: Vec<&str> = TryState::ENDED.iter().map(|state| state.code()).collect();
    let claimed = sqlx::query(
        "UPDATE billing.checkout_tries SET state = 'PAYING', updated_at = now()
         WHERE tenant_id = $1 AND reference = $2 AND number = $3
           AND (state = ANY($4)
                OR (state IN ('PAYING', 'TAKEN') AND updated_at < now() - $5 * interval '1 second'))",
    )
    .bind(tenant_id)
    .bind(reference)
    .bind(number)
    .bind(&ended)
    .bind(RUNNING_AT_MOST.num_seconds())
    .execute(db)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Moves try `number` to `state` if it is in one of `from` (in the pool
/// or a transaction); whether it moved. Every change of a try is one of
/// these, so no step undoes another's (a stored order's try is never taken
/// to give back, nor one given back stored).
pub async fn transition<'e>(
    db: impl sqlx::PgExecutor<'e>,
    tenant_id: Uuid,
    (reference, number): (&str, i32),
    (from, state): (&[TryState], TryState),
) -> Result<bool, BillingError> {
    let from: Vec<&str> = from.iter().map(|state| state.code()).collect();
    let moved = sqlx::query(
        "UPDATE billing.checkout_tries SET state = $4, updated_at = now()
         WHERE tenant_id = $1 AND reference = $2 AND number = $3 AND state = ANY($5)",
    )
    .bind(tenant_id)
    .bind(reference)
    .bind(number)
    .bind(state.code())
    .bind(&from)
    .execute(db)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// A try the janitor gives back.
#[derive(Debug, sqlx::FromRow)]
pub struct Unused {
    pub tenant_id: Uuid,
    pub reference: String,
    pub number: i32,
    pub amount: Decimal,
    pub currency: String,
    pub account_id: Uuid,
    pub token_reference: String,
}

/// Claims (GIVING_BACK, renewed) up to `limit` tries that may hold money
/// no order has, in every tenant: the rule of `domain::checkout::unused`.
pub async fn claim_unused(db: &PgPool, limit: i64) -> Result<Vec<Unused>, BillingError> {
    let claimed = sqlx::query_as(
        "UPDATE billing.checkout_tries t SET state = 'GIVING_BACK', updated_at = now()
         FROM (SELECT tenant_id, reference, number FROM billing.checkout_tries
               WHERE state = 'ORPHANED'
                  OR (state IN ('PAYING', 'UNKNOWN', 'TAKEN', 'GIVING_BACK')
                      AND updated_at < now() - $2 * interval '1 second')
               ORDER BY updated_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
         WHERE (t.tenant_id, t.reference, t.number) = (due.tenant_id, due.reference, due.number)
         RETURNING t.tenant_id, t.reference, t.number, t.amount, t.currency, t.account_id, t.token_reference",
    )
    .bind(limit)
    .bind(RUNNING_AT_MOST.num_seconds())
    .fetch_all(db)
    .await?;
    Ok(claimed)
}
