//! Exchange rates with effective dates.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::currency;
use crate::domain::error::PricingError;
use bss_platform::money::Currency;

/// A rate from one currency to another from a day on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub from: Currency,
    pub to: Currency,
    pub effective: NaiveDate,
    pub rate: Decimal,
}

/// Creates or replaces the rate of the pair on the day.
pub async fn set(tx: &mut PgConnection, tenant_id: Uuid, rate: &Rate) -> Result<(), PricingError> {
    sqlx::query(
        "INSERT INTO pricing.exchange_rates (tenant_id, from_currency, to_currency, effective_date, rate)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, from_currency, to_currency, effective_date) DO UPDATE SET rate = $5",
    )
    .bind(tenant_id)
    .bind(rate.from.code)
    .bind(rate.to.code)
    .bind(rate.effective)
    .bind(rate.rate)
    .execute(tx)
    .await?;
    Ok(())
}

/// Every rate of the tenant, by pair then day.
pub async fn all(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<Rate>, PricingError> {
    page(connection, tenant_id, None, i64::MAX).await
}

/// The key a rate is listed by: its pair and day (`EUR:USD:2026-12-01`).
pub fn key(rate: &Rate) -> String {
    format!("{}:{}:{}", rate.from.code, rate.to.code, rate.effective)
}

/// A page of [`all`], after the rate of key `after` (see [`key`]) when
/// given, at most `limit`; `None` when `after` is not such a key.
pub async fn page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Rate>, PricingError> {
    let after = match after {
        None => None,
        Some(key) => {
            let mut parts = key.splitn(3, ':');
            let (from, to, day) = (parts.next(), parts.next(), parts.next().map(|day| day.parse::<NaiveDate>()));
            match (from, to, day) {
                (Some(from), Some(to), Some(Ok(day))) => Some((from.to_owned(), to.to_owned(), day)),
                _ => return Err(bss_platform::error::PlatformError::InvalidPageToken.into()),
            }
        }
    };
    let (after_from, after_to, after_day) = match after {
        Some((from, to, day)) => (Some(from), Some(to), Some(day)),
        None => (None, None, None),
    };
    let rows: Vec<(String, String, NaiveDate, Decimal)> = sqlx::query_as(
        "SELECT from_currency, to_currency, effective_date, rate FROM pricing.exchange_rates
         WHERE tenant_id = $1 AND ($2::text IS NULL OR (from_currency, to_currency, effective_date) > ($2, $3, $4))
         ORDER BY from_currency, to_currency, effective_date LIMIT $5",
    )
    .bind(tenant_id)
    .bind(after_from)
    .bind(after_to)
    .bind(after_day)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(from, to, effective, rate)| Ok(Rate { from: currency(&from)?, to: currency(&to)?, effective, rate }))
        .collect()
}
