//! The account: its writable fields, parsed once and valid from then on.

use std::collections::BTreeMap;

use bss_platform::payment::PaymentType;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::address::CountryCode;
use super::error::AccountsError;
use super::history::{FieldChange, changed_fields};
use super::managed;
pub use super::managed::ManagedBy;
use super::text::Email;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    Direct,
    Client,
    Reseller,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Direct => "direct",
            AccountKind::Client => "client",
            AccountKind::Reseller => "reseller",
        }
    }

    pub fn from_stored(value: &str) -> Option<AccountKind> {
        [AccountKind::Direct, AccountKind::Client, AccountKind::Reseller]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountProfile {
    Normal,
    Residential,
}

impl AccountProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountProfile::Normal => "normal",
            AccountProfile::Residential => "residential",
        }
    }

    pub fn from_stored(value: &str) -> Option<AccountProfile> {
        [AccountProfile::Normal, AccountProfile::Residential].into_iter().find(|profile| profile.as_str() == value)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Suspended,
    Terminated,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Terminated => "terminated",
        }
    }

    pub fn from_stored(value: &str) -> Option<AccountStatus> {
        [AccountStatus::Active, AccountStatus::Suspended, AccountStatus::Terminated]
            .into_iter()
            .find(|status| status.as_str() == value)
    }
}

/// The account code ("Account ID"): 1 to 64 of `[A-Za-z0-9._-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountCode(String);

impl AccountCode {
    pub fn parse(value: &str) -> Result<AccountCode, String> {
        bss_platform::input::code(value, 64).map(AccountCode)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The account's name as shown, and as compared for uniqueness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountName {
    display: String,
}

impl AccountName {
    pub fn parse(value: &str) -> Result<AccountName, String> {
        let display = super::text::required_text(value, 200)?;
        Ok(AccountName { display })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Trimmed and lower case: two names with the same key are the same name.
    pub fn uniqueness_key(&self) -> String {
        self.display.to_lowercase()
    }
}

/// Values of custom fields by key: keys of `[a-z0-9_]`, 1 to 64 characters;
/// values up to 1024 characters; at most 100 of them.
pub fn parse_custom_fields(values: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    if values.len() > 100 {
        return Err("at most 100 custom fields".to_owned());
    }
    for (key, value) in values {
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(format!("key {key:?} must be 1 to 64 of lower-case letters, digits and '_'"));
        }
        if value.chars().count() > 1024 {
            return Err(format!("value of {key:?} must be at most 1024 characters"));
        }
    }
    Ok(values.clone())
}

/// Names of provisioning systems: each 1 to 64 characters, distinct, at
/// most 20.
pub fn parse_sync_options(values: &[String]) -> Result<Vec<String>, String> {
    if values.len() > 20 {
        return Err("at most 20 provisioning systems".to_owned());
    }
    let mut options: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let option = value.trim();
        if option.is_empty() || option.chars().count() > 64 {
            return Err("each provisioning system name must be 1 to 64 characters".to_owned());
        }
        if !options.iter().any(|existing| existing == option) {
            options.push(option.to_owned());
        }
    }
    Ok(options)
}

/// Every field a caller may write, valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountFields {
    pub code: AccountCode,
    pub external_key: Option<String>,
    pub name: AccountName,
    pub kind: AccountKind,
    pub profile: AccountProfile,
    pub is_active: bool,
    pub tax_number: String,
    pub contact_name: String,
    pub email: Option<Email>,
    pub billing_email: Option<Email>,
    pub sales_rep_id: String,
    pub account_class: String,
    pub territory: String,
    pub shipping_method: String,
    pub enable_ordering: bool,
    pub payment_types: Vec<PaymentType>,
    pub separate_invoices: bool,
    pub parent_account_id: Option<Uuid>,
    pub responsible_user: String,
    pub sharing_rule: String,
    pub custom_fields: BTreeMap<String, String>,
    pub system_account: bool,
    pub sync_options: Vec<String>,
    pub managed_by: Option<ManagedBy>,
    /// Its home country: a new account of a multi-currency tenant takes
    /// the country's currency when it names none.
    pub country_code: Option<CountryCode>,
}

/// A stored account.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub fields: AccountFields,
    pub status: AccountStatus,
    /// Why the account has its status.
    pub status_reason: String,
    /// The group parent whose change set the status, when it cascaded.
    pub status_cause_account_id: Option<Uuid>,
    pub currency_code: String,
    pub created_by_import: bool,
    /// When an import last created or changed it.
    pub last_imported_at: Option<DateTime<Utc>>,
    /// Whether its import created a user for it.
    pub user_created: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

impl Account {
    /// A new account as it will be stored: active, version 1.
    pub fn new(
        tenant_id: Uuid,
        fields: AccountFields,
        currency_code: String,
        created_by: String,
        created_by_import: bool,
        now: DateTime<Utc>,
    ) -> Account {
        Account {
            id: Uuid::now_v7(),
            tenant_id,
            fields,
            status: AccountStatus::Active,
            status_reason: String::new(),
            status_cause_account_id: None,
            currency_code,
            created_by_import,
            last_imported_at: created_by_import.then_some(now),
            user_created: false,
            created_by,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The opaque version clients send back to detect concurrent changes.
    pub fn etag(&self) -> String {
        bss_platform::etag::of_version(self.version)
    }

    /// ABORTED (ETAG_MISMATCH) when `expected` is set and not the current etag.
    pub fn check_etag(&self, expected: &str) -> Result<(), AccountsError> {
        Ok(bss_platform::etag::check(&format!("account {}", self.id), expected, &self.etag())?)
    }

    /// CURRENCY_IMMUTABLE when `requested` names another currency: an
    /// account's currency is fixed at creation.
    pub fn check_currency(&self, requested: Option<&str>) -> Result<(), AccountsError> {
        match requested {
            Some(currency) if currency != self.currency_code => Err(AccountsError::precondition(
                "CURRENCY_IMMUTABLE",
                "the currency of an account is fixed at creation",
            )),
            _ => Ok(()),
        }
    }

    /// The changes from the account's fields to `fields`, when the caller
    /// may make them: only the sync (`integration`) changes `managed_by` and
    /// the fields a managed copy locks.
    pub fn changes_to(&self, fields: &AccountFields, integration: bool) -> Result<Vec<FieldChange>, AccountsError> {
        let changes = changed_fields(&self.fields, fields);
        let changed: Vec<&str> =
            changes.iter().map(|change| change.field.split('.').next().unwrap_or_default()).collect();
        if changed.contains(&"managed_by") && !integration {
            return Err(AccountsError::IntegrationOnly(
                "only the reseller sync (integration role) may change managed_by",
            ));
        }
        managed::check_edit(self.fields.managed_by.as_ref(), &changed, integration)?;
        Ok(changes)
    }
}

/// Something worth knowing about a request that did not stop it, or why a
/// row of an import was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub reason: String,
    pub field: String,
    pub message: String,
}

/// EXTERNAL_KEY_DUPLICATE: another account already has the key. Imports
/// update by key, so a duplicate is allowed but worth knowing.
pub fn duplicate_key(external_key: &str) -> Problem {
    Problem {
        reason: "EXTERNAL_KEY_DUPLICATE".to_owned(),
        message: format!(
            "another account already has the external key {external_key:?}; imports update only one of them"
        ),
        field: "account.external_key".to_owned(),
    }
}

/// EXTERNAL_KEY_REPEATED: an earlier row of the same import has the key,
/// so this row updates the account that row made or changed.
pub fn repeated_key(external_key: &str, first_line: i64) -> Problem {
    Problem {
        reason: "EXTERNAL_KEY_REPEATED".to_owned(),
        message: format!(
            "line {first_line} of this import has the external key {external_key:?} too: this row updates that account"
        ),
        field: "account.external_key".to_owned(),
    }
}

/// The rows of one import whose external key an earlier row (by line)
/// has: each such line, with the first line of its key.
pub fn repeated_keys<'a>(rows: impl IntoIterator<Item = (i64, &'a str)>) -> std::collections::HashMap<i64, i64> {
    let mut rows: Vec<(i64, &str)> = rows.into_iter().collect();
    rows.sort_unstable();
    let mut first_lines: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let mut repeated = std::collections::HashMap::new();
    for (line, key) in rows {
        match first_lines.get(key) {
            Some(first) => {
                repeated.insert(line, *first);
            }
            None => {
                first_lines.insert(key, line);
            }
        }
    }
    repeated
}

/// Only the sync (`integration`) creates a managed copy.
pub fn check_new(fields: &AccountFields, integration: bool) -> Result<(), AccountsError> {
    if fields.managed_by.is_some() && !integration {
        return Err(AccountsError::IntegrationOnly(
            "only the reseller sync (integration role) may create a managed copy",
        ));
    }
    Ok(())
}

#[cfg(test)]
impl AccountFields {
    /// An active direct account ACME, for tests.
    pub fn example() -> AccountFields {
        AccountFields {
            code: AccountCode::parse("ACME").expect("code"),
            external_key: None,
            name: AccountName::parse("Acme").expect("name"),
            kind: AccountKind::Direct,
            profile: AccountProfile::Normal,
            is_active: true,
            tax_number: String::new(),
            contact_name: String::new(),
            email: None,
            billing_email: None,
            sales_rep_id: String::new(),
            account_class: String::new(),
            territory: String::new(),
            shipping_method: String::new(),
            enable_ordering: true,
            payment_types: Vec::new(),
            separate_invoices: false,
            parent_account_id: None,
            responsible_user: String::new(),
            sharing_rule: String::new(),
            custom_fields: BTreeMap::new(),
            system_account: false,
            sync_options: Vec::new(),
            managed_by: None,
            country_code: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_repeated_in_one_import_points_at_its_first_line() {
        let rows = [(5, "ERP-1"), (1, "ERP-1"), (2, "ERP-2"), (9, "ERP-1"), (3, "ERP-3"), (4, "ERP-2")];
        let repeated = repeated_keys(rows);
        assert_eq!(repeated.len(), 3);
        assert_eq!((repeated[&5], repeated[&9], repeated[&4]), (1, 1, 2));
        assert!(repeated_keys([(1, "A"), (2, "B")]).is_empty());
        assert_eq!(repeated_key("ERP-1", 1).reason, "EXTERNAL_KEY_REPEATED");
    }

    #[test]
    fn codes_allow_a_small_alphabet() {
        assert!(AccountCode::parse("ACME-01.x_y").is_ok());
        assert!(AccountCode::parse("").is_err());
        assert!(AccountCode::parse("has space").is_err());
        assert!(AccountCode::parse(&"A".repeat(65)).is_err());
    }

    #[test]
    fn names_compare_trimmed_and_case_insensitively() {
        let first = AccountName::parse("  Acme Pty Ltd ").expect("name");
        let second = AccountName::parse("ACME PTY LTD").expect("name");
        assert_eq!(first.as_str(), "Acme Pty Ltd");
        assert_eq!(first.uniqueness_key(), second.uniqueness_key());
        assert!(AccountName::parse("   ").is_err());
    }

    fn fields() -> AccountFields {
        AccountFields::example()
    }

    fn account(fields: AccountFields) -> Account {
        Account::new(Uuid::now_v7(), fields, "EUR".to_owned(), "test".to_owned(), false, Utc::now())
    }

    #[test]
    fn the_currency_is_fixed_at_creation() {
        let account = account(fields());
        assert!(account.check_currency(None).is_ok());
        assert!(account.check_currency(Some("EUR")).is_ok());
        assert_eq!(account.check_currency(Some("USD")).expect_err("another currency").reason(), "CURRENCY_IMMUTABLE");
    }

    #[test]
    fn changes_are_named_and_a_managed_copys_locked_fields_are_the_syncs() {
        let plain = account(fields());
        let renamed = AccountFields { name: AccountName::parse("Acme Two").expect("name"), ..fields() };
        let changes = plain.changes_to(&renamed, false).expect("a plain account changes");
        assert_eq!(changes.iter().map(|change| change.field.as_str()).collect::<Vec<_>>(), ["name"]);
        assert!(plain.changes_to(&fields(), false).expect("no change").is_empty());

        let managed_by = ManagedBy::parse(Uuid::now_v7(), "Reseller", &["name".to_owned()]).expect("managed");
        let adopted = AccountFields { managed_by: Some(managed_by.clone()), ..fields() };
        let error = plain.changes_to(&adopted, false).expect_err("managed_by is the sync's");
        assert_eq!(error.reason(), "INTEGRATION_ONLY");
        assert!(plain.changes_to(&adopted, true).is_ok());

        let copy = account(adopted.clone());
        let renamed_copy = AccountFields { name: AccountName::parse("Other").expect("name"), ..adopted.clone() };
        assert_eq!(copy.changes_to(&renamed_copy, false).expect_err("locked").reason(), "FIELD_LOCKED");
        assert!(copy.changes_to(&renamed_copy, true).is_ok());
        let moved = AccountFields { territory: "north".to_owned(), ..adopted };
        assert!(copy.changes_to(&moved, false).is_ok(), "an unlocked field is the tenant's");
    }

    #[test]
    fn only_the_sync_creates_a_managed_copy() {
        let managed_by = ManagedBy::parse(Uuid::now_v7(), "Reseller", &[]).expect("managed");
        let copy = AccountFields { managed_by: Some(managed_by), ..fields() };
        assert_eq!(check_new(&copy, false).expect_err("not the sync").reason(), "INTEGRATION_ONLY");
        assert!(check_new(&copy, true).is_ok());
        assert!(check_new(&fields(), false).is_ok());
    }

    #[test]
    fn custom_field_keys_are_checked() {
        let mut values = BTreeMap::new();
        values.insert("region_code".to_owned(), "north".to_owned());
        assert!(parse_custom_fields(&values).is_ok());
        values.insert("Bad Key".to_owned(), "x".to_owned());
        assert!(parse_custom_fields(&values).is_err());
    }
}
