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

/// `message` from `token`, naming `tenant` in `x-bss-tenant` (the console's
/// tenant switcher).
fn acting_in<T>(message: T, token: &str, tenant: &str) -> tonic::Request<T> {
    let mut request = bss_testkit::authorized(message, token);
    request.metadata_mut().insert(bss_platform::auth::ACTING_TENANT_HEADER, tenant.parse().expect("ascii"));
    request
}

#[tokio::test]
async fn a_platform_admin_switched_into_a_tenant_acts_there_as_its_administrator() {
    use bss_proto::accounts::account_service_client::AccountServiceClient;
    use bss_proto::accounts::{CreateAccountRequest, GetAccountRequest};
    use bss_proto::billing::GetAccountBalanceRequest;
    use bss_proto::billing::payment_service_client::PaymentServiceClient;
    use bss_proto::credit::GetCreditStatusRequest;
    use bss_proto::credit::credit_service_client::CreditServiceClient;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Switched Books", "AUD").await;
    let (_, other_admin) = suite.tenant("Neighbour Books", "AUD").await;
    let gateway: Channel = suite.gateway().await;
    let platform = bss_testkit::platform_admin_token();
    let tenant = tenant_id.to_string();
    let mut accounts = AccountServiceClient::new(gateway.clone());

    // Created by the platform admin inside the tenant...
    let create = CreateAccountRequest {
        account: Some(bss_e2e::unique(bss_e2e::ordering_account(""))),
        request_id: Uuid::now_v7().to_string(),
    };
    let created = accounts.create_account(acting_in(create, &platform, &tenant)).await.expect("created");
    let account_id = created.into_inner().account.expect("account").id;
    // ...it is the tenant's own account, as its administrator reads it.
    let read =
        accounts.get_account(bss_testkit::authorized(GetAccountRequest { id: account_id.clone() }, &admin)).await;
    assert_eq!(read.expect("the tenant reads it").into_inner().account.expect("account").id, account_id);
    // The tenant travels with the calls the services make for it: credit
    // and billing answer about the account (both ask accounts for it).
    let status = CreditServiceClient::new(gateway.clone())
        .get_credit_status(acting_in(GetCreditStatusRequest { account_id: account_id.clone() }, &platform, &tenant))
        .await
        .expect("credit status")
        .into_inner();
    assert_eq!(status.status.expect("status").account_id, account_id);
    let balance = PaymentServiceClient::new(gateway.clone())
        .get_account_balance(acting_in(GetAccountBalanceRequest { account_id: account_id.clone() }, &platform, &tenant))
        .await
        .expect("billing balance")
        .into_inner();
    let own = bss_e2e::billing_balance(&gateway, &admin, &account_id).await;
    assert_eq!(balance.balance, own.balance, "the tenant's own reading");

    // Without naming a tenant, the platform admin acts in none.
    let refused = accounts
        .get_account(bss_testkit::authorized(GetAccountRequest { id: account_id.clone() }, &platform))
        .await
        .expect_err("no tenant");
    assert_eq!(refused.code(), Code::PermissionDenied);
    // A malformed tenant is no tenant at all.
    let malformed = accounts
        .get_account(acting_in(GetAccountRequest { id: account_id.clone() }, &platform, "not-a-tenant"))
        .await
        .expect_err("malformed");
    assert_eq!(malformed.code(), Code::Unauthenticated);
    // Another tenant's administrator naming this tenant stays in its own.
    let neighbour = accounts
        .get_account(acting_in(GetAccountRequest { id: account_id.clone() }, &other_admin, &tenant))
        .await
        .expect_err("another tenant's account");
    assert_eq!(neighbour.code(), Code::NotFound);
}
