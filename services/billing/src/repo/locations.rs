//! Locations, the stock on hand at each, and the accounts assigned to
//! them. Stock rows are locked (in product order, so racing orders never
//! deadlock) before what is taken is decided; the table's check keeps
//! stock from going below zero whatever happens.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::BillingError;
use crate::domain::location::{Location, LocationKind};
use crate::domain::order::{Order, OrderState};

#[derive(sqlx::FromRow)]
struct LocationRow {
    id: Uuid,
    code: String,
    name: String,
    kind: String,
    surcharge: Option<Decimal>,
    surcharge_currency: Option<String>,
    created_at: DateTime<Utc>,
}

impl LocationRow {
    fn location(self) -> Result<Location, BillingError> {
        Ok(Location {
            id: self.id,
            kind: LocationKind::from_code(&self.kind).ok_or_else(|| corrupt("location kind", &self.kind))?,
            code: self.code,
            name: self.name,
            surcharge: self.surcharge.zip(self.surcharge_currency),
            created_at: self.created_at,
        })
    }
}

macro_rules! location_columns {
    () => {
        "l.id, l.code, l.name, l.kind, l.surcharge, l.surcharge_currency, l.created_at"
    };
}

/// Stores a new location; false when its code is taken.
pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, location: &Location) -> Result<bool, BillingError> {
    let (surcharge, currency) = location.surcharge.clone().unzip();
    let inserted = sqlx::query(
        "INSERT INTO billing.locations (tenant_id, id, code, name, kind, surcharge, surcharge_currency, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, code) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(location.id)
    .bind(&location.code)
    .bind(&location.name)
    .bind(location.kind.code())
    .bind(surcharge)
    .bind(currency)
    .bind(location.created_at)
    .execute(tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// The tenant's locations by code after `after` (only `account_id`'s when
/// given).
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Location>, BillingError> {
    let rows: Vec<LocationRow> = sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        " FROM billing.locations l
         WHERE l.tenant_id = $1 AND ($2::text IS NULL OR l.code > $2)
           AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM billing.account_locations a
               WHERE a.tenant_id = l.tenant_id AND a.location_id = l.id AND a.account_id = $3))
         ORDER BY l.code LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(account_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(LocationRow::location).collect()
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<Location>, BillingError> {
    let row: Option<LocationRow> = sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        " FROM billing.locations l WHERE l.tenant_id = $1 AND l.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(LocationRow::location).transpose()
}

#[derive(sqlx::FromRow)]
struct AssignedRow {
    #[sqlx(flatten)]
    location: LocationRow,
    is_primary: bool,
}

/// An account's locations, primary first, then by code; each with whether
/// it is the primary one.
pub async fn of_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<(Location, bool)>, BillingError> {
    let rows: Vec<AssignedRow> = sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        ", a.is_primary FROM billing.account_locations a
         JOIN billing.locations l ON l.tenant_id = a.tenant_id AND l.id = a.location_id
         WHERE a.tenant_id = $1 AND a.account_id = $2
         ORDER BY a.is_primary DESC, l.code"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(|row| Ok((row.location.location()?, row.is_primary))).collect()
}

/// The location an account's order ships from: `chosen` when the account
/// is assigned to it (none otherwise: the caller says NOT_FOUND), else the
/// account's primary location, else none.
pub async fn shipping_location(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    chosen: Option<Uuid>,
) -> Result<Option<Location>, BillingError> {
    let row: Option<LocationRow> = sqlx::query_as(concat!(
        "SELECT ",
        location_columns!(),
        " FROM billing.account_locations a
         JOIN billing.locations l ON l.tenant_id = a.tenant_id AND l.id = a.location_id
         WHERE a.tenant_id = $1 AND a.account_id = $2 AND (a.location_id = $3 OR ($3::uuid IS NULL AND a.is_primary))"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(chosen)
    .fetch_optional(connection)
    .await?;
    row.map(LocationRow::location).transpose()
}

/// Assigns an account to a location, its primary one when `primary` (a
/// new primary one ends the previous one's); the account's locations are
/// locked ([`lock_account`]).
pub async fn assign(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    location_id: Uuid,
    primary: bool,
) -> Result<(), BillingError> {
    if primary {
        sqlx::query(
            "UPDATE billing.account_locations SET is_primary = false
             WHERE tenant_id = $1 AND account_id = $2 AND is_primary AND location_id <> $3",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(location_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO billing.account_locations (tenant_id, account_id, location_id, is_primary)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, account_id, location_id) DO UPDATE SET is_primary = EXCLUDED.is_primary",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(location_id)
    .bind(primary)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Takes an account off a location (its locations locked by
/// [`lock_account`]); whether it was on it and primary.
pub async fn remove(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    location_id: Uuid,
) -> Result<Option<bool>, BillingError> {
    Ok(sqlx::query_scalar(
        "DELETE FROM billing.account_locations WHERE tenant_id = $1 AND account_id = $2 AND location_id = $3
         RETURNING is_primary",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(location_id)
    .fetch_optional(tx)
    .await?)
}

/// Serializes changes to one account's locations (a transaction-scoped
/// advisory lock: the account may have no row to lock yet).
pub async fn lock_account(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), BillingError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/locations/' || $2::text, 0))")
        .bind(tenant_id)
        .bind(account_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Serializes, per product at a location, taking stock for new orders and
/// receiving it (transaction-scoped advisory locks, `products` sorted).
pub async fn lock_products(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    products: &[String],
) -> Result<(), BillingError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/stock/' || $2::text || '/' || p, 0))
         FROM unnest($3::text[]) WITH ORDINALITY AS t(p, n) ORDER BY n",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(products)
    .execute(tx)
    .await?;
    Ok(())
}

/// Locks the stock of `products` at a location, in product order; the
/// quantity on hand of each that has stock recorded there.
pub async fn lock_stock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    products: &[String],
) -> Result<Vec<(String, Decimal)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT product_id, quantity FROM billing.stock
         WHERE tenant_id = $1 AND location_id = $2 AND product_id = ANY($3)
         ORDER BY product_id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(products)
    .fetch_all(tx)
    .await?)
}

/// Adds `changes` (product, quantity: negative takes) to the stock of
/// products recorded at a location (locked by [`lock_stock`]).
pub async fn change_stock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    changes: &[(String, Decimal)],
) -> Result<(), BillingError> {
    if changes.is_empty() {
        return Ok(());
    }
    let (products, quantities): (Vec<String>, Vec<Decimal>) = changes.iter().cloned().unzip();
    sqlx::query(
        "UPDATE billing.stock s SET quantity = s.quantity + c.quantity, updated_at = now()
         FROM (SELECT product_id, sum(quantity) AS quantity FROM unnest($3::text[], $4::numeric[])
               AS c(product_id, quantity) GROUP BY product_id) c
         WHERE s.tenant_id = $1 AND s.location_id = $2 AND s.product_id = c.product_id",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(&products)
    .bind(&quantities)
    .execute(tx)
    .await?;
    Ok(())
}

/// A product's stock at a location.
#[derive(sqlx::FromRow, Clone, Debug)]
pub struct StockRow {
    pub location_id: Uuid,
    pub product_id: String,
    pub product_code: String,
    pub quantity: Decimal,
    pub updated_at: DateTime<Utc>,
}

/// Records a product's stock at a location if it has none yet, and locks
/// it; the quantity on hand.
pub async fn lock_product_stock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    (product_id, product_code): (&str, &str),
) -> Result<Decimal, BillingError> {
    sqlx::query(
        "INSERT INTO billing.stock (tenant_id, location_id, product_id, product_code, quantity)
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (tenant_id, location_id, product_id) DO NOTHING",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(product_id)
    .bind(product_code)
    .execute(&mut *tx)
    .await?;
    let locked = lock_stock(tx, tenant_id, location_id, &[product_id.to_owned()]).await?;
    Ok(locked.first().map(|(_, quantity)| *quantity).unwrap_or_default())
}

/// A product's stock at a location, as it is now.
pub async fn stock_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    product_id: &str,
) -> Result<Option<StockRow>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT location_id, product_id, product_code, quantity, updated_at FROM billing.stock
         WHERE tenant_id = $1 AND location_id = $2 AND product_id = $3",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(product_id)
    .fetch_optional(connection)
    .await?)
}

/// The stock at a location by product code, after `after`.
pub async fn stock(
    db: &PgPool,
    tenant_id: Uuid,
    location_id: Uuid,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<StockRow>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT location_id, product_id, product_code, quantity, updated_at FROM billing.stock
         WHERE tenant_id = $1 AND location_id = $2 AND ($3::text IS NULL OR product_code > $3)
         ORDER BY product_code LIMIT $4",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// The executed orders shipping from a location that wait for a product,
/// oldest first, locked (before any stock row: orders, then stock, in
/// every transaction that takes both).
pub async fn lock_waiting_orders(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    product_id: &str,
) -> Result<Vec<Order>, BillingError> {
    let docs: Vec<Json<Order>> = sqlx::query_scalar(
        "SELECT doc FROM billing.orders
         WHERE tenant_id = $1 AND location_id = $2 AND back_ordered AND status = $3
           AND doc->'lines' @> jsonb_build_array(jsonb_build_object('product_id', $4::text))
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(location_id)
    .bind(OrderState::Executed.code())
    .bind(product_id)
    .fetch_all(tx)
    .await?;
    Ok(docs.into_iter().map(|Json(order)| order).collect())
}
