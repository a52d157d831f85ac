//! The copy of a reseller customer in its distributor's books and how it is
//! kept in step: the copy takes the customer's locked fields and billing
//! addresses, its link's terms (parent, separate invoices, currency,
//! responsible user, sharing rule), and mirrors a suspension or a
//! reactivation; nothing else of the distributor's account is touched.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The fields of a copy only the sync changes.
pub const LOCKED_FIELDS: &[&str] = &["name", "code", "email", "sync_options", "billing_address"];

/// A reseller tenant linked to its distributor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub reseller_tenant_id: Uuid,
    pub distributor_tenant_id: Uuid,
    /// The distributor's account of the reseller: the copies' bill-to
    /// parent.
    pub tenant_reseller_account_id: Uuid,
    pub reseller_name: String,
    pub separate_invoices: bool,
    pub currency_code: String,
    pub responsible_user: String,
    pub sharing_rule: String,
    pub created_at: DateTime<Utc>,
}

/// A copy the sync made, as its books keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyRecord {
    /// The reseller customer.
    pub reseller_account_id: Uuid,
    /// Its copy in the distributor's books.
    pub copy_account_id: Uuid,
    /// When the copy was made.
    pub created_at: DateTime<Utc>,
    /// When it was last brought in step.
    pub updated_at: DateTime<Utc>,
}

/// Where an account stands, as far as a copy mirrors it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active,
    Suspended,
    Terminated,
    Other,
}

/// What the rules look at of a customer or of its copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Party {
    pub code: String,
    pub name: String,
    pub email: String,
    pub sync_options: Vec<String>,
}

/// A billing address as the copy compares it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
}

/// The locked fields whose values differ between the customer and its
/// copy, in [`LOCKED_FIELDS`] order: what an update of the copy sets.
pub fn changed_fields(customer: &Party, copy: &Party) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if customer.name != copy.name {
        changed.push("name");
    }
    if customer.code != copy.code {
        changed.push("code");
    }
    if customer.email != copy.email {
        changed.push("email");
    }
    if customer.sync_options != copy.sync_options {
        changed.push("sync_options");
    }
    changed
}

/// The status the copy takes when its customer's changed: a suspension or
/// a reactivation is mirrored; termination and the rest are not (the
/// distributor's books decide those).
pub fn mirrored_status(copy: Standing, customer: Standing) -> Option<Standing> {
    (copy != customer && matches!(customer, Standing::Suspended | Standing::Active)).then_some(customer)
}

/// One change that makes the copy's billing addresses those of the
/// customer, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressStep {
    /// The copy's address at this position takes the customer's.
    Update(usize),
    /// The customer's address at this position is added to the copy.
    Create(usize),
    /// The copy's address at this position goes.
    Delete(usize),
}

/// The steps that make the copy's billing addresses the customer's, in
/// order of position; none when they are the same.
pub fn address_steps(customer: &[Place], copy: &[Place]) -> Vec<AddressStep> {
    (0..customer.len().max(copy.len()))
        .filter_map(|index| match (customer.get(index), copy.get(index)) {
            (Some(wanted), Some(have)) if wanted != have => Some(AddressStep::Update(index)),
            (Some(_), None) => Some(AddressStep::Create(index)),
            (None, Some(_)) => Some(AddressStep::Delete(index)),
            _ => None,
        })
        .collect()
}

/// The text of a copy's history line when the sync changes its status.
pub fn status_reason(status: Standing, reseller_name: &str) -> String {
    let status = match status {
        Standing::Suspended => "Suspended",
        Standing::Active => "Active",
        Standing::Terminated => "Terminated",
        Standing::Other => "Unknown",
    };
    format!("Account's Status Changed to {status} due to changes on {reseller_name}")
}

/// The reasons accounts gives for keeping an account that holds money.
pub const MONEY_REASONS: [&str; 9] = [
    "POSTED_TRANSACTIONS",
    "ASSETS_HELD",
    "WALLET_NOT_EMPTY",
    "INVOICES_NOT_POSTED",
    "SUBSCRIPTIONS_ACTIVE",
    "ORDERS_NOT_FINAL",
    "CHARGES_NOT_INVOICED",
    "RESERVATIONS_OPEN",
    "HELD_ORDERS_PENDING",
];

/// Why a copy whose reseller customer was deleted stays: every reason the
/// distributor's books gave (a posted transaction, a draft, an open
/// order), or `message` when they gave none.
pub fn copy_kept(copy_id: Uuid, source_id: Uuid, reasons: &[String], message: &str) -> String {
    let reasons = if reasons.is_empty() { message.to_owned() } else { reasons.join("; ") };
    format!(
        "COPY_HOLDS_MONEY: reseller customer {source_id} was deleted, but its copy {copy_id} holds money in the \
         distributor's books ({reasons}); the copy stays until that is settled: retry this event then"
    )
}

/// Request ids of the sync's changes, derived from what caused them, so an
/// event applied again changes nothing twice.
pub mod request_ids {
    use uuid::Uuid;

    pub fn copy(source_id: Uuid) -> String {
        format!("resellersync-copy-{source_id}")
    }

    pub fn copied_address(address_id: &str) -> String {
        format!("resellersync-address-{address_id}")
    }

    pub fn status(copy_id: Uuid, cause: &str) -> String {
        format!("resellersync-status-{copy_id}-{cause}")
    }

    pub fn update(copy_id: Uuid, cause: &str) -> String {
        format!("resellersync-update-{copy_id}-{cause}")
    }

    pub fn address(copy_id: Uuid, cause: &str, index: usize) -> String {
        format!("resellersync-address-{copy_id}-{cause}-{index}")
    }

    pub fn delete(copy_id: Uuid) -> String {
        format!("resellersync-delete-{copy_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(name: &str) -> Party {
        Party {
            code: "C-1".to_owned(),
            name: name.to_owned(),
            email: "c@example.com".to_owned(),
            sync_options: vec!["PRICES".to_owned()],
        }
    }

    fn place(city: &str) -> Place {
        Place {
            lines: vec!["1 Main St".to_owned()],
            city: city.to_owned(),
            country_code: "NL".to_owned(),
            ..Place::default()
        }
    }

    #[test]
    fn only_the_locked_fields_that_differ_are_set_on_the_copy() {
        assert!(changed_fields(&party("Acme"), &party("Acme")).is_empty());
        let mut renamed = party("Acme Ltd");
        renamed.email = "new@example.com".to_owned();
        renamed.sync_options.clear();
        assert_eq!(changed_fields(&renamed, &party("Acme")), vec!["name", "email", "sync_options"]);
        for field in changed_fields(&renamed, &party("Acme")) {
            assert!(LOCKED_FIELDS.contains(&field));
        }
    }

    #[test]
    fn suspension_and_reactivation_are_mirrored_nothing_else() {
        assert_eq!(mirrored_status(Standing::Active, Standing::Suspended), Some(Standing::Suspended));
        assert_eq!(mirrored_status(Standing::Suspended, Standing::Active), Some(Standing::Active));
        assert_eq!(mirrored_status(Standing::Active, Standing::Active), None);
        assert_eq!(mirrored_status(Standing::Active, Standing::Terminated), None);
        assert_eq!(mirrored_status(Standing::Suspended, Standing::Other), None);
    }

    #[test]
    fn the_copys_addresses_become_the_customers_position_by_position() {
        let (amsterdam, utrecht, delft) = (place("Amsterdam"), place("Utrecht"), place("Delft"));
        let one = std::slice::from_ref(&amsterdam);
        assert!(address_steps(one, one).is_empty());
        assert_eq!(
            address_steps(&[amsterdam.clone(), utrecht.clone()], std::slice::from_ref(&delft)),
            vec![AddressStep::Update(0), AddressStep::Create(1)]
        );
        assert_eq!(address_steps(one, &[amsterdam.clone(), delft]), vec![AddressStep::Delete(1)]);
        assert_eq!(address_steps(&[], &[utrecht]), vec![AddressStep::Delete(0)]);
    }

    #[test]
    fn a_kept_copy_says_every_reason_and_a_status_change_names_the_reseller() {
        let (copy, source) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let kept = copy_kept(copy, source, &["2 posted invoices".to_owned(), "1 open order".to_owned()], "refused");
        assert!(kept.starts_with("COPY_HOLDS_MONEY: ") && kept.contains("(2 posted invoices; 1 open order)"), "{kept}");
        assert!(copy_kept(copy, source, &[], "refused").contains("(refused)"));
        assert_eq!(
            status_reason(Standing::Suspended, "North Resale"),
            "Account's Status Changed to Suspended due to changes on North Resale"
        );
    }

    #[test]
    fn request_ids_follow_the_cause_so_a_replayed_event_changes_nothing_twice() {
        let copy = Uuid::from_u128(1);
        assert_eq!(request_ids::update(copy, "accounts-7"), request_ids::update(copy, "accounts-7"));
        assert_ne!(request_ids::update(copy, "accounts-7"), request_ids::update(copy, "accounts-8"));
        assert_ne!(request_ids::address(copy, "accounts-7", 0), request_ids::address(copy, "accounts-7", 1));
    }
}
