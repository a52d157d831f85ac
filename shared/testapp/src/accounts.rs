//! Shared harness of the accounts API tests: the service on a fresh
//! database, connected clients, and helpers.

use std::net::SocketAddr;

use bss_accounts::AccountsConfig;
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::custom_field_service_client::CustomFieldServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::user_service_client::UserServiceClient;
use bss_proto::accounts::*;
use bss_testkit::{authorized, platform_admin_token, token};
#[allow(unused_imports)]
pub use bss_testkit::{reason, violated_fields};
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::kit::{Kit, Service, listener};

pub struct TestApp {
    pub address: SocketAddr,
    pub accounts: AccountServiceClient<Channel>,
    pub tenants: TenantServiceClient<Channel>,
    pub users: UserServiceClient<Channel>,
    pub groups: GroupServiceClient<Channel>,
    pub custom_fields: CustomFieldServiceClient<Channel>,
    pub db: sqlx::PgPool,
    _kit: Kit,
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// The service with its configuration changed by `adjust`.
pub async fn spawn_with(adjust: impl FnOnce(&mut AccountsConfig)) -> TestApp {
    let kit = Kit::new().await;
    let mut config = AccountsConfig::new(kit.platform());
    adjust(&mut config);
    let Service { address, channel, db, .. } = kit.accounts(listener().await.0, config).await;
    TestApp {
        address,
        accounts: AccountServiceClient::new(channel.clone()),
        tenants: TenantServiceClient::new(channel.clone()),
        users: UserServiceClient::new(channel.clone()),
        groups: GroupServiceClient::new(channel.clone()),
        custom_fields: CustomFieldServiceClient::new(channel),
        db,
        _kit: kit,
    }
}

impl TestApp {
    pub async fn create_tenant(&mut self, name: &str, currency: &str) -> Tenant {
        self.create_tenant_with(Tenant {
            name: name.to_owned(),
            default_currency: currency.to_owned(),
            ..Tenant::default()
        })
        .await
    }

    pub async fn create_tenant_with(&mut self, tenant: Tenant) -> Tenant {
        let request = CreateTenantRequest { tenant: Some(tenant), request_id: String::new() };
        self.tenants
            .create_tenant(authorized(request, &platform_admin_token()))
            .await
            .expect("tenant created")
            .into_inner()
            .tenant
            .expect("tenant")
    }

    /// A tenant and a tenant administrator's token for it.
    pub async fn tenant_admin(&mut self) -> (Uuid, String) {
        let tenant = self.create_tenant("Acme Books", "AUD").await;
        let tenant_id: Uuid = tenant.id.parse().expect("uuid");
        (tenant_id, token(tenant_id, &[Role::TenantAdmin]))
    }

    pub async fn create_account(&mut self, token: &str, account: Account) -> Result<CreateAccountResponse, Status> {
        self.create_account_with_id(token, account, "").await
    }

    pub async fn create_account_with_id(
        &mut self,
        token: &str,
        account: Account,
        request_id: &str,
    ) -> Result<CreateAccountResponse, Status> {
        let request = CreateAccountRequest { account: Some(account), request_id: request_id.to_owned() };
        self.accounts.create_account(authorized(request, token)).await.map(|response| response.into_inner())
    }

    /// Imports `rows` in one message of one call.
    pub async fn import_rows(&self, token: &str, rows: Vec<ImportRow>) -> ImportAccountsResponse {
        let message = ImportAccountsRequest { rows, request_id: String::new() };
        let mut accounts = self.accounts.clone();
        let answer = accounts.import_accounts(authorized(futures::stream::iter([message]), token)).await;
        answer.expect("import").into_inner()
    }

    pub async fn get_account(&mut self, token: &str, id: &str) -> Result<Account, Status> {
        let request = GetAccountRequest { id: id.to_owned() };
        self.accounts
            .get_account(authorized(request, token))
            .await
            .map(|response| response.into_inner().account.expect("account"))
    }

    pub async fn count_accounts(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM accounts.accounts").fetch_one(&self.db).await.expect("count")
    }
}

pub fn account(code: &str, name: &str) -> Account {
    Account { code: code.to_owned(), name: name.to_owned(), ..Account::default() }
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() })
}
