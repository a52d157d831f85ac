//! Tenants: organisations running their own books.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

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
}
