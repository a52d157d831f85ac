//! A new link of a reseller tenant to its distributor: who may be linked (a
//! tenant under the distributor's, through the distributor's reseller
//! account of it) and what the link takes from that account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::copy::Link;
use super::error::{SyncError, precondition};

/// What a distributor asks for when it links a reseller tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub reseller_tenant_id: Uuid,
    pub distributor_tenant_id: Uuid,
    /// The distributor's account of the reseller.
    pub tenant_reseller_account_id: Uuid,
    pub responsible_user: String,
    pub sharing_rule: String,
}

/// The reseller tenant, as the accounts service tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResellerTenant {
    /// The tenant it sits under, if any.
    pub parent_tenant_id: Option<Uuid>,
}

/// The distributor's account of the reseller, as far as a link looks at
/// it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TenantReseller {
    /// Whether it is a reseller account.
    pub is_reseller: bool,
    pub name: String,
    pub separate_invoices: bool,
    pub currency_code: String,
}

impl NewLink {
    /// Whether the reseller tenant may be linked: it exists (`tenant` is
    /// None when accounts knows no such tenant) and sits under the
    /// distributor's tenant (FAILED_PRECONDITION NOT_A_RESELLER_TENANT
    /// otherwise).
    pub fn check_tenant(&self, tenant: Option<&ResellerTenant>) -> Result<(), SyncError> {
        let reseller = self.reseller_tenant_id;
        let Some(tenant) = tenant else {
            return Err(precondition("NOT_A_RESELLER_TENANT", format!("tenant {reseller} does not exist")));
        };
        if tenant.parent_tenant_id != Some(self.distributor_tenant_id) {
            return Err(precondition(
                "NOT_A_RESELLER_TENANT",
                format!("tenant {reseller} is not under the caller's tenant"),
            ));
        }
        Ok(())
    }

    /// The link, once the distributor's account of the reseller (`account`,
    /// None when there is no such account) is a reseller account
    /// (FAILED_PRECONDITION NOT_A_TENANT_RESELLER otherwise): it takes that
    /// account's name, separate invoices and currency, which its copies
    /// then take.
    pub fn link(self, account: Option<TenantReseller>, created_at: DateTime<Utc>) -> Result<Link, SyncError> {
        let tenant_reseller = self.tenant_reseller_account_id;
        let Some(account) = account else {
            return Err(precondition("NOT_A_TENANT_RESELLER", format!("account {tenant_reseller} does not exist")));
        };
        if !account.is_reseller {
            return Err(precondition(
                "NOT_A_TENANT_RESELLER",
                format!("account {tenant_reseller} is not a reseller account"),
            ));
        }
        Ok(Link {
            reseller_tenant_id: self.reseller_tenant_id,
            distributor_tenant_id: self.distributor_tenant_id,
            tenant_reseller_account_id: tenant_reseller,
            reseller_name: account.name,
            separate_invoices: account.separate_invoices,
            currency_code: account.currency_code,
            responsible_user: self.responsible_user,
            sharing_rule: self.sharing_rule,
            created_at,
        })
    }
}

/// A reseller tenant is linked once (ALREADY_EXISTS LINK_EXISTS).
pub fn linked_already(reseller_tenant_id: Uuid) -> SyncError {
    SyncError::AlreadyExists {
        reason: "LINK_EXISTS",
        description: format!("tenant {reseller_tenant_id} is linked already"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_link() -> NewLink {
        NewLink {
            reseller_tenant_id: Uuid::from_u128(1),
            distributor_tenant_id: Uuid::from_u128(2),
            tenant_reseller_account_id: Uuid::from_u128(3),
            responsible_user: "dana".to_owned(),
            sharing_rule: "resellers-team".to_owned(),
        }
    }

    /// The reason and the description of a refusal.
    fn refusal(result: Result<impl std::fmt::Debug, SyncError>) -> (&'static str, String) {
        match result {
            Err(SyncError::Precondition { reason, description }) => (reason, description),
            other => panic!("not a refusal: {other:?}"),
        }
    }

    #[test]
    fn only_a_tenant_under_the_distributors_may_be_linked() {
        let new = new_link();
        let (reseller, distributor) = (new.reseller_tenant_id, new.distributor_tenant_id);
        assert_eq!(
            refusal(new.check_tenant(None)),
            ("NOT_A_RESELLER_TENANT", format!("tenant {reseller} does not exist"))
        );
        let under_nobody = ResellerTenant { parent_tenant_id: None };
        let under_another = ResellerTenant { parent_tenant_id: Some(Uuid::from_u128(9)) };
        for tenant in [under_nobody, under_another] {
            assert_eq!(
                refusal(new.check_tenant(Some(&tenant))),
                ("NOT_A_RESELLER_TENANT", format!("tenant {reseller} is not under the caller's tenant"))
            );
        }
        assert!(new.check_tenant(Some(&ResellerTenant { parent_tenant_id: Some(distributor) })).is_ok());
    }

    #[test]
    fn a_link_goes_through_a_reseller_account_and_takes_its_terms() {
        let account = new_link().tenant_reseller_account_id;
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(
            refusal(new_link().link(None, at)),
            ("NOT_A_TENANT_RESELLER", format!("account {account} does not exist"))
        );
        let reseller = TenantReseller {
            is_reseller: true,
            name: "North Resale".to_owned(),
            separate_invoices: true,
            currency_code: "EUR".to_owned(),
        };
        let plain = TenantReseller { is_reseller: false, ..reseller.clone() };
        assert_eq!(
            refusal(new_link().link(Some(plain), at)),
            ("NOT_A_TENANT_RESELLER", format!("account {account} is not a reseller account"))
        );
        let link = new_link().link(Some(reseller), at).expect("a reseller account");
        assert_eq!(
            link,
            Link {
                reseller_tenant_id: Uuid::from_u128(1),
                distributor_tenant_id: Uuid::from_u128(2),
                tenant_reseller_account_id: account,
                reseller_name: "North Resale".to_owned(),
                separate_invoices: true,
                currency_code: "EUR".to_owned(),
                responsible_user: "dana".to_owned(),
                sharing_rule: "resellers-team".to_owned(),
                created_at: at,
            }
        );
    }

    #[test]
    fn a_second_link_of_a_tenant_is_refused_by_name() {
        let refused = linked_already(Uuid::from_u128(1));
        assert!(matches!(refused, SyncError::AlreadyExists { reason: "LINK_EXISTS", .. }));
        assert_eq!(refused.to_string(), format!("tenant {} is linked already", Uuid::from_u128(1)));
    }
}
