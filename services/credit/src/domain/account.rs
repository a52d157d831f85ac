//! A tenant's credit settings and an account's credit record: terms,
//! policy and position.

use bss_platform::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::decision::{Action, Policy};
use super::exposure::Exposure;
use super::terms::PaymentTerms;

/// The most notification thresholds a tenant may set.
pub const MAX_THRESHOLDS: usize = 4;
/// Bounds of the reservation and held-order lifetimes, in seconds.
pub const TTL_RANGE: std::ops::RangeInclusive<i64> = 60..=31_536_000;

/// A tenant's credit settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub default_period_days: u32,
    pub min_period_days: u32,
    pub max_period_days: u32,
    pub default_limit: Decimal,
    pub policy: Policy,
    pub thresholds: Vec<Decimal>,
    pub auto_suspend_over_percent: Option<Decimal>,
    pub reservation_ttl_seconds: i64,
    pub held_order_ttl_seconds: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            default_period_days: 30,
            min_period_days: 0,
            max_period_days: 90,
            default_limit: Decimal::ZERO,
            policy: Policy { on_hold: Action::Block, out_of_terms: Action::Warn, out_of_credit: Action::Block },
            thresholds: Vec::new(),
            auto_suspend_over_percent: None,
            reservation_ttl_seconds: 604_800,
            held_order_ttl_seconds: 604_800,
            updated_at: None,
        }
    }
}

impl Settings {
    /// Whether `days` is a credit period an account may be given.
    pub fn period_allowed(&self, days: u32) -> bool {
        (self.min_period_days..=self.max_period_days).contains(&days)
    }
}

impl Action {
    /// The code stored in the database.
    pub fn code(self) -> &'static str {
        match self {
            Action::NoAction => "NO_ACTION",
            Action::Block => "BLOCK",
            Action::Warn => "WARN",
            Action::WarnCreditCardOnly => "WARN_CREDIT_CARD_ONLY",
            Action::HoldForApproval => "HOLD_FOR_APPROVAL",
        }
    }

    pub fn from_code(code: &str) -> Option<Action> {
        [Action::NoAction, Action::Block, Action::Warn, Action::WarnCreditCardOnly, Action::HoldForApproval]
            .into_iter()
            .find(|action| action.code() == code)
    }
}

impl PaymentTerms {
    /// The kind's code stored in the database, with its days and day.
    pub fn to_parts(self) -> (&'static str, u32, u32) {
        match self {
            PaymentTerms::NotSpecified => ("UNSPECIFIED", 0, 0),
            PaymentTerms::NetDays(days) => ("NET_DAYS", days, 0),
            PaymentTerms::DayOfMonth(day) => ("DAY_OF_MONTH", 0, day),
            PaymentTerms::DaysAfterEndOfMonth(days) => ("DAYS_AFTER_END_OF_MONTH", days, 0),
            PaymentTerms::DayOfNextMonth(day) => ("DAY_OF_NEXT_MONTH", 0, day),
            PaymentTerms::CashOnDelivery => ("CASH_ON_DELIVERY", 0, 0),
        }
    }

    pub fn from_parts(kind: &str, days: u32, day: u32) -> PaymentTerms {
        match kind {
            "NET_DAYS" => PaymentTerms::NetDays(days),
            "DAY_OF_MONTH" => PaymentTerms::DayOfMonth(day),
            "DAYS_AFTER_END_OF_MONTH" => PaymentTerms::DaysAfterEndOfMonth(days),
            "DAY_OF_NEXT_MONTH" => PaymentTerms::DayOfNextMonth(day),
            "CASH_ON_DELIVERY" => PaymentTerms::CashOnDelivery,
            _ => PaymentTerms::NotSpecified,
        }
    }
}

/// The terms of an account that a credit manager sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    pub limit: Decimal,
    pub unlimited: bool,
    pub rating: String,
    pub payment_terms: PaymentTerms,
    /// `None`: the tenant's default period.
    pub period_days: Option<u32>,
    pub classification: String,
    pub kyc_profile: String,
    /// Per condition (on hold, out of terms, out of credit); `None`: the
    /// tenant's default.
    pub actions: [Option<Action>; 3],
}

impl Terms {
    /// The terms of an account nobody has set terms for.
    pub fn defaults(settings: &Settings) -> Terms {
        Terms {
            limit: settings.default_limit,
            unlimited: false,
            rating: String::new(),
            payment_terms: PaymentTerms::NotSpecified,
            period_days: None,
            classification: String::new(),
            kyc_profile: String::new(),
            actions: [None; 3],
        }
    }

    /// The policy in force: the account's actions, else the tenant's.
    pub fn policy(&self, settings: &Settings) -> Policy {
        let [on_hold, out_of_terms, out_of_credit] = self.actions;
        Policy {
            on_hold: on_hold.unwrap_or(settings.policy.on_hold),
            out_of_terms: out_of_terms.unwrap_or(settings.policy.out_of_terms),
            out_of_credit: out_of_credit.unwrap_or(settings.policy.out_of_credit),
        }
    }

    pub fn period_days(&self, settings: &Settings) -> u32 {
        self.period_days.unwrap_or(settings.default_period_days)
    }
}

/// An account as credit keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditAccount {
    pub account_id: Uuid,
    pub currency: Currency,
    pub terms: Terms,
    pub balance: Decimal,
    pub reserved: Decimal,
    pub on_hold: bool,
    pub hold_reason: String,
    pub overdue_invoices: i32,
    pub updated_at: DateTime<Utc>,
}

impl CreditAccount {
    pub fn exposure(&self) -> Exposure {
        Exposure {
            balance: self.balance,
            reserved: self.reserved,
            limit: (!self.terms.unlimited).then_some(self.terms.limit),
        }
    }

    pub fn out_of_terms(&self) -> bool {
        self.overdue_invoices > 0
    }
}
