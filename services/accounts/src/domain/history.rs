//! History lines: who changed what, when and why.

use super::account::AccountFields;
use super::text::email_text;

/// One changed field, as text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

impl FieldChange {
    pub fn new(field: &str, old_value: impl Into<String>, new_value: impl Into<String>) -> FieldChange {
        FieldChange { field: field.to_owned(), old_value: old_value.into(), new_value: new_value.into() }
    }
}

/// A history line to write.
#[derive(Clone, Debug)]
pub struct HistoryLine {
    pub action: &'static str,
    pub changes: Vec<FieldChange>,
    pub reason: String,
}

/// The fields that differ between two versions of an account.
pub fn changed_fields(before: &AccountFields, after: &AccountFields) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let mut compare = |field: &str, old: String, new: String| {
        if old != new {
            changes.push(FieldChange::new(field, old, new));
        }
    };
    let list = |values: &[String]| values.join(",");
    compare("code", before.code.as_str().to_owned(), after.code.as_str().to_owned());
    compare(
        "external_key",
        before.external_key.clone().unwrap_or_default(),
        after.external_key.clone().unwrap_or_default(),
    );
    compare("name", before.name.as_str().to_owned(), after.name.as_str().to_owned());
    compare("kind", before.kind.as_str().to_owned(), after.kind.as_str().to_owned());
    compare("profile", before.profile.as_str().to_owned(), after.profile.as_str().to_owned());
    compare("is_active", before.is_active.to_string(), after.is_active.to_string());
    compare("tax_number", before.tax_number.clone(), after.tax_number.clone());
    compare("contact_name", before.contact_name.clone(), after.contact_name.clone());
    compare("email", email_text(&before.email).to_owned(), email_text(&after.email).to_owned());
    compare("billing_email", email_text(&before.billing_email).to_owned(), email_text(&after.billing_email).to_owned());
    compare("sales_rep_id", before.sales_rep_id.clone(), after.sales_rep_id.clone());
    compare("account_class", before.account_class.clone(), after.account_class.clone());
    compare("territory", before.territory.clone(), after.territory.clone());
    compare("shipping_method", before.shipping_method.clone(), after.shipping_method.clone());
    compare("enable_ordering", before.enable_ordering.to_string(), after.enable_ordering.to_string());
    let codes = |fields: &AccountFields| {
        fields.payment_types.iter().map(|payment| payment.code()).collect::<Vec<_>>().join(",")
    };
    compare("payment_types", codes(before), codes(after));
    compare("separate_invoices", before.separate_invoices.to_string(), after.separate_invoices.to_string());
    let parent = |fields: &AccountFields| fields.parent_account_id.map(|id| id.to_string()).unwrap_or_default();
    compare("parent_account_id", parent(before), parent(after));
    compare("responsible_user", before.responsible_user.clone(), after.responsible_user.clone());
    compare("sharing_rule", before.sharing_rule.clone(), after.sharing_rule.clone());
    let country = |fields: &AccountFields| fields.country_code.as_ref().map_or("", |code| code.as_str()).to_owned();
    compare("country_code", country(before), country(after));
    compare("system_account", before.system_account.to_string(), after.system_account.to_string());
    compare("sync_options", list(&before.sync_options), list(&after.sync_options));
    let managed = |fields: &AccountFields| {
        fields
            .managed_by
            .as_ref()
            .map(|managed| format!("{} ({})", managed.reseller_name, managed.tenant_reseller_account_id))
            .unwrap_or_default()
    };
    compare("managed_by", managed(before), managed(after));
    for key in before.custom_fields.keys().chain(after.custom_fields.keys()) {
        let old = before.custom_fields.get(key).cloned().unwrap_or_default();
        let new = after.custom_fields.get(key).cloned().unwrap_or_default();
        if old != new && !changes.iter().any(|change| change.field == format!("custom_fields.{key}")) {
            changes.push(FieldChange::new(&format!("custom_fields.{key}"), old, new));
        }
    }
    changes
}
