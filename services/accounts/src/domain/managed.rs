//! Managed copies: an account copied from a reseller's books into its
//! distributor's, kept in step by the reseller sync. Its locked fields and
//! its lifecycle belong to the sync (callers with the `integration` role).

use uuid::Uuid;

use super::error::AccountsError;

/// Who manages a copied account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedBy {
    /// The tenant reseller: the reseller's account in this tenant.
    pub tenant_reseller_account_id: Uuid,
    pub reseller_name: String,
    /// Fields only the sync may change; "billing_address" stands for the
    /// account's billing addresses.
    pub locked_fields: Vec<String>,
}

/// Fields a managed copy may lock.
pub const LOCKABLE_FIELDS: &[&str] = &[
    "code",
    "external_key",
    "name",
    "email",
    "billing_email",
    "enable_ordering",
    "separate_invoices",
    "parent_account_id",
    "sync_options",
    "billing_address",
];

/// The pseudo-field of an account's billing addresses.
pub const BILLING_ADDRESS: &str = "billing_address";

impl ManagedBy {
    pub fn parse(
        tenant_reseller_account_id: Uuid,
        reseller_name: &str,
        locked_fields: &[String],
    ) -> Result<ManagedBy, String> {
        let reseller_name =
            super::text::required_text(reseller_name, 200).map_err(|_| "reseller_name is required".to_owned())?;
        let mut locked = Vec::new();
        for field in locked_fields {
            if !LOCKABLE_FIELDS.contains(&field.as_str()) {
                return Err(format!("{field:?} cannot be locked (lockable: {})", LOCKABLE_FIELDS.join(", ")));
            }
            if !locked.contains(field) {
                locked.push(field.clone());
            }
        }
        Ok(ManagedBy { tenant_reseller_account_id, reseller_name, locked_fields: locked })
    }

    /// The ribbon shown on the account.
    pub fn ribbon(&self) -> String {
        format!("This account is managed by {} Tenant Reseller", self.reseller_name)
    }

    pub fn locks(&self, field: &str) -> bool {
        self.locked_fields.iter().any(|locked| locked == field)
    }
}

/// Refuses a change of locked fields of a managed copy, unless the caller is
/// the sync (`integration`).
pub fn check_edit(
    managed_by: Option<&ManagedBy>,
    changed_fields: &[&str],
    integration: bool,
) -> Result<(), AccountsError> {
    let Some(managed_by) = managed_by else {
        return Ok(());
    };
    if integration {
        return Ok(());
    }
    let locked: Vec<String> =
        changed_fields.iter().filter(|field| managed_by.locks(field)).map(|field| (*field).to_owned()).collect();
    if locked.is_empty() { Ok(()) } else { Err(AccountsError::FieldLocked(locked)) }
}

/// Refuses an action reserved to the tenant reseller (delete, suspend,
/// reactivate, terminate, synchronize) on a managed copy, unless the caller
/// is the sync.
pub fn check_action(managed_by: Option<&ManagedBy>, action: &str, integration: bool) -> Result<(), AccountsError> {
    match managed_by {
        Some(managed_by) if !integration => Err(AccountsError::precondition(
            "MANAGED_BY_RESELLER",
            format!(
                "the account is managed by {} Tenant Reseller: only the reseller can {action} it",
                managed_by.reseller_name
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn managed() -> ManagedBy {
        ManagedBy::parse(Uuid::now_v7(), "Acme Telecom", &["name".to_owned(), "email".to_owned()]).expect("managed")
    }

    #[test]
    fn the_ribbon_names_the_reseller() {
        assert_eq!(managed().ribbon(), "This account is managed by Acme Telecom Tenant Reseller");
    }

    #[test]
    fn locked_fields_are_for_the_sync_only() {
        let managed = managed();
        let error = check_edit(Some(&managed), &["territory", "name"], false).expect_err("locked");
        assert_eq!(error.reason(), "FIELD_LOCKED");
        assert!(check_edit(Some(&managed), &["territory", "custom_fields"], false).is_ok());
        assert!(check_edit(Some(&managed), &["name"], true).is_ok());
        assert!(check_edit(None, &["name"], false).is_ok());
    }

    #[test]
    fn reserved_actions_are_for_the_sync_only() {
        let managed = managed();
        assert_eq!(
            check_action(Some(&managed), "suspend", false).expect_err("reserved").reason(),
            "MANAGED_BY_RESELLER"
        );
        assert!(check_action(Some(&managed), "suspend", true).is_ok());
        assert!(check_action(None, "delete", false).is_ok());
    }

    #[test]
    fn only_known_fields_can_be_locked() {
        assert!(ManagedBy::parse(Uuid::now_v7(), "R", &["status".to_owned()]).is_err());
        assert!(ManagedBy::parse(Uuid::now_v7(), " ", &[]).is_err());
    }
}
