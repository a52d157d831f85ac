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
    let rows: Vec<(String, String, NaiveDate, Decimal)> = sqlx::query_as(
        "SELECT from_currency, to_currency, effective_date, rate FROM pricing.exchange_rates
         WHERE tenant_id = $1 ORDER BY from_currency, to_currency, effective_date",
    )
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(from, to, effective, rate)| Ok(Rate { from: currency(&from)?, to: currency(&to)?, effective, rate }))
        .collect()
}
