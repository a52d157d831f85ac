//! Storage of the billing context: schema-qualified SQL.

pub mod assets;
pub mod changes;
pub mod charges;
pub mod checkout;
pub mod collections;
pub mod held;
pub mod ledger;
pub mod locations;
pub mod orders;
pub mod runs;
pub mod settings;
pub mod subscriptions;
pub mod usage;
pub mod wallets;

use bss_platform::error::PlatformError;
use bss_platform::money::Currency;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use sqlx::types::{Json, JsonValue};
use uuid::Uuid;

use crate::domain::change::Covers;
use crate::domain::collection::Collection;
use crate::domain::error::BillingError;
use crate::domain::location::OrderAddress;
use crate::domain::order::{Charge, PricedBy};
use crate::domain::settle::OpenInvoice;
use crate::domain::usage::UsageTier;

/// An invoice line as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRow {
    pub product_id: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
    /// What credit notes credited of it (zero for a new line).
    pub credited: Decimal,
    /// The rule that priced it (none for a line the caller priced).
    pub priced_by: PricedBy,
}

/// The columns of a stored invoice line, in the order [`line_row`] reads.
macro_rules! line_columns {
    () => {
        "product_id, description, quantity, unit_price, total, credited, price_rule, price_source_id, priced_on, \
         price_note, tiers"
    };
}

/// A stored invoice line: its invoice, then [`line_columns`].
type LineColumns = (
    Uuid,
    Option<String>,
    String,
    Decimal,
    Decimal,
    Decimal,
    Decimal,
    String,
    String,
    Option<NaiveDate>,
    String,
    Option<Json<Vec<UsageTier>>>,
);

/// Tiers as stored: none for a line or charge without.
fn tiers_json(tiers: &[UsageTier]) -> Option<JsonValue> {
    (!tiers.is_empty()).then(|| serde_json::to_value(tiers).unwrap_or_default())
}

fn line_row(row: LineColumns) -> LineRow {
    let (_, product_id, description, quantity, unit_price, total, credited, rule, source_id, on, note, tiers) = row;
    let tiers = tiers.map(|tiers| tiers.0).unwrap_or_default();
    LineRow {
        product_id,
        description,
        quantity,
        unit_price,
        total,
        credited,
        priced_by: PricedBy { rule, source_id, on, note, tiers },
    }
}

/// An invoice as stored (its lines apart).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub for_account_id: Option<Uuid>,
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
    pub void_reason: Option<String>,
    /// Where it goes: its latest order's billing address.
    pub billing_address: Option<Json<OrderAddress>>,
    /// Its automatic collection, when its account has a method for it.
    pub collection: Option<Json<Collection>>,
}

impl InvoiceRow {
    pub fn status(&self) -> Result<crate::domain::invoice::InvoiceStatus, BillingError> {
        crate::domain::invoice::InvoiceStatus::from_code(&self.status)
            .ok_or_else(|| corrupt("invoice status", &self.status))
    }

    pub fn currency(&self) -> Result<Currency, BillingError> {
        stored_currency(&self.currency)
    }
}

/// A currency code billing stored; one it cannot read is corrupt data.
pub fn stored_currency(code: &str) -> Result<Currency, BillingError> {
    Currency::parse(code).map_err(|_| corrupt("currency", code))
}

/// A stored value billing cannot read.
pub(crate) fn corrupt(what: &str, value: &str) -> BillingError {
    BillingError::Platform(PlatformError::Corrupt(format!("{what} {value:?}")))
}

macro_rules! invoice_columns {
    () => {
        "id, account_id, for_account_id, currency, number, status, invoice_date, delivery_date, due_date, total, settled,
         order_references, created_at, posted_at, void_reason, billing_address, collection"
    };
}

/// Inserts draft invoices with their lines, in two statements.
pub async fn insert_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[(InvoiceRow, Vec<LineRow>)],
) -> Result<(), BillingError> {
    let column = |get: fn(&InvoiceRow) -> String| invoices.iter().map(|(row, _)| get(row)).collect::<Vec<_>>();
    let ids: Vec<Uuid> = invoices.iter().map(|(row, _)| row.id).collect();
    let accounts: Vec<Uuid> = invoices.iter().map(|(row, _)| row.account_id).collect();
    let for_accounts: Vec<Option<Uuid>> = invoices.iter().map(|(row, _)| row.for_account_id).collect();
    let invoice_dates: Vec<NaiveDate> = invoices.iter().map(|(row, _)| row.invoice_date).collect();
    let delivery_dates: Vec<Option<NaiveDate>> = invoices.iter().map(|(row, _)| row.delivery_date).collect();
    let totals: Vec<Decimal> = invoices.iter().map(|(row, _)| row.total).collect();
    let created: Vec<DateTime<Utc>> = invoices.iter().map(|(row, _)| row.created_at).collect();
    sqlx::query!(
        "INSERT INTO billing.invoices (tenant_id, id, account_id, for_account_id, currency, invoice_date, delivery_date,
             total, order_references, created_at)
         SELECT $1, i.id, i.account_id, i.for_account_id, i.currency, i.invoice_date, i.delivery_date, i.total,
             coalesce((SELECT array_agg(r) FROM unnest(string_to_array(i.refs, chr(31))) r WHERE r <> ''), '{}'),
             i.created_at
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::date[], $7::date[], $8::numeric[],
             $9::text[], $10::timestamptz[])
             AS i(id, account_id, for_account_id, currency, invoice_date, delivery_date, total, refs, created_at)",
        tenant_id,
        &ids,
        &accounts,
        &for_accounts as &[Option<Uuid>],
        &column(|row| row.currency.clone()),
        &invoice_dates,
        &delivery_dates as &[Option<NaiveDate>],
        &totals,
        // Postgres has no arrays of arrays of different lengths: the
        // references travel joined by the unit separator, which no
        // reference contains.
        &column(|row| row.order_references.join("\u{1f}")),
        &created,
    )
    .execute(&mut *tx)
    .await?;
    let lines: Vec<(Uuid, i32, &LineRow)> = invoices
        .iter()
        .flat_map(|(row, lines)| lines.iter().enumerate().map(|(index, line)| (row.id, index as i32 + 1, line)))
        .collect();
    let of_lines = |get: fn(&LineRow) -> Decimal| lines.iter().map(|(_, _, line)| get(line)).collect::<Vec<_>>();
    let of_rule =
        |get: fn(&PricedBy) -> String| lines.iter().map(|(_, _, line)| get(&line.priced_by)).collect::<Vec<_>>();
    sqlx::query!(
        "INSERT INTO billing.invoice_lines (tenant_id, invoice_id, line_number, product_id, description, quantity,
             unit_price, total, price_rule, price_source_id, priced_on, price_note, tiers)
         SELECT $1, * FROM unnest($2::uuid[], $3::int[], $4::text[], $5::text[], $6::numeric[], $7::numeric[],
             $8::numeric[], $9::text[], $10::text[], $11::date[], $12::text[], $13::jsonb[])",
        tenant_id,
        &lines.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(),
        &lines.iter().map(|(_, number, _)| *number).collect::<Vec<_>>(),
        &lines.iter().map(|(_, _, line)| line.product_id.clone()).collect::<Vec<_>>() as &[Option<String>],
        &lines.iter().map(|(_, _, line)| line.description.clone()).collect::<Vec<_>>(),
        &of_lines(|line| line.quantity),
        &of_lines(|line| line.unit_price),
        &of_lines(|line| line.total),
        &of_rule(|priced_by| priced_by.rule.clone()),
        &of_rule(|priced_by| priced_by.source_id.clone()),
        &lines.iter().map(|(_, _, line)| line.priced_by.on).collect::<Vec<_>>() as &[Option<NaiveDate>],
        &of_rule(|priced_by| priced_by.note.clone()),
        &lines.iter().map(|(_, _, line)| tiers_json(&line.priced_by.tiers)).collect::<Vec<_>>()
            as &[Option<JsonValue>],
    )
    .execute(&mut *tx)
    .await?;
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

/// Voids a draft: what it held is owed again, for the next invoice.
pub async fn void_invoice(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid, reason: &str) -> Result<(), BillingError> {
    sqlx::query!(
        "UPDATE billing.invoices SET status = 'VOIDED', void_reason = $3 WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
        reason,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE billing.charges SET invoice_id = NULL WHERE tenant_id = $1 AND invoice_id = $2",
        tenant_id,
        id
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// An invoice's lines, in order.
pub async fn lines(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
) -> Result<Vec<LineRow>, BillingError> {
    Ok(lines_of(connection, tenant_id, &[invoice_id]).await?.remove(&invoice_id).unwrap_or_default())
}

/// The lines of each of the invoices, in one query: per invoice, in order.
pub async fn lines_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    invoices: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<LineRow>>, BillingError> {
    let rows: Vec<LineColumns> = sqlx::query_as(concat!(
        "SELECT invoice_id, ",
        line_columns!(),
        " FROM billing.invoice_lines WHERE tenant_id = $1 AND invoice_id = ANY($2) ORDER BY invoice_id, line_number"
    ))
    .bind(tenant_id)
    .bind(invoices)
    .fetch_all(connection)
    .await?;
    let mut lines: std::collections::HashMap<Uuid, Vec<LineRow>> = std::collections::HashMap::new();
    for row in rows {
        lines.entry(row.0).or_default().push(line_row(row));
    }
    Ok(lines)
}

/// The invoices billed to the account or held for it (a sub-account's
/// separate invoices, a managed copy's), oldest first, after `after` (an
/// id) when given.
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
         WHERE tenant_id = $1 AND (account_id = $2 OR for_account_id = $2) AND ($3::text IS NULL OR status = $3)
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

/// Posts drafts (id, due date) in the given order: numbers them after the
/// tenant's last number and dates them. The counter row stays locked until
/// the transaction ends, so numbers follow posting order without gaps.
pub async fn post_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    drafts: &[(Uuid, NaiveDate)],
) -> Result<Vec<InvoiceRow>, BillingError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let count = drafts.len() as i64;
    let last = sqlx::query_scalar!(
        "INSERT INTO billing.invoice_counters (tenant_id, last_number) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET last_number = billing.invoice_counters.last_number + $2
         RETURNING last_number",
        tenant_id,
        count,
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut posted = sqlx::query_as!(
        InvoiceRow,
        r#"UPDATE billing.invoices SET status = 'POSTED', number = p.post_number, due_date = p.post_due,
             posted_at = now()
         FROM unnest($2::uuid[], $3::bigint[], $4::date[]) AS p(post_id, post_number, post_due)
         WHERE tenant_id = $1 AND id = p.post_id AND status = 'DRAFT'
         RETURNING id, account_id, for_account_id, currency, number, status, invoice_date, delivery_date, due_date,
             total, settled, order_references, created_at, posted_at, void_reason,
             billing_address AS "billing_address: Json<OrderAddress>",
             collection AS "collection: Json<Collection>""#,
        tenant_id,
        &drafts.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        &(1..=count).map(|offset| last - count + offset).collect::<Vec<_>>(),
        &drafts.iter().map(|(_, due)| *due).collect::<Vec<_>>(),
    )
    .fetch_all(&mut *tx)
    .await?;
    if posted.len() != drafts.len() {
        return Err(BillingError::precondition("INVOICE_POSTED", "an invoice of the batch is posted already"));
    }
    posted.sort_by_key(|row| row.number);
    Ok(posted)
}

/// The account's posted invoices not settled in full, oldest first, locked
/// until the transaction ends.
pub async fn lock_open_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<(OpenInvoice, i64)>, BillingError> {
    let rows = sqlx::query!(
        r#"SELECT id, total - settled AS "owed!", number AS "number!" FROM billing.invoices
         WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED' AND settled < total
         ORDER BY invoice_date, number FOR UPDATE"#,
        tenant_id,
        account_id,
    )
    .fetch_all(tx)
    .await?;
    Ok(rows.into_iter().map(|row| (OpenInvoice { id: row.id, owed: row.owed }, row.number)).collect())
}

/// Adds each amount to what is settled of its invoice, in one statement;
/// returns the invoices settled in full now.
pub async fn settle(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    allocated: &[(Uuid, Decimal)],
) -> Result<Vec<Uuid>, BillingError> {
    let ids: Vec<Uuid> = allocated.iter().map(|(id, _)| *id).collect();
    let amounts: Vec<Decimal> = allocated.iter().map(|(_, amount)| *amount).collect();
    Ok(sqlx::query_scalar!(
        "UPDATE billing.invoices i SET settled = i.settled + a.amount
         FROM unnest($2::uuid[], $3::numeric[]) AS a(invoice_id, amount)
         WHERE i.tenant_id = $1 AND i.id = a.invoice_id
         RETURNING CASE WHEN i.settled = i.total THEN i.id END",
        tenant_id,
        &ids,
        &amounts,
    )
    .fetch_all(tx)
    .await?
    .into_iter()
    .flatten()
    .collect())
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
    Ok(sqlx::query_scalar!(
        "INSERT INTO billing.payments (tenant_id, id, account_id, currency, amount, unallocated)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at",
        tenant_id,
        payment.id,
        payment.account_id,
        payment.currency.code,
        payment.amount,
        payment.unallocated,
    )
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
    Ok(sqlx::query_scalar!(
        "INSERT INTO billing.adjustments (tenant_id, id, account_id, kind, currency, amount, unallocated, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
        tenant_id,
        adjustment.id,
        adjustment.account_id,
        kind,
        adjustment.currency.code,
        adjustment.amount,
        adjustment.unallocated,
        reason,
    )
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
    let (invoices, amounts): (Vec<Uuid>, Vec<Decimal>) = allocations.iter().copied().unzip();
    sqlx::query!(
        "INSERT INTO billing.allocations (tenant_id, payment_id, invoice_id, amount)
         SELECT $1, $2, a.invoice_id, a.amount FROM unnest($3::uuid[], $4::numeric[]) AS a(invoice_id, amount)",
        tenant_id,
        settling_id,
        &invoices,
        &amounts,
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The account's payments and credit notes with credit left (what no
/// invoice took), oldest first, locked: (id, table, unallocated).
pub async fn lock_credits(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<(Uuid, &'static str, Decimal)>, BillingError> {
    let rows: Vec<(Uuid, bool, Decimal)> = sqlx::query_as(
        "SELECT id, is_payment, unallocated FROM (
             SELECT id, true AS is_payment, unallocated, created_at FROM (
                 SELECT id, unallocated, created_at FROM billing.payments
                 WHERE tenant_id = $1 AND account_id = $2 AND unallocated > 0 FOR UPDATE
             ) p
             UNION ALL
             SELECT id, false, unallocated, created_at FROM (
                 SELECT id, unallocated, created_at FROM billing.adjustments
                 WHERE tenant_id = $1 AND account_id = $2 AND unallocated > 0 FOR UPDATE
             ) a
         ) credits ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, is_payment, unallocated)| (id, if is_payment { "payments" } else { "adjustments" }, unallocated))
        .collect())
}

/// Takes what a refund pays back from each credit (`sources`: id, amount)
/// and records it.
pub async fn consume_credits(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    refund_id: Uuid,
    credits: &[(Uuid, &'static str, Decimal)],
    sources: &[(Uuid, Decimal)],
) -> Result<(), BillingError> {
    for (source, amount) in sources {
        let table = credits.iter().find(|(id, _, _)| id == source).map_or("payments", |(_, table, _)| table);
        if table == "payments" {
            sqlx::query!(
                "UPDATE billing.payments SET unallocated = unallocated - $3 WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                source,
                amount,
            )
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query!(
                "UPDATE billing.adjustments SET unallocated = unallocated - $3 WHERE tenant_id = $1 AND id = $2",
                tenant_id,
                source,
                amount,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "INSERT INTO billing.refund_sources (tenant_id, refund_id, source_id, amount) VALUES ($1, $2, $3, $4)",
            tenant_id,
            refund_id,
            source,
            amount,
        )
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Adds credited amounts to lines of an invoice: (line number, amount).
/// The lines' constraint refuses crediting a line beyond its total.
pub async fn credit_invoice_lines(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
    credits: &[(i32, Decimal)],
) -> Result<(), BillingError> {
    let (numbers, amounts): (Vec<i32>, Vec<Decimal>) = credits.iter().copied().unzip();
    let result = sqlx::query!(
        "UPDATE billing.invoice_lines l SET credited = l.credited + c.amount
         FROM unnest($3::int[], $4::numeric[]) AS c(line_number, amount)
         WHERE l.tenant_id = $1 AND l.invoice_id = $2 AND l.line_number = c.line_number",
        tenant_id,
        invoice_id,
        &numbers,
        &amounts,
    )
    .execute(tx)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(error) if bss_platform::error::violated_constraint(&error) == Some("invoice_lines_credited_check") => {
            Err(BillingError::precondition(
                "LINE_ALREADY_CREDITED",
                format!("a line of invoice {invoice_id} would be credited beyond its total"),
            ))
        }
        Err(error) => Err(error.into()),
    }
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

/// (balance, outstanding on `today`, unsettled) of an account. The balance
/// is the opening balance of the open period (zero without periods) plus
/// what was posted since the last close.
pub async fn balance(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    today: NaiveDate,
) -> Result<(Decimal, Decimal, Decimal), BillingError> {
    let row = sqlx::query!(
        r#"SELECT
             coalesce((SELECT b.opening FROM billing.period_balances b
                       JOIN billing.periods p ON p.tenant_id = b.tenant_id AND p.id = b.period_id AND p.status = 'OPEN'
                       WHERE b.tenant_id = $1 AND b.account_id = $2), 0)
           + coalesce((SELECT sum(total) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED' AND period_id IS NULL), 0)
           - coalesce((SELECT sum(amount) FROM billing.payments
                       WHERE tenant_id = $1 AND account_id = $2 AND period_id IS NULL), 0)
           - coalesce((SELECT sum(CASE WHEN kind = 'REFUND' THEN -amount ELSE amount END) FROM billing.adjustments
                       WHERE tenant_id = $1 AND account_id = $2 AND period_id IS NULL), 0) AS "balance!",
             coalesce((SELECT sum(total - settled) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED' AND due_date < $3), 0)
                 AS "outstanding!",
             coalesce((SELECT sum(total - settled) FROM billing.invoices
                       WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'), 0) AS "unsettled!""#,
        tenant_id,
        account_id,
        today,
    )
    .fetch_one(connection)
    .await?;
    Ok((row.balance, row.outstanding, row.unsettled))
}

/// Records a migration left as encoded wire messages (`body`, with `doc`
/// NULL) for the service to convert (migrations 0012 and 0013).
#[derive(Clone, Copy, Debug)]
pub enum Encoded {
    Orders,
    Subscriptions,
}

/// Converts the records of `kind` still stored as encoded wire messages
/// into documents, with `decode` (of the message and the status column);
/// returns how many it converted (see [`bss_platform::db::rewrite_batches`]).
/// A partial index keeps each batch (and the check at every later start)
/// cheap.
pub async fn convert_encoded<T: serde::Serialize>(
    db: &sqlx::PgPool,
    kind: Encoded,
    decode: impl Fn(&[u8], &str) -> Result<T, String>,
) -> Result<u64, BillingError> {
    // Read a batch still encoded, store it as documents.
    macro_rules! statements {
        ($table:literal, $doc:literal) => {
            (
                concat!(
                    "SELECT tenant_id, id, body, status FROM ",
                    $table,
                    " WHERE doc IS NULL ORDER BY tenant_id, id LIMIT 500 FOR UPDATE"
                ),
                concat!(
                    "UPDATE ",
                    $table,
                    " t SET doc = ",
                    $doc,
                    ", body = NULL
                     FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS c(tenant_id, id, doc)
                     WHERE t.tenant_id = c.tenant_id AND t.id = c.id"
                ),
            )
        };
    }
    let (select, update) = match kind {
        Encoded::Orders => statements!("billing.orders", "c.doc"),
        // The day a subscription started was kept in its column only.
        Encoded::Subscriptions => statements!(
            "billing.subscriptions",
            "CASE WHEN isfinite(t.start_date) THEN jsonb_set(c.doc, '{start_date}', to_jsonb(t.start_date::text))
                 ELSE c.doc END"
        ),
    };
    let rewrite = |(tenant_id, id, body, status): (Uuid, Uuid, Vec<u8>, String)| {
        let record = decode(&body, &status).map_err(|error| format!("{id}: {error}"))?;
        let doc = serde_json::to_value(&record).map_err(|error| format!("{id}: {error}"))?;
        Ok((tenant_id, id, doc))
    };
    Ok(bss_platform::db::rewrite_batches(db, select, update, rewrite).await?)
}

/// Deletes what of an order is not invoiced yet (it was cancelled or
/// rejected).
pub async fn delete_open_charges(tx: &mut PgConnection, tenant_id: Uuid, order_id: Uuid) -> Result<(), BillingError> {
    sqlx::query!(
        "DELETE FROM billing.charges WHERE tenant_id = $1 AND order_id = $2 AND invoice_id IS NULL",
        tenant_id,
        order_id,
    )
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn insert_charges(tx: &mut PgConnection, tenant_id: Uuid, charges: &[Charge]) -> Result<(), BillingError> {
    let text = |get: fn(&Charge) -> String| charges.iter().map(get).collect::<Vec<_>>();
    let amounts = |get: fn(&Charge) -> Decimal| charges.iter().map(get).collect::<Vec<_>>();
    let ids = |get: fn(&Charge) -> Uuid| charges.iter().map(get).collect::<Vec<_>>();
    let rules = |get: fn(&PricedBy) -> String| charges.iter().map(|charge| get(&charge.priced_by)).collect::<Vec<_>>();
    fn covered<T>(charges: &[Charge], get: impl Fn(&Covers) -> T) -> Vec<Option<T>> {
        charges.iter().map(|charge| charge.covers.as_ref().map(&get)).collect()
    }
    sqlx::query!(
        "INSERT INTO billing.charges (tenant_id, id, account_id, bill_to_account_id, separate, order_id,
             order_reference, product_id, description, currency, quantity, unit_price, total, charge_date, order_line,
             subscription_id, price_rule, price_source_id, priced_on, price_note, covers_from, covers_to, whole_days,
             period_total, changed, tiers)
         SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::bool[], $6::uuid[], $7::text[], $8::text[],
             $9::text[], $10::text[], $11::numeric[], $12::numeric[], $13::numeric[], $14::date[], $15::int[],
             $16::uuid[], $17::text[], $18::text[], $19::date[], $20::text[], $21::date[], $22::date[], $23::int[],
             $24::numeric[], $25::bool[], $26::jsonb[])",
        tenant_id,
        &ids(|charge| charge.id),
        &ids(|charge| charge.account_id),
        &ids(|charge| charge.bill_to_account_id),
        &charges.iter().map(|charge| charge.separate).collect::<Vec<_>>(),
        &charges.iter().map(|charge| charge.order_id).collect::<Vec<_>>() as &[Option<Uuid>],
        &charges.iter().map(|charge| charge.order_reference.clone()).collect::<Vec<_>>() as &[Option<String>],
        &text(|charge| charge.product_id.clone()),
        &text(|charge| charge.description.clone()),
        &text(|charge| charge.currency.clone()),
        &amounts(|charge| charge.quantity),
        &amounts(|charge| charge.unit_price),
        &amounts(|charge| charge.total),
        &charges.iter().map(|charge| charge.charge_date).collect::<Vec<_>>() as &[Option<NaiveDate>],
        &charges.iter().map(|charge| charge.order_line).collect::<Vec<_>>() as &[Option<i32>],
        &charges.iter().map(|charge| charge.subscription_id).collect::<Vec<_>>() as &[Option<Uuid>],
        &rules(|priced_by| priced_by.rule.clone()),
        &rules(|priced_by| priced_by.source_id.clone()),
        &charges.iter().map(|charge| charge.priced_by.on).collect::<Vec<_>>() as &[Option<NaiveDate>],
        &rules(|priced_by| priced_by.note.clone()),
        &covered(charges, |covers| covers.from) as &[Option<NaiveDate>],
        &covered(charges, |covers| covers.to) as &[Option<NaiveDate>],
        &covered(charges, |covers| i32::try_from(covers.whole_days).unwrap_or(i32::MAX)) as &[Option<i32>],
        &covered(charges, |covers| covers.whole_total) as &[Option<Decimal>],
        &charges.iter().map(|charge| charge.changed).collect::<Vec<_>>(),
        &charges.iter().map(|charge| tiers_json(&charge.priced_by.tiers)).collect::<Vec<_>>() as &[Option<JsonValue>],
    )
    .execute(tx)
    .await?;
    Ok(())
}
