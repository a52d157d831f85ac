//! Assets and their history. Moving assets is a conditional update (only
//! an asset still held, and for a return one sold by the tenant), so two
//! racing moves never both apply; a serial number's uniqueness per product
//! is the table's.

use bss_platform::error::violated_constraint;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use crate::domain::asset::{Asset, AssetEvent, AssetStatus, EventKind};
use crate::domain::error::BillingError;

#[derive(sqlx::FromRow)]
struct AssetRow {
    id: Uuid,
    account_id: Uuid,
    bought_by: Option<Uuid>,
    order_id: Option<Uuid>,
    line_number: Option<i32>,
    product_id: String,
    product_code: String,
    quantity: Decimal,
    traceable: bool,
    serial_number: Option<String>,
    warranty_end: Option<NaiveDate>,
    customer_owned: bool,
    status: String,
    location_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AssetRow> for Asset {
    type Error = BillingError;

    fn try_from(row: AssetRow) -> Result<Asset, BillingError> {
        Ok(Asset {
            status: AssetStatus::from_code(&row.status).ok_or_else(|| corrupt("asset status", &row.status))?,
            id: row.id,
            account_id: row.account_id,
            bought_by: row.bought_by,
            order_line: row.order_id.zip(row.line_number),
            product_id: row.product_id,
            product_code: row.product_code,
            quantity: row.quantity,
            traceable: row.traceable,
            serial_number: row.serial_number,
            warranty_end: row.warranty_end,
            customer_owned: row.customer_owned,
            location_id: row.location_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

macro_rules! asset_columns {
    () => {
        "a.id, a.account_id, a.bought_by, a.order_id, a.line_number, a.product_id, a.product_code, a.quantity, \
         a.traceable, a.serial_number, a.warranty_end, a.customer_owned, a.status, a.location_id, a.created_at, \
         a.updated_at"
    };
}

fn assets(rows: Vec<AssetRow>) -> Result<Vec<Asset>, BillingError> {
    rows.into_iter().map(Asset::try_from).collect()
}

/// Stores new assets (and their first history entries).
pub async fn insert(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    new: &[Asset],
    events: &[AssetEvent],
) -> Result<(), BillingError> {
    if new.is_empty() {
        return Ok(());
    }
    let column = |pick: fn(&Asset) -> Option<String>| new.iter().map(pick).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO billing.assets
             (tenant_id, id, account_id, bought_by, order_id, line_number, product_id, product_code, quantity,
              traceable, serial_number, warranty_end, customer_owned, status, created_at, updated_at)
         SELECT $1, a.id, a.account_id, a.bought_by, a.order_id, a.line_number, a.product_id, a.product_code,
             a.quantity, a.traceable, a.serial_number, a.warranty_end, a.customer_owned, 'ACTIVE', now(), now()
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int[], $7::text[], $8::text[],
             $9::numeric[], $10::bool[], $11::text[], $12::date[], $13::bool[])
             AS a(id, account_id, bought_by, order_id, line_number, product_id, product_code, quantity, traceable,
                  serial_number, warranty_end, customer_owned)",
    )
    .bind(tenant_id)
    .bind(new.iter().map(|asset| asset.id).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.account_id).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.bought_by).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.order_line.map(|(order, _)| order)).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.order_line.map(|(_, line)| line)).collect::<Vec<_>>())
    .bind(column(|asset| Some(asset.product_id.clone())))
    .bind(column(|asset| Some(asset.product_code.clone())))
    .bind(new.iter().map(|asset| asset.quantity).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.traceable).collect::<Vec<_>>())
    .bind(column(|asset| asset.serial_number.clone()))
    .bind(new.iter().map(|asset| asset.warranty_end).collect::<Vec<_>>())
    .bind(new.iter().map(|asset| asset.customer_owned).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .map_err(serial_taken)?;
    record(tx, tenant_id, events).await
}

/// ALREADY_EXISTS SERIAL_TAKEN for a serial number another asset of the
/// product has.
fn serial_taken(error: sqlx::Error) -> BillingError {
    match violated_constraint(&error) {
        Some("assets_serial_key") => BillingError::AlreadyExists {
            reason: "SERIAL_TAKEN",
            description: "another asset of the product has this serial number".to_owned(),
        },
        _ => error.into(),
    }
}

/// Adds entries to assets' histories.
pub async fn record(tx: &mut PgConnection, tenant_id: Uuid, events: &[AssetEvent]) -> Result<(), BillingError> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO billing.asset_events
             (tenant_id, asset_id, kind, from_account_id, to_account_id, location_id, reason, actor, created_at)
         SELECT $1, e.asset_id, e.kind, e.from_account_id, e.to_account_id, e.location_id, e.reason, e.actor,
             clock_timestamp()
         FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[], $8::text[])
             WITH ORDINALITY AS e(asset_id, kind, from_account_id, to_account_id, location_id, reason, actor, n)
         ORDER BY e.n",
    )
    .bind(tenant_id)
    .bind(events.iter().map(|event| event.asset_id).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.kind.code()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.from_account).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.to_account).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.location_id).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.reason.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.actor.as_str()).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// An asset; `lock` takes it for update.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<Asset>, BillingError> {
    let row: Option<AssetRow> = match lock {
        true => sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM billing.assets a WHERE a.tenant_id = $1 AND a.id = $2 FOR UPDATE"
        )),
        false => sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM billing.assets a WHERE a.tenant_id = $1 AND a.id = $2"
        )),
    }
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    row.map(Asset::try_from).transpose()
}

/// Assets by id, in id order; `lock` takes them for update (in id order,
/// as every transaction moving several takes them). The ones not found
/// are left out.
pub async fn by_ids(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
    lock: bool,
) -> Result<Vec<Asset>, BillingError> {
    let rows: Vec<AssetRow> = match lock {
        true => sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM billing.assets a WHERE a.tenant_id = $1 AND a.id = ANY($2) ORDER BY a.id FOR UPDATE"
        )),
        false => sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM billing.assets a WHERE a.tenant_id = $1 AND a.id = ANY($2) ORDER BY a.id"
        )),
    }
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?;
    assets(rows)
}

/// An order's assets, locked in id order.
pub async fn lock_of_order(tx: &mut PgConnection, tenant_id: Uuid, order_id: Uuid) -> Result<Vec<Asset>, BillingError> {
    let rows: Vec<AssetRow> = sqlx::query_as(concat!(
        "SELECT ",
        asset_columns!(),
        " FROM billing.assets a WHERE a.tenant_id = $1 AND a.order_id = $2 ORDER BY a.id FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(order_id)
    .fetch_all(tx)
    .await?;
    assets(rows)
}

/// An order's assets, unlocked.
pub async fn of_order(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    order_id: Uuid,
) -> Result<Vec<Asset>, BillingError> {
    let rows: Vec<AssetRow> = sqlx::query_as(concat!(
        "SELECT ",
        asset_columns!(),
        " FROM billing.assets a WHERE a.tenant_id = $1 AND a.order_id = $2 ORDER BY a.id"
    ))
    .bind(tenant_id)
    .bind(order_id)
    .fetch_all(connection)
    .await?;
    assets(rows)
}

/// Records a serial number (SERIAL_TAKEN when another asset of the
/// product has it); the asset as it is now.
pub async fn set_serial(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid, serial: &str) -> Result<Asset, BillingError> {
    let row: AssetRow = sqlx::query_as(concat!(
        "UPDATE billing.assets a SET serial_number = $3, updated_at = now()
         WHERE a.tenant_id = $1 AND a.id = $2 RETURNING ",
        asset_columns!()
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(serial)
    .fetch_one(tx)
    .await
    .map_err(serial_taken)?;
    row.try_into()
}

/// Moves a held asset to account `to`; the asset as it is now, `None`
/// when it was not held (or `to` holds it).
pub async fn transfer(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    to: Uuid,
) -> Result<Option<Asset>, BillingError> {
    let row: Option<AssetRow> = sqlx::query_as(concat!(
        "UPDATE billing.assets a SET account_id = $3, updated_at = now()
         WHERE a.tenant_id = $1 AND a.id = $2 AND a.status = 'ACTIVE' AND a.account_id <> $3 RETURNING ",
        asset_columns!()
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(to)
    .fetch_optional(tx)
    .await?;
    row.map(Asset::try_from).transpose()
}

/// Ends held assets (`status` RETURNED, at `location_id`, for assets the
/// tenant sold; CANCELLED for an order's assets its buyer still holds);
/// the assets as they are now, in id order. Only assets that may end so
/// change: the caller compares the count with what it asked.
pub async fn end(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
    (status, location_id): (AssetStatus, Option<Uuid>),
) -> Result<Vec<Asset>, BillingError> {
    let rows: Vec<AssetRow> = sqlx::query_as(concat!(
        "UPDATE billing.assets a SET status = $3, location_id = $4, updated_at = now()
         WHERE a.tenant_id = $1 AND a.id = ANY($2) AND a.status = 'ACTIVE' AND NOT a.customer_owned
           AND ($3 <> 'CANCELLED' OR a.account_id = a.bought_by)
         RETURNING ",
        asset_columns!()
    ))
    .bind(tenant_id)
    .bind(ids)
    .bind(status.code())
    .bind(location_id)
    .fetch_all(tx)
    .await?;
    let mut ended = assets(rows)?;
    ended.sort_by_key(|asset| asset.id);
    Ok(ended)
}

/// The assets an account holds (with `include_past`, also the ones its
/// history names), by id after `after`: each with whether it holds it now.
/// Two statements rather than one with an OR, so each reads its index.
pub async fn of_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    include_past: bool,
    (after, limit): (Option<Uuid>, i64),
) -> Result<Vec<(Asset, bool)>, BillingError> {
    #[derive(sqlx::FromRow)]
    struct Listed {
        #[sqlx(flatten)]
        asset: AssetRow,
        current: bool,
    }
    let query = match include_past {
        false => sqlx::query_as::<_, Listed>(concat!(
            "SELECT ",
            asset_columns!(),
            ", true AS current FROM billing.assets a
             WHERE a.tenant_id = $1 AND a.account_id = $2 AND a.status = 'ACTIVE' AND ($3::uuid IS NULL OR a.id > $3)
             ORDER BY a.id LIMIT $4"
        )),
        true => sqlx::query_as::<_, Listed>(concat!(
            "SELECT ",
            asset_columns!(),
            ", (a.account_id = $2 AND a.status = 'ACTIVE') AS current FROM billing.assets a
             WHERE a.tenant_id = $1 AND ($3::uuid IS NULL OR a.id > $3) AND a.id IN (
                 SELECT id FROM billing.assets WHERE tenant_id = $1 AND account_id = $2
                 UNION
                 SELECT asset_id FROM billing.asset_events WHERE tenant_id = $1 AND from_account_id = $2
                 UNION
                 SELECT asset_id FROM billing.asset_events WHERE tenant_id = $1 AND to_account_id = $2)
             ORDER BY a.id LIMIT $4"
        )),
    };
    let rows = query.bind(tenant_id).bind(account_id).bind(after).bind(limit).fetch_all(connection).await?;
    rows.into_iter().map(|row| Ok((Asset::try_from(row.asset)?, row.current))).collect()
}

/// An asset's history, oldest first.
pub async fn history(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    asset_id: Uuid,
) -> Result<Vec<AssetEvent>, BillingError> {
    type Row = (String, Option<Uuid>, Option<Uuid>, Option<Uuid>, String, String, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT kind, from_account_id, to_account_id, location_id, reason, actor, created_at
         FROM billing.asset_events WHERE tenant_id = $1 AND asset_id = $2 ORDER BY seq",
    )
    .bind(tenant_id)
    .bind(asset_id)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(kind, from_account, to_account, location_id, reason, actor, created_at)| {
            Ok(AssetEvent {
                asset_id,
                kind: EventKind::from_code(&kind).ok_or_else(|| corrupt("asset event", &kind))?,
                from_account,
                to_account,
                location_id,
                reason,
                actor,
                created_at,
            })
        })
        .collect()
}
