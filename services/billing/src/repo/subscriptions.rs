//! Subscriptions in billing's own terms: each a JSON document of
//! [`Subscription`], its state by billing's own code, and the columns its
//! charging and lookups need (payer, price, start date, periods charged).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::change::{Covers, Terms};
use crate::domain::cycle::{AnchorDay, Timing};
use crate::domain::error::BillingError;
use crate::domain::order::Charge;
use crate::domain::subscription::{Subscription, SubscriptionState};
use crate::domain::usage::Metered;

/// Stores a new subscription with what charging it needs: its period's
/// charge and the day it starts (none: not started, never charged).
pub async fn insert(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    charge: &Charge,
    start_date: Option<NaiveDate>,
) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate,
             product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
             status, reference, held_order_id, price_rule, price_source_id, cycle_months, anchor_day, in_arrears,
             cancelled_on, trial_ends_on, term_periods, auto_renew, usage_periods)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, 'infinity'::date), 0,
             $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)",
    )
    .bind(tenant_id)
    .bind(subscription.id)
    .bind(subscription.account_id)
    .bind(Json(subscription))
    .bind(charge.bill_to_account_id)
    .bind(charge.separate)
    .bind(&charge.product_id)
    .bind(format!("{} subscription", charge.description))
    .bind(&charge.currency)
    .bind(charge.quantity)
    .bind(charge.unit_price)
    .bind(charge.total)
    .bind(start_date)
    .bind(subscription.state.code())
    .bind(&subscription.reference)
    .bind(subscription.held_order_id)
    .bind(&charge.priced_by.rule)
    .bind(&charge.priced_by.source_id)
    .bind(subscription.cycle.months() as i32)
    .bind(subscription.anchor.map(|anchor| anchor.day() as i32))
    .bind(subscription.timing == Timing::Arrears)
    .bind(subscription.cancel_date)
    .bind(subscription.trial_span().map(|(_, end)| end))
    .bind(subscription.term.map_or(0, |term| term.periods as i32))
    .bind(subscription.term.is_some_and(|term| term.auto_renew))
    .bind(subscription.metered.iter().any(Metered::billed).then_some(0))
    .execute(tx)
    .await?;
    Ok(())
}

/// The account's billing anchor day, if it has one.
pub async fn billing_anchor(db: &PgPool, tenant_id: Uuid, account_id: Uuid) -> Result<Option<AnchorDay>, BillingError> {
    let day: Option<i32> =
        sqlx::query_scalar("SELECT anchor_day FROM billing.billing_anchors WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account_id)
            .fetch_optional(db)
            .await?;
    day.map(|day| {
        AnchorDay::new(u32::try_from(day).unwrap_or(0)).map_err(|_| super::corrupt("anchor_day", &day.to_string()))
    })
    .transpose()
}

/// Sets (or, with none, clears) the account's billing anchor day.
pub async fn set_billing_anchor(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    anchor: Option<AnchorDay>,
) -> Result<(), BillingError> {
    match anchor {
        Some(anchor) => sqlx::query(
            "INSERT INTO billing.billing_anchors (tenant_id, account_id, anchor_day) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, account_id) DO UPDATE SET anchor_day = excluded.anchor_day, updated_at = now()",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(anchor.day() as i32),
        None => sqlx::query("DELETE FROM billing.billing_anchors WHERE tenant_id = $1 AND account_id = $2")
            .bind(tenant_id)
            .bind(account_id),
    }
    .execute(tx)
    .await?;
    Ok(())
}

/// Stores what changed of a subscription; `starts` starts its first period
/// on the day its document says (its activation was approved).
pub async fn save(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    starts: bool,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions SET doc = $3, status = $4, cancelled_on = $5, body = NULL,
             start_date = CASE WHEN $6 THEN coalesce($7, start_date) ELSE start_date END,
             trial_ends_on = CASE WHEN $6 THEN $8 ELSE trial_ends_on END
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(subscription.id)
    .bind(Json(subscription))
    .bind(subscription.state.code())
    .bind(subscription.cancel_date)
    .bind(starts)
    .bind(subscription.start_date)
    .bind(subscription.trial_span().map(|(_, end)| end))
    .execute(tx)
    .await?;
    Ok(())
}

/// Marks the trials that ended by `today` of subscriptions still active
/// as announced; returns each (tenant, subscription, account, first day
/// after the trial), once. The rows are locked in (tenant, id) order, as
/// charge runs lock them, so the two never deadlock.
pub async fn trials_ended(
    tx: &mut PgConnection,
    today: NaiveDate,
) -> Result<Vec<(Uuid, Uuid, Uuid, NaiveDate)>, BillingError> {
    Ok(sqlx::query_as(
        "UPDATE billing.subscriptions s SET trial_announced = true
         FROM (SELECT tenant_id, id FROM billing.subscriptions
               WHERE trial_ends_on <= $1 AND NOT trial_announced AND trial_ends_on IS NOT NULL AND status = 'ACTIVE'
               ORDER BY tenant_id, id FOR UPDATE) ended
         WHERE s.tenant_id = ended.tenant_id AND s.id = ended.id
           AND s.trial_ends_on <= $1 AND NOT s.trial_announced AND s.status = 'ACTIVE'
         RETURNING s.tenant_id, s.id, s.account_id, s.trial_ends_on",
    )
    .bind(today)
    .fetch_all(tx)
    .await?)
}

/// Records the (locked) subscription paused on `paused_on` (none:
/// resumed), with its periods charged (the ones before the period its
/// next charge bills) and the day that period is billed from.
pub async fn set_pause(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    (paused_on, charged_periods, billed_from): (Option<NaiveDate>, i32, Option<NaiveDate>),
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions SET paused_on = $3, charged_periods = $4, billed_from = $5
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(paused_on)
    .bind(charged_periods)
    .bind(billed_from)
    .execute(tx)
    .await?;
    Ok(())
}

/// Ends every subscription cancelled at a period's end whose day has come
/// (`today` or before): ACTIVE (or PAUSED: it stays paused from its day,
/// so none of its paused periods is ever billed) becomes CANCELLED, in the
/// column and the document. Returns how many. The rows are locked in
/// (tenant, id) order, as charge runs lock them.
pub async fn end_cancelled(db: &PgPool, today: NaiveDate) -> Result<u64, BillingError> {
    let ended = sqlx::query(
        "UPDATE billing.subscriptions s SET status = 'CANCELLED',
             doc = jsonb_set(s.doc, '{state}', '\"CANCELLED\"')
         FROM (SELECT tenant_id, id FROM billing.subscriptions
               WHERE status IN ('ACTIVE', 'PAUSED') AND cancelled_on <= $1 AND doc IS NOT NULL
               ORDER BY tenant_id, id FOR UPDATE) ended
         WHERE s.tenant_id = ended.tenant_id AND s.id = ended.id
           AND s.status IN ('ACTIVE', 'PAUSED') AND s.cancelled_on <= $1",
    )
    .bind(today)
    .execute(db)
    .await?;
    Ok(ended.rows_affected())
}

/// A charge of a subscription's period, as a cancellation reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodCharge {
    pub id: Uuid,
    /// Who pays it (the invoice's account).
    pub payer: Uuid,
    /// The period's first day.
    pub start: NaiveDate,
    pub total: Decimal,
    pub description: String,
    /// The invoice holding it, and whether that is posted.
    pub invoice: Option<(Uuid, bool)>,
    /// Its days and whole period's price (none: stored before they were
    /// kept, the period it starts).
    pub covers: Option<Covers>,
    /// The reference credit reserved it under.
    pub reference: Option<String>,
}

/// A charge as [`charges_from`] reads it.
#[derive(sqlx::FromRow)]
struct PeriodChargeRow {
    id: Uuid,
    bill_to_account_id: Uuid,
    charge_date: NaiveDate,
    total: Decimal,
    description: String,
    invoice_id: Option<Uuid>,
    covers_from: Option<NaiveDate>,
    covers_to: Option<NaiveDate>,
    whole_days: Option<i32>,
    period_total: Option<Decimal>,
    order_reference: Option<String>,
}

/// The subscription's charges of days from `from` on (a charge stored
/// before its days were kept: of a period starting on `from` or later),
/// locked, oldest first, each with the invoice holding it (read after the
/// lock, so a run that invoiced it meanwhile is seen).
pub async fn charges_from(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    from: NaiveDate,
) -> Result<Vec<PeriodCharge>, BillingError> {
    let rows: Vec<PeriodChargeRow> = sqlx::query_as(
        "SELECT id, bill_to_account_id, charge_date, total, description, invoice_id, covers_from, covers_to,
             whole_days, period_total, order_reference
         FROM billing.charges
         WHERE tenant_id = $1 AND subscription_id = $2 AND coalesce(covers_to, charge_date + 1) > $3
         ORDER BY charge_date, id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(from)
    .fetch_all(&mut *tx)
    .await?;
    let invoices: Vec<Uuid> = rows.iter().filter_map(|row| row.invoice_id).collect();
    let posted: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM billing.invoices WHERE tenant_id = $1 AND id = ANY($2) AND status = 'POSTED'",
    )
    .bind(tenant_id)
    .bind(&invoices)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| PeriodCharge {
            id: row.id,
            payer: row.bill_to_account_id,
            start: row.charge_date,
            total: row.total,
            description: row.description,
            invoice: row.invoice_id.map(|invoice| (invoice, posted.contains(&invoice))),
            covers: match (row.covers_from, row.covers_to, row.whole_days, row.period_total) {
                (Some(from), Some(to), Some(whole_days), Some(whole_total)) => {
                    Some(Covers { from, to, whole_days: i64::from(whole_days), whole_total })
                }
                _ => None,
            },
            reference: row.order_reference,
        })
        .collect())
}

/// A charge of the subscription with days from `from` on that a draft
/// invoice holds: (the draft, the charge's first day).
pub async fn on_draft(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    from: NaiveDate,
) -> Result<Option<(Uuid, NaiveDate)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT i.id, c.charge_date FROM billing.charges c
         JOIN billing.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
         WHERE c.tenant_id = $1 AND c.subscription_id = $2 AND coalesce(c.covers_to, c.charge_date + 1) > $3
           AND i.status = 'DRAFT'
         LIMIT 1",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(from)
    .fetch_optional(conn)
    .await?)
}

/// Charges only `total` for the days `covers` keeps of a charge no invoice
/// holds yet (a period cut short: its days up to the day before a cut);
/// its description names the days (`days`: ", 5 of 31 days").
pub async fn cut_charge(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charge_id: Uuid,
    (total, days, covers): (Decimal, &str, Covers),
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.charges SET total = $3,
             description = regexp_replace(description, ', [0-9]+ of [0-9]+ days$', '') || $4
         WHERE tenant_id = $1 AND id = $2 AND invoice_id IS NULL",
    )
    .bind(tenant_id)
    .bind(charge_id)
    .bind(total)
    .bind(days)
    .execute(&mut *tx)
    .await?;
    set_covers(tx, tenant_id, charge_id, covers).await
}

/// Records what a charge covers now (a posted one whose days from a cut
/// were credited keeps the days before it; one stored before its days
/// were kept gets them), so a later cut never takes back a day twice.
pub async fn set_covers(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charge_id: Uuid,
    covers: Covers,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.charges SET covers_from = $3, covers_to = $4, whole_days = $5, period_total = $6
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(charge_id)
    .bind(covers.from)
    .bind(covers.to)
    .bind(i32::try_from(covers.whole_days).unwrap_or(i32::MAX))
    .bind(covers.whole_total)
    .execute(tx)
    .await?;
    Ok(())
}

/// Charges the new terms instead of the old for all the days `covers`
/// names of a charge no invoice holds yet (a change on its first day or
/// before): its product, quantity, prices and line.
pub async fn recharge(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    charge_id: Uuid,
    (terms, covers, total, description): (&Terms, Covers, Decimal, &str),
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.charges SET product_id = $3, description = $4, quantity = $5, unit_price = $6, total = $7,
             price_rule = $8, price_source_id = $9
         WHERE tenant_id = $1 AND id = $2 AND invoice_id IS NULL",
    )
    .bind(tenant_id)
    .bind(charge_id)
    .bind(&terms.product_id)
    .bind(description)
    .bind(terms.quantity)
    .bind(terms.unit_price)
    .bind(total)
    .bind(&terms.price_rule)
    .bind(&terms.price_source_id)
    .execute(&mut *tx)
    .await?;
    set_covers(tx, tenant_id, charge_id, covers).await
}

/// A subscription's terms as stored (the latest charged period's price),
/// how many periods were charged, who pays it, and the day its running
/// period's own terms are billed from (a change before it was charged).
pub struct Stored {
    pub terms: Terms,
    pub charged_periods: i32,
    pub bill_to: Uuid,
    pub billed_from: Option<NaiveDate>,
}

/// A subscription's row as [`stored`] reads it.
#[derive(sqlx::FromRow)]
struct StoredRow {
    product_id: String,
    description: String,
    quantity: Decimal,
    unit_price: Decimal,
    total: Decimal,
    price_rule: String,
    price_source_id: String,
    charged_periods: i32,
    bill_to_account_id: Uuid,
    billed_from: Option<NaiveDate>,
    doc: Json<Subscription>,
}

/// The (locked) subscription's terms as stored.
pub async fn stored(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Stored, BillingError> {
    let row: StoredRow = sqlx::query_as(
        "SELECT product_id, description, quantity, unit_price, total, price_rule, price_source_id, charged_periods,
             bill_to_account_id, billed_from, doc
         FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_one(tx)
    .await?;
    Ok(Stored {
        terms: Terms {
            product: row.doc.0.product,
            product_id: row.product_id,
            description: row.description,
            quantity: row.quantity,
            unit_price: row.unit_price,
            total: row.total,
            price_rule: row.price_rule,
            price_source_id: row.price_source_id,
        },
        charged_periods: row.charged_periods,
        bill_to: row.bill_to_account_id,
        billed_from: row.billed_from,
    })
}

/// Stores the subscription's new terms (for the periods charged from now
/// on: a later one is priced by pricing on its first day, this price kept
/// when pricing refuses) and, for a running period not charged yet, the
/// day its own terms are billed from.
pub async fn save_terms(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
    terms: &Terms,
    billed_from: Option<NaiveDate>,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions SET doc = $3, product_id = $4, description = $5, quantity = $6,
             unit_price = $7, total = $8, price_rule = $9, price_source_id = $10,
             billed_from = coalesce($11, billed_from), body = NULL
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(subscription.id)
    .bind(Json(subscription))
    .bind(&terms.product_id)
    .bind(&terms.description)
    .bind(terms.quantity)
    .bind(terms.unit_price)
    .bind(terms.total)
    .bind(&terms.price_rule)
    .bind(&terms.price_source_id)
    .bind(billed_from)
    .execute(tx)
    .await?;
    Ok(())
}

/// The price of a whole period of the subscription (its latest).
pub async fn period_total(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Decimal, BillingError> {
    Ok(sqlx::query_scalar("SELECT total FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_one(tx)
        .await?)
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<Subscription>, BillingError> {
    let doc: Option<Json<Subscription>> =
        sqlx::query_scalar("SELECT doc FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(doc.map(|Json(subscription)| subscription))
}

/// The subscription, locked, and whether nothing of it was or will be
/// charged: no period charged and none started before `today` (one never
/// activated starts at 'infinity', a date only Postgres compares).
pub async fn lock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    today: NaiveDate,
) -> Result<Option<(Subscription, bool)>, BillingError> {
    let row: Option<(Json<Subscription>, bool)> = sqlx::query_as(
        "SELECT doc, charged_periods = 0 AND start_date >= $3 FROM billing.subscriptions
         WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(today)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|(Json(subscription), nothing_started)| (subscription, nothing_started)))
}

/// Who pays for each of the subscriptions: its bill-to account, and the
/// payers credit reserved its activation on.
pub async fn payers_of(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, BTreeSet<Uuid>>, BillingError> {
    let rows: Vec<(Uuid, Uuid, Json<Subscription>)> = sqlx::query_as(
        "SELECT id, bill_to_account_id, doc FROM billing.subscriptions WHERE tenant_id = $1 AND id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, bill_to, Json(subscription))| {
            let payers = subscription.payers.iter().map(|payer| payer.account_id).chain([bill_to]).collect();
            (id, payers)
        })
        .collect())
}

/// What the subscription's charges under `reference` not on a posted
/// invoice yet (open, or on a draft) come to, by payer: what credit must
/// still hold under it.
pub async fn unbilled_under(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    reference: &str,
) -> Result<Vec<(Uuid, Decimal)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT c.bill_to_account_id, sum(c.total) FROM billing.charges c
         LEFT JOIN billing.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
         WHERE c.tenant_id = $1 AND c.subscription_id = $2 AND c.order_reference = $3
           AND (c.invoice_id IS NULL OR i.status = 'DRAFT')
         GROUP BY c.bill_to_account_id ORDER BY c.bill_to_account_id",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(reference)
    .fetch_all(tx)
    .await?)
}

/// Makes the subscription's charges under `reference` not on a posted
/// invoice yet captured by their amount (as a change's are), not whole.
pub async fn capture_by_amount(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    reference: &str,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.charges c SET changed = true
         WHERE c.tenant_id = $1 AND c.subscription_id = $2 AND c.order_reference = $3 AND NOT c.changed
           AND (c.invoice_id IS NULL OR EXISTS (SELECT 1 FROM billing.invoices i
                WHERE i.tenant_id = c.tenant_id AND i.id = c.invoice_id AND i.status = 'DRAFT'))",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(reference)
    .execute(tx)
    .await?;
    Ok(())
}

/// Takes back the (locked) subscription's charges of periods starting on
/// `day` or later that no invoice holds yet (a cancellation that day owes
/// none of them), and counts its periods charged back to match. Returns
/// each one taken back: (its credit reference, its payer, its amount).
pub async fn uncharge_from(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    day: NaiveDate,
) -> Result<Vec<(Option<String>, Uuid, Decimal)>, BillingError> {
    let removed: Vec<(Option<String>, Uuid, Decimal, bool)> = sqlx::query_as(
        "DELETE FROM billing.charges
         WHERE tenant_id = $1 AND subscription_id = $2 AND invoice_id IS NULL AND charge_date >= $3
         RETURNING order_reference, bill_to_account_id, total, changed",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(day)
    .fetch_all(&mut *tx)
    .await?;
    // A change's charge is none of the periods counted.
    let periods = removed.iter().filter(|(_, _, _, changed)| !changed).count();
    if periods > 0 {
        sqlx::query(
            "UPDATE billing.subscriptions SET charged_periods = charged_periods - $3 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(periods as i32)
        .execute(tx)
        .await?;
    }
    Ok(removed.into_iter().map(|(reference, payer, total, _)| (reference, payer, total)).collect())
}

/// The subscription whose activation waits for credit's decision on a held
/// order, locked.
pub async fn lock_held(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held_order_id: Uuid,
) -> Result<Option<Subscription>, BillingError> {
    let doc: Option<Json<Subscription>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscriptions
         WHERE tenant_id = $1 AND held_order_id = $2 AND status = $3 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(held_order_id)
    .bind(SubscriptionState::PendingApproval.code())
    .fetch_optional(tx)
    .await?;
    Ok(doc.map(|Json(subscription)| subscription))
}

/// An account's subscriptions, oldest first, after `after` when given.
pub async fn of_account(
    db: &PgPool,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Subscription>, BillingError> {
    let docs: Vec<Json<Subscription>> = sqlx::query_scalar(
        "SELECT doc FROM billing.subscriptions WHERE tenant_id = $1 AND account_id = $2
           AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(docs.into_iter().map(|Json(subscription)| subscription).collect())
}

/// Records the subscription as its account's first paid one; false when
/// the account has one already.
pub async fn mark_first_paid(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    subscription: &Subscription,
) -> Result<bool, BillingError> {
    let inserted = sqlx::query!(
        "INSERT INTO billing.first_paid_subscriptions (tenant_id, account_id, subscription_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        tenant_id,
        subscription.account_id,
        subscription.id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
