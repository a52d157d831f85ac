//! Accounts: create, read, update, list, delete; and the AccountService
//! trait, whose other RPCs live in `contacts`, `lifecycle` and `import`.

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::paging::Page;
use bss_platform::time;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::account_service_server::AccountService;
use bss_proto::accounts::*;
use bss_proto::types::Warning;
use prost::Message;
use sqlx::PgConnection;
use tonic::{Request, Response, Status, Streaming};
use uuid::Uuid;

use super::convert::*;
use bss_proto::billing::SettlementPurpose;

use super::{AccountsApi, READERS, WRITERS, authorize, event, publish, record};
use crate::domain::account::{Account, AccountFields};
use crate::domain::custom_fields;
use crate::domain::error::AccountsError;
use crate::domain::history::{HistoryLine, changed_fields};
use crate::domain::managed;
use crate::repo;
use crate::repo::accounts::{Filter, Visibility};

impl AccountsApi {
    async fn create_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: CreateAccountRequest,
    ) -> Result<CreateAccountResponse, AccountsError> {
        let input = request.account.clone().unwrap_or_default();
        let (fields, currency) = match (account_fields(&input), optional_currency(&input.currency_code)) {
            (Ok(fields), Ok(currency)) => (fields, currency),
            (fields, currency) => {
                let mut violations = fields.err().unwrap_or_default();
                violations.extend(currency.err().unwrap_or_default());
                return Err(violations.into());
            }
        };
        if fields.managed_by.is_some() && !caller.has_role(Role::Integration) {
            return Err(AccountsError::IntegrationOnly(
                "only the reseller sync (integration role) may create a managed copy",
            ));
        }
        let key = RequestKey::new(tenant_id, "CreateAccount", &request.request_id, &request)?;
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let currency = currency.unwrap_or_else(|| tenant.default_currency.clone());
        let account = Account::new(tenant_id, fields, currency, caller.subject.clone(), false, time::now());
        let mut connection = self.db.acquire().await?;
        check_custom_fields(&mut connection, tenant_id, &account.fields).await?;
        let warnings = external_key_warnings(&mut connection, &account).await?;
        let proto_account = account_to_proto(&account);
        let created =
            event(tenant_id, caller, Payload::AccountCreated(AccountCreated { account: Some(proto_account.clone()) }));
        let response = CreateAccountResponse { account: Some(proto_account), warnings };
        // The hot path: claim, insert, event and stored answer in one statement.
        let inserted = repo::accounts::insert(
            &mut *connection,
            &account,
            tenant.name_scope(),
            key.as_ref(),
            response.encode_to_vec(),
            created.encode_to_vec(),
        )
        .await?;
        if !inserted && let Some(key) = &key {
            return Ok(idempotency::resolve(&mut connection, key).await?);
        }
        self.events.written();
        tracing::info!(account_id = %account.id, "account created");
        Ok(response)
    }

    async fn get_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: GetAccountRequest,
    ) -> Result<GetAccountResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let mut connection = self.db.acquire().await?;
        let account = repo::accounts::get(&mut connection, tenant_id, id, visibility(caller), false).await?;
        Ok(GetAccountResponse { account: Some(account_to_proto(&account)) })
    }

    async fn update_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: UpdateAccountRequest,
    ) -> Result<UpdateAccountResponse, AccountsError> {
        let input = request.account.clone().unwrap_or_default();
        let id = parse_id("account.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), ACCOUNT_WRITABLE_PATHS)?;
        let key = RequestKey::new(tenant_id, "UpdateAccount", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
            account.check_etag(&input.etag)?;
            if paths.contains(&"currency_code") && input.currency_code != account.currency_code {
                return Err(AccountsError::precondition(
                    "CURRENCY_IMMUTABLE",
                    "the currency of an account is fixed at creation",
                ));
            }
            let mut merged = account_to_proto(&account);
            overlay_account(&mut merged, &input, &paths);
            let fields = account_fields(&merged)?;
            let changes = changed_fields(&account.fields, &fields);
            if changes.is_empty() {
                return Ok(UpdateAccountResponse { account: Some(account_to_proto(&account)), warnings: Vec::new() });
            }
            let changed: Vec<&str> =
                changes.iter().map(|change| change.field.split('.').next().unwrap_or_default()).collect();
            let integration = caller.has_role(Role::Integration);
            if changed.contains(&"managed_by") && !integration {
                return Err(AccountsError::IntegrationOnly(
                    "only the reseller sync (integration role) may change managed_by",
                ));
            }
            managed::check_edit(account.fields.managed_by.as_ref(), &changed, integration)?;
            check_custom_fields(tx, tenant_id, &fields).await?;
            check_parent(tx, tenant_id, &account, &fields).await?;
            let tenant = self.tenants.get(&self.db, tenant_id).await?;
            let updated = repo::accounts::update(tx, &account, &fields, tenant.name_scope()).await?;
            let warnings = if updated.fields.external_key != account.fields.external_key {
                external_key_warnings(tx, &updated).await?
            } else {
                Vec::new()
            };
            let changed_names: Vec<String> = changes.iter().map(|change| change.field.clone()).collect();
            record(tx, tenant_id, id, caller, &HistoryLine { action: "UPDATED", changes, reason: String::new() })
                .await?;
            let proto_account = account_to_proto(&updated);
            publish(
                tx,
                tenant_id,
                caller,
                Payload::AccountUpdated(AccountUpdated {
                    account: Some(proto_account.clone()),
                    changed_fields: changed_names,
                }),
            )
            .await?;
            let response = UpdateAccountResponse { account: Some(proto_account), warnings };
            Ok(response)
        })
        .await
    }

    async fn list_accounts(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: ListAccountsRequest,
    ) -> Result<ListAccountsResponse, AccountsError> {
        let filters = ListAccountsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
        let page = Page::parse(request.page_size, &request.page_token, &filters)?;
        let filter = account_filter(&request)?;
        let mut connection = self.db.acquire().await?;
        let accounts = repo::accounts::list(
            &mut connection,
            tenant_id,
            &filter,
            visibility(caller),
            page.after_uuid()?,
            page.fetch_limit(),
        )
        .await?;
        let (accounts, next_page_token) = page.finish(accounts, |account| account.id.as_bytes().to_vec());
        Ok(ListAccountsResponse { accounts: accounts.iter().map(account_to_proto).collect(), next_page_token })
    }

    async fn delete_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: DeleteAccountRequest,
    ) -> Result<DeleteAccountResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let key = RequestKey::new(tenant_id, "DeleteAccount", &request.request_id, &request)?;
        if let Some(key) = &key {
            let mut connection = self.db.acquire().await?;
            if let Ok(stored) = idempotency::resolve::<DeleteAccountResponse>(&mut connection, key).await {
                return Ok(stored);
            }
        }
        {
            let mut connection = self.db.acquire().await?;
            let account = repo::accounts::get(&mut connection, tenant_id, id, Visibility::All, false).await?;
            account.check_etag(&request.etag)?;
            managed::check_action(account.fields.managed_by.as_ref(), "delete", caller.has_role(Role::Integration))?;
        }
        // Financial history is never orphaned: an account with money in
        // billing or credit stays (terminate it once it is final).
        self.check_financially_settled(caller, &[id], SettlementPurpose::Deletion).await?;
        let response = self
            .write(key, async |tx| {
                let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
                account.check_etag(&request.etag)?;
                managed::check_action(
                    account.fields.managed_by.as_ref(),
                    "delete",
                    caller.has_role(Role::Integration),
                )?;
                repo::accounts::delete(tx, &account).await?;
                publish(
                    tx,
                    tenant_id,
                    caller,
                    Payload::AccountDeleted(AccountDeleted { account: Some(account_to_proto(&account)) }),
                )
                .await?;
                let response = DeleteAccountResponse {};
                Ok(response)
            })
            .await?;
        tracing::info!(account_id = %id, "account deleted");
        Ok(response)
    }
}

pub(crate) fn visibility(caller: &Caller) -> Visibility<'_> {
    Visibility::from_limit(caller.sales_rep_limit())
}

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
    })
}

/// Custom field values must fit the tenant's definitions.
pub(crate) async fn check_custom_fields(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    fields: &AccountFields,
) -> Result<(), AccountsError> {
    if fields.custom_fields.is_empty() {
        return Ok(());
    }
    let definitions = repo::custom_fields::list(connection, tenant_id).await?;
    let problems = custom_fields::check_values(&fields.custom_fields, &definitions);
    let mut violations = Violations::new();
    for (key, problem) in problems {
        violations.add(format!("account.custom_fields.{key}"), problem);
    }
    violations.into_result().map_err(AccountsError::from)
}

/// A new parent (bill-to) account must not make the account its own
/// ancestor. (That it exists in the tenant is the foreign key's job.)
async fn check_parent(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account: &Account,
    fields: &AccountFields,
) -> Result<(), AccountsError> {
    let Some(parent_id) = fields.parent_account_id else {
        return Ok(());
    };
    if account.fields.parent_account_id != Some(parent_id)
        && repo::accounts::parent_would_cycle(connection, tenant_id, account.id, parent_id).await?
    {
        return Err(AccountsError::precondition(
            "PARENT_CYCLE",
            "the parent account would make the account its own ancestor",
        ));
    }
    Ok(())
}

/// EXTERNAL_KEY_DUPLICATE when another account already has the key: imports
/// update by key, so a duplicate is allowed but worth knowing.
pub(crate) async fn external_key_warnings(
    connection: &mut PgConnection,
    account: &Account,
) -> Result<Vec<Warning>, AccountsError> {
    let Some(external_key) = &account.fields.external_key else {
        return Ok(Vec::new());
    };
    if !repo::accounts::external_key_in_use(connection, account.tenant_id, external_key, Some(account.id)).await? {
        return Ok(Vec::new());
    }
    Ok(vec![duplicate_key_warning(external_key)])
}

pub(crate) fn duplicate_key_warning(external_key: &str) -> Warning {
    Warning {
        reason: "EXTERNAL_KEY_DUPLICATE".to_owned(),
        message: format!(
            "another account already has the external key {external_key:?}; imports update only one of them"
        ),
        field: "account.external_key".to_owned(),
    }
}

#[tonic::async_trait]
impl AccountService for AccountsApi {
    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::create_account(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<GetAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(AccountsApi::get_account(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn update_account(
        &self,
        request: Request<UpdateAccountRequest>,
    ) -> Result<Response<UpdateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::update_account(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(AccountsApi::list_accounts(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn delete_account(
        &self,
        request: Request<DeleteAccountRequest>,
    ) -> Result<Response<DeleteAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::delete_account(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn create_contact(
        &self,
        request: Request<CreateContactRequest>,
    ) -> Result<Response<CreateContactResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.create_contact_for(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn list_contacts(
        &self,
        request: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(self.list_contacts_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn update_contact(
        &self,
        request: Request<UpdateContactRequest>,
    ) -> Result<Response<UpdateContactResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.update_contact_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn delete_contact(
        &self,
        request: Request<DeleteContactRequest>,
    ) -> Result<Response<DeleteContactResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.delete_contact_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn create_address(
        &self,
        request: Request<CreateAddressRequest>,
    ) -> Result<Response<CreateAddressResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.create_address_for(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn list_addresses(
        &self,
        request: Request<ListAddressesRequest>,
    ) -> Result<Response<ListAddressesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(self.list_addresses_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn update_address(
        &self,
        request: Request<UpdateAddressRequest>,
    ) -> Result<Response<UpdateAddressResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.update_address_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn delete_address(
        &self,
        request: Request<DeleteAddressRequest>,
    ) -> Result<Response<DeleteAddressResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.delete_address_of(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn validate_address(
        &self,
        request: Request<ValidateAddressRequest>,
    ) -> Result<Response<ValidateAddressResponse>, Status> {
        authorize(&request, READERS)?;
        Ok(Response::new(self.validate_address_only(request.into_inner()).await?))
    }

    async fn suspend_account(
        &self,
        request: Request<SuspendAccountRequest>,
    ) -> Result<Response<SuspendAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.suspend(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn reactivate_account(
        &self,
        request: Request<ReactivateAccountRequest>,
    ) -> Result<Response<ReactivateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.reactivate(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn terminate_account(
        &self,
        request: Request<TerminateAccountRequest>,
    ) -> Result<Response<TerminateAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.terminate(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn list_account_history(
        &self,
        request: Request<ListAccountHistoryRequest>,
    ) -> Result<Response<ListAccountHistoryResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(self.history(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn synchronize_account(
        &self,
        request: Request<SynchronizeAccountRequest>,
    ) -> Result<Response<SynchronizeAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.synchronize(&caller, tenant_id, request.into_inner()).await?))
    }

    async fn import_accounts(
        &self,
        request: Request<Streaming<ImportAccountsRequest>>,
    ) -> Result<Response<ImportAccountsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(self.import(&caller, tenant_id, request.into_inner()).await?))
    }
}
