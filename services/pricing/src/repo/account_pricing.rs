//! Each account's price level, discount and pricelists, and its own prices.

use bss_platform::error::{Violations, violated_constraint};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{break_columns, currency, tiered};
use crate::domain::book::{AccountPrice, AccountPricing, Dated};
use crate::domain::catalog::overlaps;
use crate::domain::error::PricingError;

type PricingRow = (Uuid, Option<Uuid>, Decimal, Vec<Uuid>);

fn pricing(row: PricingRow) -> (Uuid, AccountPricing) {
    let (account_id, level_id, discount_percent, pricelist_ids) = row;
    (account_id, AccountPricing { level_id, discount_percent, pricelist_ids })
}

/// The account's pricing; the default (none) when it has none.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<AccountPricing, PricingError> {
    let row: Option<PricingRow> = sqlx::query_as(
        "SELECT account_id, price_level_id, discount_percent, pricelist_ids FROM pricing.account_pricing
         WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|row| pricing(row).1).unwrap_or_default())
}

/// When the account's pricing was last set (`None`: never).
pub async fn changed_at(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<DateTime<Utc>>, PricingError> {
    let changed: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT updated_at FROM pricing.account_pricing WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account_id)
            .fetch_optional(connection)
            .await?;
    Ok(changed.flatten())
}

/// How many account prices and contracts the account has.
pub async fn own_counts(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<(usize, usize), PricingError> {
    let (prices, contracts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pricing.account_prices WHERE tenant_id = $1 AND account_id = $2),
                (SELECT count(*) FROM pricing.contract_accounts WHERE tenant_id = $1 AND account_id = $2)",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(connection)
    .await?;
    Ok((prices as usize, contracts as usize))
}

/// Sets the account's pricing. The level and the pricelists must exist.
pub async fn set(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    pricing: &AccountPricing,
) -> Result<(), PricingError> {
    let known: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM pricing.pricelists WHERE tenant_id = $1 AND id = ANY($2)")
            .bind(tenant_id)
            .bind(&pricing.pricelist_ids)
            .fetch_all(&mut *tx)
            .await?;
    if let Some(missing) = pricing.pricelist_ids.iter().find(|id| !known.contains(id)) {
        return Err(PricingError::not_found("pricelist", missing));
    }
    sqlx::query(
        "INSERT INTO pricing.account_pricing (tenant_id, account_id, price_level_id, discount_percent, pricelist_ids,
             updated_at)
         VALUES ($1, $2, $3, $4, $5, now())
         ON CONFLICT (tenant_id, account_id)
         DO UPDATE SET price_level_id = $3, discount_percent = $4, pricelist_ids = $5, updated_at = now()",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(pricing.level_id)
    .bind(pricing.discount_percent)
    .bind(&pricing.pricelist_ids)
    .execute(tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("account_pricing_level_fkey") => {
            PricingError::not_found("price level", pricing.level_id.map(|id| id.to_string()).unwrap_or_default())
        }
        _ => error.into(),
    })?;
    Ok(())
}

/// Every account pricing of the tenant.
pub async fn all(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<(Uuid, AccountPricing)>, PricingError> {
    let rows: Vec<PricingRow> = sqlx::query_as(
        "SELECT account_id, price_level_id, discount_percent, pricelist_ids FROM pricing.account_pricing
         WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(pricing).collect())
}

type PriceRow = (Uuid, Uuid, Uuid, Decimal, String, bool, Vec<Decimal>, Vec<Decimal>, NaiveDate, Option<NaiveDate>);

const PRICE_COLUMNS: &str =
    "id, account_id, product_id, price, currency, forced, break_minimums, break_prices, valid_from, valid_to";

fn price(row: PriceRow) -> Result<AccountPrice, PricingError> {
    let (id, account_id, product_id, base, currency_code, forced, minimums, prices, from, to) = row;
    Ok(AccountPrice {
        account_id,
        product_id,
        currency: currency(&currency_code)?,
        forced,
        dated: Dated { id, price: tiered(base, minimums, prices)?, from, to },
    })
}

/// The account's prices, by product then start.
pub async fn prices_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<AccountPrice>, PricingError> {
    let rows: Vec<PriceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICE_COLUMNS} FROM pricing.account_prices WHERE tenant_id = $1 AND account_id = $2
         ORDER BY product_id, valid_from"
    )))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(price).collect()
}

/// A page of the account's prices, oldest first (their ids are
/// time-ordered), after the price `after` when given, at most `limit`.
pub async fn prices_page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AccountPrice>, PricingError> {
    let rows: Vec<PriceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICE_COLUMNS} FROM pricing.account_prices WHERE tenant_id = $1 AND account_id = $2
           AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
    )))
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(price).collect()
}

/// Every account price of the tenant.
pub async fn all_prices(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<AccountPrice>, PricingError> {
    let rows: Vec<PriceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICE_COLUMNS} FROM pricing.account_prices WHERE tenant_id = $1"
    )))
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(price).collect()
}

/// Adds an account price, refusing one whose validity overlaps another price
/// of the same product in the same currency for the account (the caller
/// holds the book lock).
pub async fn insert_price(tx: &mut PgConnection, tenant_id: Uuid, new: &AccountPrice) -> Result<(), PricingError> {
    let existing = prices_of(tx, tenant_id, new.account_id).await?;
    let clash = existing.iter().find(|other| {
        other.product_id == new.product_id
            && other.currency == new.currency
            && overlaps(other.dated.validity(), new.dated.validity())
    });
    if let Some(clash) = clash {
        return Err(PricingError::Invalid(Violations::single(
            "account_price.valid_from",
            format!("overlaps the account's price {} of the same product", clash.dated.id),
        )));
    }
    let (minimums, prices) = break_columns(&new.dated.price);
    sqlx::query(
        "INSERT INTO pricing.account_prices
            (tenant_id, id, account_id, product_id, price, currency, forced, break_minimums, break_prices,
             valid_from, valid_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(tenant_id)
    .bind(new.dated.id)
    .bind(new.account_id)
    .bind(new.product_id)
    .bind(new.dated.price.base)
    .bind(new.currency.code)
    .bind(new.forced)
    .bind(minimums)
    .bind(prices)
    .bind(new.dated.from)
    .bind(new.dated.to)
    .execute(tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("account_prices_product_fkey") => PricingError::not_found("product", new.product_id),
        _ => error.into(),
    })?;
    Ok(())
}

/// Deletes an account price; `false` when there was none.
pub async fn delete_price(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, PricingError> {
    let deleted = sqlx::query("DELETE FROM pricing.account_prices WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}
