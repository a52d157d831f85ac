//! The reseller-sync context in the authorization matrix.

use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{Account, AccountKind, CreateAccountRequest, CreateTenantRequest, Tenant};
use bss_proto::resellersync::reseller_sync_service_client::ResellerSyncServiceClient;
use bss_proto::resellersync::*;
use bss_testkit::authorized;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{Case, OtherTenant, Outcome, case, request};

const SYNC: &str = "bss.resellersync.v1.ResellerSyncService";

pub fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let reader = Some(Role::AccountManager);
    let writer = Some(Role::Integration);
    vec![
        // Another tenant links only tenants under its own.
        case(SYNC, "CreateLink", writer, NotApplicable),
        case(SYNC, "GetLink", reader, NotFound),
        case(SYNC, "ListLinks", reader, SeesNothing),
        case(SYNC, "ListCopies", reader, NotFound),
        case(SYNC, "PreviewCopy", reader, NotFound),
        // Stream positions are the service's; failures are counted per
        // tenant's links.
        case(SYNC, "GetSyncStatus", reader, NotApplicable),
        case(SYNC, "ListSyncFailures", reader, SeesNothing),
        case(SYNC, "RetrySync", writer, NotFound),
    ]
}

/// The first tenant's link to a reseller tenant under it.
pub struct Fixture {
    reseller_tenant_id: String,
    tenant_reseller_account_id: String,
}

impl Fixture {
    pub async fn set_up(channel: &Channel, tenant_id: Uuid, admin: &str) -> Fixture {
        let create = CreateTenantRequest {
            tenant: Some(Tenant {
                name: "Matrix Reseller".to_owned(),
                default_currency: "AUD".to_owned(),
                parent_tenant_id: tenant_id.to_string(),
                ..Tenant::default()
            }),
            request_id: String::new(),
        };
        let reseller_tenant_id = TenantServiceClient::new(channel.clone())
            .create_tenant(authorized(create, &bss_testkit::platform_admin_token()))
            .await
            .expect("reseller tenant")
            .into_inner()
            .tenant
            .expect("tenant")
            .id;
        let account = Account {
            code: "MATRIX-TR".to_owned(),
            name: "Matrix Telecom".to_owned(),
            kind: AccountKind::Reseller as i32,
            ..Account::default()
        };
        let tenant_reseller_account_id = AccountServiceClient::new(channel.clone())
            .create_account(authorized(
                CreateAccountRequest { account: Some(account), request_id: String::new() },
                admin,
            ))
            .await
            .expect("tenant reseller")
            .into_inner()
            .account
            .expect("account")
            .id;
        let link = Link {
            reseller_tenant_id: reseller_tenant_id.clone(),
            tenant_reseller_account_id: tenant_reseller_account_id.clone(),
            ..Link::default()
        };
        ResellerSyncServiceClient::new(channel.clone())
            .create_link(authorized(CreateLinkRequest { link: Some(link), request_id: String::new() }, admin))
            .await
            .expect("link");
        Fixture { reseller_tenant_id, tenant_reseller_account_id }
    }

    /// The first tenant's links.
    pub async fn snapshot(&self, channel: &Channel, admin: &str) -> String {
        let links = ResellerSyncServiceClient::new(channel.clone())
            .list_links(authorized(ListLinksRequest::default(), admin))
            .await;
        format!("{:?}", links.map(|r| r.into_inner()))
    }

    pub async fn invoke(&self, method: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let name = method.rsplit('/').next().unwrap_or_default();
        let mut sync = ResellerSyncServiceClient::new(channel);
        let reseller_tenant_id = self.reseller_tenant_id.clone();
        match name {
            "CreateLink" => {
                let link = Link {
                    reseller_tenant_id,
                    tenant_reseller_account_id: self.tenant_reseller_account_id.clone(),
                    ..Link::default()
                };
                sync.create_link(request(CreateLinkRequest { link: Some(link), request_id: String::new() }, token))
                    .await
                    .map(|_| 1)
            }
            "GetLink" => sync.get_link(request(GetLinkRequest { reseller_tenant_id }, token)).await.map(|_| 1),
            "ListLinks" => sync.list_links(request(ListLinksRequest::default(), token)).await.map(|r| {
                r.into_inner().links.iter().filter(|link| link.reseller_tenant_id == self.reseller_tenant_id).count()
            }),
            "ListCopies" => sync
                .list_copies(request(ListCopiesRequest { reseller_tenant_id, ..Default::default() }, token))
                .await
                .map(|_| 1),
            "PreviewCopy" => {
                let preview =
                    PreviewCopyRequest { reseller_tenant_id, reseller_account_id: Uuid::now_v7().to_string() };
                sync.preview_copy(request(preview, token)).await.map(|_| 1)
            }
            "GetSyncStatus" => sync.get_sync_status(request(GetSyncStatusRequest {}, token)).await.map(|_| 1),
            "ListSyncFailures" => sync
                .list_sync_failures(request(ListSyncFailuresRequest::default(), token))
                .await
                .map(|r| r.into_inner().failures.len()),
            "RetrySync" => {
                let retry = RetrySyncRequest { stream: "accounts".to_owned(), sequence: 1 };
                sync.retry_sync(request(retry, token)).await.map(|_| 1)
            }
            other => panic!("no case for {other}"),
        }
    }
}
