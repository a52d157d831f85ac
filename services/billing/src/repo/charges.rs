//! Charges: subscription periods charged, open charges read for invoicing
//! and assigned to their invoices, and what a posted invoice bills of each
//! order.

use bss_platform::payment::PaymentType;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::cycle::{AnchorDay, Cycle, Schedule, Timing};
use crate::domain::error::BillingError;
use crate::domain::invoice::OpenCharge;
use crate::domain::location::OrderAddress;
use crate::domain::order::{Charge, OrderState, PricedBy};
use crate::domain::subscription::DuePeriod;
use crate::domain::usage::UsageTier;

/// The SQL condition of a subscription (columns unqualified) whose next
/// period is billed by the date in parameter `$date` (`billing.bill_on`,
/// [`Schedule::billed_on`]: its first day, or in arrears its end, and never
/// one starting on its cancellation's day or later).
macro_rules! next_period_due {
    ($date:literal) => {
        concat!(
            "billing.bill_on(start_date, anchor_day, cycle_months, in_arrears, charged_periods, cancelled_on) <= ",
            $date,
            "::date"
        )
    };
}
pub(crate) use next_period_due;

/// The SQL condition of a metered subscription (table alias `s`, columns
/// unqualified) with usage to bill by the date in `$date`: a period ended
/// whose usage is not billed, or a billed period with late events.
macro_rules! usage_due {
    ($date:literal) => {
        concat!(
            "(usage_periods IS NOT NULL AND (billing.bill_on(start_date, anchor_day, cycle_months, true, \
             usage_periods, cancelled_on) <= ",
            $date,
            "::date OR EXISTS (SELECT 1 FROM billing.usage_periods u \
             WHERE u.tenant_id = s.tenant_id AND u.subscription_id = s.id AND u.late)))"
        )
    };
}
pub(crate) use usage_due;

/// A subscription with periods due, as the query reads it.
#[derive(sqlx::FromRow)]
struct OwingRow {
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
    start_date: NaiveDate,
    charged_periods: i32,
    cancelled_on: Option<NaiveDate>,
    cycle_months: i32,
    anchor_day: Option<i32>,
    in_arrears: bool,
    billed_from: Option<NaiveDate>,
    change_on: Option<NaiveDate>,
    term_periods: i32,
    auto_renew: bool,
}

impl OwingRow {
    /// How its time is cut into periods, and when each is billed.
    fn schedule(&self) -> Result<(Schedule, Timing), BillingError> {
        let timing = if self.in_arrears { Timing::Arrears } else { Timing::Advance };
        Ok((schedule(self.start_date, self.cycle_months, self.anchor_day)?, timing))
    }
}

/// How a subscription's time is cut into periods, from its stored columns.
pub(crate) fn schedule(start: NaiveDate, cycle_months: i32, anchor_day: Option<i32>) -> Result<Schedule, BillingError> {
    let cycle =
        Cycle::from_months(cycle_months).ok_or_else(|| super::corrupt("cycle_months", &cycle_months.to_string()))?;
    let anchor = match anchor_day {
        Some(day) => AnchorDay::new(u32::try_from(day).unwrap_or(0))
            .map_err(|_| super::corrupt("anchor_day", &day.to_string()))?,
        None => AnchorDay::of(start),
    };
    Ok(Schedule { cycle, anchor, start })
}

/// Up to `limit` (tenant, bill-to account) pairs after `after`, in that
/// order, whose subscriptions have a period after their first started by
/// `date` and not charged, or usage to bill ([`usage_due`]); none of the
/// `skipped` tenants. A caller pages on from the last pair it got, so
/// accounts that stay due (usage pricing cannot rate yet) never hide the
/// ones after them.
pub async fn accounts_with_later_periods_due(
    db: &sqlx::PgPool,
    date: NaiveDate,
    skipped: &[Uuid],
    (after, limit): ((Uuid, Uuid), i64),
) -> Result<Vec<(Uuid, Uuid)>, BillingError> {
    Ok(sqlx::query_as(concat!(
        "SELECT tenant_id, bill_to_account_id FROM billing.subscriptions
         WHERE billing.bill_on(start_date, anchor_day, cycle_months, in_arrears, greatest(charged_periods, 1),
                 cancelled_on) <= $1::date
           AND paused_on IS NULL AND NOT tenant_id = ANY($2) AND (tenant_id, bill_to_account_id) > ($4, $5)
         UNION
         SELECT tenant_id, bill_to_account_id FROM billing.subscriptions s
         WHERE NOT tenant_id = ANY($2) AND (tenant_id, bill_to_account_id) > ($4, $5) AND ",
        usage_due!("$1"),
        " ORDER BY tenant_id, bill_to_account_id LIMIT $3"
    ))
    .bind(date)
    .bind(skipped)
    .bind(limit)
    .bind(after.0)
    .bind(after.1)
    .fetch_all(db)
    .await?)
}

/// The SELECT of the subscriptions billed to the accounts (or, when `$4`,
/// bought by them) whose next period starts by `$3` and before their
/// cancellation.
macro_rules! owing {
    () => {
        concat!(
            "SELECT id, account_id, bill_to_account_id, separate, reference, doc->>'payment_type' AS payment_type,
                 product_id, description, currency, quantity, unit_price, total, price_rule, price_source_id,
                 (created_at AT TIME ZONE 'UTC')::date AS created_on, start_date, charged_periods, cancelled_on,
                 cycle_months, anchor_day, in_arrears, billed_from, change_on, term_periods, auto_renew
             FROM billing.subscriptions
             WHERE tenant_id = $1 AND (bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2)))
               AND paused_on IS NULL AND ",
            next_period_due!("$3"),
            " ORDER BY id"
        )
    };
}

/// The periods of the subscriptions billed to the accounts (or, when
/// `bought`, bought by them) billed by `date` and not charged yet
/// ([`Schedule::due`]), by subscription and period. With `lock`, the subscriptions are locked in
/// the same statement (in id order), so a concurrent charge waits and then
/// reads the periods this one charged.
pub async fn due_periods(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    bought: bool,
    (date, lock): (NaiveDate, bool),
) -> Result<Vec<DuePeriod>, BillingError> {
    let query = if lock { concat!(owing!(), " FOR UPDATE") } else { owing!() };
    let rows: Vec<OwingRow> =
        sqlx::query_as(query).bind(tenant_id).bind(accounts).bind(date).bind(bought).fetch_all(&mut *tx).await?;
    let mut due = Vec::new();
    for row in rows {
        let (schedule, timing) = row.schedule()?;
        let charged = u32::try_from(row.charged_periods).unwrap_or(0);
        // A period from a scheduled change's day on waits for the change
        // (applied once the periods before it are charged).
        let periods = schedule.due(charged, timing, date, row.cancelled_on);
        for (index, span) in periods.into_iter().take_while(|(_, span)| row.change_on.is_none_or(|on| span.start < on))
        {
            // Changed before it was charged: its own terms bill from the
            // change (the days before were billed by the change).
            let from = row.billed_from.filter(|from| span.contains(*from)).unwrap_or(span.start);
            let to = row.cancelled_on.map_or(span.end, |ends| ends.clamp(from, span.end));
            due.push(DuePeriod {
                subscription_id: row.id,
                account_id: row.account_id,
                bill_to_account_id: row.bill_to_account_id,
                separate: row.separate,
                reference: row.reference.clone().unwrap_or_default(),
                payment_type: row.payment_type.as_deref().and_then(|code| PaymentType::from_code(code).ok()),
                product_id: row.product_id.clone(),
                description: row.description.clone(),
                currency: row.currency.clone(),
                quantity: row.quantity,
                unit_price: row.unit_price,
                total: row.total,
                priced_by: PricedBy {
                    rule: row.price_rule.clone(),
                    source_id: row.price_source_id.clone(),
                    on: Some(row.created_on),
                    ..PricedBy::default()
                },
                index: i32::try_from(index).map_err(|_| super::corrupt("period index", &index.to_string()))?,
                start: span.start,
                days: ((to - from).num_days(), span.whole_days),
                billed: (from, to),
                renews: renewal(&schedule, (row.term_periods, row.auto_renew), index),
            });
        }
    }
    Ok(due)
}

/// The term period `index` starts when it is the first of a renewed
/// fixed term (counting whole periods) (`term`: the term's periods and whether it renews): (the
/// term's number, its end).
fn renewal(schedule: &Schedule, (periods, auto_renew): (i32, bool), index: u32) -> Option<(u32, NaiveDate)> {
    let periods = u32::try_from(periods).ok().filter(|periods| *periods > 0 && auto_renew)?;
    // Whole periods count (a part period first is in the first term).
    let whole = index.checked_sub(schedule.first_whole()?)?;
    if whole == 0 || !whole.is_multiple_of(periods) {
        return None;
    }
    Some((whole / periods + 1, schedule.period(index.checked_add(periods)?)?.start))
}

/// Records the subscription periods charged (each period beside its
/// charge and its whole period's total, by subscription and period): each
/// subscription's periods charged through its latest, and the price and
/// rule of that one.
pub async fn mark_charged(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charged: &[(&DuePeriod, &Charge, Decimal)],
) -> Result<(), BillingError> {
    // The latest period charged of each subscription.
    let mut latest: Vec<(&DuePeriod, &Charge, Decimal)> = Vec::new();
    for (period, charge, total) in charged {
        match latest.last_mut() {
            Some(last) if last.0.subscription_id == period.subscription_id => *last = (period, charge, *total),
            _ => latest.push((period, charge, *total)),
        }
    }
    let counted: Vec<i32> = latest.iter().map(|(period, _, _)| period.index + 1).collect();
    let totals: Vec<Decimal> = latest.iter().map(|(_, _, total)| *total).collect();
    let latest: Vec<&Charge> = latest.into_iter().map(|(_, charge, _)| charge).collect();
    sqlx::query(
        "UPDATE billing.subscriptions s
         SET charged_periods = c.charged, unit_price = c.unit_price, total = c.total,
             price_rule = c.rule, price_source_id = c.source_id,
             doc = jsonb_set(s.doc, '{unit_price}', to_jsonb(c.unit_price::text))
         FROM unnest($2::uuid[], $3::int[], $4::numeric[], $5::numeric[], $6::text[], $7::text[])
             AS c(id, charged, unit_price, total, rule, source_id)
         WHERE s.tenant_id = $1 AND s.id = c.id",
    )
    .bind(tenant_id)
    .bind(latest.iter().map(|charge| charge.subscription_id).collect::<Vec<_>>())
    .bind(counted)
    .bind(latest.iter().map(|charge| charge.unit_price).collect::<Vec<_>>())
    .bind(totals)
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
             c.priced_on, c.price_note, c.tiers AS "tiers: Json<Vec<UsageTier>>"
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
/// amount), by invoice and reference; a subscription's trial or change
/// charges too (credit captures that much of what it reserved under their
/// reference). Not a subscription's period: what credit reserved for it is
/// captured whole by the invoice billing it (a part period, or one cut
/// short, bills less than was reserved).
pub async fn billed_per_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[Uuid],
) -> Result<Vec<(Uuid, String, Decimal)>, BillingError> {
    let rows = sqlx::query!(
        r#"SELECT invoice_id AS "invoice_id!", order_reference AS "order_reference!", sum(total) AS "amount!"
         FROM billing.charges
         WHERE tenant_id = $1 AND invoice_id = ANY($2) AND order_reference IS NOT NULL
         GROUP BY invoice_id, order_reference
         HAVING NOT bool_or(subscription_id IS NOT NULL AND NOT changed)
         ORDER BY invoice_id, order_reference"#,
        tenant_id,
        invoices,
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.invoice_id, row.order_reference, row.amount)).collect())
}
