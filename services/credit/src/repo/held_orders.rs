//! Orders held for approval, and what credit holds open for an account.

use super::*;
use crate::domain::authorization::AccountReason;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldOrderRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub order_reference: String,
    pub amount: Decimal,
    pub payment_type: PaymentType,
    /// Every condition that held it, account by account.
    pub reasons: Vec<AccountReason>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: String,
    pub note: String,
    pub reservation_id: Option<Uuid>,
    /// Its approval reserves until invoiced or cancelled.
    pub keep_until_invoiced: bool,
    /// Who pays it, in order: (account, share, reservation made on
    /// approval).
    pub payers: Vec<(Uuid, Decimal, Option<Uuid>)>,
}

pub(super) fn held_from_row(row: &PgRow) -> Result<HeldOrderRow, CreditError> {
    let payment_type: String = row.get("payment_type");
    Ok(HeldOrderRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        order_reference: row.get("order_reference"),
        amount: row.get("amount"),
        payment_type: PaymentType::from_code(&payment_type).map_err(|_| corrupt("payment type", &payment_type))?,
        // NULL only for a row an older release wrote after the conversion
        // (it must not run beside this one): an error, never a panic.
        reasons: row
            .try_get::<Option<serde_json::Value>, _>("reasons_doc")
            .ok()
            .flatten()
            .and_then(|doc| serde_json::from_value(doc).ok())
            .ok_or_else(|| corrupt("held order reasons", "not converted"))?,
        state: row.get("state"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        decided_at: row.get("decided_at"),
        decided_by: row.get("decided_by"),
        note: row.get("note"),
        reservation_id: row.get("reservation_id"),
        keep_until_invoiced: row.get("keep_until_invoiced"),
        payers: {
            let ids: Vec<Uuid> = row.get("payer_ids");
            let amounts: Vec<Decimal> = row.get("payer_amounts");
            let reservations: Vec<Option<Uuid>> = row.get("payer_reservations");
            ids.into_iter()
                .zip(amounts)
                .zip(reservations)
                .map(|((id, amount), reservation)| (id, amount, reservation))
                .collect()
        },
    })
}

/// A held order to store.
pub struct NewHeldOrder<'a> {
    pub account_id: Uuid,
    pub order_reference: &'a str,
    pub amount: Decimal,
    pub payment_type: PaymentType,
    /// Every condition that held it, account by account.
    pub reasons: &'a [AccountReason],
    /// Who pays it: (account, share), in order.
    pub payers: &'a [(Uuid, Decimal)],
    pub ttl_seconds: i64,
    pub keep_until_invoiced: bool,
}

pub async fn insert_held_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held: &NewHeldOrder<'_>,
) -> Result<HeldOrderRow, CreditError> {
    let id = Uuid::now_v7();
    let reasons =
        serde_json::to_value(held.reasons).map_err(|error| corrupt("held order reasons", &error.to_string()))?;
    sqlx::query!(
        "INSERT INTO credit.held_orders (tenant_id, id, account_id, order_reference, amount, payment_type,
             reasons_doc, expires_at, keep_until_invoiced)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 second', $9)",
        tenant_id,
        id,
        held.account_id,
        held.order_reference,
        held.amount,
        held.payment_type.code(),
        reasons,
        held.ttl_seconds as i64,
        held.keep_until_invoiced,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO credit.held_order_payers (tenant_id, held_order_id, position, account_id, amount)
         SELECT $1, $2, p.position - 1, p.account_id, p.amount
         FROM unnest($3::uuid[], $4::numeric[]) WITH ORDINALITY AS p(account_id, amount, position)",
        tenant_id,
        id,
        &held.payers.iter().map(|(account, _)| *account).collect::<Vec<_>>(),
        &held.payers.iter().map(|(_, amount)| *amount).collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    held_order(tx, tenant_id, id).await?.ok_or_else(|| CreditError::not_found("held order", id))
}

pub async fn held_order(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row =
        sqlx::query(concat!("SELECT ", held_columns!(), " FROM credit.held_orders WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(connection)
            .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// Decides a pending held order: only one decision (or expiry) wins;
/// `None` when it was not pending.
pub async fn decide_held_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    state: &str,
    decided_by: &str,
    note: &str,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row = sqlx::query(concat!(
        "UPDATE credit.held_orders SET state = $3, decided_at = now(), decided_by = $4, note = $5
         WHERE tenant_id = $1 AND id = $2 AND state = 'PENDING' RETURNING ",
        held_columns!(),
        ""
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(state)
    .bind(decided_by)
    .bind(note)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// Records the reservations an approval made, one per payer in order (the
/// first one also as the held order's own).
pub async fn set_held_reservations(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    reservation_ids: &[Uuid],
) -> Result<(), CreditError> {
    sqlx::query!(
        "UPDATE credit.held_orders SET reservation_id = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
        reservation_ids.first(),
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE credit.held_order_payers p SET reservation_id = r.reservation_id
         FROM unnest($3::uuid[]) WITH ORDINALITY AS r(reservation_id, position)
         WHERE p.tenant_id = $1 AND p.held_order_id = $2 AND p.position = r.position - 1",
        tenant_id,
        id,
        reservation_ids,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Oldest first, after `after` (an id) when given, in `state` when given.
pub async fn held_orders(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    state: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<HeldOrderRow>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        held_columns!(),
        " FROM credit.held_orders
         WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(state)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.iter().map(held_from_row).collect()
}

/// The open reservations of an order: of one account, or (`None`) of every
/// account, as (reservation, account), oldest first.
pub async fn open_reservations_of_order(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
    order_reference: &str,
) -> Result<Vec<(Uuid, Uuid)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id FROM credit.reservations
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR account_id = $2) AND order_reference = $3 AND state = 'OPEN'
         ORDER BY id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(order_reference)
    .fetch_all(connection)
    .await?)
}

/// The pending held order of an account's order reference, if any.
pub async fn pending_held_order_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    order_reference: &str,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        held_columns!(),
        " FROM credit.held_orders
         WHERE tenant_id = $1 AND account_id = $2 AND order_reference = $3 AND state = 'PENDING'
         ORDER BY id LIMIT 1"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(order_reference)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// What credit holds open for the accounts: (account, reason, count) with
/// reasons RESERVATIONS_OPEN (reservations on the account) and
/// HELD_ORDERS_PENDING (held orders of the account or paid by it).
pub async fn unsettled(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, i64)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT account_id, reason, count FROM (
             SELECT account_id, 'RESERVATIONS_OPEN' AS reason, count(*) AS count FROM credit.reservations
             WHERE tenant_id = $1 AND account_id = ANY($2) AND state = 'OPEN' GROUP BY 1
             UNION ALL
             SELECT a.account_id, 'HELD_ORDERS_PENDING', count(DISTINCT h.id) FROM credit.held_orders h
             JOIN LATERAL (SELECT h.account_id UNION SELECT p.account_id FROM credit.held_order_payers p
                           WHERE p.tenant_id = h.tenant_id AND p.held_order_id = h.id) a ON true
             WHERE h.tenant_id = $1 AND h.state = 'PENDING' AND a.account_id = ANY($2) GROUP BY 1
         ) open ORDER BY account_id, reason",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?)
}

/// Records an invoice of the account as overdue, or no longer; the account
/// counts its overdue invoices (applying the same fact twice counts once).
/// An account credit has not met has nothing to count.
pub async fn mark_overdue(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
    account_id: Uuid,
    overdue: bool,
) -> Result<(), CreditError> {
    let changed = if overdue {
        sqlx::query(
            "INSERT INTO credit.overdue_invoices (tenant_id, invoice_id, account_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
    } else {
        sqlx::query("DELETE FROM credit.overdue_invoices WHERE tenant_id = $1 AND invoice_id = $2 AND account_id = $3")
    }
    .bind(tenant_id)
    .bind(invoice_id)
    .bind(account_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        sqlx::query(
            "UPDATE credit.accounts SET overdue_invoices = overdue_invoices + $3, updated_at = now()
             WHERE tenant_id = $1 AND account_id = $2",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(if overdue { 1 } else { -1 })
        .execute(tx)
        .await?;
    }
    Ok(())
}

/// Pending held orders past their time, oldest expiry first: (tenant, id,
/// account), at most `limit`.
pub async fn expired_held_orders(db: &sqlx::PgPool, limit: i64) -> Result<Vec<(Uuid, Uuid, Uuid)>, CreditError> {
    let rows = sqlx::query!(
        "SELECT tenant_id, id, account_id FROM credit.held_orders
         WHERE state = 'PENDING' AND expires_at <= now() ORDER BY expires_at LIMIT $1",
        limit,
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|row| (row.tenant_id, row.id, row.account_id)).collect())
}
