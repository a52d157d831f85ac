//! What a change of a contract changed, field by field: the history a
//! contract keeps of its creation and of every change after.

use std::collections::{BTreeMap, BTreeSet};

use bss_platform::error::{PlatformError, Violations};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::book::Contract;
use super::error::PricingError;
use super::price::Tiered;

/// One field as a change left it; empty where there was no value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

/// The fields of a contract a change may name; its start date and
/// currency are fixed at creation.
pub const CHANGEABLE: [&str; 5] = ["name", "expiry_date", "forced", "extra_discount_percent", "items"];

/// A price as text: its base, then each break ("12.50; from 10: 11.00").
fn price_text(price: &Tiered) -> String {
    let mut text = price.base.normalize().to_string();
    for (minimum, unit) in &price.breaks {
        text.push_str(&format!("; from {}: {}", minimum.normalize(), unit.normalize()));
    }
    text
}

/// The fields of a contract and its accounts as text, by field name.
fn fields(contract: &Contract, accounts: &[Uuid]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::from([
        ("name".to_owned(), contract.name.clone()),
        ("currency_code".to_owned(), contract.currency.code.to_owned()),
        ("start_date".to_owned(), contract.start.to_string()),
        ("expiry_date".to_owned(), contract.expiry.to_string()),
        ("forced".to_owned(), contract.forced.to_string()),
        ("extra_discount_percent".to_owned(), contract.extra_discount_percent.normalize().to_string()),
    ]);
    for (product_id, price) in &contract.items {
        fields.insert(format!("items[{product_id}]"), price_text(price));
    }
    for account_id in accounts {
        fields.insert(format!("account_ids[{account_id}]"), "listed".to_owned());
    }
    fields
}

/// Each field whose value differs between `before` (none: the contract is
/// new) and `after`, in field order: items and accounts added, removed
/// or changed one by one.
pub fn changes(before: Option<(&Contract, &[Uuid])>, after: (&Contract, &[Uuid])) -> Vec<FieldChange> {
    let before = before.map(|(contract, accounts)| fields(contract, accounts)).unwrap_or_default();
    let after = fields(after.0, after.1);
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (was, is) =
                (before.get(name).cloned().unwrap_or_default(), after.get(name).cloned().unwrap_or_default());
            (was != is).then(|| FieldChange { field: name.clone(), before: was, after: is })
        })
        .collect()
}

/// Whether a caller may make or change contracts: staff who write pricing
/// always; a caller limited to a sales rep's accounts only with the
/// facility role (PERMISSION_DENIED FACILITY_ROLE_REQUIRED), and then only
/// for its own accounts (checked account by account).
pub fn check_maker(sales_rep: bool, facility: bool) -> Result<(), PricingError> {
    match !sales_rep || facility {
        true => Ok(()),
        false => Err(PricingError::Platform(PlatformError::Denied {
            reason: "FACILITY_ROLE_REQUIRED",
            description: "a sales rep makes or changes contracts only with the facility role".to_owned(),
        })),
    }
}

/// A sales rep's contract lists at least one account: one of none is no
/// rep's own (INVALID_ARGUMENT on `contract.account_ids`).
pub fn check_rep_accounts(sales_rep: bool, accounts: &[Uuid]) -> Result<(), PricingError> {
    match sales_rep && accounts.is_empty() {
        true => {
            Err(Violations::single("contract.account_ids", "a sales rep's contract lists at least one of its accounts")
                .into())
        }
        false => Ok(()),
    }
}

/// The reason a residential account is refused a contract when its
/// tenant's residential profile has none (accounts' RESIDENTIAL_FEATURE).
pub const RESIDENTIAL_FEATURE: &str = "RESIDENTIAL_FEATURE";

/// Whether these residential accounts may go on a contract: only when
/// their tenant lets residential accounts have contracts.
pub fn check_residential(residential: &[Uuid], contracts_allowed: bool) -> Result<(), PricingError> {
    match residential.first() {
        Some(account) if !contracts_allowed => Err(PricingError::Precondition {
            reason: RESIDENTIAL_FEATURE,
            description: format!("account {account} is residential: residential accounts have no contracts here"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bss_platform::money::Currency;
    use chrono::NaiveDate;
    use rust_decimal_macros::dec;

    use super::*;

    fn contract(expiry: u32, items: &[(u128, Tiered)]) -> Contract {
        Contract {
            id: Uuid::from_u128(9),
            name: "Retail 2027".to_owned(),
            currency: Currency::parse("EUR").expect("EUR"),
            start: NaiveDate::from_ymd_opt(2027, 1, 1).expect("date"),
            expiry: NaiveDate::from_ymd_opt(2027, 12, expiry).expect("date"),
            forced: false,
            extra_discount_percent: dec!(0),
            items: items.iter().map(|(id, price)| (Uuid::from_u128(*id), price.clone())).collect::<HashMap<_, _>>(),
        }
    }

    fn change(field: &str, before: &str, after: &str) -> FieldChange {
        FieldChange { field: field.to_owned(), before: before.to_owned(), after: after.to_owned() }
    }

    #[test]
    fn a_new_contract_lists_every_field_and_a_change_only_what_differs() {
        let kept = Tiered::flat(dec!(4.00));
        let repriced = Tiered::new(dec!(12.50), vec![(dec!(10), dec!(11.00))]).expect("price");
        let before = contract(31, &[(1, kept.clone()), (2, Tiered::flat(dec!(13)))]);
        let accounts = [Uuid::from_u128(7)];
        let created = changes(None, (&before, &accounts));
        assert_eq!(created.len(), 6 + 2 + 1, "every field, item and account");
        assert!(created.contains(&change("start_date", "", "2027-01-01")));

        let after = contract(30, &[(1, kept), (2, repriced), (3, Tiered::flat(dec!(1.5)))]);
        let product = |id: u128| format!("items[{}]", Uuid::from_u128(id));
        let account = format!("account_ids[{}]", Uuid::from_u128(7));
        assert_eq!(
            changes(Some((&before, &accounts)), (&after, &[])),
            vec![
                change(&account, "listed", ""),
                change("expiry_date", "2027-12-31", "2027-12-30"),
                change(&product(2), "13", "12.5; from 10: 11"),
                change(&product(3), "", "1.5"),
            ]
        );
        assert_eq!(changes(Some((&after, &[])), (&after, &[])), vec![], "no change, nothing listed");
    }

    #[test]
    fn a_sales_rep_makes_contracts_only_with_the_facility_role_staff_always() {
        assert!(check_maker(false, false).is_ok(), "staff");
        assert!(check_maker(true, true).is_ok(), "a rep with the facility role");
        let refused = check_maker(true, false).expect_err("a rep without it");
        assert!(matches!(
            refused,
            PricingError::Platform(PlatformError::Denied { reason: "FACILITY_ROLE_REQUIRED", .. })
        ));
    }

    #[test]
    fn a_sales_reps_contract_lists_one_of_its_accounts_at_least() {
        assert!(check_rep_accounts(false, &[]).is_ok(), "staff");
        assert!(check_rep_accounts(true, &[Uuid::now_v7()]).is_ok());
        assert!(matches!(check_rep_accounts(true, &[]), Err(PricingError::Invalid(_))));
    }

    #[test]
    fn a_residential_account_goes_on_a_contract_only_where_its_tenant_allows_it() {
        let home = Uuid::now_v7();
        assert!(check_residential(&[], false).is_ok(), "no residential account");
        assert!(check_residential(&[home], true).is_ok(), "allowed");
        let refused = check_residential(&[home], false).expect_err("refused");
        assert!(matches!(refused, PricingError::Precondition { reason: RESIDENTIAL_FEATURE, .. }));
    }
}
