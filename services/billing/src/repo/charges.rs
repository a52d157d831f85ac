//! Charges: subscription periods charged, open charges read for invoicing
//! and assigned to their invoices, and what a posted invoice bills of each
//! order.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::invoice::OpenCharge;
use crate::domain::location::OrderAddress;
use crate::domain::order::OrderState;

/// The SQL condition of a subscription (columns unqualified) whose next
/// period starts by the date in parameter `$date` and before its
/// cancellation.
macro_rules! next_period_due {
    ($date:literal) => {
        concat!(
            "(start_date + make_interval(months => charged_periods))::date <= least(",
            $date,
            "::date, coalesce(cancelled_on - 1, ",
            $date,
            "::date))"
        )
    };
}
pub(crate) use next_period_due;

/// Charges the monthly periods of the subscriptions billed to the accounts
/// (or, when `bought`, bought by them) that started by `date`, each once.
pub async fn charge_subscriptions(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    bought: bool,
    date: NaiveDate,
) -> Result<(), BillingError> {
    // Locked first, so a concurrent run waits and then sees the periods
    // this one charged.
    sqlx::query(concat!(
        "SELECT 1 FROM billing.subscriptions
         WHERE tenant_id = $1 AND (bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2))) AND ",
        next_period_due!("$3"),
        " FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(bought)
    .execute(&mut *tx)
    .await?;
    sqlx::query(concat!(
        "WITH owing AS (
             SELECT *, least($3::date, coalesce(cancelled_on - 1, $3::date)) AS through
             FROM billing.subscriptions
             WHERE tenant_id = $1 AND (bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2))) AND ",
        next_period_due!("$3"),
        "
         ), due AS (
             SELECT s.*, k, (s.start_date + make_interval(months => k))::date AS period_start
             FROM owing s
             CROSS JOIN LATERAL generate_series(s.charged_periods,
                 (extract(year FROM age(s.through, s.start_date)) * 12
                  + extract(month FROM age(s.through, s.start_date)))::int) AS k
         ), charged AS (
             INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, subscription_id,
                 order_reference, product_id, description, currency, quantity, unit_price, total, charge_date)
             SELECT $1, gen_random_uuid(), account_id, bill_to_account_id, separate, id,
                 CASE WHEN k = 0 THEN reference END, product_id,
                 description || ' from ' || to_char(period_start, 'YYYY-MM-DD'), currency, quantity, unit_price,
                 total, period_start
             FROM due
         )
         UPDATE billing.subscriptions s SET charged_periods = d.last + 1
         FROM (SELECT id, max(k) AS last FROM due GROUP BY id) d
         WHERE s.tenant_id = $1 AND s.id = d.id"
    ))
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(bought)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The open charges billed to the accounts (or, when `bought`, bought by
/// them) up to `date`, locked: every charge without an order, and those of
/// billable orders.
pub async fn open(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    bought: bool,
    date: NaiveDate,
) -> Result<Vec<OpenCharge>, BillingError> {
    Ok(sqlx::query_as!(
        OpenCharge,
        r#"SELECT c.id, c.account_id, c.bill_to_account_id, c.separate, c.order_reference, c.product_id,
             c.description, c.currency, c.quantity, c.unit_price, c.total
         FROM billing.charges c
         WHERE c.tenant_id = $1 AND c.invoice_id IS NULL AND c.charge_date <= $3
           AND (c.bill_to_account_id = ANY($2) OR ($4 AND c.account_id = ANY($2)))
           AND (c.order_id IS NULL OR EXISTS (
               SELECT 1 FROM billing.orders o
               WHERE o.tenant_id = c.tenant_id AND o.id = c.order_id AND o.status = ANY($5)))
         ORDER BY c.charge_date, c.id
         FOR UPDATE OF c"#,
        tenant_id,
        accounts,
        date,
        bought,
        &OrderState::billable_codes() as &[&str],
    )
    .fetch_all(&mut *tx)
    .await?)
}

/// Marks each charge as invoiced by the invoice beside it.
pub async fn assign(tx: &mut PgConnection, tenant_id: Uuid, invoiced: (&[Uuid], &[Uuid])) -> Result<(), BillingError> {
    sqlx::query!(
        "UPDATE billing.charges c SET invoice_id = i.invoice_id
         FROM unnest($2::uuid[], $3::uuid[]) AS i(charge_id, invoice_id)
         WHERE c.tenant_id = $1 AND c.id = i.charge_id",
        tenant_id,
        invoiced.0,
        invoiced.1,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Gives each invoice the billing address of the latest order it bills
/// (an order that has one).
/// Returns each invoice given one with its address.
pub async fn address_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[Uuid],
) -> Result<Vec<(Uuid, Json<OrderAddress>)>, BillingError> {
    let rows = sqlx::query!(
        r#"UPDATE billing.invoices i SET billing_address = a.address
         FROM (SELECT DISTINCT ON (c.invoice_id) c.invoice_id, o.doc->'billing_address' AS address
               FROM billing.charges c
               JOIN billing.orders o ON o.tenant_id = c.tenant_id AND o.id = c.order_id
               WHERE c.tenant_id = $1 AND c.invoice_id = ANY($2)
                 AND jsonb_typeof(o.doc->'billing_address') = 'object'
               ORDER BY c.invoice_id, o.id DESC) a
         WHERE i.tenant_id = $1 AND i.id = a.invoice_id
         RETURNING i.id, i.billing_address AS "billing_address!: Json<OrderAddress>""#,
        tenant_id,
        invoices,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.billing_address)).collect())
}

/// What each invoice bills of each order: (invoice, order reference,
/// amount), by invoice and reference.
pub async fn billed_per_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[Uuid],
) -> Result<Vec<(Uuid, String, Decimal)>, BillingError> {
    let rows = sqlx::query!(
        r#"SELECT invoice_id AS "invoice_id!", order_reference AS "order_reference!", sum(total) AS "amount!"
         FROM billing.charges
         WHERE tenant_id = $1 AND invoice_id = ANY($2) AND order_reference IS NOT NULL
         GROUP BY invoice_id, order_reference ORDER BY invoice_id, order_reference"#,
        tenant_id,
        invoices,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.invoice_id, row.order_reference, row.amount)).collect())
}
