//! Tenants: organisations running their own books.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

use super::error::AccountsError;
use super::residential::ResidentialFeatures;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameUniquenessScope {
    /// Names differ within the tenant.
    Tenant,
    /// Names differ across every tenant under the same parent tenant that
    /// uses this scope too.
    ParentTenant,
}

impl NameUniquenessScope {
    pub fn as_str(self) -> &'static str {
        match self {
            NameUniquenessScope::Tenant => "tenant",
            NameUniquenessScope::ParentTenant => "parent_tenant",
        }
    }

    pub fn from_stored(value: &str) -> Option<NameUniquenessScope> {
        [NameUniquenessScope::Tenant, NameUniquenessScope::ParentTenant]
            .into_iter()
            .find(|scope| scope.as_str() == value)
    }
}

#[derive(Clone, Debug)]
pub struct NewTenant {
    pub name: String,
    pub default_currency: String,
    pub parent_tenant_id: Option<Uuid>,
    pub name_uniqueness_scope: NameUniquenessScope,
    pub currencies: CurrencySettings,
    pub time_zone: String,
}

/// The documents' multi-currency setting: whether accounts may use another
/// currency than the tenant's default, and the currency of each country
/// (ISO 3166-1 alpha-2 to ISO 4217) a new account takes when it names none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CurrencySettings {
    pub multi_currency: bool,
    pub by_country: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    pub default_currency: String,
    pub parent_tenant_id: Option<Uuid>,
    pub name_uniqueness_scope: NameUniquenessScope,
    pub created_at: DateTime<Utc>,
    /// Suspended tenants' users are refused; `None` while active.
    pub suspend_reason: Option<String>,
    /// The generic account guests quote as.
    pub guest_account_id: Option<Uuid>,
    /// The generic account of each guest region, by region code.
    pub guest_regions: BTreeMap<String, Uuid>,
    /// The account each registration profile assigns new users to.
    pub registration_profiles: BTreeMap<String, Uuid>,
    /// What its residential accounts may have.
    pub residential: ResidentialFeatures,
    pub currencies: CurrencySettings,
    /// The IANA time zone its people read dates in.
    pub time_zone: String,
}

impl Tenant {
    /// The id an account name is unique under: the parent tenant when the
    /// tenant shares its parent's name space, else the tenant itself.
    pub fn name_scope(&self) -> Uuid {
        match (self.name_uniqueness_scope, self.parent_tenant_id) {
            (NameUniquenessScope::ParentTenant, Some(parent)) => parent,
            _ => self.id,
        }
    }

    /// The currency of a new account that `asked` for one (or not) and
    /// lives in `country`: single-currency, the default and only it
    /// (another is MULTI_CURRENCY_OFF); multi-currency, the one asked, else
    /// its country's, else the default. A managed copy keeps its tenant
    /// reseller's currency whatever the setting (the sync makes it).
    pub fn currency_for(
        &self,
        asked: Option<&str>,
        country: Option<&str>,
        managed: bool,
    ) -> Result<String, AccountsError> {
        let default = self.default_currency.as_str();
        let currency = match (asked, self.currencies.multi_currency || managed) {
            (Some(asked), true) => asked,
            (Some(asked), false) if asked == default => asked,
            (Some(asked), false) => {
                return Err(AccountsError::precondition(
                    "MULTI_CURRENCY_OFF",
                    format!("the tenant is not multi-currency: its accounts are in {default}, not {asked}"),
                ));
            }
            (None, true) => {
                country.and_then(|country| self.currencies.by_country.get(country)).map_or(default, String::as_str)
            }
            (None, false) => default,
        };
        Ok(currency.to_owned())
    }
}

/// Whether `settings` may replace a tenant's, when `other_currency`
/// accounts are in another currency than its default: multi-currency goes
/// off only when none is (MULTI_CURRENCY_IN_USE).
pub fn check_currency_settings(settings: &CurrencySettings, other_currency: i64) -> Result<(), AccountsError> {
    match !settings.multi_currency && other_currency > 0 {
        true => Err(AccountsError::precondition(
            "MULTI_CURRENCY_IN_USE",
            format!("{other_currency} accounts are in another currency than the tenant's default"),
        )),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(scope: NameUniquenessScope, parent: Option<Uuid>) -> Tenant {
        Tenant {
            id: Uuid::now_v7(),
            name: "Reseller".to_owned(),
            default_currency: "EUR".to_owned(),
            parent_tenant_id: parent,
            name_uniqueness_scope: scope,
            created_at: Utc::now(),
            suspend_reason: None,
            guest_account_id: None,
            guest_regions: BTreeMap::new(),
            registration_profiles: BTreeMap::new(),
            residential: ResidentialFeatures::default(),
            currencies: CurrencySettings::default(),
            time_zone: "UTC".to_owned(),
        }
    }

    #[test]
    fn names_are_scoped_to_the_parent_only_when_the_tenant_shares_it() {
        let parent = Uuid::now_v7();
        let sharing = tenant(NameUniquenessScope::ParentTenant, Some(parent));
        assert_eq!(sharing.name_scope(), parent);
        let alone = tenant(NameUniquenessScope::Tenant, Some(parent));
        assert_eq!(alone.name_scope(), alone.id);
        let top = tenant(NameUniquenessScope::ParentTenant, None);
        assert_eq!(top.name_scope(), top.id);
    }

    #[test]
    fn a_single_currency_tenant_keeps_every_account_in_its_currency() {
        let tenant = tenant(NameUniquenessScope::Tenant, None);
        assert_eq!(tenant.currency_for(None, Some("NZ"), false).expect("default"), "EUR");
        assert_eq!(tenant.currency_for(Some("EUR"), None, false).expect("the default asked"), "EUR");
        let refused = tenant.currency_for(Some("USD"), None, false).expect_err("another");
        assert_eq!(refused.reason(), "MULTI_CURRENCY_OFF");
        assert_eq!(tenant.currency_for(Some("USD"), None, true).expect("a managed copy"), "USD");
    }

    #[test]
    fn a_multi_currency_tenant_gives_a_new_account_its_countrys_currency_unless_it_asks() {
        let tenant = Tenant {
            currencies: CurrencySettings {
                multi_currency: true,
                by_country: [("NZ".to_owned(), "NZD".to_owned())].into(),
            },
            ..tenant(NameUniquenessScope::Tenant, None)
        };
        assert_eq!(tenant.currency_for(None, Some("NZ"), false).expect("country"), "NZD");
        assert_eq!(tenant.currency_for(None, Some("AU"), false).expect("no currency for AU"), "EUR");
        assert_eq!(tenant.currency_for(None, None, false).expect("no country"), "EUR");
        assert_eq!(tenant.currency_for(Some("USD"), Some("NZ"), false).expect("asked"), "USD");
    }

    #[test]
    fn multi_currency_goes_off_only_when_no_account_uses_another_currency() {
        let off = CurrencySettings::default();
        assert!(check_currency_settings(&off, 0).is_ok());
        assert_eq!(check_currency_settings(&off, 2).expect_err("in use").reason(), "MULTI_CURRENCY_IN_USE");
        let on = CurrencySettings { multi_currency: true, ..CurrencySettings::default() };
        assert!(check_currency_settings(&on, 2).is_ok());
    }
}
