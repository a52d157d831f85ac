//! A tenant's whole price book, read in one consistent snapshot.

use std::collections::HashMap;

use sqlx::PgPool;
use uuid::Uuid;

use super::{account_pricing, catalog, contracts, pricelists, rates};
use crate::domain::book::{PriceBook, Pricelist};
use crate::domain::catalog::{PricelistKind, default_rate_plan};
use crate::domain::error::PricingError;

/// The tenant's book version (0 before its first pricing write).
pub async fn version(connection: impl sqlx::PgExecutor<'_>, tenant_id: Uuid) -> Result<i64, PricingError> {
    Ok(sqlx::query_scalar("SELECT coalesce((SELECT version FROM pricing.book_versions WHERE tenant_id = $1), 0)")
        .bind(tenant_id)
        .fetch_one(connection)
        .await?)
}

/// Every tenant's book version (tenants with none are at 0).
pub async fn versions(pool: &PgPool) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT tenant_id, version FROM pricing.book_versions").fetch_all(pool).await
}

/// The tenant's book and the version it was read at.
pub async fn load(pool: &PgPool, tenant_id: Uuid) -> Result<(i64, PriceBook), PricingError> {
    let mut tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
    let version = version(&mut *tx, tenant_id).await?;

    let mut book = PriceBook::default();
    for product in catalog::products(&mut tx, tenant_id).await? {
        book.product_codes.insert(product.code.clone(), product.id);
        book.products.insert(product.id, product);
    }
    for level in catalog::levels(&mut tx, tenant_id, None, i64::MAX).await? {
        book.level_currencies.insert(level.id, level.currency);
    }
    for (level_id, product_id, price) in catalog::level_prices(&mut tx, tenant_id).await? {
        book.level_prices.insert((level_id, product_id), price);
    }
    let records = pricelists::all(&mut tx, tenant_id).await?;
    book.default_rate_plan =
        default_rate_plan(records.iter().map(|record| (record.id, record.name.as_str(), record.kind, record.master)));
    for record in records {
        let mut items: HashMap<Uuid, Vec<_>> = HashMap::new();
        for (product_id, dated) in record.items {
            items.entry(product_id).or_default().push(dated);
        }
        let rate_plan = record.kind == PricelistKind::RatePlan;
        book.pricelists.insert(record.id, Pricelist { currency: record.currency, rate_plan, items });
    }
    book.account_pricing = account_pricing::all(&mut tx, tenant_id).await?.into_iter().collect();
    for price in account_pricing::all_prices(&mut tx, tenant_id).await? {
        book.account_prices.entry(price.account_id).or_default().push(price);
    }
    for record in contracts::list(&mut tx, tenant_id, None).await? {
        for account_id in record.account_ids {
            book.contracts_of_account.entry(account_id).or_default().push(record.contract.id);
        }
        book.contracts.insert(record.contract.id, record.contract);
    }
    for rate in rates::all(&mut tx, tenant_id).await? {
        book.rates.entry((rate.from.code, rate.to.code)).or_default().push((rate.effective, rate.rate));
    }
    tx.commit().await?;
    Ok((version, book))
}
