//! Storage of the credit context: schema-qualified SQL.
//!
//! The credit limit is guarded by the row of the account in
//! `credit.accounts`: every change of its reservations or balance runs in a
//! transaction that holds that row's lock ([`lock_account`]), so the check
//! and the reservation cannot race.

use bss_platform::error::PlatformError;
use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::domain::account::{CreditAccount, Settings, Terms};
use crate::domain::decision::{Action, Policy};
use crate::domain::error::CreditError;
use crate::domain::terms::PaymentTerms;

fn corrupt(what: &str, value: &str) -> CreditError {
    CreditError::Platform(PlatformError::Corrupt(format!("{what} {value:?}")))
}

fn action(code: &str) -> Result<Action, CreditError> {
    Action::from_code(code).ok_or_else(|| corrupt("action", code))
}

fn optional_action(code: Option<String>) -> Result<Option<Action>, CreditError> {
    code.map(|code| action(&code)).transpose()
}

fn unsigned(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

// ---- settings, ratings, override rules ----

macro_rules! settings_columns {
    () => {
        "s.default_credit_period_days AS s_default_credit_period_days, s.min_credit_period_days AS
         s_min_credit_period_days, s.max_credit_period_days AS s_max_credit_period_days,
         s.default_credit_limit AS s_default_credit_limit, s.on_hold_action AS s_on_hold_action,
         s.out_of_terms_action AS s_out_of_terms_action, s.out_of_credit_action AS s_out_of_credit_action,
         s.notification_thresholds AS s_notification_thresholds, s.auto_suspend_over_percent AS
         s_auto_suspend_over_percent, s.reservation_ttl_seconds AS s_reservation_ttl_seconds,
         s.held_order_ttl_seconds AS s_held_order_ttl_seconds, s.updated_at AS s_updated_at"
    };
}

/// The settings in a row (defaults when the tenant has none: the columns
/// are NULL in a LEFT JOIN).
fn settings_from_row(row: &PgRow) -> Result<Settings, CreditError> {
    let Some(default_period) = row.get::<Option<i32>, _>("s_default_credit_period_days") else {
        return Ok(Settings::default());
    };
    Ok(Settings {
        default_period_days: unsigned(default_period),
        min_period_days: unsigned(row.get("s_min_credit_period_days")),
        max_period_days: unsigned(row.get("s_max_credit_period_days")),
        default_limit: row.get("s_default_credit_limit"),
        policy: Policy {
            on_hold: action(row.get("s_on_hold_action"))?,
            out_of_terms: action(row.get("s_out_of_terms_action"))?,
            out_of_credit: action(row.get("s_out_of_credit_action"))?,
        },
        thresholds: row.get("s_notification_thresholds"),
        auto_suspend_over_percent: row.get("s_auto_suspend_over_percent"),
        reservation_ttl_seconds: row.get("s_reservation_ttl_seconds"),
        held_order_ttl_seconds: row.get("s_held_order_ttl_seconds"),
        updated_at: Some(row.get("s_updated_at")),
    })
}

/// The tenant's settings, or the defaults.
pub async fn settings(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Settings, CreditError> {
    let row = sqlx::query(concat!("SELECT ", settings_columns!(), " FROM credit.settings s WHERE s.tenant_id = $1"))
        .bind(tenant_id)
        .fetch_optional(connection)
        .await?;
    row.map_or_else(|| Ok(Settings::default()), |row| settings_from_row(&row))
}

/// The tenant's settings, with every other update of them kept waiting
/// until the transaction ends.
pub async fn lock_settings(tx: &mut PgConnection, tenant_id: Uuid) -> Result<Settings, CreditError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('credit.settings:' || $1::text, 0))")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    settings(tx, tenant_id).await
}

pub async fn put_settings(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    settings: &Settings,
) -> Result<DateTime<Utc>, CreditError> {
    let updated_at = sqlx::query_scalar(
        "INSERT INTO credit.settings (tenant_id, default_credit_period_days, min_credit_period_days,
             max_credit_period_days, default_credit_limit, on_hold_action, out_of_terms_action,
             out_of_credit_action, notification_thresholds, auto_suspend_over_percent,
             reservation_ttl_seconds, held_order_ttl_seconds, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())
         ON CONFLICT (tenant_id) DO UPDATE SET
             default_credit_period_days = $2, min_credit_period_days = $3, max_credit_period_days = $4,
             default_credit_limit = $5, on_hold_action = $6, out_of_terms_action = $7,
             out_of_credit_action = $8, notification_thresholds = $9, auto_suspend_over_percent = $10,
             reservation_ttl_seconds = $11, held_order_ttl_seconds = $12, updated_at = now()
         RETURNING updated_at",
    )
    .bind(tenant_id)
    .bind(settings.default_period_days as i32)
    .bind(settings.min_period_days as i32)
    .bind(settings.max_period_days as i32)
    .bind(settings.default_limit)
    .bind(settings.policy.on_hold.code())
    .bind(settings.policy.out_of_terms.code())
    .bind(settings.policy.out_of_credit.code())
    .bind(&settings.thresholds)
    .bind(settings.auto_suspend_over_percent)
    .bind(settings.reservation_ttl_seconds)
    .bind(settings.held_order_ttl_seconds)
    .fetch_one(tx)
    .await?;
    Ok(updated_at)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rating {
    pub code: String,
    pub name: String,
    pub default_limit: Option<Decimal>,
}

pub async fn create_rating(tx: &mut PgConnection, tenant_id: Uuid, rating: &Rating) -> Result<(), CreditError> {
    let inserted = sqlx::query(
        "INSERT INTO credit.ratings (tenant_id, code, name, default_credit_limit) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&rating.code)
    .bind(&rating.name)
    .bind(rating.default_limit)
    .execute(tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(CreditError::AlreadyExists {
            reason: "CREDIT_RATING_EXISTS",
            description: format!("credit rating {} exists already", rating.code),
        });
    }
    Ok(())
}

/// The tenant's credit ratings by code, after `after` when given, at most
/// `limit`.
pub async fn ratings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Rating>, CreditError> {
    let rows: Vec<(String, String, Option<Decimal>)> = sqlx::query_as(
        "SELECT code, name, default_credit_limit FROM credit.ratings
         WHERE tenant_id = $1 AND ($2::text IS NULL OR code > $2) ORDER BY code LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(|(code, name, default_limit)| Rating { code, name, default_limit }).collect())
}

pub async fn rating(connection: &mut PgConnection, tenant_id: Uuid, code: &str) -> Result<Option<Rating>, CreditError> {
    let row: Option<(String, String, Option<Decimal>)> = sqlx::query_as(
        "SELECT code, name, default_credit_limit FROM credit.ratings WHERE tenant_id = $1 AND code = $2",
    )
    .bind(tenant_id)
    .bind(code)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|(code, name, default_limit)| Rating { code, name, default_limit }))
}

pub use crate::domain::overrides::OverrideRule;

pub async fn create_rule(tx: &mut PgConnection, tenant_id: Uuid, rule: &OverrideRule) -> Result<(), CreditError> {
    sqlx::query(
        "INSERT INTO credit.override_rules (tenant_id, id, event_kind, classification, credit_rating, kyc_profile)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(rule.id)
    .bind(&rule.event_kind)
    .bind(&rule.classification)
    .bind(&rule.credit_rating)
    .bind(&rule.kyc_profile)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn rules(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<OverrideRule>, CreditError> {
    rules_page(connection, tenant_id, None, i64::MAX).await
}

/// The tenant's override rules, oldest first (their ids are time-ordered),
/// after the rule `after` when given, at most `limit`.
pub async fn rules_page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OverrideRule>, CreditError> {
    let rows: Vec<(Uuid, String, String, String, String)> = sqlx::query_as(
        "SELECT id, event_kind, classification, credit_rating, kyc_profile FROM credit.override_rules
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event_kind, classification, credit_rating, kyc_profile)| OverrideRule {
            id,
            event_kind,
            classification,
            credit_rating,
            kyc_profile,
        })
        .collect())
}

pub async fn delete_rule(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, CreditError> {
    let deleted = sqlx::query("DELETE FROM credit.override_rules WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

// ---- accounts ----

macro_rules! account_columns {
    () => {
        "account_id, currency, credit_limit, unlimited, credit_rating, terms_kind, terms_days,
    terms_day_of_month, credit_period_days, classification, kyc_profile, on_hold_action, out_of_terms_action,
    out_of_credit_action, balance, reserved, on_hold, hold_reason, overdue_invoices, updated_at, terms_version"
    };
}

fn account_from_row(row: &PgRow) -> Result<CreditAccount, CreditError> {
    let currency: String = row.get("currency");
    let kind: String = row.get("terms_kind");
    Ok(CreditAccount {
        account_id: row.get("account_id"),
        currency: Currency::parse(&currency).map_err(|_| corrupt("currency", &currency))?,
        terms: Terms {
            limit: row.get("credit_limit"),
            unlimited: row.get("unlimited"),
            rating: row.get("credit_rating"),
            payment_terms: PaymentTerms::from_parts(
                &kind,
                unsigned(row.get("terms_days")),
                unsigned(row.get("terms_day_of_month")),
            ),
            period_days: row.get::<Option<i32>, _>("credit_period_days").map(unsigned),
            classification: row.get("classification"),
            kyc_profile: row.get("kyc_profile"),
            actions: [
                optional_action(row.get("on_hold_action"))?,
                optional_action(row.get("out_of_terms_action"))?,
                optional_action(row.get("out_of_credit_action"))?,
            ],
        },
        balance: row.get("balance"),
        reserved: row.get("reserved"),
        on_hold: row.get("on_hold"),
        hold_reason: row.get("hold_reason"),
        overdue_invoices: row.get("overdue_invoices"),
        updated_at: row.get("updated_at"),
        terms_version: row.get("terms_version"),
    })
}

pub async fn account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<CreditAccount>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The accounts credit has met of `ids`.
pub async fn accounts(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<CreditAccount>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = ANY($2)"
    ))
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?;
    rows.iter().map(account_from_row).collect()
}

/// The account (if credit has met it) and its tenant's settings, in one
/// round trip.
pub async fn account_with_settings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<(Option<CreditAccount>, Settings), CreditError> {
    let row = sqlx::query(concat!(
        "SELECT a.*, ",
        settings_columns!(),
        "
         FROM (SELECT $1::uuid AS tenant_id) t
         LEFT JOIN credit.settings s ON s.tenant_id = t.tenant_id
         LEFT JOIN LATERAL (SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2) a ON true"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_one(connection)
    .await?;
    let settings = settings_from_row(&row)?;
    let account = match row.get::<Option<Uuid>, _>("account_id") {
        Some(_) => Some(account_from_row(&row)?),
        None => None,
    };
    Ok((account, settings))
}

/// The account's row, locked until the transaction ends.
pub async fn lock_account(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<CreditAccount, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(account_from_row).transpose()?.ok_or_else(|| CreditError::not_found("account", account_id))
}

/// Records an account credit meets for the first time, with the tenant's
/// default terms (a concurrent first meeting keeps the first row).
pub async fn insert_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
    limit: Decimal,
) -> Result<(), CreditError> {
    sqlx::query(
        "INSERT INTO credit.accounts (tenant_id, account_id, currency, credit_limit) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(currency.code)
    .bind(limit)
    .execute(connection)
    .await?;
    Ok(())
}

pub async fn save_terms(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    terms: &Terms,
) -> Result<(DateTime<Utc>, i64), CreditError> {
    let (kind, days, day) = terms.payment_terms.to_parts();
    let [on_hold, out_of_terms, out_of_credit] = terms.actions.map(|action| action.map(Action::code));
    let saved = sqlx::query_as(
        "UPDATE credit.accounts SET credit_limit = $3, unlimited = $4, credit_rating = $5, terms_kind = $6,
             terms_days = $7, terms_day_of_month = $8, credit_period_days = $9, classification = $10,
             kyc_profile = $11, on_hold_action = $12, out_of_terms_action = $13, out_of_credit_action = $14,
             updated_at = now(), terms_version = terms_version + 1
         WHERE tenant_id = $1 AND account_id = $2 RETURNING updated_at, terms_version",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(terms.limit)
    .bind(terms.unlimited)
    .bind(&terms.rating)
    .bind(kind)
    .bind(days as i32)
    .bind(day as i32)
    .bind(terms.period_days.map(|days| days as i32))
    .bind(&terms.classification)
    .bind(&terms.kyc_profile)
    .bind(on_hold)
    .bind(out_of_terms)
    .bind(out_of_credit)
    .fetch_one(tx)
    .await?;
    Ok(saved)
}

pub async fn set_hold(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    reason: Option<&str>,
) -> Result<(), CreditError> {
    sqlx::query(
        "UPDATE credit.accounts SET on_hold = $3, hold_reason = $4, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(reason.is_some())
    .bind(reason.unwrap_or_default())
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves the account's reservations and balance by the given amounts (the
/// caller holds the account's lock).
pub async fn move_exposure(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    reserved: Decimal,
    balance: Decimal,
) -> Result<(), CreditError> {
    sqlx::query(
        "UPDATE credit.accounts SET reserved = reserved + $3, balance = balance + $4, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(reserved)
    .bind(balance)
    .execute(tx)
    .await?;
    Ok(())
}

// ---- history ----

pub async fn add_history(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: &[u8],
    after: &[u8],
    reason: &str,
    actor: &str,
) -> Result<DateTime<Utc>, CreditError> {
    let changed_at = sqlx::query_scalar(
        "INSERT INTO credit.terms_history (tenant_id, account_id, id, before, after, reason, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING changed_at",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(Uuid::now_v7())
    .bind(before)
    .bind(after)
    .bind(reason)
    .bind(actor)
    .fetch_one(tx)
    .await?;
    Ok(changed_at)
}

#[derive(sqlx::FromRow)]
pub struct HistoryRow {
    pub id: Uuid,
    pub before: Vec<u8>,
    pub after: Vec<u8>,
    pub reason: String,
    pub actor: String,
    pub changed_at: DateTime<Utc>,
}

/// Newest first, before `before` (an id) when given.
pub async fn history(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<HistoryRow>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT id, before, after, reason, actor, changed_at FROM credit.terms_history
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

// ---- reservations ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservationRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub order_reference: String,
    pub amount: Decimal,
    /// What is still held (zero once closed).
    pub open_amount: Decimal,
    pub state: String,
    pub created_at: DateTime<Utc>,
    /// `None`: kept until invoiced or cancelled.
    pub expires_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

macro_rules! reservation_columns {
    () => {
        "id, account_id, order_reference, amount, open_amount, state, created_at, expires_at, closed_at"
    };
}

fn reservation_from_row(row: &PgRow) -> ReservationRow {
    ReservationRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        order_reference: row.get("order_reference"),
        amount: row.get("amount"),
        open_amount: row.get("open_amount"),
        state: row.get("state"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        closed_at: row.get("closed_at"),
    }
}

/// A reservation of `amount` for an order; it expires after `ttl_seconds`
/// (`None`: it is kept until invoiced or cancelled).
pub async fn insert_reservation(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    order_reference: &str,
    amount: Decimal,
    ttl_seconds: Option<i64>,
) -> Result<ReservationRow, CreditError> {
    let row = sqlx::query(concat!(
        "INSERT INTO credit.reservations (tenant_id, id, account_id, order_reference, amount, open_amount, expires_at)
         VALUES ($1, $2, $3, $4, $5, $5, now() + $6 * interval '1 second') RETURNING ",
        reservation_columns!(),
        ""
    ))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(account_id)
    .bind(order_reference)
    .bind(amount)
    .bind(ttl_seconds)
    .fetch_one(tx)
    .await?;
    Ok(reservation_from_row(&row))
}

pub async fn reservation(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<ReservationRow>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM credit.reservations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    Ok(row.as_ref().map(reservation_from_row))
}

/// Takes `amount` (`None`: all that is open; never more than is open) off
/// an open reservation; when nothing is left it closes as `closing`
/// (RELEASED, CAPTURED or EXPIRED). Only open reservations are touched, so
/// racing closings take what is there exactly once. Returns the row after
/// and the amount taken; `None` when it was not open.
pub async fn take_from_reservation(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    amount: Option<Decimal>,
    closing: &str,
) -> Result<Option<(ReservationRow, Decimal)>, CreditError> {
    let row = sqlx::query(
        "WITH before AS (
             SELECT id, least(coalesce($3, open_amount), open_amount) AS taken FROM credit.reservations
             WHERE tenant_id = $1 AND id = $2 AND state = 'OPEN' FOR UPDATE
         )
         UPDATE credit.reservations r SET open_amount = r.open_amount - before.taken,
             state = CASE WHEN r.open_amount = before.taken THEN $4 ELSE 'OPEN' END,
             closed_at = CASE WHEN r.open_amount = before.taken THEN now() END
         FROM before WHERE r.tenant_id = $1 AND r.id = before.id
         RETURNING before.taken, r.id, r.account_id, r.order_reference, r.amount, r.open_amount, r.state,
             r.created_at, r.expires_at, r.closed_at",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(amount)
    .bind(closing)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(|row| (reservation_from_row(&row), row.get("taken"))))
}

pub async fn reservations(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ReservationRow>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM credit.reservations
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows.iter().map(reservation_from_row).collect())
}

// ---- held orders ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldOrderRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub order_reference: String,
    pub amount: Decimal,
    pub payment_type: PaymentType,
    pub reasons: Vec<Vec<u8>>,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: String,
    pub note: String,
    pub reservation_id: Option<Uuid>,
    /// Its approval reserves until invoiced or cancelled.
    pub keep_until_invoiced: bool,
    /// Who pays it, in order: (account, share, reservation made on
    /// approval).
    pub payers: Vec<(Uuid, Decimal, Option<Uuid>)>,
}

macro_rules! held_columns {
    () => {
        "id, account_id, order_reference, amount, payment_type, reasons, state, created_at, expires_at, decided_at,
         decided_by, note, reservation_id, keep_until_invoiced, (SELECT coalesce(array_agg(p.account_id ORDER BY p.position), '{}')
         FROM credit.held_order_payers p WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id)
         AS payer_ids, (SELECT coalesce(array_agg(p.amount ORDER BY p.position), '{}') FROM credit.held_order_payers p
         WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id) AS payer_amounts,
         (SELECT coalesce(array_agg(p.reservation_id ORDER BY p.position), '{}') FROM credit.held_order_payers p
         WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id) AS payer_reservations"
    };
}

fn held_from_row(row: &PgRow) -> Result<HeldOrderRow, CreditError> {
    let payment_type: String = row.get("payment_type");
    Ok(HeldOrderRow {
        id: row.get("id"),
        account_id: row.get("account_id"),
        order_reference: row.get("order_reference"),
        amount: row.get("amount"),
        payment_type: PaymentType::from_code(&payment_type).map_err(|_| corrupt("payment type", &payment_type))?,
        reasons: row.get("reasons"),
        state: row.get("state"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        decided_at: row.get("decided_at"),
        decided_by: row.get("decided_by"),
        note: row.get("note"),
        reservation_id: row.get("reservation_id"),
        keep_until_invoiced: row.get("keep_until_invoiced"),
        payers: {
            let ids: Vec<Uuid> = row.get("payer_ids");
            let amounts: Vec<Decimal> = row.get("payer_amounts");
            let reservations: Vec<Option<Uuid>> = row.get("payer_reservations");
            ids.into_iter()
                .zip(amounts)
                .zip(reservations)
                .map(|((id, amount), reservation)| (id, amount, reservation))
                .collect()
        },
    })
}

/// A held order to store.
pub struct NewHeldOrder<'a> {
    pub account_id: Uuid,
    pub order_reference: &'a str,
    pub amount: Decimal,
    pub payment_type: PaymentType,
    /// Encoded bss.credit.v1.DecisionReason, one per element.
    pub reasons: Vec<Vec<u8>>,
    /// Who pays it: (account, share), in order.
    pub payers: &'a [(Uuid, Decimal)],
    pub ttl_seconds: i64,
    pub keep_until_invoiced: bool,
}

pub async fn insert_held_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    held: &NewHeldOrder<'_>,
) -> Result<HeldOrderRow, CreditError> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO credit.held_orders (tenant_id, id, account_id, order_reference, amount, payment_type, reasons,
             expires_at, keep_until_invoiced)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + $8 * interval '1 second', $9)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(held.account_id)
    .bind(held.order_reference)
    .bind(held.amount)
    .bind(held.payment_type.code())
    .bind(&held.reasons)
    .bind(held.ttl_seconds)
    .bind(held.keep_until_invoiced)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO credit.held_order_payers (tenant_id, held_order_id, position, account_id, amount)
         SELECT $1, $2, p.position - 1, p.account_id, p.amount
         FROM unnest($3::uuid[], $4::numeric[]) WITH ORDINALITY AS p(account_id, amount, position)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(held.payers.iter().map(|(account, _)| *account).collect::<Vec<_>>())
    .bind(held.payers.iter().map(|(_, amount)| *amount).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    held_order(tx, tenant_id, id).await?.ok_or_else(|| CreditError::not_found("held order", id))
}

pub async fn held_order(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row =
        sqlx::query(concat!("SELECT ", held_columns!(), " FROM credit.held_orders WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(connection)
            .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// Decides a pending held order: only one decision (or expiry) wins;
/// `None` when it was not pending.
pub async fn decide_held_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    state: &str,
    decided_by: &str,
    note: &str,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row = sqlx::query(concat!(
        "UPDATE credit.held_orders SET state = $3, decided_at = now(), decided_by = $4, note = $5
         WHERE tenant_id = $1 AND id = $2 AND state = 'PENDING' RETURNING ",
        held_columns!(),
        ""
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(state)
    .bind(decided_by)
    .bind(note)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// Records the reservations an approval made, one per payer in order (the
/// first one also as the held order's own).
pub async fn set_held_reservations(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    reservation_ids: &[Uuid],
) -> Result<(), CreditError> {
    sqlx::query("UPDATE credit.held_orders SET reservation_id = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(reservation_ids.first())
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE credit.held_order_payers p SET reservation_id = r.reservation_id
         FROM unnest($3::uuid[]) WITH ORDINALITY AS r(reservation_id, position)
         WHERE p.tenant_id = $1 AND p.held_order_id = $2 AND p.position = r.position - 1",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(reservation_ids)
    .execute(tx)
    .await?;
    Ok(())
}

/// Oldest first, after `after` (an id) when given, in `state` when given.
pub async fn held_orders(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    state: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<HeldOrderRow>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        held_columns!(),
        " FROM credit.held_orders
         WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(state)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.iter().map(held_from_row).collect()
}

/// The open reservations of an order: of one account, or (`None`) of every
/// account, as (reservation, account), oldest first.
pub async fn open_reservations_of_order(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
    order_reference: &str,
) -> Result<Vec<(Uuid, Uuid)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT id, account_id FROM credit.reservations
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR account_id = $2) AND order_reference = $3 AND state = 'OPEN'
         ORDER BY id",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(order_reference)
    .fetch_all(connection)
    .await?)
}

/// The pending held order of an account's order reference, if any.
pub async fn pending_held_order_of(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    order_reference: &str,
) -> Result<Option<HeldOrderRow>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        held_columns!(),
        " FROM credit.held_orders
         WHERE tenant_id = $1 AND account_id = $2 AND order_reference = $3 AND state = 'PENDING'
         ORDER BY id LIMIT 1"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(order_reference)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(held_from_row).transpose()
}

/// What credit holds open for the accounts: (account, reason, count) with
/// reasons RESERVATIONS_OPEN (reservations on the account) and
/// HELD_ORDERS_PENDING (held orders of the account or paid by it).
pub async fn unsettled(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, String, i64)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT account_id, reason, count FROM (
             SELECT account_id, 'RESERVATIONS_OPEN' AS reason, count(*) AS count FROM credit.reservations
             WHERE tenant_id = $1 AND account_id = ANY($2) AND state = 'OPEN' GROUP BY 1
             UNION ALL
             SELECT a.account_id, 'HELD_ORDERS_PENDING', count(DISTINCT h.id) FROM credit.held_orders h
             JOIN LATERAL (SELECT h.account_id UNION SELECT p.account_id FROM credit.held_order_payers p
                           WHERE p.tenant_id = h.tenant_id AND p.held_order_id = h.id) a ON true
             WHERE h.tenant_id = $1 AND h.state = 'PENDING' AND a.account_id = ANY($2) GROUP BY 1
         ) open ORDER BY account_id, reason",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?)
}

/// Records an invoice of the account as overdue, or no longer; the account
/// counts its overdue invoices (applying the same fact twice counts once).
/// An account credit has not met has nothing to count.
pub async fn mark_overdue(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    invoice_id: Uuid,
    account_id: Uuid,
    overdue: bool,
) -> Result<(), CreditError> {
    let changed = if overdue {
        sqlx::query(
            "INSERT INTO credit.overdue_invoices (tenant_id, invoice_id, account_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
    } else {
        sqlx::query("DELETE FROM credit.overdue_invoices WHERE tenant_id = $1 AND invoice_id = $2 AND account_id = $3")
    }
    .bind(tenant_id)
    .bind(invoice_id)
    .bind(account_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if changed > 0 {
        sqlx::query(
            "UPDATE credit.accounts SET overdue_invoices = overdue_invoices + $3, updated_at = now()
             WHERE tenant_id = $1 AND account_id = $2",
        )
        .bind(tenant_id)
        .bind(account_id)
        .bind(if overdue { 1 } else { -1 })
        .execute(tx)
        .await?;
    }
    Ok(())
}

// ---- suspensions ----

pub async fn request_suspension(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), CreditError> {
    sqlx::query("INSERT INTO credit.suspensions (tenant_id, id, account_id) VALUES ($1, $2, $3)")
        .bind(tenant_id)
        .bind(Uuid::now_v7())
        .bind(account_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Suspensions not done yet: (tenant, id, account), oldest first.
pub async fn pending_suspensions(
    connection: &mut PgConnection,
    limit: i64,
) -> Result<Vec<(Uuid, Uuid, Uuid)>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT tenant_id, id, account_id FROM credit.suspensions WHERE done_at IS NULL ORDER BY requested_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

pub async fn suspension_done(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    outcome: &str,
) -> Result<(), CreditError> {
    sqlx::query("UPDATE credit.suspensions SET done_at = now(), outcome = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .bind(outcome)
        .execute(connection)
        .await?;
    Ok(())
}

// ---- the clean-order fast path ----

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
    let result = sqlx::query_as::<_, (bool, Option<Decimal>, bool)>(
        "WITH gate AS (
             SELECT CASE WHEN $10 = '' THEN true
                 ELSE pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || $1::text || ':' || $10, 0))
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
         SELECT (SELECT open FROM gate), (SELECT available_before FROM res), EXISTS (SELECT 1 FROM res)",
    )
    .bind(clean.tenant_id)
    .bind(clean.account_id)
    .bind(clean.amount)
    .bind(clean.thresholds)
    .bind(clean.reservation_id)
    .bind(clean.order_reference)
    .bind(clean.created_at)
    .bind(clean.expires_at)
    .bind(&clean.event)
    .bind(request_id)
    .bind(request_hash)
    .bind(response)
    .fetch_one(pool)
    .await;
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

// ---- payment preferences ----

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PreferenceRow {
    pub account_id: Uuid,
    pub card_token_reference: String,
    pub card_label: String,
    pub use_for_subscriptions: bool,
    pub use_for_purchases: bool,
    pub updated_at: DateTime<Utc>,
}

pub async fn set_preference(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    preference: &PreferenceRow,
) -> Result<PreferenceRow, CreditError> {
    Ok(sqlx::query_as(
        "INSERT INTO credit.payment_preferences
             (tenant_id, account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET card_token_reference = $3, card_label = $4,
             use_for_subscriptions = $5, use_for_purchases = $6, updated_at = now()
         RETURNING account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases, updated_at",
    )
    .bind(tenant_id)
    .bind(preference.account_id)
    .bind(&preference.card_token_reference)
    .bind(&preference.card_label)
    .bind(preference.use_for_subscriptions)
    .bind(preference.use_for_purchases)
    .fetch_one(tx)
    .await?)
}

pub async fn preference(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<PreferenceRow>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases, updated_at
         FROM credit.payment_preferences WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?)
}
