//! A tenant's credit settings and an account's credit record: terms,
//! policy and position.

use std::collections::BTreeSet;

use bss_platform::auth::Role;
use bss_platform::error::{PlatformError, Violations};
use bss_platform::etag;
use bss_platform::money::Currency;

use crate::domain::error::CreditError;
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
    /// Only credit managers and tenant admins decide held orders.
    pub held_orders_credit_managers_only: bool,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Settings {
    /// The opaque version of the settings a client sends back with an
    /// update: the time of their last change, in microseconds ("v0" while
    /// the defaults apply).
    pub fn etag(&self) -> String {
        etag::of_time(self.updated_at)
    }

    /// ABORTED (ETAG_MISMATCH) when `expected` is set and the settings
    /// changed since it was read.
    pub fn check_etag(&self, expected: &str) -> Result<(), CreditError> {
        Ok(etag::check("the credit settings", expected, &self.etag())?)
    }
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
            held_orders_credit_managers_only: false,
            updated_at: None,
        }
    }
}

impl Settings {
    /// Whether a caller with `roles` may approve or reject held orders:
    /// tenant admins and credit managers always; account managers unless
    /// the tenant keeps the decision to credit managers (PERMISSION_DENIED
    /// HELD_ORDER_DECIDER otherwise).
    pub fn check_held_order_decider(&self, roles: &BTreeSet<Role>) -> Result<(), CreditError> {
        let decides = |role: &Role| match role {
            Role::TenantAdmin | Role::CreditManager => true,
            Role::AccountManager => !self.held_orders_credit_managers_only,
            _ => false,
        };
        match roles.iter().any(decides) {
            true => Ok(()),
            false => Err(CreditError::Platform(PlatformError::Denied {
                reason: "HELD_ORDER_DECIDER",
                description: "the tenant keeps the decision on held orders to credit managers".to_owned(),
            })),
        }
    }

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
            Action::Prepaid => "PREPAID",
        }
    }

    /// A stored policy's action (PREPAID is never one).
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
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A credit rating of the tenant: an account given it gets its default
/// limit unless a limit is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rating {
    pub code: String,
    pub name: String,
    pub default_limit: Option<Decimal>,
}

/// Terms as a credit manager asks for them, before the tenant's ratings
/// and range resolve them (see [`TermsInput::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermsInput {
    /// `None`: the rating's default limit, else the tenant's.
    pub limit: Option<Decimal>,
    /// The currency the limit was given in, when it came as money: it must
    /// be the account's.
    pub limit_currency: Option<Currency>,
    pub unlimited: bool,
    pub rating: String,
    pub payment_terms: PaymentTerms,
    pub period_days: Option<u32>,
    pub classification: String,
    pub kyc_profile: String,
    pub actions: [Option<Action>; 3],
}

impl TermsInput {
    /// The terms these ask for, for `account` under the tenant's
    /// `settings`, with `rating` the tenant's rating of the code named
    /// (`None`: no such rating). The limit is the one named, else the
    /// rating's default, else the tenant's; a limit given as money must be
    /// in the account's currency; the credit period must be inside the
    /// tenant's range (CREDIT_PERIOD_OUT_OF_RANGE); a rating named must
    /// exist (CREDIT_RATING_UNKNOWN).
    pub fn resolve(
        self,
        account: &CreditAccount,
        settings: &Settings,
        rating: Option<&Rating>,
    ) -> Result<Terms, CreditError> {
        if let Some(currency) = self.limit_currency {
            account.check_currency("terms.limit.currency_code", currency)?;
        }
        if let Some(days) = self.period_days
            && !settings.period_allowed(days)
        {
            return Err(CreditError::precondition(
                "CREDIT_PERIOD_OUT_OF_RANGE",
                format!(
                    "a credit period of {days} days is outside the tenant's range of {} to {} days",
                    settings.min_period_days, settings.max_period_days
                ),
            ));
        }
        if !self.rating.is_empty() && rating.is_none() {
            return Err(CreditError::precondition(
                "CREDIT_RATING_UNKNOWN",
                format!("no credit rating {}", self.rating),
            ));
        }
        let limit =
            self.limit.or_else(|| rating.and_then(|rating| rating.default_limit)).unwrap_or(settings.default_limit);
        Ok(Terms {
            limit,
            unlimited: self.unlimited,
            rating: self.rating,
            payment_terms: self.payment_terms,
            period_days: self.period_days,
            classification: self.classification,
            kyc_profile: self.kyc_profile,
            actions: self.actions,
        })
    }
}

/// An account's terms as they stood at one moment: what the history keeps
/// before and after each change, and what a read shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TermsSnapshot {
    pub terms: Terms,
    /// The credit period in force then (the tenant's default when the
    /// account had none of its own).
    pub period_days: u32,
    pub updated_at: DateTime<Utc>,
    /// The terms' version then (their etag); `None` in history an older
    /// release kept before terms had one.
    pub version: Option<i64>,
}

impl TermsSnapshot {
    /// The account's terms now, under the tenant's `settings`.
    pub fn of(account: &CreditAccount, settings: &Settings) -> TermsSnapshot {
        TermsSnapshot {
            terms: account.terms.clone(),
            period_days: account.terms.period_days(settings),
            updated_at: account.updated_at,
            version: Some(account.terms_version),
        }
    }

    pub fn etag(&self) -> String {
        self.version.map(etag::of_version).unwrap_or_default()
    }
}

/// One change of an account's terms as the history keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TermsChange {
    pub before: TermsSnapshot,
    pub after: TermsSnapshot,
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
    /// Raised by every change of the terms, and only of them.
    pub terms_version: i64,
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

    /// INVALID_ARGUMENT on `field` unless `currency` is the account's: an
    /// account's amounts are all in its one currency.
    pub fn check_currency(&self, field: &str, currency: Currency) -> Result<(), CreditError> {
        if currency == self.currency {
            return Ok(());
        }
        Err(Violations::single(field, format!("must be the account's currency, {}", self.currency.code)).into())
    }

    /// The opaque version of the terms a client sends back with a change.
    pub fn terms_etag(&self) -> String {
        etag::of_version(self.terms_version)
    }

    /// ABORTED (ETAG_MISMATCH) when `expected` is set and the terms changed
    /// since it was read; orders, payments and holds do not change it.
    pub fn check_terms_etag(&self, expected: &str) -> Result<(), CreditError> {
        Ok(etag::check(&format!("the credit terms of account {}", self.account_id), expected, &self.terms_etag())?)
    }
}

#[cfg(test)]
mod tests {
    use bss_platform::error::PlatformError;

    use super::*;

    #[test]
    fn account_managers_decide_held_orders_unless_the_tenant_keeps_them_to_credit_managers() {
        let roles = |roles: &[Role]| roles.iter().copied().collect::<BTreeSet<Role>>();
        let documents = Settings::default();
        let kept = Settings { held_orders_credit_managers_only: true, ..Settings::default() };
        for settings in [&documents, &kept] {
            assert!(settings.check_held_order_decider(&roles(&[Role::CreditManager])).is_ok());
            assert!(settings.check_held_order_decider(&roles(&[Role::TenantAdmin])).is_ok());
            assert!(settings.check_held_order_decider(&roles(&[Role::BillingClerk, Role::SalesRep])).is_err());
        }
        assert!(documents.check_held_order_decider(&roles(&[Role::AccountManager])).is_ok());
        let refused = kept.check_held_order_decider(&roles(&[Role::AccountManager])).expect_err("kept");
        assert!(matches!(refused, CreditError::Platform(PlatformError::Denied { reason: "HELD_ORDER_DECIDER", .. })));
        assert!(kept.check_held_order_decider(&roles(&[Role::AccountManager, Role::CreditManager])).is_ok());
    }

    fn account(terms_version: i64) -> CreditAccount {
        CreditAccount {
            account_id: Uuid::nil(),
            currency: Currency::parse("EUR").expect("EUR"),
            terms: Terms { limit: Decimal::ONE_HUNDRED, ..Terms::defaults(&Settings::default()) },
            balance: Decimal::ZERO,
            reserved: Decimal::ZERO,
            on_hold: false,
            hold_reason: String::new(),
            overdue_invoices: 0,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            terms_version,
        }
    }

    #[test]
    fn an_update_of_the_settings_names_the_version_it_read_or_none() {
        let defaults = Settings::default();
        assert_eq!(defaults.etag(), "v0");
        assert!(defaults.check_etag("v0").is_ok());
        let changed = Settings { updated_at: DateTime::from_timestamp_micros(1_700_000_000_000_001), ..defaults };
        assert_eq!(changed.etag(), "v1700000000000001");
        assert!(changed.check_etag("").is_ok());
        assert!(matches!(changed.check_etag("v0"), Err(CreditError::Platform(PlatformError::EtagMismatch(_)))));
    }

    fn asked(limit: Option<Decimal>, rating: &str, period_days: Option<u32>) -> TermsInput {
        TermsInput {
            limit,
            limit_currency: None,
            unlimited: false,
            rating: rating.to_owned(),
            payment_terms: PaymentTerms::NotSpecified,
            period_days,
            classification: String::new(),
            kyc_profile: String::new(),
            actions: [None; 3],
        }
    }

    #[test]
    fn terms_take_the_limit_named_else_the_ratings_else_the_tenants() {
        let settings = Settings { default_limit: Decimal::TEN, min_period_days: 7, ..Settings::default() };
        let gold = Rating { code: "GOLD".into(), name: "Gold".into(), default_limit: Some(Decimal::ONE_THOUSAND) };
        let plain = Rating { default_limit: None, ..gold.clone() };
        let resolve = |input: TermsInput, rating| input.resolve(&account(1), &settings, rating);
        assert_eq!(resolve(asked(Some(Decimal::ONE), "GOLD", None), Some(&gold)).expect("valid").limit, Decimal::ONE);
        assert_eq!(resolve(asked(None, "GOLD", None), Some(&gold)).expect("valid").limit, Decimal::ONE_THOUSAND);
        assert_eq!(resolve(asked(None, "GOLD", None), Some(&plain)).expect("valid").limit, Decimal::TEN);
        assert_eq!(resolve(asked(None, "", Some(30)), None).expect("valid").period_days, Some(30));
        let unknown = resolve(asked(None, "GOLD", None), None).expect_err("refused");
        assert!(matches!(unknown, CreditError::Precondition { reason: "CREDIT_RATING_UNKNOWN", .. }), "{unknown:?}");
        for days in [6, 91] {
            let outside = resolve(asked(None, "", Some(days)), None).expect_err("refused");
            assert!(matches!(outside, CreditError::Precondition { reason: "CREDIT_PERIOD_OUT_OF_RANGE", .. }));
        }
        let in_dollars =
            TermsInput { limit_currency: Some(Currency::parse("USD").expect("valid")), ..asked(None, "", None) };
        assert!(matches!(resolve(in_dollars, None), Err(CreditError::Invalid(_))), "the account is in EUR");
    }

    #[test]
    fn a_change_names_the_terms_it_read_or_none() {
        let read = account(3);
        assert_eq!(read.terms_etag(), "v3");
        assert!(read.check_terms_etag("").is_ok(), "no etag: the change is unconditional");
        assert!(read.check_terms_etag("v3").is_ok());
        let stale = read.check_terms_etag("v2").expect_err("changed since");
        assert!(matches!(stale, CreditError::Platform(PlatformError::EtagMismatch(_))), "{stale:?}");
        assert!(account(4).check_terms_etag("v3").is_err());
    }
}
