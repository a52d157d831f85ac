//! Storage of the pricing context: schema-qualified SQL, constraint names
//! mapped to domain errors.
//!
//! Every write of a tenant's pricing runs [`lock_book`] first, in its
//! transaction: that bumps the tenant's book version (so every replica
//! reloads its price book before the next quote) and serializes the
//! tenant's pricing writes (so checks like overlapping validity cannot
//! race).

pub mod account_pricing;
pub mod accounts;
pub mod book;
pub mod catalog;
pub mod contracts;
pub mod pricelists;
pub mod rates;

use bss_platform::error::PlatformError;
use bss_platform::money::Currency;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::error::PricingError;
use crate::domain::price::Tiered;

impl From<sqlx::Error> for PricingError {
    fn from(error: sqlx::Error) -> PricingError {
        PricingError::Platform(PlatformError::Database(error))
    }
}

/// A stored value this code cannot read back: a bug or a manual edit.
fn corrupt(what: &str, value: &str) -> PricingError {
    PricingError::Platform(PlatformError::Corrupt(format!("{what} {value:?}")))
}

/// Bumps the tenant's book version and holds its row lock until the
/// transaction ends (its trigger notifies every replica when it commits);
/// answers the new version.
pub async fn lock_book(tx: &mut PgConnection, tenant_id: Uuid) -> Result<i64, PricingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO pricing.book_versions (tenant_id, version) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET version = pricing.book_versions.version + 1
         RETURNING version",
    )
    .bind(tenant_id)
    .fetch_one(tx)
    .await?)
}

fn currency(code: &str) -> Result<Currency, PricingError> {
    Currency::parse(code).map_err(|_| corrupt("currency", code))
}

/// A price with breaks, from its columns.
fn tiered(price: Decimal, minimums: Vec<Decimal>, prices: Vec<Decimal>) -> Result<Tiered, PricingError> {
    if minimums.len() != prices.len() {
        return Err(corrupt("quantity breaks", &format!("{minimums:?} / {prices:?}")));
    }
    Ok(Tiered { base: price, breaks: minimums.into_iter().zip(prices).collect() })
}

/// The break columns of a price.
fn break_columns(price: &Tiered) -> (Vec<Decimal>, Vec<Decimal>) {
    price.breaks.iter().copied().unzip()
}
