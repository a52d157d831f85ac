//! Reservations of credit for orders.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservationRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub order_reference: String,
    pub amount: Decimal,
    /// What is still held (zero once closed).
    pub open_amount: Decimal,
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// `None`: kept until invoiced or cancelled.
    pub expires_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub(super) fn reservation_from_row(row: &PgRow) -> ReservationRow {
    ReservationRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        order_reference: row.get("order_reference"),
        amount: row.get("amount"),
        open_amount: row.get("open_amount"),
        state: row.get("state"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        closed_at: row.get("closed_at"),
    }
}

/// A reservation of `amount` for an order; it expires after `ttl_seconds`
/// (`None`: it is kept until invoiced or cancelled).
pub async fn insert_reservation(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    order_reference: &str,
    amount: Decimal,
    ttl_seconds: Option<i64>,
) -> Result<ReservationRow, CreditError> {
    Ok(sqlx::query_as!(
        ReservationRow,
        "INSERT INTO credit.reservations (tenant_id, id, account_id, order_reference, amount, open_amount, expires_at)
         VALUES ($1, $2, $3, $4, $5, $5, now() + $6 * interval '1 second')
         RETURNING id, account_id, order_reference, amount, open_amount, state, created_at, expires_at, closed_at",
        tenant_id,
        Uuid::now_v7(),
        account_id,
        order_reference,
        amount,
        ttl_seconds as Option<i64>,
    )
    .fetch_one(tx)
    .await?)
}

pub async fn reservation(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ReservationRow>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM credit.reservations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    Ok(row.as_ref().map(reservation_from_row))
}

/// Takes `amount` (`None`: all that is open; never more than is open) off
/// an open reservation; when nothing is left it closes as `closing`
/// (RELEASED, CAPTURED or EXPIRED). Only open reservations are touched, so
/// racing closings take what is there exactly once. Returns the row after
/// and the amount taken; `None` when it was not open.
pub async fn take_from_reservation(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    amount: Option<Decimal>,
    closing: &str,
) -> Result<Option<(ReservationRow, Decimal)>, CreditError> {
    let row = sqlx::query!(
        r#"WITH before AS (
             SELECT id, least(coalesce($3, open_amount), open_amount) AS taken FROM credit.reservations
             WHERE tenant_id = $1 AND id = $2 AND state = 'OPEN' FOR UPDATE
         )
         UPDATE credit.reservations r SET open_amount = r.open_amount - before.taken,
             state = CASE WHEN r.open_amount = before.taken THEN $4 ELSE 'OPEN' END,
             closed_at = CASE WHEN r.open_amount = before.taken THEN now() END
         FROM before WHERE r.tenant_id = $1 AND r.id = before.id
         RETURNING before.taken AS "taken!", r.id, r.account_id, r.order_reference, r.amount, r.open_amount,
             r.state, r.created_at, r.expires_at, r.closed_at"#,
        tenant_id,
        id,
        amount,
        closing,
    )
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|row| {
        let taken = row.taken;
        let reservation = ReservationRow {
            id: row.id,
            account_id: row.account_id,
            order_reference: row.order_reference,
            amount: row.amount,
            open_amount: row.open_amount,
            state: row.state,
            created_at: row.created_at,
            expires_at: row.expires_at,
            closed_at: row.closed_at,
        };
        (reservation, taken)
    }))
}

pub async fn reservations(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ReservationRow>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM credit.reservations
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows.iter().map(reservation_from_row).collect())
}

/// Open reservations past their time, oldest expiry first: (tenant, id,
/// account), at most `limit`.
pub async fn expired_reservations(db: &sqlx::PgPool, limit: i64) -> Result<Vec<(Uuid, Uuid, Uuid)>, CreditError> {
    let rows = sqlx::query!(
        "SELECT tenant_id, id, account_id FROM credit.reservations
         WHERE state = 'OPEN' AND expires_at <= now() ORDER BY expires_at LIMIT $1",
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.tenant_id, row.id, row.account_id)).collect())
}
