//! Pricelists and their items.

use bss_platform::error::violated_constraint;
use bss_platform::paging::Page;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{break_columns, corrupt, currency, tiered};
use crate::domain::book::Dated;
use crate::domain::catalog::{PricelistKind, PricelistRecord, default_rate_plan, overlaps};
use crate::domain::error::PricingError;

type PricelistRow = (Uuid, String, String, String, bool);

const PRICELIST_COLUMNS: &str = "id, name, currency, kind, master";
type ItemRow = (Uuid, Uuid, Uuid, Decimal, Vec<Decimal>, Vec<Decimal>, NaiveDate, Option<NaiveDate>);

fn pricelist(row: PricelistRow, items: Vec<(Uuid, Dated)>) -> Result<PricelistRecord, PricingError> {
    let (id, name, currency_code, kind, master) = row;
    Ok(PricelistRecord {
        id,
        name,
        currency: currency(&currency_code)?,
        kind: PricelistKind::from_stored(&kind).ok_or_else(|| corrupt("pricelist kind", &kind))?,
        master,
        default_rate_plan: false,
        items,
    })
}

/// (pricelist, product, item)
fn item(row: ItemRow) -> Result<(Uuid, Uuid, Dated), PricingError> {
    let (id, pricelist_id, product_id, price, minimums, prices, from, to) = row;
    Ok((pricelist_id, product_id, Dated { id, price: tiered(price, minimums, prices)?, from, to }))
}

const ITEM_COLUMNS: &str = "id, pricelist_id, product_id, price, break_minimums, break_prices, valid_from, valid_to";

pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, record: &PricelistRecord) -> Result<(), PricingError> {
    sqlx::query("INSERT INTO pricing.pricelists (tenant_id, id, name, currency, kind) VALUES ($1, $2, $3, $4, $5)")
        .bind(tenant_id)
        .bind(record.id)
        .bind(&record.name)
        .bind(record.currency.code)
        .bind(record.kind.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|error| match violated_constraint(&error) {
            Some("pricelists_name_key") => PricingError::AlreadyExists {
                reason: "PRICELIST_NAME_TAKEN",
                description: format!("a pricelist named {:?} exists already", record.name),
            },
            _ => error.into(),
        })?;
    for (product_id, dated) in &record.items {
        insert_item(tx, tenant_id, record.id, *product_id, dated).await?;
    }
    Ok(())
}

/// Adds an item, refusing one whose validity overlaps another item of the
/// same product in the pricelist (the caller holds the book lock).
pub async fn add_item(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    pricelist_id: Uuid,
    product_id: Uuid,
    dated: &Dated,
) -> Result<(), PricingError> {
    let existing = items_of(tx, tenant_id, pricelist_id, Some(product_id)).await?;
    if let Some((_, clash)) = existing.iter().find(|(_, other)| overlaps(other.validity(), dated.validity())) {
        return Err(PricingError::Invalid(bss_platform::error::Violations::single(
            "item.valid_from",
            format!("overlaps item {} of the same product ({} to {})", clash.id, clash.from, describe_end(clash.to)),
        )));
    }
    insert_item(tx, tenant_id, pricelist_id, product_id, dated).await
}

fn describe_end(to: Option<NaiveDate>) -> String {
    to.map_or_else(|| "open-ended".to_owned(), |to| to.to_string())
}

async fn insert_item(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    pricelist_id: Uuid,
    product_id: Uuid,
    dated: &Dated,
) -> Result<(), PricingError> {
    let (minimums, prices) = break_columns(&dated.price);
    sqlx::query(
        "INSERT INTO pricing.pricelist_items
            (tenant_id, id, pricelist_id, product_id, price, break_minimums, break_prices, valid_from, valid_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant_id)
    .bind(dated.id)
    .bind(pricelist_id)
    .bind(product_id)
    .bind(dated.price.base)
    .bind(minimums)
    .bind(prices)
    .bind(dated.from)
    .bind(dated.to)
    .execute(tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("pricelist_items_product_fkey") => PricingError::not_found("product", product_id),
        Some("pricelist_items_pricelist_fkey") => PricingError::not_found("pricelist", pricelist_id),
        _ => error.into(),
    })?;
    Ok(())
}

async fn items_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    pricelist_id: Uuid,
    product_id: Option<Uuid>,
) -> Result<Vec<(Uuid, Dated)>, PricingError> {
    let rows: Vec<ItemRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM pricing.pricelist_items
         WHERE tenant_id = $1 AND pricelist_id = $2 AND ($3::uuid IS NULL OR product_id = $3)
         ORDER BY product_id, valid_from"
    )))
    .bind(tenant_id)
    .bind(pricelist_id)
    .bind(product_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(|row| item(row).map(|(_, product_id, dated)| (product_id, dated))).collect()
}

/// A pricelist with its items; `lock` takes it for update.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<PricelistRecord, PricingError> {
    let row: Option<PricelistRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICELIST_COLUMNS} FROM pricing.pricelists WHERE tenant_id = $1 AND id = $2{}",
        if lock { " FOR UPDATE" } else { "" }
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *connection)
    .await?;
    let row = row.ok_or_else(|| PricingError::not_found("pricelist", id))?;
    let items = items_of(connection, tenant_id, id, None).await?;
    pricelist(row, items)
}

/// A page of pricelists by name, without their items.
pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    page: &Page,
) -> Result<(Vec<PricelistRecord>, String), PricingError> {
    let after = page.after_text()?;
    let rows: Vec<PricelistRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICELIST_COLUMNS} FROM pricing.pricelists
         WHERE tenant_id = $1 AND ($2::text IS NULL OR name COLLATE \"C\" > $2) ORDER BY name COLLATE \"C\" LIMIT $3"
    )))
    .bind(tenant_id)
    .bind(after)
    .bind(page.fetch_limit())
    .fetch_all(connection)
    .await?;
    let pricelists = rows.into_iter().map(|row| pricelist(row, Vec::new())).collect::<Result<Vec<_>, _>>()?;
    Ok(page.finish(pricelists, |pricelist| pricelist.name.as_bytes().to_vec()))
}

/// Marks `id` as the tenant's master rate plan (unmarking any other), or
/// clears the mark with `None` (the caller holds the book lock).
pub async fn set_master(tx: &mut PgConnection, tenant_id: Uuid, id: Option<Uuid>) -> Result<(), PricingError> {
    sqlx::query(
        "UPDATE pricing.pricelists SET master = false WHERE tenant_id = $1 AND master AND id IS DISTINCT FROM $2",
    )
    .bind(tenant_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if let Some(id) = id {
        sqlx::query("UPDATE pricing.pricelists SET master = true WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The tenant's rate plans, and its default rate plan
/// ([`default_rate_plan`]).
pub async fn rate_plans(
    connection: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<(Vec<Uuid>, Option<Uuid>), PricingError> {
    let rows: Vec<(Uuid, String, bool)> =
        sqlx::query_as("SELECT id, name, master FROM pricing.pricelists WHERE tenant_id = $1 AND kind = 'rate_plan'")
            .bind(tenant_id)
            .fetch_all(connection)
            .await?;
    let default =
        default_rate_plan(rows.iter().map(|(id, name, master)| (*id, name.as_str(), PricelistKind::RatePlan, *master)));
    Ok((rows.into_iter().map(|(id, _, _)| id).collect(), default))
}

/// Deletes an item; `false` when there was none.
pub async fn delete_item(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, PricingError> {
    let deleted = sqlx::query("DELETE FROM pricing.pricelist_items WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(tx)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// Every pricelist of the tenant with its items.
pub async fn all(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<PricelistRecord>, PricingError> {
    let rows: Vec<PricelistRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PRICELIST_COLUMNS} FROM pricing.pricelists WHERE tenant_id = $1"
    )))
    .bind(tenant_id)
    .fetch_all(&mut *connection)
    .await?;
    let items: Vec<ItemRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM pricing.pricelist_items WHERE tenant_id = $1 ORDER BY valid_from"
    )))
    .bind(tenant_id)
    .fetch_all(connection)
    .await?;
    let mut by_pricelist: std::collections::HashMap<Uuid, Vec<(Uuid, Dated)>> = std::collections::HashMap::new();
    for row in items {
        let (pricelist_id, product_id, dated) = item(row)?;
        by_pricelist.entry(pricelist_id).or_default().push((product_id, dated));
    }
    rows.into_iter()
        .map(|row| {
            let items = by_pricelist.remove(&row.0).unwrap_or_default();
            pricelist(row, items)
        })
        .collect()
}
