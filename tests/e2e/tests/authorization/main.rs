//! The authorization matrix: every RPC of every contract, called through the
//! gateway by a caller of another tenant (NOT_FOUND, or nothing of the
//! tenant visible, and nothing changed), a caller without the role
//! (PERMISSION_DENIED), a platform administrator without a tenant, and
//! callers with no or a forged token (UNAUTHENTICATED). A method of the
//! contracts without a case fails the test: each new RPC joins the matrix,
//! in the module of its context.

mod accounts;
mod billing;
mod credit;
mod pricing;
mod resellersync;

use bss_e2e::TestApp;
use bss_platform::auth::Role;
use tonic::transport::Channel;
use tonic::{Code, Status};
use uuid::Uuid;

/// What a caller of another tenant gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherTenant {
    /// The object is not found.
    NotFound,
    /// A listing or stream that shows nothing of the first tenant.
    SeesNothing,
    /// Not about the first tenant's objects (it acts in its own tenant, or
    /// on no tenant's data).
    NotApplicable,
}

pub struct Case {
    pub method: String,
    /// A role that may not make this call; `None`: a token without roles.
    pub denied: Option<Role>,
    pub other_tenant: OtherTenant,
}

pub fn case(service: &str, method: &str, denied: Option<Role>, other_tenant: OtherTenant) -> Case {
    Case { method: format!("/{service}/{method}"), denied, other_tenant }
}

/// A request with `token` (none: no authorization header).
pub fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    match token {
        Some(token) => bss_testkit::authorized(message, token),
        None => tonic::Request::new(message),
    }
}

/// Counts how many items of `tenant` a listing showed.
pub fn count_of_tenant(tenant_ids: impl Iterator<Item = String>, tenant: Uuid) -> usize {
    let owner = tenant.to_string();
    tenant_ids.filter(|id| *id == owner).count()
}

#[tokio::test]
async fn every_rpc_refuses_other_tenants_missing_roles_and_bad_tokens() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Owner Books", "AUD").await;
    let (other_tenant, _) = suite.tenant("Other Books", "AUD").await;
    let channel: Channel = suite.gateway().await;

    let accounts = accounts::Fixture::set_up(&channel, tenant_id, &admin).await;
    let pricing = pricing::Fixture::set_up(&channel, &admin, &accounts.account_id).await;
    let credit = credit::Fixture::set_up(&channel, tenant_id, &admin, &accounts.account_id).await;
    let billing = billing::Fixture::set_up(&channel, tenant_id, &admin, &accounts.account_id).await;
    let sync = resellersync::Fixture::set_up(&channel, tenant_id, &admin).await;
    let snapshot = || async {
        (
            accounts.snapshot(&channel, &admin).await,
            pricing.snapshot(&channel, &admin).await,
            credit.snapshot(&channel, &admin).await,
            billing.snapshot(&channel, &admin).await,
            sync.snapshot(&channel, &admin).await,
        )
    };
    let before = snapshot().await;

    let cases: Vec<Case> = accounts::cases()
        .into_iter()
        .chain(pricing::cases())
        .chain(credit::cases())
        .chain(billing::cases())
        .chain(resellersync::cases())
        .collect();
    let covered: Vec<&str> = cases.iter().map(|case| case.method.as_str()).collect();
    let missing: Vec<String> = bss_gateway::routing::contract_methods()
        .into_iter()
        .map(|method| method.path)
        .filter(|path| !covered.contains(&path.as_str()))
        .collect();
    assert!(missing.is_empty(), "RPCs without a case in the authorization matrix: {missing:?}");

    let forged =
        bss_platform::auth::TokenIssuer::hs256("not-the-secret", bss_testkit::TEST_ISSUER, bss_testkit::TEST_AUDIENCE)
            .mint(&bss_platform::auth::TokenSpec {
                subject: "forger".to_owned(),
                tenant: Some(tenant_id.to_string()),
                roles: vec![Role::TenantAdmin, Role::PlatformAdmin],
                ttl: std::time::Duration::from_secs(60),
                ..Default::default()
            });
    let stranger = bss_testkit::token(other_tenant, &[Role::TenantAdmin, Role::AccountManager, Role::Integration]);
    let platform_admin = bss_testkit::platform_admin_token();

    let mut failures = Vec::new();
    for case in &cases {
        let invoke = |token: Option<String>| {
            let channel = channel.clone();
            let method = case.method.clone();
            let (accounts, pricing, credit, billing, sync) = (&accounts, &pricing, &credit, &billing, &sync);
            async move {
                if method.starts_with("/bss.pricing.") {
                    pricing.invoke(&method, channel, token.as_deref()).await
                } else if method.starts_with("/bss.credit.") {
                    credit.invoke(&method, channel, token.as_deref()).await
                } else if method.starts_with("/bss.billing.") {
                    billing.invoke(&method, channel, token.as_deref()).await
                } else if method.starts_with("/bss.resellersync.") {
                    sync.invoke(&method, channel, token.as_deref()).await
                } else {
                    accounts.invoke(&method, channel, token.as_deref()).await
                }
            }
        };
        for (who, token) in [("no token", None), ("forged token", Some(forged.clone()))] {
            let outcome = invoke(token).await;
            if !matches!(&outcome, Err(status) if status.code() == Code::Unauthenticated) {
                failures.push(format!("{} with {who}: {outcome:?}", case.method));
            }
        }
        let denied = bss_testkit::token(tenant_id, &case.denied.into_iter().collect::<Vec<_>>());
        let outcome = invoke(Some(denied)).await;
        if !matches!(&outcome, Err(status) if status.code() == Code::PermissionDenied) {
            failures.push(format!("{} without the role: {outcome:?}", case.method));
        }
        if !case.method.starts_with("/bss.accounts.v1.TenantService/") {
            let outcome = invoke(Some(platform_admin.clone())).await;
            if !matches!(&outcome, Err(status) if status.code() == Code::PermissionDenied) {
                failures.push(format!("{} as a platform admin without a tenant: {outcome:?}", case.method));
            }
        }
        let outcome = invoke(Some(stranger.clone())).await;
        let expected = match case.other_tenant {
            OtherTenant::NotFound => matches!(&outcome, Err(status) if status.code() == Code::NotFound),
            OtherTenant::SeesNothing => matches!(&outcome, Ok(0)),
            OtherTenant::NotApplicable => true,
        };
        if !expected {
            failures.push(format!("{} by another tenant: {outcome:?}", case.method));
        }
    }
    assert!(failures.is_empty(), "authorization failures:\n{}", failures.join("\n"));
    let after = snapshot().await;
    assert_eq!(after.0, before.0, "the first tenant's accounts data changed");
    assert_eq!(after.1, before.1, "the first tenant's pricing changed");
    assert_eq!(after.2, before.2, "the first tenant's credit changed");
    assert_eq!(after.3, before.3, "the first tenant's billing changed");
    assert_eq!(after.4, before.4, "the first tenant's links changed");
}

/// The outcome of a call in the matrix: how many of the first tenant's
/// items it showed (1 for a call that returns no listing).
pub type Outcome = Result<usize, Status>;
