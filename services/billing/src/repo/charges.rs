//! Charges: subscription periods charged, open charges read for invoicing
//! and assigned to their invoices, and what a posted invoice bills of each
//! order.

use bss_platform::payment::PaymentType;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::invoice::OpenCharge;
use crate::domain::location::OrderAddress;
use crate::domain::order::{Charge, OrderState, PricedBy};
use crate::domain::subscription::DuePeriod;

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

/// A due period as the query reads it.
#[derive(sqlx::FromRow)]
struct DueRow {
    id: Uuid,
    account_id: Uuid,
    bill_to_account_id: Uuid,
    separate: bool,
    reference: Option<String>,
    payment_type: Option<String>,
    product_id: String,
    description: String,
    currency: String,
    quantity: Decimal,
    unit_price: Decimal,
    total: Decimal,
    price_rule: String,
    price_source_id: String,
    created_on: NaiveDate,
    k: i32,
    period_start: NaiveDate,
}

/// Up to `limit` (tenant, bill-to account) pairs, in that order, whose
/// subscriptions have a period after their first started by `date` and not
/// charged; none of the `skipped` tenants.
pub async fn accounts_with_later_periods_due(
    db: &sqlx::PgPool,
    date: NaiveDate,
    skipped: &[Uuid],
    limit: i64,
) -> Result<Vec<(Uuid, Uuid)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT DISTINCT tenant_id, bill_to_account_id FROM billing.subscriptions
         WHERE (start_date + make_interval(months => greatest(charged_periods, 1)))::date
                   <= least($1::date, coalesce(cancelled_on - 1, $1::date))
           AND NOT tenant_id = ANY($2)
         ORDER BY tenant_id, bill_to_account_id LIMIT $3",
    )
    .bind(date)
    .bind(skipped)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// The monthly periods of the subscriptions billed to the accounts (or,
/// when `bought`, bought by them) that started by `date` and are not
/// charged yet, by subscription and period; the subscriptions are locked,
/// so a concurrent run waits and then sees the periods this one charged.
pub async fn due_periods(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    bought: bool,
    date: NaiveDate,
) -> Result<Vec<DuePeriod>, BillingError> {
    sqlx::query(concat!(
        "SELECT 1 FROM billing.subscriptions
         WHERE tenant_id = $1 AND (bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2))) AND ",
        next_period_due!("$3"),
        " ORDER BY id FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(bought)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<DueRow> = sqlx::query_as(concat!(
        "WITH owing AS (
             SELECT *, least($3::date, coalesce(cancelled_on - 1, $3::date)) AS through
             FROM billing.subscriptions
             WHERE tenant_id = $1 AND (bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2))) AND ",
        next_period_due!("$3"),
        "
         )
         SELECT s.id, s.account_id, s.bill_to_account_id, s.separate, s.reference,
             s.doc->>'payment_type' AS payment_type, s.product_id, s.description, s.currency, s.quantity,
             s.unit_price, s.total, s.price_rule, s.price_source_id,
             (s.created_at AT TIME ZONE 'UTC')::date AS created_on, k,
             (s.start_date + make_interval(months => k))::date AS period_start
         FROM owing s
         -- Whole months from the start to `through`, plus one: age() counts
         -- 31 January to 28 February as no month, although the period of
         -- 28 February (clamped) has started; the filter keeps exactly the
         -- periods whose first day is by `through`.
         CROSS JOIN LATERAL generate_series(s.charged_periods,
             (extract(year FROM age(s.through, s.start_date)) * 12
              + extract(month FROM age(s.through, s.start_date)))::int + 1) AS k
         WHERE (s.start_date + make_interval(months => k))::date <= s.through
         ORDER BY s.id, k"
    ))
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(bought)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DuePeriod {
            subscription_id: row.id,
            account_id: row.account_id,
            bill_to_account_id: row.bill_to_account_id,
            separate: row.separate,
            reference: row.reference.unwrap_or_default(),
            payment_type: row.payment_type.as_deref().and_then(|code| PaymentType::from_code(code).ok()),
            product_id: row.product_id,
            description: row.description,
            currency: row.currency,
            quantity: row.quantity,
            unit_price: row.unit_price,
            total: row.total,
            priced_by: PricedBy {
                rule: row.price_rule,
                source_id: row.price_source_id,
                on: Some(row.created_on),
                note: String::new(),
            },
            index: row.k,
            start: row.period_start,
        })
        .collect())
}

/// Records the subscription periods charged (`charges`, by subscription
/// and period): each subscription's count of charged periods, and the price
/// and rule of its latest period.
pub async fn mark_charged(tx: &mut PgConnection, tenant_id: Uuid, charges: &[Charge]) -> Result<(), BillingError> {
    // (latest charge, periods) per subscription.
    let mut latest: Vec<(&Charge, i32)> = Vec::new();
    for charge in charges.iter().filter(|charge| charge.subscription_id.is_some()) {
        match latest.last_mut() {
            Some((last, counted)) if last.subscription_id == charge.subscription_id => {
                *last = charge;
                *counted += 1;
            }
            _ => latest.push((charge, 1)),
        }
    }
    let counted: Vec<i32> = latest.iter().map(|(_, counted)| *counted).collect();
    let latest: Vec<&Charge> = latest.into_iter().map(|(charge, _)| charge).collect();
    sqlx::query(
        "UPDATE billing.subscriptions s
         SET charged_periods = s.charged_periods + c.counted, unit_price = c.unit_price, total = c.total,
             price_rule = c.rule, price_source_id = c.source_id,
             doc = jsonb_set(s.doc, '{unit_price}', to_jsonb(c.unit_price::text))
         FROM unnest($2::uuid[], $3::int[], $4::numeric[], $5::numeric[], $6::text[], $7::text[])
             AS c(id, counted, unit_price, total, rule, source_id)
         WHERE s.tenant_id = $1 AND s.id = c.id",
    )
    .bind(tenant_id)
    .bind(latest.iter().map(|charge| charge.subscription_id).collect::<Vec<_>>())
    .bind(counted)
    .bind(latest.iter().map(|charge| charge.unit_price).collect::<Vec<_>>())
    .bind(latest.iter().map(|charge| charge.total).collect::<Vec<_>>())
    .bind(latest.iter().map(|charge| charge.priced_by.rule.clone()).collect::<Vec<_>>())
    .bind(latest.iter().map(|charge| charge.priced_by.source_id.clone()).collect::<Vec<_>>())
    .execute(tx)
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
             c.description, c.currency, c.quantity, c.unit_price, c.total, c.price_rule, c.price_source_id,
             c.priced_on, c.price_note
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
