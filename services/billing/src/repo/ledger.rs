//! The ledger's storage: period settings, periods and the opening balances
//! a close carries over, rebates issued, the account's transactions, and
//! what billing holds open for an account.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::charges::next_period_due;
use super::{corrupt, stored_currency};
use crate::domain::error::BillingError;
use crate::domain::order::OrderState;
use crate::domain::period::{Frequency, Period, PeriodSettings, Posting};

/// Records the tenant's period settings; `None` when it has some already.
pub async fn insert_settings(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    settings: &PeriodSettings,
) -> Result<Option<DateTime<Utc>>, BillingError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO billing.period_settings (tenant_id, frequency, first_start) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING RETURNING created_at",
    )
    .bind(tenant_id)
    .bind(settings.frequency.code())
    .bind(settings.first_start)
    .fetch_optional(tx)
    .await?)
}

/// The tenant's period settings and when they were set.
pub async fn settings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<Option<(PeriodSettings, DateTime<Utc>)>, BillingError> {
    let row: Option<(String, NaiveDate, DateTime<Utc>)> =
        sqlx::query_as("SELECT frequency, first_start, created_at FROM billing.period_settings WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(connection)
            .await?;
    row.map(|(frequency, first_start, created_at)| {
        let frequency = Frequency::from_code(&frequency).ok_or_else(|| corrupt("period frequency", &frequency))?;
        Ok((PeriodSettings { frequency, first_start }, created_at))
    })
    .transpose()
}

macro_rules! period_columns {
    () => {
        "id, start_date, end_date, closed_at"
    };
}

fn period_from_row(row: &PgRow) -> Period {
    Period {
        id: row.get("id"),
        start: row.get("start_date"),
        end: row.get("end_date"),
        closed_at: row.get("closed_at"),
    }
}

/// Opens a period.
pub async fn open_period(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (start, end): (NaiveDate, NaiveDate),
) -> Result<Period, BillingError> {
    let row = sqlx::query(concat!(
        "INSERT INTO billing.periods (tenant_id, id, start_date, end_date) VALUES ($1, $2, $3, $4)
         RETURNING ",
        period_columns!()
    ))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(start)
    .bind(end)
    .fetch_one(tx)
    .await?;
    Ok(period_from_row(&row))
}

/// The tenant's periods by start date after `after`, at most `limit`.
pub async fn periods(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<NaiveDate>,
    limit: i64,
) -> Result<Vec<Period>, BillingError> {
    // Periods never overlap: the start date orders them.
    let rows = sqlx::query(concat!(
        "SELECT ",
        period_columns!(),
        " FROM billing.periods
         WHERE tenant_id = $1 AND ($2::date IS NULL OR start_date > $2) ORDER BY start_date LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows.iter().map(period_from_row).collect())
}

/// The period, locked for its close.
pub async fn lock_period(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<Period>, BillingError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        period_columns!(),
        " FROM billing.periods WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    Ok(row.as_ref().map(period_from_row))
}

/// Closes the (locked, open) period: what was posted and is in no closed
/// period becomes this one's.
pub async fn close_period(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Period, BillingError> {
    for stamp in [
        "UPDATE billing.invoices SET period_id = $2 WHERE tenant_id = $1 AND period_id IS NULL AND status = 'POSTED'",
        "UPDATE billing.payments SET period_id = $2 WHERE tenant_id = $1 AND period_id IS NULL",
        "UPDATE billing.adjustments SET period_id = $2 WHERE tenant_id = $1 AND period_id IS NULL",
    ] {
        sqlx::query(stamp).bind(tenant_id).bind(id).execute(&mut *tx).await?;
    }
    let row = sqlx::query(concat!(
        "UPDATE billing.periods SET status = 'CLOSED', closed_at = now() WHERE tenant_id = $1 AND id = $2
         RETURNING ",
        period_columns!()
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_one(tx)
    .await?;
    Ok(period_from_row(&row))
}

/// The opening balances of period `next`: for each account with an
/// opening or a posting in `closed`, its closing balance there
/// ([`crate::domain::period::closing_balance`] in one statement); returns
/// how many accounts.
pub async fn carry_balances(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    closed: Uuid,
    next: Uuid,
) -> Result<u64, BillingError> {
    Ok(sqlx::query!(
        "INSERT INTO billing.period_balances (tenant_id, period_id, account_id, opening)
         SELECT $1, $3, account_id, sum(amount) FROM (
             SELECT account_id, opening AS amount FROM billing.period_balances
             WHERE tenant_id = $1 AND period_id = $2
             UNION ALL
             SELECT account_id, total FROM billing.invoices WHERE tenant_id = $1 AND period_id = $2
             UNION ALL
             SELECT account_id, -amount FROM billing.payments WHERE tenant_id = $1 AND period_id = $2
             UNION ALL
             SELECT account_id, CASE WHEN kind = 'REFUND' THEN amount ELSE -amount END
             FROM billing.adjustments WHERE tenant_id = $1 AND period_id = $2
         ) posted GROUP BY account_id",
        tenant_id,
        closed,
        next,
    )
    .execute(tx)
    .await?
    .rows_affected())
}

/// What counts toward a rebate: the account's posted invoices in the
/// currency dated inside the period, their lines of `products` when named.
pub struct Turnover<'a> {
    pub account_id: Uuid,
    pub currency: &'a str,
    pub period: (NaiveDate, NaiveDate),
    pub products: Option<&'a [String]>,
}

pub async fn turnover(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    of: &Turnover<'_>,
) -> Result<Decimal, BillingError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(sum(l.total), 0) AS "turnover!" FROM billing.invoices i
         JOIN billing.invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
         WHERE i.tenant_id = $1 AND i.account_id = $2 AND i.status = 'POSTED' AND i.currency = $3
           AND i.invoice_date BETWEEN $4 AND $5
           AND ($6::text[] IS NULL OR l.product_id = ANY($6))"#,
        tenant_id,
        of.account_id,
        of.currency,
        of.period.0,
        of.period.1,
        of.products,
    )
    .fetch_one(connection)
    .await?)
}

/// A rebate of one account and term for one period, as issued.
pub struct RebateRecord {
    pub account_id: Uuid,
    pub term_id: Uuid,
    pub period: (NaiveDate, NaiveDate),
    pub turnover: Decimal,
    pub rebate: Decimal,
}

/// Records a rebate; `false` when it was issued already.
pub async fn insert_rebate(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    rebate: &RebateRecord,
) -> Result<bool, BillingError> {
    Ok(sqlx::query!(
        "INSERT INTO billing.rebates (tenant_id, account_id, term_id, period_start, period_end, turnover, rebate)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        tenant_id,
        rebate.account_id,
        rebate.term_id,
        rebate.period.0,
        rebate.period.1,
        rebate.turnover,
        rebate.rebate,
    )
    .execute(tx)
    .await?
    .rows_affected()
        == 1)
}

/// Links a rebate to the credit note that paid it.
pub async fn set_rebate_note(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    rebate: &RebateRecord,
    credit_note_id: Uuid,
) -> Result<(), BillingError> {
    sqlx::query(
        "UPDATE billing.rebates SET credit_note_id = $5
         WHERE tenant_id = $1 AND account_id = $2 AND term_id = $3 AND period_start = $4",
    )
    .bind(tenant_id)
    .bind(rebate.account_id)
    .bind(rebate.term_id)
    .bind(rebate.period.0)
    .bind(credit_note_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// A transaction of an account, as the enquiry lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    pub id: Uuid,
    pub posting: Posting,
    pub post_time: Option<DateTime<Utc>>,
    /// An invoice's number.
    pub number: Option<i64>,
    /// Positive: what the posting moves ([`Posting::owed`] gives the
    /// direction).
    pub amount: Decimal,
    /// What is still open of it (owed on an invoice, unallocated of money
    /// received), positive.
    pub open_amount: Decimal,
    pub period_id: Option<Uuid>,
    pub currency: bss_platform::money::Currency,
}

/// Which of an account's transactions to list.
#[derive(Clone, Copy, Debug, Default)]
pub struct TransactionFilter {
    pub posting: Option<Posting>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// The account's transactions in id order after `after`, at most `limit`.
pub async fn transactions(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    filter: TransactionFilter,
    (after, limit): (Option<Uuid>, i64),
) -> Result<Vec<Transaction>, BillingError> {
    let rows = sqlx::query(
        "SELECT * FROM (
             SELECT id, 'INVOICE' AS kind, posted_at AS post_time, number, total AS amount,
                 total - settled AS open_amount, period_id, currency
             FROM billing.invoices WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'
             UNION ALL
             SELECT id, 'PAYMENT', created_at, NULL, amount, unallocated, period_id, currency
             FROM billing.payments WHERE tenant_id = $1 AND account_id = $2
             UNION ALL
             SELECT id, kind, created_at, NULL, amount, unallocated, period_id, currency
             FROM billing.adjustments WHERE tenant_id = $1 AND account_id = $2
         ) t
         WHERE ($3::text IS NULL OR kind = $3) AND ($4::date IS NULL OR post_time::date >= $4)
           AND ($5::date IS NULL OR post_time::date <= $5) AND ($6::uuid IS NULL OR id > $6)
         ORDER BY id LIMIT $7",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(filter.posting.map(Posting::code))
    .bind(filter.from)
    .bind(filter.to)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.iter()
        .map(|row| {
            let kind: String = row.get("kind");
            Ok(Transaction {
                id: row.get("id"),
                posting: Posting::from_code(&kind).ok_or_else(|| corrupt("transaction kind", &kind))?,
                post_time: row.get("post_time"),
                number: row.get("number"),
                amount: row.get("amount"),
                open_amount: row.get("open_amount"),
                period_id: row.get("period_id"),
                currency: stored_currency(row.get("currency"))?,
            })
        })
        .collect()
}

/// What billing holds open for the accounts: (account, reason, count).
/// Terminating needs billing final (no drafts, no active subscriptions, no
/// orders waiting, nothing left to invoice, no money left in its wallet);
/// deleting also needs no money ever posted for the account or billed to
/// it (a wallet's movements included), and no asset it holds or held.
pub async fn unsettled(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
    deleting: bool,
) -> Result<Vec<(Uuid, String, i64)>, BillingError> {
    Ok(sqlx::query_as(concat!(
        "SELECT account_id, reason, sum(count)::bigint FROM (
             SELECT coalesce(for_account_id, account_id) AS account_id, 'INVOICES_NOT_POSTED' AS reason,
                 count(*) AS count
             FROM billing.invoices
             WHERE tenant_id = $1 AND status = 'DRAFT' AND (account_id = ANY($2) OR for_account_id = ANY($2))
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'INVOICES_NOT_POSTED', count(*) FROM billing.invoices i, unnest($2::uuid[]) a(id)
             WHERE $3 AND i.tenant_id = $1 AND i.status = 'DRAFT' AND i.account_id = a.id
               AND i.for_account_id IS NOT NULL
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'SUBSCRIPTIONS_ACTIVE', count(*) FROM billing.subscriptions s, unnest($2::uuid[]) a(id)
             WHERE s.tenant_id = $1 AND s.status IN ('ACTIVE', 'PAUSED') AND s.start_date <> 'infinity'
               AND (s.account_id = a.id OR ($3 AND s.bill_to_account_id = a.id))
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'ORDERS_NOT_FINAL', count(*) FROM billing.orders
             WHERE tenant_id = $1 AND account_id = ANY($2) AND status = 'held_for_approval'
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'ORDERS_NOT_FINAL', count(*) FROM billing.subscriptions
             WHERE tenant_id = $1 AND account_id = ANY($2) AND status = 'PENDING_APPROVAL'
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'CHARGES_NOT_INVOICED', count(*) FROM billing.subscriptions s, unnest($2::uuid[]) a(id)
             WHERE s.tenant_id = $1 AND (s.account_id = a.id OR ($3 AND s.bill_to_account_id = a.id))
               AND s.status NOT IN ('ACTIVE', 'PAUSED') AND ",
        next_period_due!("current_date"),
        "
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'CHARGES_NOT_INVOICED', count(*) FROM billing.charges c, unnest($2::uuid[]) a(id)
             WHERE c.tenant_id = $1 AND c.invoice_id IS NULL
               AND (c.account_id = a.id OR ($3 AND c.bill_to_account_id = a.id))
               AND (c.order_id IS NULL OR EXISTS (
                   SELECT 1 FROM billing.orders o WHERE o.tenant_id = c.tenant_id AND o.id = c.order_id
                     AND o.status = ANY($4)))
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'POSTED_TRANSACTIONS', count(*) FROM billing.invoices i, unnest($2::uuid[]) a(id)
             WHERE $3 AND i.tenant_id = $1 AND i.status = 'POSTED'
               AND (i.account_id = a.id OR i.for_account_id = a.id)
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'POSTED_TRANSACTIONS', count(*) FROM billing.payments
             WHERE $3 AND tenant_id = $1 AND account_id = ANY($2)
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'POSTED_TRANSACTIONS', count(*) FROM billing.adjustments
             WHERE $3 AND tenant_id = $1 AND account_id = ANY($2)
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'POSTED_TRANSACTIONS', count(*) FROM billing.wallet_transactions
             WHERE $3 AND tenant_id = $1 AND account_id = ANY($2)
             GROUP BY 1
             UNION ALL
             SELECT a.id, 'ASSETS_HELD', count(DISTINCT e.asset_id)
             FROM billing.asset_events e, unnest($2::uuid[]) a(id)
             WHERE $3 AND e.tenant_id = $1 AND (e.from_account_id = a.id OR e.to_account_id = a.id)
             GROUP BY 1
             UNION ALL
             SELECT account_id, 'WALLET_NOT_EMPTY', 1 FROM billing.wallets
             WHERE tenant_id = $1 AND account_id = ANY($2) AND balance > 0
         ) unsettled GROUP BY account_id, reason ORDER BY account_id, reason"
    ))
    .bind(tenant_id)
    .bind(ids)
    .bind(deleting)
    .bind(OrderState::billable_codes())
    .fetch_all(connection)
    .await?)
}

/// Everything posted to an account on or before `to` (days in the IANA
/// time zone `time_zone`), summed by day and kind: (day, kind, amount).
pub async fn postings_by_day(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    to: NaiveDate,
    time_zone: &str,
) -> Result<Vec<(NaiveDate, Posting, Decimal)>, BillingError> {
    let rows: Vec<(NaiveDate, String, Decimal)> = sqlx::query_as(
        "SELECT day, kind, sum(amount) FROM (
             SELECT (posted_at AT TIME ZONE $4)::date AS day, 'INVOICE' AS kind, total AS amount
             FROM billing.invoices WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'
             UNION ALL
             SELECT (created_at AT TIME ZONE $4)::date, 'PAYMENT', amount
             FROM billing.payments WHERE tenant_id = $1 AND account_id = $2
             UNION ALL
             SELECT (created_at AT TIME ZONE $4)::date, kind, amount
             FROM billing.adjustments WHERE tenant_id = $1 AND account_id = $2
         ) posted WHERE day <= $3 GROUP BY day, kind",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(to)
    .bind(time_zone)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(day, kind, amount)| {
            let posting = Posting::from_code(&kind).ok_or_else(|| corrupt("transaction kind", &kind))?;
            Ok((day, posting, amount))
        })
        .collect()
}

/// What posted invoices still owe, of one account or of the whole tenant,
/// by currency and due date: (currency, due date, owed, invoices).
pub async fn open_by_due_date(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
) -> Result<Vec<(String, Option<NaiveDate>, Decimal, i64)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT currency, due_date, sum(total - settled), count(*) FROM billing.invoices
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR account_id = $2)
           AND status = 'POSTED' AND settled < total
         GROUP BY currency, due_date ORDER BY currency, due_date",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(connection)
    .await?)
}
