//! Usage events: stored once per (subscription, metric, idempotency key),
//! and a period's events aggregated in one statement per metric (the same
//! rule as [`Aggregation::aggregate`]; a test compares them).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::error::BillingError;
use crate::domain::subscription::Paused;
use crate::domain::usage::{Aggregation, Metered, UsageWindow};
use crate::repo::charges::usage_due;

/// A usage event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub subscription_id: Uuid,
    pub metric: String,
    pub key: String,
    pub quantity: Decimal,
    pub at: DateTime<Utc>,
    pub property: String,
}

/// Records the events, each once by (subscription, metric, key): an event
/// recorded already (in this batch or before) is not recorded again. An
/// event recorded now for a period whose usage was billed marks that
/// period late (the next charge run bills the difference), and its
/// subscription is marked for the accrual to rate again. Returns how many
/// were recorded now.
pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, events: &[NewEvent]) -> Result<u64, BillingError> {
    let recorded: i64 = sqlx::query_scalar(
        "WITH recorded AS (
             INSERT INTO billing.usage_events (tenant_id, subscription_id, metric, key, quantity, at, property)
             SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[],
                 $7::text[])
             ON CONFLICT DO NOTHING
             RETURNING subscription_id, metric, (at AT TIME ZONE 'UTC')::date AS day),
         late AS (
             UPDATE billing.usage_periods p SET late = true
             FROM recorded r
             WHERE p.tenant_id = $1 AND p.subscription_id = r.subscription_id AND p.metric = r.metric
               AND p.period_from <= r.day AND r.day < p.period_to AND NOT p.late),
         dirty AS (
             UPDATE billing.subscriptions s SET usage_dirty = true
             WHERE s.tenant_id = $1 AND s.id IN (SELECT subscription_id FROM recorded)
               AND s.usage_periods IS NOT NULL AND NOT s.usage_dirty)
         SELECT count(*) FROM recorded",
    )
    .bind(tenant_id)
    .bind(events.iter().map(|event| event.subscription_id).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.metric.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.key.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.quantity).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.at).collect::<Vec<_>>())
    .bind(events.iter().map(|event| event.property.as_str()).collect::<Vec<_>>())
    .fetch_one(tx)
    .await?;
    Ok(u64::try_from(recorded).unwrap_or_default())
}

/// A subscription events are recorded against, as ingestion checks it.
#[derive(sqlx::FromRow)]
pub struct MeteredRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub metered: Json<Vec<Metered>>,
    /// Ever active (not held or refused by credit).
    pub started: bool,
    /// The days it records usage for (none before it starts).
    pub runs_from: Option<NaiveDate>,
    pub runs_until: Option<NaiveDate>,
    pub pauses: Json<Vec<Paused>>,
}

impl MeteredRow {
    pub fn window(&self) -> Option<UsageWindow> {
        Some(UsageWindow { from: self.runs_from?, until: self.runs_until, pauses: self.pauses.0.clone() })
    }
}

/// The tenant's subscriptions among `ids`, each with its account, the
/// metrics it meters, whether it was ever active and the days it records
/// usage for; one not found is left out. Each is share-locked on its key
/// until the caller's transaction ends: a charge run (which locks it for
/// update) closes its periods either before these events are recorded
/// (and they mark what they are late for) or after (and counts them).
pub async fn metered_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<MeteredRow>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, coalesce(doc->'metered', '[]'::jsonb) AS metered,
             status NOT IN ('PENDING_APPROVAL', 'REJECTED') AS started,
             CASE WHEN isfinite(start_date) THEN start_date END AS runs_from,
             least(paused_on, cancelled_on) AS runs_until, coalesce(doc->'pauses', '[]'::jsonb) AS pauses
         FROM billing.subscriptions WHERE tenant_id = $1 AND id = ANY($2)
         ORDER BY id FOR KEY SHARE",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(conn)
    .await?)
}

/// The active subscriptions of the accounts that meter something: (id,
/// account, its metrics).
pub async fn metering(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    accounts: &[Uuid],
) -> Result<Vec<(Uuid, Uuid, Json<Vec<Metered>>)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id, doc->'metered' FROM billing.subscriptions
         WHERE tenant_id = $1 AND account_id = ANY($2) AND status = 'ACTIVE'
           AND jsonb_array_length(coalesce(doc->'metered', '[]'::jsonb)) > 0",
    )
    .bind(tenant_id)
    .bind(accounts)
    .fetch_all(db)
    .await?)
}

/// A metered subscription as the charge run and the accrual read it.
#[derive(Clone, sqlx::FromRow)]
pub struct MeteredSubscription {
    pub id: Uuid,
    pub account_id: Uuid,
    pub bill_to_account_id: Uuid,
    pub separate: bool,
    pub currency: String,
    /// Its payment type's code: usage is held by credit only for one that
    /// uses credit.
    pub payment_type: Option<String>,
    pub start_date: NaiveDate,
    pub cycle_months: i32,
    pub anchor_day: Option<i32>,
    pub cancelled_on: Option<NaiveDate>,
    /// Periods whose usage is billed.
    pub usage_periods: i32,
    /// What credit was asked to hold for its usage not invoiced yet.
    pub usage_reserved: Decimal,
    pub metered: Json<Vec<Metered>>,
}

/// The SELECT of metered subscriptions (`s`), to which a condition is added.
macro_rules! metered_subscriptions {
    ($condition:expr) => {
        concat!(
            "SELECT id, account_id, bill_to_account_id, separate, currency, doc->>'payment_type' AS payment_type,
                 start_date, cycle_months, anchor_day, cancelled_on, usage_periods, usage_reserved,
                 coalesce(doc->'metered', '[]'::jsonb) AS metered
             FROM billing.subscriptions s
             WHERE tenant_id = $1 AND usage_periods IS NOT NULL AND isfinite(start_date) AND ",
            $condition,
            " ORDER BY id FOR UPDATE"
        )
    };
}

/// The tenant's metered subscriptions among `ids`, locked, in id order:
/// the accrual rates them. It waits for the ingestions in flight (they
/// share-lock them, and its reading counts their events) and holds the
/// next ones until it commits.
pub async fn locked(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<MeteredSubscription>, BillingError> {
    Ok(sqlx::query_as(metered_subscriptions!("id = ANY($2)")).bind(tenant_id).bind(ids).fetch_all(tx).await?)
}

/// The metered subscriptions billed to the accounts (or, when `bought`,
/// bought by them) with a period ended by `date` whose usage is not
/// billed, or a billed period with late events; locked, in id order.
pub async fn due(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (accounts, bought): (&[Uuid], bool),
    date: NaiveDate,
) -> Result<Vec<MeteredSubscription>, BillingError> {
    Ok(sqlx::query_as(metered_subscriptions!(concat!(
        "(bill_to_account_id = ANY($2) OR ($4 AND account_id = ANY($2))) AND ",
        usage_due!("$3")
    )))
    .bind(tenant_id)
    .bind(accounts)
    .bind(date)
    .bind(bought)
    .fetch_all(tx)
    .await?)
}

/// Up to `limit` (tenant, subscription) pairs, in that order, with usage
/// recorded since it was last rated.
pub async fn dirty(db: &sqlx::PgPool, limit: i64) -> Result<Vec<(Uuid, Uuid)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, id FROM billing.subscriptions WHERE usage_dirty ORDER BY tenant_id, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// What is billed of each usage reference and not on a posted invoice yet
/// (open, or on a draft), by reference.
pub async fn not_invoiced(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    references: &[String],
) -> Result<Vec<(String, Decimal)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT c.order_reference, sum(c.total) FROM billing.charges c
         LEFT JOIN billing.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
         WHERE c.tenant_id = $1 AND c.order_reference LIKE 'usage:%' AND c.order_reference = ANY($2)
           AND (c.invoice_id IS NULL OR i.status = 'DRAFT')
         GROUP BY c.order_reference",
    )
    .bind(tenant_id)
    .bind(references)
    .fetch_all(tx)
    .await?)
}

/// Records what credit was asked to hold for each subscription's usage
/// (rated now: no longer dirty).
pub async fn reserved(tx: &mut PgConnection, tenant_id: Uuid, held: &[(Uuid, Decimal)]) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions s SET usage_reserved = h.amount, usage_dirty = false
         FROM unnest($2::uuid[], $3::numeric[]) AS h(id, amount)
         WHERE s.tenant_id = $1 AND s.id = h.id",
    )
    .bind(tenant_id)
    .bind(held.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(held.iter().map(|(_, amount)| *amount).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// An invoice posted captured `amount` of each subscription's usage
/// reservation (credit takes at most what it holds; so does this).
pub async fn captured(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    captured: &[(Uuid, Decimal)],
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.subscriptions s
         SET usage_reserved = s.usage_reserved - least(greatest(c.amount, 0), s.usage_reserved)
         FROM unnest($2::uuid[], $3::numeric[]) AS c(id, amount)
         WHERE s.tenant_id = $1 AND s.id = c.id",
    )
    .bind(tenant_id)
    .bind(captured.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(captured.iter().map(|(_, amount)| *amount).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// A metric's period whose usage was billed: its days and what it was
/// billed.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BilledPeriod {
    pub subscription_id: Uuid,
    pub metric: String,
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    pub quantity: Decimal,
    pub amount: Decimal,
    /// Still to be billed again on a later run (what it owes back is on
    /// an invoice not posted yet).
    #[sqlx(default)]
    pub late: bool,
}

/// A line that billed a period's usage: its invoice (none: not invoiced
/// yet) and whether that is posted, its text, amount and payer.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UsageLine {
    pub invoice_id: Option<Uuid>,
    pub posted: bool,
    pub description: String,
    pub total: Decimal,
    pub bill_to_account_id: Uuid,
}

/// The lines above zero billed under usage reference `reference` for the
/// period from `from` whose text begins with `prefix` (one metric's),
/// newest first.
pub async fn billed_lines(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (reference, from, prefix): (&str, NaiveDate, &str),
) -> Result<Vec<UsageLine>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT c.invoice_id, coalesce(i.status = 'POSTED', false) AS posted, c.description, c.total,
             c.bill_to_account_id
         FROM billing.charges c
         LEFT JOIN billing.invoices i ON i.tenant_id = c.tenant_id AND i.id = c.invoice_id
         WHERE c.tenant_id = $1 AND c.order_reference LIKE 'usage:%' AND c.order_reference = $2
           AND c.priced_on = $3 AND starts_with(c.description, $4) AND c.total > 0
         ORDER BY c.id DESC",
    )
    .bind(tenant_id)
    .bind(reference)
    .bind(from)
    .bind(prefix)
    .fetch_all(tx)
    .await?)
}

/// The billed periods of the subscriptions with late events, by
/// subscription, metric and period.
pub async fn late(tx: &mut PgConnection, tenant_id: Uuid, ids: &[Uuid]) -> Result<Vec<BilledPeriod>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT subscription_id, metric, period_from, period_to, quantity, amount FROM billing.usage_periods
         WHERE tenant_id = $1 AND subscription_id = ANY($2) AND late
         ORDER BY subscription_id, metric, period_from",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(tx)
    .await?)
}

/// Records what each period was billed (a late one's new figures), no
/// longer late, and each subscription's periods billed.
pub async fn record(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    billed: &[BilledPeriod],
    counted: &[(Uuid, i32)],
) -> Result<(), BillingError> {
    sqlx::query(
        "INSERT INTO billing.usage_periods (tenant_id, subscription_id, metric, period_from, period_to, quantity,
             amount, late)
         SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::date[], $5::date[], $6::numeric[], $7::numeric[],
             $8::bool[])
         ON CONFLICT (tenant_id, subscription_id, metric, period_from)
         DO UPDATE SET quantity = excluded.quantity, amount = excluded.amount, late = excluded.late",
    )
    .bind(tenant_id)
    .bind(billed.iter().map(|period| period.subscription_id).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.metric.as_str()).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.period_from).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.period_to).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.quantity).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.amount).collect::<Vec<_>>())
    .bind(billed.iter().map(|period| period.late).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE billing.subscriptions s SET usage_periods = c.periods
         FROM unnest($2::uuid[], $3::int[]) AS c(id, periods)
         WHERE s.tenant_id = $1 AND s.id = c.id",
    )
    .bind(tenant_id)
    .bind(counted.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(counted.iter().map(|(_, periods)| *periods).collect::<Vec<_>>())
    .execute(tx)
    .await?;
    Ok(())
}

/// What the subscription's events of `metric` from `from` up to, not
/// including, `to` aggregate to by `aggregation`, and how many there are
/// ([`aggregate_all`] of one window).
pub async fn aggregate(
    conn: &mut PgConnection,
    (tenant_id, subscription_id): (Uuid, Uuid),
    (metric, aggregation): (&str, Aggregation),
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(Decimal, i64), BillingError> {
    let window = Window { subscription_id, metric, aggregation, from, to };
    let mut found = aggregate_all(conn, tenant_id, &[window]).await?;
    found.pop().ok_or_else(|| super::corrupt("usage aggregate", "no row"))
}

/// A subscription's metric over a time range, to aggregate.
pub struct Window<'a> {
    pub subscription_id: Uuid,
    pub metric: &'a str,
    pub aggregation: Aggregation,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// What each window's events (from `from` up to, not including, `to`)
/// aggregate to by its aggregation, and how many there are, in the order
/// asked, in one statement. The latest event is the one with the latest
/// time, then the greatest key by its bytes (as Rust compares them).
pub async fn aggregate_all(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    windows: &[Window<'_>],
) -> Result<Vec<(Decimal, i64)>, BillingError> {
    if windows.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, i64, Decimal, Decimal, i64, Decimal)> = sqlx::query_as(
        "SELECT w.n, a.events, a.total, a.largest, a.properties, a.latest
         FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::timestamptz[]) WITH ORDINALITY
             AS w(subscription_id, metric, from_at, to_at, n)
         CROSS JOIN LATERAL (
             SELECT count(*) AS events, coalesce(sum(quantity), 0) AS total, coalesce(max(quantity), 0) AS largest,
                 count(DISTINCT property) FILTER (WHERE property <> '') AS properties,
                 coalesce((SELECT quantity FROM billing.usage_events
                     WHERE tenant_id = $1 AND subscription_id = w.subscription_id AND metric = w.metric
                       AND at >= w.from_at AND at < w.to_at
                     ORDER BY at DESC, key COLLATE \"C\" DESC LIMIT 1), 0) AS latest
             FROM billing.usage_events
             WHERE tenant_id = $1 AND subscription_id = w.subscription_id AND metric = w.metric
               AND at >= w.from_at AND at < w.to_at) a
         ORDER BY w.n",
    )
    .bind(tenant_id)
    .bind(windows.iter().map(|window| window.subscription_id).collect::<Vec<_>>())
    .bind(windows.iter().map(|window| window.metric).collect::<Vec<_>>())
    .bind(windows.iter().map(|window| window.from).collect::<Vec<_>>())
    .bind(windows.iter().map(|window| window.to).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(windows
        .iter()
        .zip(rows)
        .map(|(window, (_, events, sum, max, unique, last))| {
            let quantity = match window.aggregation {
                Aggregation::Sum => sum,
                Aggregation::Count => Decimal::from(events),
                Aggregation::Max => max,
                Aggregation::UniqueCount => Decimal::from(unique),
                Aggregation::Last => last,
            };
            (quantity, events)
        })
        .collect())
}
