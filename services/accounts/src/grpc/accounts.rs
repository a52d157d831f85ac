//! Accounts: create, read, update, list, delete; and the AccountService
//! trait, whose other RPCs live in `contacts`, `lifecycle` and `import`.

use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::account_service_server::AccountService;
use bss_proto::accounts::*;
use tonic::{Request, Response, Status, Streaming};

use super::{ACCOUNT_READERS, AccountsApi, WRITERS, authorize, contacts, import, lifecycle};
use crate::domain::error::AccountsError;
use crate::repo::accounts::Filter;
use crate::wire::*;

/// The filters of a ListAccounts request.
fn account_filter(request: &ListAccountsRequest) -> Result<Filter, Violations> {
    let non_empty = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
    let mut v = Violations::new();
    let status = v.keep("status", status_filter_from_wire(request.status));
    let kind = v.keep("kind", kind_filter_from_wire(request.kind));
    v.into_result()?;
    Ok(Filter {
        name_contains: non_empty(&request.name),
        code: non_empty(&request.code),
        external_key: non_empty(&request.external_key),
        email: non_empty(&request.email),
        status: status.flatten(),
        kind: kind.flatten(),
        sales_rep_id: non_empty(&request.sales_rep_id),
        territory: non_empty(&request.territory),
        account_class: non_empty(&request.account_class),
        code_prefix: non_empty(&request.code_prefix),
        name_prefix: non_empty(&request.name_prefix).map(|prefix| prefix.to_lowercase()),
    })
}

/// The fields and the currency (if any) of a new account, every violation
/// of both collected.
fn new_account(input: &Account) -> Result<(crate::domain::account::AccountFields, Option<String>), Violations> {
    match (account_fields(input), optional_currency(&input.currency_code)) {
        (Ok(fields), Ok(currency)) => Ok((fields, currency)),
        (fields, currency) => {
            let mut violations = fields.err().unwrap_or_default();
            violations.extend(currency.err().unwrap_or_default());
            Err(violations)
        }
    }
}

#[tonic::async_trait]
impl AccountService for AccountsApi {
    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.account.clone().unwrap_or_default();
            let new = new_account(&input)?;
            let key = RequestKey::new(tenant_id, "CreateAccount", &request.request_id, &request)?;
            self.create_account(&caller, tenant_id, key, new, |account, duplicate| CreateAccountResponse {
                account: Some(account_to_proto(account)),
                warnings: key_warnings(duplicate),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<GetAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
        let id = parse_id("id", &request.get_ref().id).map_err(AccountsError::from)?;
        let account = self.account(&caller, tenant_id, id).await?;
        Ok(Response::new(GetAccountResponse { account: Some(account_to_proto(&account)) }))
    }

    async fn update_account(
        &self,
        request: Request<UpdateAccountRequest>,
    ) -> Result<Response<UpdateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.account.clone().unwrap_or_default();
            let id = parse_id("account.id", &input.id)?;
            let paths = writable_paths(request.update_mask.as_ref(), ACCOUNT_WRITABLE_PATHS)?;
            let key = RequestKey::new(tenant_id, "UpdateAccount", &request.request_id, &request)?;
            let currency = paths.contains(&"currency_code").then_some(input.currency_code.as_str());
            let change = |account: &crate::domain::account::Account| {
                let mut merged = account_to_proto(account);
                overlay_account(&mut merged, &input, &paths);
                Ok(account_fields(&merged)?)
            };
            self.update_account(&caller, tenant_id, key, (id, &input.etag, currency), change, |account, duplicate| {
                UpdateAccountResponse { account: Some(account_to_proto(account)), warnings: key_warnings(duplicate) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ACCOUNT_READERS)?;
        let request = request.into_inner();
        let run = async {
            let filters = ListAccountsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let filter = account_filter(&request)?;
            let (accounts, next_page_token) = self.accounts(&caller, tenant_id, &filter, &page).await?;
            Ok::<_, AccountsError>(ListAccountsResponse {
                accounts: accounts.iter().map(account_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_account(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeleteAccount", &request.request_id, &request)?;
            self.delete_account(&caller, tenant_id, key, (id, &request.etag), DeleteAccountResponse {}).await
        };
        Ok(Response::new(run.await?))
    }

    async fn create_contact(
        &self,
        request: Request<CreateContactRequest>,
    ) -> Result<Response<CreateContactResponse>, Status> {
        contacts::create_contact(self, request).await
    }

    async fn list_contacts(
        &self,
        request: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsResponse>, Status> {
        contacts::list_contacts(self, request).await
    }

    async fn update_contact(
        &self,
        request: Request<UpdateContactRequest>,
    ) -> Result<Response<UpdateContactResponse>, Status> {
        contacts::update_contact(self, request).await
    }

    async fn delete_contact(
        &self,
        request: Request<DeleteContactRequest>,
    ) -> Result<Response<DeleteContactResponse>, Status> {
        contacts::delete_contact(self, request).await
    }

    async fn create_address(
        &self,
        request: Request<CreateAddressRequest>,
    ) -> Result<Response<CreateAddressResponse>, Status> {
        contacts::create_address(self, request).await
    }

    async fn list_addresses(
        &self,
        request: Request<ListAddressesRequest>,
    ) -> Result<Response<ListAddressesResponse>, Status> {
        contacts::list_addresses(self, request).await
    }

    async fn update_address(
        &self,
        request: Request<UpdateAddressRequest>,
    ) -> Result<Response<UpdateAddressResponse>, Status> {
        contacts::update_address(self, request).await
    }

    async fn delete_address(
        &self,
        request: Request<DeleteAddressRequest>,
    ) -> Result<Response<DeleteAddressResponse>, Status> {
        contacts::delete_address(self, request).await
    }

    async fn validate_address(
        &self,
        request: Request<ValidateAddressRequest>,
    ) -> Result<Response<ValidateAddressResponse>, Status> {
        contacts::validate_address(self, request).await
    }

    async fn suspend_account(
        &self,
        request: Request<SuspendAccountRequest>,
    ) -> Result<Response<SuspendAccountResponse>, Status> {
        lifecycle::suspend_account(self, request).await
    }

    async fn reactivate_account(
        &self,
        request: Request<ReactivateAccountRequest>,
    ) -> Result<Response<ReactivateAccountResponse>, Status> {
        lifecycle::reactivate_account(self, request).await
    }

    async fn terminate_account(
        &self,
        request: Request<TerminateAccountRequest>,
    ) -> Result<Response<TerminateAccountResponse>, Status> {
        lifecycle::terminate_account(self, request).await
    }

    async fn list_account_history(
        &self,
        request: Request<ListAccountHistoryRequest>,
    ) -> Result<Response<ListAccountHistoryResponse>, Status> {
        lifecycle::list_account_history(self, request).await
    }

    async fn synchronize_account(
        &self,
        request: Request<SynchronizeAccountRequest>,
    ) -> Result<Response<SynchronizeAccountResponse>, Status> {
        lifecycle::synchronize_account(self, request).await
    }

    async fn import_accounts(
        &self,
        request: Request<Streaming<ImportAccountsRequest>>,
    ) -> Result<Response<ImportAccountsResponse>, Status> {
        import::import_accounts(self, request).await
    }

    type ImportAccountsWithProgressStream = import::ProgressStream;

    async fn import_accounts_with_progress(
        &self,
        request: Request<Streaming<ImportAccountsWithProgressRequest>>,
    ) -> Result<Response<Self::ImportAccountsWithProgressStream>, Status> {
        import::import_accounts_with_progress(self, request).await
    }
}
