//! Typed clients of the suite's services as their peers call them: one
//! place per question asked of another context, with one error mapping
//! ([`client::peer_error`] for a caller's call, [`client::service_peer_error`]
//! for the service's own identity) and one deadline.

use std::time::Duration;

use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::user_service_client::UserServiceClient;
use bss_proto::accounts::{
    Account, AccountGroup, Address, GetAccountGroupRequest, GetAccountRequest, GetTenantRequest, GetUserRequest,
    ListAddressesRequest, Tenant,
};
use tonic::Code;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::auth::Caller;
use crate::client::{self, PeerError};
use crate::money::Currency;

/// How long a peer is given to answer one question.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// The accounts service, as billing, credit, pricing and reseller-sync ask
/// it about an account.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    channel: Option<Channel>,
}

impl Accounts {
    /// Accounts on `channel`; without one (a service run on its own), every
    /// account is unknown.
    pub fn new(channel: Option<Channel>) -> Accounts {
        Accounts { channel }
    }

    /// The channel, for calls this client does not type yet.
    pub fn channel(&self) -> Option<&Channel> {
        self.channel.as_ref()
    }

    /// The account as accounts shows it to `caller`; `None` when accounts
    /// does not know it or the caller may not see it (NOT_FOUND), so the
    /// asking service answers NOT_FOUND in its own terms.
    pub async fn account(&self, caller: &Caller, id: Uuid) -> Result<Option<Account>, PeerError> {
        let Some(channel) = &self.channel else {
            return Ok(None);
        };
        let request = client::request(GetAccountRequest { id: id.to_string() }, caller, PEER_TIMEOUT);
        match AccountServiceClient::new(channel.clone()).get_account(request).await {
            Ok(response) => Ok(Some(response.into_inner().account.unwrap_or_default())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(sort(caller, "accounts", status)),
        }
    }

    /// The account a customer's user acts for (its user's account), asked of
    /// accounts, which refuses a user the tenant does not have
    /// (USER_UNKNOWN) or whose account is inactive (ACCOUNT_INACTIVE);
    /// `None` for any other caller.
    pub async fn acting_account(&self, caller: &Caller) -> Result<Option<Uuid>, PeerError> {
        let Some(user_id) = caller.customer_user() else {
            return Ok(None);
        };
        let Some(channel) = &self.channel else {
            return Err(PeerError::Unavailable { what: "accounts", cause: "no accounts service to ask".to_owned() });
        };
        let request = client::request(GetUserRequest { id: user_id.to_string() }, caller, PEER_TIMEOUT);
        match UserServiceClient::new(channel.clone()).get_user(request).await {
            Ok(response) => {
                let user = response.into_inner().user.unwrap_or_default();
                let account = user.account_id.parse().map_err(|_| PeerError::Unavailable {
                    what: "accounts",
                    cause: format!("a user whose account is {:?}", user.account_id),
                })?;
                Ok(Some(account))
            }
            Err(status) => Err(sort(caller, "accounts", status)),
        }
    }

    /// The generic account of the tenant's guests of `region` (empty: no
    /// region), else of all its guests, if it named one.
    pub async fn guest_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        region: &str,
    ) -> Result<Option<Uuid>, PeerError> {
        let tenant = self.tenant(caller, tenant_id).await?.unwrap_or_default();
        Ok(guest_of(&tenant, region))
    }

    /// Whether the account is shared by unrelated people: a generic account
    /// the tenant names for its guests (of any region) or a registration
    /// profile. `caller` must be one that may read the tenant (a service).
    pub async fn is_shared(&self, caller: &Caller, tenant_id: Uuid, account_id: Uuid) -> Result<bool, PeerError> {
        let tenant = self.tenant(caller, tenant_id).await?.unwrap_or_default();
        Ok(names_generic(&tenant, account_id))
    }

    /// The tenant as accounts shows it to `caller`; `None` when unknown.
    pub async fn tenant(&self, caller: &Caller, id: Uuid) -> Result<Option<Tenant>, PeerError> {
        let Some(channel) = &self.channel else {
            return Ok(None);
        };
        let request = client::request(GetTenantRequest { id: id.to_string() }, caller, PEER_TIMEOUT);
        match TenantServiceClient::new(channel.clone()).get_tenant(request).await {
            Ok(response) => Ok(Some(response.into_inner().tenant.unwrap_or_default())),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(sort(caller, "accounts", status)),
        }
    }

    /// The account's addresses, oldest first (the first 500: an order
    /// chooses among them); none when accounts does not know the account.
    pub async fn addresses(&self, caller: &Caller, account_id: Uuid) -> Result<Vec<Address>, PeerError> {
        let Some(channel) = &self.channel else {
            return Ok(Vec::new());
        };
        let asked =
            ListAddressesRequest { account_id: account_id.to_string(), page_size: 500, page_token: String::new() };
        let request = client::request(asked, caller, PEER_TIMEOUT);
        match AccountServiceClient::new(channel.clone()).list_addresses(request).await {
            Ok(response) => Ok(response.into_inner().addresses),
            Err(status) if status.code() == Code::NotFound => Ok(Vec::new()),
            Err(status) => Err(sort(caller, "accounts", status)),
        }
    }

    /// The group the account is in (as its parent or a member); `None` when
    /// it is in none.
    pub async fn group(&self, caller: &Caller, account_id: &str) -> Result<Option<AccountGroup>, PeerError> {
        let Some(channel) = &self.channel else {
            return Ok(None);
        };
        let request =
            client::request(GetAccountGroupRequest { account_id: account_id.to_owned() }, caller, PEER_TIMEOUT);
        match GroupServiceClient::new(channel.clone()).get_account_group(request).await {
            Ok(response) => Ok(response.into_inner().group),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(sort(caller, "accounts", status)),
        }
    }
}

/// The account a guest of `region` quotes as: the region's generic
/// account, else the tenant's guest account.
fn guest_of(tenant: &Tenant, region: &str) -> Option<Uuid> {
    let regional = tenant.guest_accounts_by_region.get(region).and_then(|account| account.parse().ok());
    regional.or_else(|| tenant.guest_account_id.parse().ok())
}

/// Whether the tenant names `account_id` as a generic account: its guests'
/// (of any region) or a registration profile's.
fn names_generic(tenant: &Tenant, account_id: Uuid) -> bool {
    let account_id = account_id.to_string();
    std::iter::once(&tenant.guest_account_id)
        .chain(tenant.guest_accounts_by_region.values())
        .chain(tenant.registration_profiles.values())
        .any(|named| *named == account_id)
}

/// The currency of an account as accounts shows it; an account without one
/// is a fault of accounts (UNAVAILABLE), never the caller's.
pub fn currency_of(account: &Account) -> Result<Currency, PeerError> {
    Currency::parse(&account.currency_code)
        .map_err(|_| PeerError::Unavailable { what: "accounts", cause: "an account without a currency".to_owned() })
}

/// A peer's error status sorted by who made the call: the service's own
/// identity or its caller.
fn sort(caller: &Caller, what: &'static str, status: tonic::Status) -> PeerError {
    if caller.is_service() { client::service_peer_error(what, status) } else { client::peer_error(what, status) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_quotes_as_its_regions_account_else_the_tenants() {
        let (everyone, europe) = (Uuid::now_v7(), Uuid::now_v7());
        let mut tenant = Tenant::default();
        assert_eq!(guest_of(&tenant, "EU"), None);
        tenant.guest_account_id = everyone.to_string();
        tenant.guest_accounts_by_region.insert("EU".to_owned(), europe.to_string());
        assert_eq!(guest_of(&tenant, "EU"), Some(europe));
        assert_eq!(guest_of(&tenant, "APAC"), Some(everyone));
        assert_eq!(guest_of(&tenant, ""), Some(everyone));
    }

    #[test]
    fn an_account_the_tenant_names_for_guests_or_sign_ups_is_shared() {
        let (everyone, europe, shop, business) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let mut tenant = Tenant::default();
        assert!(!names_generic(&tenant, business), "a tenant naming nothing has no shared account");
        tenant.guest_account_id = everyone.to_string();
        tenant.guest_accounts_by_region.insert("EU".to_owned(), europe.to_string());
        tenant.registration_profiles.insert("WEB_RETAIL".to_owned(), shop.to_string());
        assert!([everyone, europe, shop].iter().all(|account| names_generic(&tenant, *account)));
        assert!(!names_generic(&tenant, business));
    }
}
