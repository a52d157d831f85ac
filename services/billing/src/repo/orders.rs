//! Orders in billing's own terms: each order a JSON document of
//! [`Order`] (amounts as exact decimal strings), its state by billing's own
//! code, and the columns lookups need (account, held order, whether it has
//! a back order). The charges an order leaves waiting to ship are here too.

use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::order::{Order, OrderState};

/// Stores a new order.
pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, order: &Order) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.orders (tenant_id, id, account_id, status, doc, held_order_id, back_ordered, location_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(order.id)
    .bind(order.account_id)
    .bind(order.state.code())
    .bind(Json(order))
    .bind(order.held_order_id)
    .bind(order.back_ordered())
    .bind(order.location_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Stores what changed of an order (locked by [`lock`]).
pub async fn save(tx: &mut PgConnection, tenant_id: Uuid, order: &Order) -> Result<(), BillingError> {
    save_all(tx, tenant_id, std::slice::from_ref(order)).await
}

/// Saves several orders in one statement.
pub async fn save_all(tx: &mut PgConnection, tenant_id: Uuid, orders: &[Order]) -> Result<(), BillingError> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|order| order.id).collect();
    let docs: Vec<Json<&Order>> = orders.iter().map(Json).collect();
    let states: Vec<&str> = orders.iter().map(|order| order.state.code()).collect();
    let back_ordered: Vec<bool> = orders.iter().map(Order::back_ordered).collect();
    sqlx::query(
        "UPDATE billing.orders o SET doc = s.doc, status = s.status, back_ordered = s.back_ordered, body = NULL
         FROM unnest($2::uuid[], $3::jsonb[], $4::text[], $5::bool[]) AS s(id, doc, status, back_ordered)
         WHERE o.tenant_id = $1 AND o.id = s.id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(&docs)
    .bind(&states)
    .bind(&back_ordered)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<Order>, BillingError> {
    let doc: Option<Json<Order>> =
        sqlx::query_scalar("SELECT doc FROM billing.orders WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(doc.map(|Json(order)| order))
}

/// The order, locked for the rest of the transaction.
pub async fn lock(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<Order>, BillingError> {
    let doc: Option<Json<Order>> =
        sqlx::query_scalar("SELECT doc FROM billing.orders WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(tx)
            .await?;
    Ok(doc.map(|Json(order)| order))
}

/// The order waiting for credit's decision on a held order, locked.
pub async fn lock_held(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<Order>, BillingError> {
    let doc: Option<Json<Order>> = sqlx::query_scalar(
        "SELECT doc FROM billing.orders WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(OrderState::HeldForApproval.code())
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(order)| order))
}

/// An account's orders (only those with a back order when asked), oldest
/// first, after `after` when given.
pub async fn of_account(
    db: &PgPool,
    tenant_id: Uuid,
    account_id: Uuid,
    back_ordered_only: bool,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Order>, BillingError> {
    let docs: Vec<Json<Order>> = sqlx::query_scalar(
        "SELECT doc FROM billing.orders WHERE tenant_id = $1 AND account_id = $2 AND (back_ordered OR NOT $3)
           AND ($4::uuid IS NULL OR id > $4) ORDER BY id LIMIT $5",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(back_ordered_only)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(docs.into_iter().map(|Json(order)| order).collect())
}

/// An invoice that bills a charge of the order, if any does.
pub async fn invoice_of(tx: &mut PgConnection, tenant_id: Uuid, order_id: Uuid) -> Result<Option<Uuid>, BillingError> {
    Ok(sqlx::query_scalar(
        "SELECT invoice_id FROM billing.charges
         WHERE tenant_id = $1 AND order_id = $2 AND invoice_id IS NOT NULL LIMIT 1",
    )
    .bind(tenant_id)
    .bind(order_id)
    .fetch_optional(tx)
    .await?)
}

/// The back-ordered charge of an order line, waiting to ship.
#[derive(sqlx::FromRow)]
pub struct WaitingCharge {
    pub id: Uuid,
    pub bill_to_account_id: Uuid,
    pub currency: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
}

/// The waiting charge of an order's line, locked.
pub async fn waiting_charge(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    order_id: Uuid,
    line_number: i32,
) -> Result<Option<WaitingCharge>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT id, bill_to_account_id, currency, quantity, unit_price, total FROM billing.charges
         WHERE tenant_id = $1 AND order_id = $2 AND order_line = $3 AND charge_date IS NULL FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(order_id)
    .bind(line_number)
    .fetch_optional(tx)
    .await?)
}

impl WaitingCharge {
    /// Ships `quantity` of it for `shipped` (billable from today), leaving
    /// the rest waiting for `rest`; all of it when nothing is left.
    pub async fn ship(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        quantity: Decimal,
        shipped: Decimal,
        rest: Decimal,
    ) -> Result<(), BillingError> {
        if quantity >= self.quantity {
            sqlx::query!(
                "UPDATE billing.charges SET charge_date = current_date WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                self.id,
            )
            .execute(tx)
            .await?;
            return Ok(());
        }
        sqlx::query!(
            "INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, order_id,
                 order_reference, order_line, product_id, description, currency, quantity, unit_price, total,
                 charge_date, price_rule, price_source_id, priced_on, price_note)
             SELECT tenant_id, $3, account_id, bill_to_account_id, separate, order_id, order_reference, order_line,
                 product_id, description, currency, $4, unit_price, $5, current_date, price_rule, price_source_id,
                 priced_on, price_note
             FROM billing.charges WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            self.id,
            Uuid::now_v7(),
            quantity,
            shipped,
        )
        .execute(&mut *tx)
        .await?;
        self.keep(tx, tenant_id, self.quantity - quantity, rest).await
    }

    /// Leaves `quantity` of it waiting, for `total`; drops it when nothing
    /// is left.
    pub async fn keep(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        quantity: Decimal,
        total: Decimal,
    ) -> Result<(), BillingError> {
        if quantity <= Decimal::ZERO {
            sqlx::query!("DELETE FROM billing.charges WHERE tenant_id = $1 AND id = $2", tenant_id, self.id)
                .execute(tx)
                .await?;
            return Ok(());
        }
        sqlx::query!(
            "UPDATE billing.charges SET quantity = $3, total = $4 WHERE tenant_id = $1 AND id = $2",
            tenant_id,
            self.id,
            quantity,
            total,
        )
        .execute(tx)
        .await?;
        Ok(())
    }
}
