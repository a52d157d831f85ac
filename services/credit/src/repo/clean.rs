//! The clean-order fast path: one statement checks and reserves.

use super::*;

/// A reservation for an order on an account that is not on hold, not out of
/// terms, stays within its limit and crosses no notification threshold.
pub struct CleanReservation<'a> {
    pub tenant_id: Uuid,
    pub account_id: Uuid,
    pub amount: Decimal,
    pub order_reference: &'a str,
    pub reservation_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// `None`: kept until invoiced or cancelled.
    pub expires_at: Option<DateTime<Utc>>,
    pub thresholds: &'a [Decimal],
    /// The encoded ReservationChanged event.
    pub event: Vec<u8>,
    /// The request id and hash, and the answer to store for it.
    pub request: Option<(&'a str, &'a [u8], Vec<u8>)>,
}

/// What a clean reservation did.
pub enum Clean {
    /// Reserved; the available credit before (`None`: unlimited).
    Reserved(Option<Decimal>),
    /// The account is not clean for this order (any more): decide it in
    /// full.
    NotClean,
    /// The request id was used already.
    RequestIdTaken,
    /// Another call with the request id is running: it holds the id's
    /// advisory lock (nothing waited for it).
    RequestInProgress,
}

/// Checks and reserves in one statement (its own transaction): the row
/// lock of the account is held only while it runs. The account row's
/// conditions are the guard; the reservation, the event and the request id
/// are written only when the guard let the update through.
pub async fn reserve_if_clean(pool: &sqlx::PgPool, clean: &CleanReservation<'_>) -> Result<Clean, CreditError> {
    let (request_id, request_hash, response) = match &clean.request {
        Some((id, hash, response)) => (*id, *hash, response.as_slice()),
        None => ("", &[][..], &[][..]),
    };
    // The request id's advisory lock gates the statement: a duplicate of a
    // call still running changes and waits for nothing (it would otherwise
    // queue on the account's row, holding a pooled connection).
    let result = sqlx::query!(
        r#"WITH gate AS (
             SELECT CASE WHEN $10 = '' THEN true
                 ELSE pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::uuid::text || ':' || $10, 0))
                 END AS open
         ), upd AS (
             UPDATE credit.accounts SET reserved = reserved + $3, updated_at = now()
             WHERE tenant_id = $1 AND account_id = $2 AND (SELECT open FROM gate)
               AND NOT on_hold AND overdue_invoices = 0
               AND (unlimited OR balance + reserved + $3 <= credit_limit)
               AND (unlimited OR credit_limit <= 0 OR NOT EXISTS (
                   SELECT 1 FROM unnest($4::numeric[]) AS t(percent)
                   WHERE balance + reserved < credit_limit * percent / 100
                     AND credit_limit * percent / 100 <= balance + reserved + $3))
             RETURNING CASE WHEN unlimited THEN NULL ELSE credit_limit - balance - reserved + $3 END AS available_before
         ), res AS (
             INSERT INTO credit.reservations (tenant_id, id, account_id, order_reference, amount, open_amount,
                 created_at, expires_at, available_before)
             SELECT $1, $5, $2, $6, $3, $3, $7, $8, available_before FROM upd
             RETURNING available_before
         ), event AS (
             INSERT INTO credit.outbox (tenant_id, event_type, payload)
             SELECT $1, 'ReservationChanged', $9 FROM res
         ), claim AS (
             INSERT INTO credit.idempotency_keys (tenant_id, request_id, request_hash, response)
             SELECT $1, $10, $11, $12 FROM res WHERE $10 <> ''
         )
         SELECT (SELECT open FROM gate) AS "open!", (SELECT available_before FROM res) AS available_before,
             EXISTS (SELECT 1 FROM res) AS "reserved!""#,
        clean.tenant_id,
        clean.account_id,
        clean.amount,
        clean.thresholds,
        clean.reservation_id,
        clean.order_reference,
        clean.created_at,
        clean.expires_at,
        clean.event,
        request_id,
        request_hash,
        response,
    )
    .fetch_one(pool)
    .await
    .map(|row| (row.open, row.available_before, row.reserved));
    match result {
        Ok((false, _, _)) => Ok(Clean::RequestInProgress),
        Ok((true, available_before, true)) => Ok(Clean::Reserved(available_before)),
        Ok((true, _, false)) => Ok(Clean::NotClean),
        Err(error) if bss_platform::error::violated_constraint(&error) == Some("idempotency_keys_pkey") => {
            Ok(Clean::RequestIdTaken)
        }
        Err(error) => Err(error.into()),
    }
}

/// A reservation with the available credit its approval saw.
pub async fn reservation_with_available(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<(ReservationRow, Option<Decimal>)>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        reservation_columns!(),
        ", available_before FROM credit.reservations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|row| (reservation_from_row(&row), row.get("available_before"))))
}
