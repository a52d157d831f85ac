//! Whether the tenant a caller acts for exists and is active. Every server
//! asks before serving a tenant-scoped call (the suite's own service
//! identities excepted: their background work goes on for a suspended
//! tenant). Accounts, which owns tenants, reads its database at most every
//! [`FRESH_FOR`] per tenant; every other service asks accounts (which
//! answers from its database) and keeps the answer as long, so a call costs
//! no round trip and a suspension is seen everywhere within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{GetTenantRequest, TenantStatus};
use futures::future::BoxFuture;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::auth::{Caller, Role, ServiceIdentity, TenantScope};
use crate::error::{PLATFORM_DOMAIN, with_reason};

/// How long another service trusts what accounts said of a tenant.
pub const FRESH_FOR: Duration = Duration::from_secs(10);
/// While accounts cannot answer, how soon a tenant last known is asked
/// about again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A tenant's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active,
    Suspended,
    /// No such tenant.
    Unknown,
}

/// Tells a tenant's standing.
pub trait TenantDirectory: Send + Sync + 'static {
    fn standing(&self, tenant_id: Uuid) -> BoxFuture<'_, Result<Standing, Status>>;
}

/// The tenant a call must be checked for: the caller's one tenant, unless
/// the caller is one of the suite's services.
pub fn checked_tenant(caller: &Caller) -> Option<Uuid> {
    let service = caller.has_role(Role::Integration) && caller.subject.starts_with("service:");
    match caller.tenant {
        TenantScope::One(tenant_id) if !service => Some(tenant_id),
        _ => None,
    }
}

/// The refusal of a call for a tenant in `standing`, if any.
pub fn refusal(standing: Standing) -> Option<Status> {
    match standing {
        Standing::Active => None,
        Standing::Suspended => Some(with_reason(
            Code::PermissionDenied,
            PLATFORM_DOMAIN,
            "TENANT_SUSPENDED",
            "the token's tenant is suspended",
        )),
        Standing::Unknown => Some(with_reason(
            Code::PermissionDenied,
            PLATFORM_DOMAIN,
            "TENANT_UNKNOWN",
            "the tenant named (by the token, or in x-bss-tenant) does not exist",
        )),
    }
}

/// Tenants as the accounts service tells them, remembered for
/// [`FRESH_FOR`]; when accounts cannot answer, what was known last stands.
pub struct RemoteTenants {
    accounts: Channel,
    identity: ServiceIdentity,
    known: Mutex<HashMap<Uuid, (Standing, Instant)>>,
}

impl RemoteTenants {
    pub fn new(accounts: Channel, identity: ServiceIdentity) -> RemoteTenants {
        RemoteTenants { accounts, identity, known: Mutex::new(HashMap::new()) }
    }

    fn remembered(&self, tenant_id: Uuid) -> Option<(Standing, Instant)> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).get(&tenant_id).copied()
    }

    async fn ask(&self, tenant_id: Uuid) -> Result<Standing, Status> {
        let mut request = self.identity.request(GetTenantRequest { id: tenant_id.to_string() })?;
        request.set_timeout(Duration::from_secs(5));
        match TenantServiceClient::new(self.accounts.clone()).get_tenant(request).await {
            Ok(response) => {
                let status = response.into_inner().tenant.map(|tenant| tenant.status).unwrap_or_default();
                Ok(if status == TenantStatus::Suspended as i32 { Standing::Suspended } else { Standing::Active })
            }
            Err(status) if status.code() == Code::NotFound => Ok(Standing::Unknown),
            Err(status) => Err(status),
        }
    }
}

/// The directory of a service whose tenants are accounts' at `accounts`:
/// `None` without an accounts service or a service token to ask it with
/// (every tenant is then served; the gateway and accounts still check).
pub fn remote(accounts: Option<&Channel>, identity: ServiceIdentity) -> Option<std::sync::Arc<dyn TenantDirectory>> {
    let accounts = accounts?;
    if identity.token().is_none() {
        tracing::warn!("no service token: tenants are not checked to exist and be active");
        return None;
    }
    Some(std::sync::Arc::new(RemoteTenants::new(accounts.clone(), identity)))
}

impl TenantDirectory for RemoteTenants {
    fn standing(&self, tenant_id: Uuid) -> BoxFuture<'_, Result<Standing, Status>> {
        Box::pin(async move {
            let remembered = self.remembered(tenant_id);
            if let Some((standing, at)) = remembered
                && at.elapsed() < FRESH_FOR
            {
                return Ok(standing);
            }
            match self.ask(tenant_id).await {
                Ok(standing) => {
                    let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
                    if known.len() >= 100_000 {
                        known.clear();
                    }
                    known.insert(tenant_id, (standing, Instant::now()));
                    Ok(standing)
                }
                Err(status) => match remembered {
                    Some((standing, _)) => {
                        tracing::warn!(%tenant_id, error = %status.message(), "accounts unreachable: tenant as last known");
                        // Asked again in a second, not on every call.
                        let again_at = Instant::now().checked_sub(FRESH_FOR - RETRY_AFTER).unwrap_or_else(Instant::now);
                        self.known
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(tenant_id, (standing, again_at));
                        Ok(standing)
                    }
                    None => Err(crate::error::unavailable("accounts", &status.message())),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn caller(subject: &str, roles: &[Role], tenant: TenantScope) -> Caller {
        Caller {
            subject: subject.to_owned(),
            tenant,
            roles: roles.iter().copied().collect(),
            sales_rep_id: None,
            user_id: None,
            token: Arc::from(""),
        }
    }

    #[test]
    fn users_are_checked_and_the_suites_services_are_not() {
        let tenant = Uuid::now_v7();
        let user = caller("user:ada", &[Role::TenantAdmin], TenantScope::One(tenant));
        assert_eq!(checked_tenant(&user), Some(tenant));
        let integration = caller("erp", &[Role::Integration], TenantScope::One(tenant));
        assert_eq!(checked_tenant(&integration), Some(tenant), "an integration user's token is a user's");
        let service = caller("service:billing", &[Role::Integration], TenantScope::One(tenant));
        assert_eq!(checked_tenant(&service), None);
        let admin = caller("root", &[Role::PlatformAdmin], TenantScope::None);
        assert_eq!(checked_tenant(&admin), None);
    }

    #[test]
    fn unknown_and_suspended_tenants_are_refused_with_their_reason() {
        use tonic_types::StatusExt;
        assert!(refusal(Standing::Active).is_none());
        for (standing, reason) in [(Standing::Suspended, "TENANT_SUSPENDED"), (Standing::Unknown, "TENANT_UNKNOWN")] {
            let refused = refusal(standing).expect("refused");
            assert_eq!(refused.code(), Code::PermissionDenied);
            assert_eq!(refused.get_details_error_info().expect("info").reason, reason);
        }
    }
}
