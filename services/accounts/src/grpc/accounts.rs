use bss_platform::auth::{self, Caller};
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::paging::Page;
use bss_proto::accounts::account_service_server::AccountService;
use bss_proto::accounts::*;
use bss_proto::types::Warning;
use std::sync::Arc;

use bss_platform::time;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::*;
use super::{READERS, WRITERS};
use crate::domain::account::{Account, AccountFields};
use crate::domain::error::AccountsError;
use crate::repo;
use crate::repo::accounts::{Filter, Visibility};
use crate::repo::tenants::TenantCache;

/// Accounts with their contacts and addresses.
pub struct AccountsApi {
    db: PgPool,
    tenants: Arc<TenantCache>,
}

impl AccountsApi {
    pub fn new(db: PgPool, tenants: Arc<TenantCache>) -> AccountsApi {
        AccountsApi { db, tenants }
    }

    async fn create_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: CreateAccountRequest,
    ) -> Result<CreateAccountResponse, AccountsError> {
        let input = request.account.clone().unwrap_or_default();
        let fields = account_fields(&input);
        let currency = optional_currency(&input.currency_code);
        let (fields, currency) = match (fields, currency) {
            (Ok(fields), Ok(currency)) => (fields, currency),
            (fields, currency) => {
                let mut violations = fields.err().unwrap_or_default();
                violations.extend(currency.err().unwrap_or_default());
                return Err(violations.into());
            }
        };
        let key = RequestKey::new(tenant_id, "CreateAccount", &request.request_id, &request)?;
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let currency = currency.unwrap_or_else(|| tenant.default_currency.clone());
        let account = Account::new(tenant_id, fields, currency, caller.subject.clone(), false, time::now());
        let mut connection = self.db.acquire().await?;
        let warnings = external_key_warnings(&mut connection, &account).await?;
        let response = CreateAccountResponse { account: Some(account_to_proto(&account)), warnings };
        // The hot path: claim, insert and stored answer in one statement.
        let inserted = repo::accounts::insert(
            &mut *connection,
            &account,
            tenant.name_scope(),
            key.as_ref(),
            response.encode_to_vec(),
        )
        .await?;
        if !inserted && let Some(key) = &key {
            return Ok(idempotency::resolve(&mut connection, key).await?);
        }
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
        tenant_id: Uuid,
        request: UpdateAccountRequest,
    ) -> Result<UpdateAccountResponse, AccountsError> {
        let input = request.account.clone().unwrap_or_default();
        let id = parse_id("account.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), ACCOUNT_WRITABLE_PATHS)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "UpdateAccount", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let account = repo::accounts::get(&mut tx, tenant_id, id, Visibility::All, true).await?;
        account.check_etag(&input.etag)?;
        if paths.contains(&"currency_code") && input.currency_code != account.currency_code {
            return Err(AccountsError::CurrencyImmutable);
        }
        let mut merged = account_to_proto(&account);
        overlay_account(&mut merged, &input, &paths);
        let fields = account_fields(&merged)?;
        check_parent(&mut tx, tenant_id, &account, &fields).await?;
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let updated = repo::accounts::update(&mut tx, &account, &fields, tenant.name_scope()).await?;
        let warnings = if updated.fields.external_key != account.fields.external_key {
            external_key_warnings(&mut tx, &updated).await?
        } else {
            Vec::new()
        };
        let response = UpdateAccountResponse { account: Some(account_to_proto(&updated)), warnings };
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
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
        tenant_id: Uuid,
        request: DeleteAccountRequest,
    ) -> Result<DeleteAccountResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "DeleteAccount", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let account = repo::accounts::get(&mut tx, tenant_id, id, Visibility::All, true).await?;
        account.check_etag(&request.etag)?;
        repo::accounts::delete(&mut tx, &account).await?;
        let response = DeleteAccountResponse {};
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        tracing::info!(account_id = %id, "account deleted");
        Ok(response)
    }

    async fn create_contact(
        &self,
        tenant_id: Uuid,
        request: CreateContactRequest,
    ) -> Result<CreateContactResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let fields = contact_fields(&request.contact.clone().unwrap_or_default())?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "CreateContact", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        repo::accounts::get(&mut tx, tenant_id, account_id, Visibility::All, true).await?;
        let contact = repo::contacts::insert(&mut tx, tenant_id, account_id, &fields).await?;
        let response = CreateContactResponse { contact: Some(contact_to_proto(&contact)) };
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn list_contacts(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: ListContactsRequest,
    ) -> Result<ListContactsResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, account_id, visibility(caller), false).await?;
        let contacts =
            repo::contacts::list(&mut connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit())
                .await?;
        let (contacts, next_page_token) = page.finish(contacts, |contact| contact.id.as_bytes().to_vec());
        Ok(ListContactsResponse { contacts: contacts.iter().map(contact_to_proto).collect(), next_page_token })
    }

    async fn update_contact(
        &self,
        tenant_id: Uuid,
        request: UpdateContactRequest,
    ) -> Result<UpdateContactResponse, AccountsError> {
        let input = request.contact.clone().unwrap_or_default();
        let id = parse_id("contact.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), CONTACT_WRITABLE_PATHS)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "UpdateContact", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let contact = repo::contacts::get(&mut tx, tenant_id, id).await?;
        repo::accounts::get(&mut tx, tenant_id, contact.account_id, Visibility::All, true).await?;
        let mut merged = contact_to_proto(&contact);
        overlay_contact(&mut merged, &input, &paths);
        let fields = contact_fields(&merged)?;
        let updated = repo::contacts::update(&mut tx, &contact, &fields).await?;
        let response = UpdateContactResponse { contact: Some(contact_to_proto(&updated)) };
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn delete_contact(
        &self,
        tenant_id: Uuid,
        request: DeleteContactRequest,
    ) -> Result<DeleteContactResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "DeleteContact", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let contact = repo::contacts::get(&mut tx, tenant_id, id).await?;
        repo::accounts::get(&mut tx, tenant_id, contact.account_id, Visibility::All, true).await?;
        repo::contacts::delete(&mut tx, &contact).await?;
        let response = DeleteContactResponse {};
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn create_address(
        &self,
        tenant_id: Uuid,
        request: CreateAddressRequest,
    ) -> Result<CreateAddressResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let fields = address_fields(&request.address.clone().unwrap_or_default())?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "CreateAddress", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        repo::accounts::get(&mut tx, tenant_id, account_id, Visibility::All, true).await?;
        check_address_contact(&mut tx, account_id, fields.contact_id).await?;
        let address = repo::addresses::insert(&mut tx, tenant_id, account_id, &fields).await?;
        let response = CreateAddressResponse { address: Some(address_to_proto(&address)) };
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn list_addresses(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: ListAddressesRequest,
    ) -> Result<ListAddressesResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let page = Page::parse(request.page_size, &request.page_token, &request.account_id)?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, account_id, visibility(caller), false).await?;
        let addresses =
            repo::addresses::list(&mut connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit())
                .await?;
        let (addresses, next_page_token) = page.finish(addresses, |address| address.id.as_bytes().to_vec());
        Ok(ListAddressesResponse { addresses: addresses.iter().map(address_to_proto).collect(), next_page_token })
    }

    async fn update_address(
        &self,
        tenant_id: Uuid,
        request: UpdateAddressRequest,
    ) -> Result<UpdateAddressResponse, AccountsError> {
        let input = request.address.clone().unwrap_or_default();
        let id = parse_id("address.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), ADDRESS_WRITABLE_PATHS)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "UpdateAddress", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let address = repo::addresses::get(&mut tx, tenant_id, id).await?;
        repo::accounts::get(&mut tx, tenant_id, address.account_id, Visibility::All, true).await?;
        let mut merged = address_to_proto(&address);
        overlay_address(&mut merged, &input, &paths);
        let fields = address_fields(&merged)?;
        check_address_contact(&mut tx, address.account_id, fields.contact_id).await?;
        let updated = repo::addresses::update(&mut tx, &address, &fields).await?;
        let response = UpdateAddressResponse { address: Some(address_to_proto(&updated)) };
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }

    async fn delete_address(
        &self,
        tenant_id: Uuid,
        request: DeleteAddressRequest,
    ) -> Result<DeleteAddressResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let (mut tx, pending) = match idempotency::open(
            &self.db,
            RequestKey::new(tenant_id, "DeleteAddress", &request.request_id, &request)?,
        )
        .await?
        {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let address = repo::addresses::get(&mut tx, tenant_id, id).await?;
        repo::accounts::get(&mut tx, tenant_id, address.account_id, Visibility::All, true).await?;
        repo::addresses::delete(&mut tx, &address).await?;
        let response = DeleteAddressResponse {};
        pending.finish(&mut tx, &response).await?;
        tx.commit().await?;
        Ok(response)
    }
}

fn visibility(caller: &Caller) -> Visibility<'_> {
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
        return Err(AccountsError::ParentCycle);
    }
    Ok(())
}

/// The contact an address belongs to must be a contact of the same account.
async fn check_address_contact(
    connection: &mut PgConnection,
    account_id: Uuid,
    contact_id: Option<Uuid>,
) -> Result<(), AccountsError> {
    if let Some(contact_id) = contact_id
        && !repo::contacts::belongs_to(connection, contact_id, account_id).await?
    {
        return Err(Violations::single("address.contact_id", "no such contact on this account").into());
    }
    Ok(())
}

/// EXTERNAL_KEY_DUPLICATE when another account already has the key: imports
/// update by key, so a duplicate is allowed but worth knowing.
async fn external_key_warnings(
    connection: &mut PgConnection,
    account: &Account,
) -> Result<Vec<Warning>, AccountsError> {
    let Some(external_key) = &account.fields.external_key else {
        return Ok(Vec::new());
    };
    if !repo::accounts::external_key_in_use(connection, account.tenant_id, external_key, Some(account.id)).await? {
        return Ok(Vec::new());
    }
    Ok(vec![Warning {
        reason: "EXTERNAL_KEY_DUPLICATE".to_owned(),
        message: format!(
            "another account already has the external key {external_key:?}; imports update only one of them"
        ),
        field: "account.external_key".to_owned(),
    }])
}

/// Authorizes the caller for `roles` and names its tenant.
fn authorize<T>(request: &Request<T>, roles: &[bss_platform::auth::Role]) -> Result<(Caller, Uuid), Status> {
    let caller = auth::caller(request)?;
    caller.require_any(roles)?;
    let tenant_id = caller.tenant_id()?;
    Ok((caller, tenant_id))
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
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::update_account(self, tenant_id, request.into_inner()).await?))
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
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::delete_account(self, tenant_id, request.into_inner()).await?))
    }

    async fn create_contact(
        &self,
        request: Request<CreateContactRequest>,
    ) -> Result<Response<CreateContactResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::create_contact(self, tenant_id, request.into_inner()).await?))
    }

    async fn list_contacts(
        &self,
        request: Request<ListContactsRequest>,
    ) -> Result<Response<ListContactsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(AccountsApi::list_contacts(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn update_contact(
        &self,
        request: Request<UpdateContactRequest>,
    ) -> Result<Response<UpdateContactResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::update_contact(self, tenant_id, request.into_inner()).await?))
    }

    async fn delete_contact(
        &self,
        request: Request<DeleteContactRequest>,
    ) -> Result<Response<DeleteContactResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::delete_contact(self, tenant_id, request.into_inner()).await?))
    }

    async fn create_address(
        &self,
        request: Request<CreateAddressRequest>,
    ) -> Result<Response<CreateAddressResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::create_address(self, tenant_id, request.into_inner()).await?))
    }

    async fn list_addresses(
        &self,
        request: Request<ListAddressesRequest>,
    ) -> Result<Response<ListAddressesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        Ok(Response::new(AccountsApi::list_addresses(self, &caller, tenant_id, request.into_inner()).await?))
    }

    async fn update_address(
        &self,
        request: Request<UpdateAddressRequest>,
    ) -> Result<Response<UpdateAddressResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::update_address(self, tenant_id, request.into_inner()).await?))
    }

    async fn delete_address(
        &self,
        request: Request<DeleteAddressRequest>,
    ) -> Result<Response<DeleteAddressResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        Ok(Response::new(AccountsApi::delete_address(self, tenant_id, request.into_inner()).await?))
    }
}
