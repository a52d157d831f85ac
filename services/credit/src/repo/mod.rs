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

use crate::domain::account::{CreditAccount, Settings, Terms, TermsChange, TermsSnapshot};
use crate::domain::authorization::AccountReason;
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

macro_rules! settings_columns {
    () => {
        "s.default_credit_period_days AS s_default_credit_period_days, s.min_credit_period_days AS
         s_min_credit_period_days, s.max_credit_period_days AS s_max_credit_period_days,
         s.default_credit_limit AS s_default_credit_limit, s.on_hold_action AS s_on_hold_action,
         s.out_of_terms_action AS s_out_of_terms_action, s.out_of_credit_action AS s_out_of_credit_action,
         s.notification_thresholds AS s_notification_thresholds, s.auto_suspend_over_percent AS
         s_auto_suspend_over_percent, s.reservation_ttl_seconds AS s_reservation_ttl_seconds,
         s.held_order_ttl_seconds AS s_held_order_ttl_seconds, s.held_orders_credit_managers_only AS
         s_held_orders_credit_managers_only, s.updated_at AS s_updated_at"
    };
}

macro_rules! account_columns {
    () => {
        "account_id, currency, credit_limit, unlimited, credit_rating, terms_kind, terms_days,
    terms_day_of_month, credit_period_days, classification, kyc_profile, on_hold_action, out_of_terms_action,
    out_of_credit_action, balance, reserved, on_hold, hold_reason, overdue_invoices, updated_at, terms_version"
    };
}

macro_rules! reservation_columns {
    () => {
        "id, account_id, order_reference, amount, open_amount, state, created_at, expires_at, closed_at"
    };
}

macro_rules! held_columns {
    () => {
        "id, account_id, order_reference, amount, payment_type, reasons_doc, state, created_at, expires_at, decided_at,
         decided_by, note, reservation_id, keep_until_invoiced, (SELECT coalesce(array_agg(p.account_id ORDER BY p.position), '{}')
         FROM credit.held_order_payers p WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id)
         AS payer_ids, (SELECT coalesce(array_agg(p.amount ORDER BY p.position), '{}') FROM credit.held_order_payers p
         WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id) AS payer_amounts,
         (SELECT coalesce(array_agg(p.reservation_id ORDER BY p.position), '{}') FROM credit.held_order_payers p
         WHERE p.tenant_id = held_orders.tenant_id AND p.held_order_id = held_orders.id) AS payer_reservations"
    };
}

mod accounts;
mod clean;
mod held_orders;
mod history;
mod preferences;
mod reservations;
mod settings;
mod suspensions;

pub use accounts::*;
pub use clean::*;
pub use held_orders::*;
pub use history::*;
pub use preferences::*;
pub use reservations::*;
pub use settings::*;
pub use suspensions::*;

/// Converts what an older release stored as wire messages (the history's
/// terms, a held order's reasons) into credit's own documents, with
/// `terms` and `reason` decoding one message; returns how many rows.
pub async fn convert_stored(
    db: &sqlx::PgPool,
    terms: impl Fn(&[u8]) -> Result<TermsSnapshot, String>,
    reason: impl Fn(&[u8]) -> Result<AccountReason, String>,
) -> Result<u64, CreditError> {
    let changes = bss_platform::db::rewrite_batches(
        db,
        "SELECT tenant_id, id, before, after FROM credit.terms_history WHERE change IS NULL
         ORDER BY tenant_id, id LIMIT 500 FOR UPDATE",
        "UPDATE credit.terms_history t SET change = c.doc, before = NULL, after = NULL
         FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS c(tenant_id, id, doc)
         WHERE t.tenant_id = c.tenant_id AND t.id = c.id",
        |(tenant_id, id, before, after): (Uuid, Uuid, Vec<u8>, Vec<u8>)| {
            let change = TermsChange { before: terms(&before)?, after: terms(&after)? };
            Ok((tenant_id, id, serde_json::to_value(change).map_err(|error| error.to_string())?))
        },
    )
    .await?;
    let held = bss_platform::db::rewrite_batches(
        db,
        "SELECT tenant_id, id, reasons FROM credit.held_orders WHERE reasons_doc IS NULL
         ORDER BY tenant_id, id LIMIT 500 FOR UPDATE",
        "UPDATE credit.held_orders t SET reasons_doc = c.doc, reasons = '{}'
         FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) AS c(tenant_id, id, doc)
         WHERE t.tenant_id = c.tenant_id AND t.id = c.id",
        |(tenant_id, id, reasons): (Uuid, Uuid, Vec<Vec<u8>>)| {
            let reasons = reasons.iter().map(|bytes| reason(bytes)).collect::<Result<Vec<_>, _>>()?;
            Ok((tenant_id, id, serde_json::to_value(reasons).map_err(|error| error.to_string())?))
        },
    )
    .await?;
    Ok(changes + held)
}
