//! Products, price levels and level prices.

use bss_platform::error::violated_constraint;
use bss_platform::paging::Page;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{break_columns, corrupt, currency, tiered};
use crate::domain::catalog::{Availability, Goods, PriceLevel, Product, Shown};
use crate::domain::error::PricingError;
use crate::domain::price::Tiered;

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: Uuid,
    code: String,
    name: String,
    product_type: String,
    family: String,
    availability: String,
    list_price: Decimal,
    currency: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    physical: bool,
    traceable: bool,
    warranty_months: i32,
}

const PRODUCT_COLUMNS: &str = "id, code, name, product_type, family, availability, list_price, currency, created_at, \
     updated_at, physical, traceable, warranty_months";

impl TryFrom<ProductRow> for Product {
    type Error = PricingError;

    fn try_from(row: ProductRow) -> Result<Product, PricingError> {
        Ok(Product {
            availability: Availability::from_stored(&row.availability)
                .ok_or_else(|| corrupt("availability", &row.availability))?,
            currency: currency(&row.currency)?,
            id: row.id,
            code: row.code,
            name: row.name,
            product_type: row.product_type,
            family: row.family,
            list_price: row.list_price,
            created_at: row.created_at,
            updated_at: row.updated_at,
            goods: row.physical.then(|| Goods {
                traceable: row.traceable,
                warranty_months: u32::try_from(row.warranty_months).unwrap_or_default(),
            }),
        })
    }
}

fn code_taken(error: sqlx::Error, code: &str) -> PricingError {
    match violated_constraint(&error) {
        Some("products_code_key") => PricingError::AlreadyExists {
            reason: "PRODUCT_CODE_TAKEN",
            description: format!("a product with code {code:?} exists already"),
        },
        _ => error.into(),
    }
}

/// Inserts the product and returns it as stored.
pub async fn insert_product(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    product: &Product,
) -> Result<Product, PricingError> {
    let row: ProductRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO pricing.products
            (tenant_id, id, code, name, product_type, family, availability, list_price, currency,
             physical, traceable, warranty_months)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {PRODUCT_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(product.id)
    .bind(&product.code)
    .bind(&product.name)
    .bind(&product.product_type)
    .bind(&product.family)
    .bind(product.availability.as_str())
    .bind(product.list_price)
    .bind(product.currency.code)
    .bind(product.goods.is_some())
    .bind(product.goods.is_some_and(|goods| goods.traceable))
    .bind(product.goods.map_or(0, |goods| goods.warranty_months as i32))
    .fetch_one(tx)
    .await
    .map_err(|error| code_taken(error, &product.code))?;
    row.try_into()
}

/// A product by id or code; `lock` takes it for update.
pub async fn product(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    reference: &str,
    lock: bool,
) -> Result<Product, PricingError> {
    let id = Uuid::parse_str(reference).ok();
    let row: Option<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM pricing.products
         WHERE tenant_id = $1 AND (id = $2 OR ($2 IS NULL AND code = $3)){}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(tenant_id)
    .bind(id)
    .bind(reference)
    .fetch_optional(connection)
    .await?;
    row.ok_or_else(|| PricingError::not_found("product", reference))?.try_into()
}

/// A page of products by code, of one family when `family` is not empty.
/// A page of the tenant's products (of `family` when set; of one
/// availability when `only` names it) by code.
pub async fn list_products(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    (family, shown): (&str, Shown),
    page: &Page,
) -> Result<(Vec<Product>, String), PricingError> {
    let after = page.after_text()?;
    let (public_only, contracts_of) = match shown {
        Shown::All => (false, None),
        Shown::Public => (true, None),
        Shown::PublicAndContractsOf(account_id) => (true, Some(account_id)),
    };
    let rows: Vec<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM pricing.products p
         WHERE tenant_id = $1 AND ($2 = '' OR family = $2) AND ($3::text IS NULL OR code > $3)
           AND (NOT $5 OR availability = 'public' OR {listed})
         ORDER BY code LIMIT $4",
        listed = listed_sql("$6")
    )))
    .bind(tenant_id)
    .bind(family)
    .bind(after)
    .bind(page.fetch_limit())
    .bind(public_only)
    .bind(contracts_of)
    .fetch_all(connection)
    .await?;
    let products = rows.into_iter().map(Product::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(page.finish(products, |product| product.code.as_bytes().to_vec()))
}

/// Whether a contract in force today (UTC, as quotes date it) that account `account` (a
/// placeholder) is in lists product `p.id` of tenant `$1`.
fn listed_sql(account: &str) -> String {
    format!(
        "EXISTS (
            SELECT 1 FROM pricing.contract_items i
            JOIN pricing.contract_accounts a ON a.tenant_id = i.tenant_id AND a.contract_id = i.contract_id
            JOIN pricing.contracts c ON c.tenant_id = i.tenant_id AND c.id = i.contract_id
            WHERE i.tenant_id = $1 AND i.product_id = p.id AND a.account_id = {account}::uuid
              AND (now() AT TIME ZONE 'UTC')::date BETWEEN c.start_date AND c.expiry_date)"
    )
}

/// Whether a contract in force today that `account_id` is in lists the
/// product.
pub async fn listed_for(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    product_id: Uuid,
    account_id: Uuid,
) -> Result<bool, PricingError> {
    let listed: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM pricing.products p WHERE p.tenant_id = $1 AND p.id = $2",
        listed_sql("$3")
    )))
    .bind(tenant_id)
    .bind(product_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    Ok(listed.unwrap_or(false))
}

/// Writes the changeable fields of a product; returns it as stored.
pub async fn update_product(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    product: &Product,
) -> Result<Product, PricingError> {
    let row: ProductRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE pricing.products
         SET name = $3, product_type = $4, family = $5, availability = $6, list_price = $7,
             physical = $8, traceable = $9, warranty_months = $10, updated_at = now()
         WHERE tenant_id = $1 AND id = $2
         RETURNING {PRODUCT_COLUMNS}"
    )))
    .bind(tenant_id)
    .bind(product.id)
    .bind(&product.name)
    .bind(&product.product_type)
    .bind(&product.family)
    .bind(product.availability.as_str())
    .bind(product.list_price)
    .bind(product.goods.is_some())
    .bind(product.goods.is_some_and(|goods| goods.traceable))
    .bind(product.goods.map_or(0, |goods| goods.warranty_months as i32))
    .fetch_one(tx)
    .await?;
    row.try_into()
}

type LevelRow = (Uuid, String, String, String);

fn level(row: LevelRow) -> Result<PriceLevel, PricingError> {
    Ok(PriceLevel { id: row.0, code: row.1, name: row.2, currency: currency(&row.3)? })
}

pub async fn insert_level(tx: &mut PgConnection, tenant_id: Uuid, level: &PriceLevel) -> Result<(), PricingError> {
    sqlx::query("INSERT INTO pricing.price_levels (tenant_id, id, code, name, currency) VALUES ($1, $2, $3, $4, $5)")
        .bind(tenant_id)
        .bind(level.id)
        .bind(&level.code)
        .bind(&level.name)
        .bind(level.currency.code)
        .execute(tx)
        .await
        .map_err(|error| match violated_constraint(&error) {
            Some("price_levels_code_key") => PricingError::AlreadyExists {
                reason: "PRICE_LEVEL_CODE_TAKEN",
                description: format!("a price level with code {:?} exists already", level.code),
            },
            _ => error.into(),
        })?;
    Ok(())
}

/// The tenant's price levels by code, after `after` when given, at most
/// `limit`.
pub async fn levels(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<PriceLevel>, PricingError> {
    let rows: Vec<LevelRow> = sqlx::query_as(
        "SELECT id, code, name, currency FROM pricing.price_levels
         WHERE tenant_id = $1 AND ($2::text IS NULL OR code > $2) ORDER BY code LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(level).collect()
}

pub async fn level_by_id(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<PriceLevel, PricingError> {
    let row: Option<LevelRow> =
        sqlx::query_as("SELECT id, code, name, currency FROM pricing.price_levels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(connection)
            .await?;
    level(row.ok_or_else(|| PricingError::not_found("price level", id))?)
}

/// Creates or replaces the price of a product on a level.
pub async fn set_level_price(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    level_id: Uuid,
    product_id: Uuid,
    price: &Tiered,
) -> Result<(), PricingError> {
    let (minimums, prices) = break_columns(price);
    sqlx::query(
        "INSERT INTO pricing.level_prices (tenant_id, level_id, product_id, price, break_minimums, break_prices)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, level_id, product_id)
         DO UPDATE SET price = $4, break_minimums = $5, break_prices = $6",
    )
    .bind(tenant_id)
    .bind(level_id)
    .bind(product_id)
    .bind(price.base)
    .bind(minimums)
    .bind(prices)
    .execute(tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("level_prices_product_fkey") => PricingError::not_found("product", product_id),
        Some("level_prices_level_fkey") => PricingError::not_found("price level", level_id),
        _ => error.into(),
    })?;
    Ok(())
}

/// Every level price of the tenant: (level, product, price).
pub async fn level_prices(
    connection: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, Tiered)>, PricingError> {
    type LevelPriceRow = (Uuid, Uuid, Decimal, Vec<Decimal>, Vec<Decimal>);
    let rows: Vec<LevelPriceRow> = sqlx::query_as(
        "SELECT level_id, product_id, price, break_minimums, break_prices FROM pricing.level_prices WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(level_id, product_id, price, minimums, prices)| {
            Ok((level_id, product_id, tiered(price, minimums, prices)?))
        })
        .collect()
}

/// Every product of the tenant.
pub async fn products(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<Product>, PricingError> {
    let rows: Vec<ProductRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRODUCT_COLUMNS} FROM pricing.products WHERE tenant_id = $1"
    )))
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Product::try_from).collect()
}
