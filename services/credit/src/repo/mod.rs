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
        "id, account_id, order_reference, amount, payment_type, reasons, state, created_at, expires_at, decided_at,
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
