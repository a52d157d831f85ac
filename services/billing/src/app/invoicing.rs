//! Charges become invoices: subscription periods are charged, open charges
//! are grouped by who pays (one invoice per bill-to account and currency,
//! one per sub-account with separate invoices), and drafts are posted.
//! GenerateInvoices does it for one account, a billing run batch by batch.

use bss_platform::money::money_to_wire;
use bss_platform::time::{format_date, now};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{InvoicePosted, OrderAmount};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::app::publish_all;
use crate::domain::error::BillingError;
use crate::domain::invoice::{self, OpenCharge};
use crate::domain::order::OrderState;
use crate::repo::{self, InvoiceRow, LineRow};

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

/// An open charge from its row.
fn open_charge(row: &PgRow) -> OpenCharge {
    OpenCharge {
        id: row.get("id"),
        account_id: row.get("account_id"),
        bill_to_account_id: row.get("bill_to_account_id"),
        separate: row.get("separate"),
        order_reference: row.get("order_reference"),
        product_id: row.get("product_id"),
        description: row.get("description"),
        currency: row.get("currency"),
        quantity: row.get("quantity"),
        unit_price: row.get("unit_price"),
        total: row.get("total"),
    }
}

/// Whose charges are invoiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// What is billed to the accounts (a billing run).
    BilledTo,
    /// What is billed to the accounts or was bought by them
    /// (GenerateInvoices: a funded member's or managed copy's charges go to
    /// its parent or tenant reseller).
    BilledToOrBought,
}

/// Charges the monthly periods of the accounts' subscriptions that started
/// by `date`, each once.
async fn charge_subscriptions(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    scope: Scope,
    date: NaiveDate,
) -> Result<(), BillingError> {
    let bought = scope == Scope::BilledToOrBought;
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

/// Drafts the invoices of what the accounts owe (`scope`) up to `date`, in
/// the caller's transaction.
pub async fn draft(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    scope: Scope,
    date: NaiveDate,
) -> Result<Vec<(InvoiceRow, Vec<LineRow>)>, BillingError> {
    charge_subscriptions(tx, tenant_id, accounts, scope, date).await?;
    let rows = sqlx::query(
        "SELECT c.id, c.account_id, c.bill_to_account_id, c.separate, c.order_reference, c.product_id,
             c.description, c.currency, c.quantity, c.unit_price, c.total
         FROM billing.charges c
         WHERE c.tenant_id = $1 AND c.invoice_id IS NULL AND c.charge_date <= $3
           AND (c.bill_to_account_id = ANY($2) OR ($4 AND c.account_id = ANY($2)))
           AND (c.order_id IS NULL OR EXISTS (
               SELECT 1 FROM billing.orders o
               WHERE o.tenant_id = c.tenant_id AND o.id = c.order_id AND o.status = ANY($5)))
         ORDER BY c.charge_date, c.id
         FOR UPDATE OF c",
    )
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(scope == Scope::BilledToOrBought)
    .bind(OrderState::billable_codes())
    .fetch_all(&mut *tx)
    .await?;
    let charges = rows.iter().map(open_charge).collect();
    let created_at = now();
    let drafts = invoice::group(charges);
    let mut invoices = Vec::with_capacity(drafts.len());
    let mut invoiced: (Vec<Uuid>, Vec<Uuid>) = (Vec::new(), Vec::new());
    for draft in drafts {
        let id = Uuid::now_v7();
        let lines: Vec<LineRow> = draft
            .charges
            .iter()
            .map(|charge| LineRow {
                product_id: Some(charge.product_id.clone()),
                description: charge.description.clone(),
                quantity: charge.quantity,
                unit_price: charge.unit_price,
                total: charge.total,
                credited: Decimal::ZERO,
            })
            .collect();
        invoiced.0.extend(draft.charges.iter().map(|charge| charge.id));
        invoiced.1.extend(draft.charges.iter().map(|_| id));
        let row = InvoiceRow {
            id,
            account_id: draft.bill_to,
            for_account_id: draft.for_account,
            total: draft.total(),
            order_references: draft.order_references(),
            currency: draft.currency,
            number: None,
            status: "DRAFT".to_owned(),
            invoice_date: date,
            delivery_date: None,
            due_date: None,
            settled: Decimal::ZERO,
            created_at,
            posted_at: None,
            void_reason: None,
        };
        invoices.push((row, lines));
    }
    if invoices.is_empty() {
        return Ok(invoices);
    }
    repo::insert_invoices(tx, tenant_id, &invoices).await?;
    sqlx::query(
        "UPDATE billing.charges c SET invoice_id = i.invoice_id
         FROM unnest($2::uuid[], $3::uuid[]) AS i(charge_id, invoice_id)
         WHERE c.tenant_id = $1 AND c.id = i.charge_id",
    )
    .bind(tenant_id)
    .bind(&invoiced.0)
    .bind(&invoiced.1)
    .execute(&mut *tx)
    .await?;
    Ok(invoices)
}

/// Posts drafts (id, due date) in order and publishes each as
/// InvoicePosted, with what it bills of each order (credit captures that
/// much of the order's reservation), in the caller's transaction.
pub async fn post(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    drafts: &[(Uuid, NaiveDate)],
) -> Result<Vec<InvoiceRow>, BillingError> {
    let posted = repo::post_invoices(tx, tenant_id, drafts).await?;
    let ids: Vec<Uuid> = posted.iter().map(|row| row.id).collect();
    let billed: Vec<(Uuid, String, Decimal)> = sqlx::query_as(
        "SELECT invoice_id, order_reference, sum(total) FROM billing.charges
         WHERE tenant_id = $1 AND invoice_id = ANY($2) AND order_reference IS NOT NULL
         GROUP BY invoice_id, order_reference ORDER BY invoice_id, order_reference",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::with_capacity(posted.len());
    for row in &posted {
        let currency = row.currency()?;
        let order_amounts = billed
            .iter()
            // Zero amounts too: credit captures nothing for them, rather
            // than the whole reservation of a reference it was not told
            // an amount for.
            .filter(|(invoice_id, _, _)| *invoice_id == row.id)
            .map(|(_, reference, amount)| OrderAmount {
                reference: reference.clone(),
                amount: Some(money_to_wire(currency.round(*amount), currency)),
            })
            .collect();
        events.push(Payload::InvoicePosted(InvoicePosted {
            invoice_id: row.id.to_string(),
            account_id: row.account_id.to_string(),
            amount: Some(money_to_wire(currency.round(row.total), currency)),
            due_date: row.due_date.map(format_date).unwrap_or_default(),
            order_references: row.order_references.clone(),
            order_amounts,
        }));
    }
    publish_all(tx, tenant_id, actor, events).await?;
    Ok(posted)
}
