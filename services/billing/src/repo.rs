//! Storage of the billing context: schema-qualified SQL.

use bss_platform::error::PlatformError;
use bss_platform::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::settle::OpenInvoice;

/// An invoice line as stored.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LineRow {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
}

/// An invoice as stored (its lines apart).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub currency: String,
    pub number: Option<i64>,
    pub status: String,
    pub invoice_date: NaiveDate,
    pub delivery_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub total: Decimal,
    pub settled: Decimal,
    pub order_references: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub posted_at: Option<DateTime<Utc>>,
}

impl InvoiceRow {
    pub fn currency(&self) -> Result<Currency, BillingError> {
        Currency::parse(&self.currency)
            .map_err(|_| BillingError::Platform(PlatformError::Corrupt(format!("currency {:?}", self.currency))))
    }
}

macro_rules! invoice_columns {
    () => {
        "id, account_id, currency, number, status, invoice_date, delivery_date, due_date, total, settled,
         order_references, created_at, posted_at"
    };
}

pub async fn insert_invoice(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice: &InvoiceRow,
    lines: &[LineRow],
) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.invoices (tenant_id, id, account_id, currency, invoice_date, delivery_date, total,
             order_references, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant_id)
    .bind(invoice.id)
    .bind(invoice.account_id)
    .bind(&invoice.currency)
    .bind(invoice.invoice_date)
    .bind(invoice.delivery_date)
    .bind(invoice.total)
    .bind(&invoice.order_references)
    .bind(invoice.created_at)
    .execute(&mut *tx)
    .await?;
    for (index, line) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO billing.invoice_lines (tenant_id, invoice_id, line_number, description, quantity, unit_price, total)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant_id)
        .bind(invoice.id)
        .bind(index as i32 + 1)
        .bind(&line.description)
        .bind(line.quantity)
        .bind(line.unit_price)
        .bind(line.total)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn invoice(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<InvoiceRow>, BillingError> {
    let query = if lock {
        concat!("SELECT ", invoice_columns!(), " FROM billing.invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
    } else {
        concat!("SELECT ", invoice_columns!(), " FROM billing.invoices WHERE tenant_id = $1 AND id = $2")
    };
    Ok(sqlx::query_as(query).bind(tenant_id).bind(id).fetch_optional(connection).await?)
}

pub async fn lines(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
) -> Result<Vec<LineRow>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT description, quantity, unit_price, total FROM billing.invoice_lines
         WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY line_number",
    )
    .bind(tenant_id)
    .bind(invoice_id)
    .fetch_all(connection)
    .await?)
}

/// Oldest first, after `after` (an id) when given.
pub async fn invoices(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InvoiceRow>, BillingError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM billing.invoices
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::text IS NULL OR status = $3)
           AND ($4::uuid IS NULL OR id > $4)
         ORDER BY id LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(status)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

/// The tenant's next invoice number; the counter row stays locked until
/// the transaction ends, so numbers follow posting order without gaps.
pub async fn next_number(tx: &mut PgConnection, tenant_id: Uuid) -> Result<i64, BillingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing.invoice_counters (tenant_id, last_number) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET last_number = billing.invoice_counters.last_number + 1
         RETURNING last_number",
    )
    .bind(tenant_id)
    .fetch_one(tx)
    .await?)
}

pub async fn post_invoice(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    number: i64,
    due_date: NaiveDate,
) -> Result<InvoiceRow, BillingError> {
    Ok(sqlx::query_as(concat!(
        "UPDATE billing.invoices SET status = 'POSTED', number = $3, due_date = $4, posted_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        invoice_columns!()
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(number)
    .bind(due_date)
    .fetch_one(tx)
    .await?)
}

/// The account's posted invoices not settled in full, oldest first, locked
/// until the transaction ends.
pub async fn lock_open_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<(OpenInvoice, i64)>, BillingError> {
    let rows: Vec<(Uuid, Decimal, i64)> = sqlx::query_as(
        "SELECT id, total - settled, number FROM billing.invoices
         WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED' AND settled < total
         ORDER BY invoice_date, number FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(|(id, owed, number)| (OpenInvoice { id, owed }, number)).collect())
}

/// Adds `amount` to what is settled of an invoice; returns whether it is
/// settled in full now.
pub async fn settle(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
    amount: Decimal,
) -> Result<bool, BillingError> {
    Ok(sqlx::query_scalar(
        "UPDATE billing.invoices SET settled = settled + $3 WHERE tenant_id = $1 AND id = $2 RETURNING settled = total",
    )
    .bind(tenant_id)
    .bind(invoice_id)
    .bind(amount)
    .fetch_one(tx)
    .await?)
}

/// A payment or adjustment: the money, and what no invoice took.
pub struct Settling {
    pub id: Uuid,
    pub account_id: Uuid,
    pub currency: Currency,
    pub amount: Decimal,
    pub unallocated: Decimal,
}

pub async fn insert_payment(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    payment: &Settling,
) -> Result<DateTime<Utc>, BillingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing.payments (tenant_id, id, account_id, currency, amount, unallocated)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
    )
    .bind(tenant_id)
    .bind(payment.id)
    .bind(payment.account_id)
    .bind(payment.currency.code)
    .bind(payment.amount)
    .bind(payment.unallocated)
    .fetch_one(tx)
    .await?)
}

/// A credit note (`kind` CREDIT_NOTE) or a write-off (WRITE_OFF).
pub async fn insert_adjustment(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    kind: &str,
    adjustment: &Settling,
    reason: &str,
) -> Result<DateTime<Utc>, BillingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing.adjustments (tenant_id, id, account_id, kind, currency, amount, unallocated, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
    )
    .bind(tenant_id)
    .bind(adjustment.id)
    .bind(adjustment.account_id)
    .bind(kind)
    .bind(adjustment.currency.code)
    .bind(adjustment.amount)
    .bind(adjustment.unallocated)
    .bind(reason)
    .fetch_one(tx)
    .await?)
}

/// What a payment or adjustment settled of each invoice.
pub async fn insert_allocations(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    settling_id: Uuid,
    allocations: &[(Uuid, Decimal)],
) -> Result<(), BillingError> {
    for (invoice_id, amount) in allocations {
        sqlx::query(
            "INSERT INTO billing.allocations (tenant_id, payment_id, invoice_id, amount) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant_id)
        .bind(settling_id)
        .bind(invoice_id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Posted, unsettled invoices whose due date passed and that are not
/// flagged yet, flagged now (at most `limit`): (tenant, invoice, account).
pub async fn flag_overdue(
    connection: &mut PgConnection,
    today: NaiveDate,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, Uuid)>, BillingError> {
    Ok(sqlx::query_as(
        "UPDATE billing.invoices SET overdue_at = now()
         WHERE (tenant_id, id) IN (
             SELECT tenant_id, id FROM billing.invoices
             WHERE status = 'POSTED' AND overdue_at IS NULL AND settled < total AND due_date < $1
             LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING tenant_id, id, account_id",
    )
    .bind(today)
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

/// (balance, outstanding on `today`, unsettled) of an account.
pub async fn balance(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    today: NaiveDate,
) -> Result<(Decimal, Decimal, Decimal), BillingError> {
    Ok(sqlx::query_as(
        "SELECT
             coalesce((SELECT sum(total) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'), 0)
           - coalesce((SELECT sum(amount) FROM billing.payments WHERE tenant_id = $1 AND account_id = $2), 0)
           - coalesce((SELECT sum(amount) FROM billing.adjustments WHERE tenant_id = $1 AND account_id = $2), 0),
             coalesce((SELECT sum(total - settled) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED' AND due_date < $3), 0),
             coalesce((SELECT sum(total - settled) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'), 0)",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(today)
    .fetch_one(connection)
    .await?)
}
