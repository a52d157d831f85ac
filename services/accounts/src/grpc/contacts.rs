//! Contacts and addresses of an account. Every change writes a history line
//! on the account and an event; addresses are validated when new or
//! changed; a managed copy's billing addresses belong to the sync.

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::*;
use uuid::Uuid;

use super::accounts::visibility;
use super::convert::*;
use super::{AccountsApi, publish, record};
use crate::domain::account::Account;
use crate::domain::address::{AddressFields, AddressType, StoredValidation};
use crate::domain::address_check::{AddressCheck, Verdict};
use crate::domain::error::AccountsError;
use crate::domain::history::{FieldChange, HistoryLine};
use crate::domain::managed::{self, BILLING_ADDRESS};
use crate::repo;
use crate::repo::accounts::Visibility;

/// A history line about a contact or an address.
fn line(action: &'static str, field: &str, old: String, new: String) -> HistoryLine {
    HistoryLine { action, changes: vec![FieldChange::new(field, old, new)], reason: String::new() }
}

fn contact_label(contact: &Contact) -> String {
    format!("{} {}", contact.first_name, contact.last_name).trim().to_owned()
}

fn address_label(address: &Address) -> String {
    format!("{}, {} {} {}", address.lines.join(" "), address.postal_code, address.city, address.country_code)
}

impl AccountsApi {
    pub(crate) async fn create_contact_for(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: CreateContactRequest,
    ) -> Result<CreateContactResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let fields = contact_fields(&request.contact.clone().unwrap_or_default())?;
        let key = RequestKey::new(tenant_id, "CreateContact", &request.request_id, &request)?;
        self.write(key, async |tx| {
            repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            let contact = contact_to_proto(&repo::contacts::insert(tx, tenant_id, account_id, &fields).await?);
            record(
                tx,
                tenant_id,
                account_id,
                caller,
                &line("CONTACT_ADDED", "contact", String::new(), contact_label(&contact)),
            )
            .await?;
            let changed = ContactChanged { kind: ChangeKind::Created as i32, contact: Some(contact.clone()) };
            publish(tx, tenant_id, caller, Payload::ContactChanged(changed)).await?;
            let response = CreateContactResponse { contact: Some(contact) };
            Ok(response)
        })
        .await
    }

    pub(crate) async fn list_contacts_of(
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

    pub(crate) async fn update_contact_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: UpdateContactRequest,
    ) -> Result<UpdateContactResponse, AccountsError> {
        let input = request.contact.clone().unwrap_or_default();
        let id = parse_id("contact.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), CONTACT_WRITABLE_PATHS)?;
        let key = RequestKey::new(tenant_id, "UpdateContact", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let read = repo::contacts::get(tx, tenant_id, id).await?;
            repo::accounts::get(tx, tenant_id, read.account_id, Visibility::All, true).await?;
            // Read again under the account's lock: what a racing edit left.
            let contact = repo::contacts::get(tx, tenant_id, id).await?;
            contact.check_etag(&input.etag)?;
            let before = contact_to_proto(&contact);
            let mut merged = before.clone();
            overlay_contact(&mut merged, &input, &paths);
            let fields = contact_fields(&merged)?;
            let updated = contact_to_proto(&repo::contacts::update(tx, &contact, &fields).await?);
            let history = line("CONTACT_CHANGED", "contact", format!("{before:?}"), format!("{updated:?}"));
            record(tx, tenant_id, contact.account_id, caller, &history).await?;
            let changed = ContactChanged { kind: ChangeKind::Updated as i32, contact: Some(updated.clone()) };
            publish(tx, tenant_id, caller, Payload::ContactChanged(changed)).await?;
            let response = UpdateContactResponse { contact: Some(updated) };
            Ok(response)
        })
        .await
    }

    pub(crate) async fn delete_contact_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: DeleteContactRequest,
    ) -> Result<DeleteContactResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let key = RequestKey::new(tenant_id, "DeleteContact", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let contact = repo::contacts::get(tx, tenant_id, id).await?;
            repo::accounts::get(tx, tenant_id, contact.account_id, Visibility::All, true).await?;
            repo::contacts::delete(tx, &contact).await?;
            let deleted = contact_to_proto(&contact);
            record(
                tx,
                tenant_id,
                contact.account_id,
                caller,
                &line("CONTACT_DELETED", "contact", contact_label(&deleted), String::new()),
            )
            .await?;
            let changed = ContactChanged { kind: ChangeKind::Deleted as i32, contact: Some(deleted) };
            publish(tx, tenant_id, caller, Payload::ContactChanged(changed)).await?;
            let response = DeleteContactResponse {};
            Ok(response)
        })
        .await
    }

    pub(crate) async fn create_address_for(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: CreateAddressRequest,
    ) -> Result<CreateAddressResponse, AccountsError> {
        let account_id = parse_id("account_id", &request.account_id)?;
        let input = request.address.clone().unwrap_or_default();
        let fields = address_fields(&input)?;
        let key = RequestKey::new(tenant_id, "CreateAddress", &request.request_id, &request)?;
        let validation = self.validated(&fields, input.override_validation).await?;
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            check_billing_lock(caller, &account, &[fields.address_type])?;
            check_address_contact(tx, account_id, fields.contact_id).await?;
            let address =
                address_to_proto(&repo::addresses::insert(tx, tenant_id, account_id, &fields, &validation).await?);
            record(
                tx,
                tenant_id,
                account_id,
                caller,
                &line("ADDRESS_ADDED", "address", String::new(), address_label(&address)),
            )
            .await?;
            let changed = AddressChanged { kind: ChangeKind::Created as i32, address: Some(address.clone()) };
            publish(tx, tenant_id, caller, Payload::AddressChanged(changed)).await?;
            let response = CreateAddressResponse { address: Some(address) };
            Ok(response)
        })
        .await
    }

    pub(crate) async fn list_addresses_of(
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

    pub(crate) async fn update_address_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: UpdateAddressRequest,
    ) -> Result<UpdateAddressResponse, AccountsError> {
        let input = request.address.clone().unwrap_or_default();
        let id = parse_id("address.id", &input.id)?;
        let paths = writable_paths(request.update_mask.as_ref(), ADDRESS_WRITABLE_PATHS)?;
        let key = RequestKey::new(tenant_id, "UpdateAddress", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let read = repo::addresses::get(tx, tenant_id, id).await?;
            let account = repo::accounts::get(tx, tenant_id, read.account_id, Visibility::All, true).await?;
            // Read again under the account's lock: what a racing edit left.
            let address = repo::addresses::get(tx, tenant_id, id).await?;
            address.check_etag(&input.etag)?;
            let before = address_to_proto(&address);
            let mut merged = before.clone();
            overlay_address(&mut merged, &input, &paths);
            let fields = address_fields(&merged)?;
            check_billing_lock(caller, &account, &[address.fields.address_type, fields.address_type])?;
            check_address_contact(tx, address.account_id, fields.contact_id).await?;
            // Validation runs only when the address itself changed.
            let validation = if fields.parts() != address.fields.parts() {
                Some(self.validated(&fields, input.override_validation).await?)
            } else {
                None
            };
            let updated =
                repo::addresses::update(tx, &address, &fields, validation.as_ref().or(address.validation.as_ref()))
                    .await?;
            let updated = address_to_proto(&updated);
            let history = line("ADDRESS_CHANGED", "address", address_label(&before), address_label(&updated));
            record(tx, tenant_id, address.account_id, caller, &history).await?;
            let changed = AddressChanged { kind: ChangeKind::Updated as i32, address: Some(updated.clone()) };
            publish(tx, tenant_id, caller, Payload::AddressChanged(changed)).await?;
            let response = UpdateAddressResponse { address: Some(updated) };
            Ok(response)
        })
        .await
    }

    pub(crate) async fn delete_address_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        request: DeleteAddressRequest,
    ) -> Result<DeleteAddressResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
        let key = RequestKey::new(tenant_id, "DeleteAddress", &request.request_id, &request)?;
        self.write(key, async |tx| {
            let address = repo::addresses::get(tx, tenant_id, id).await?;
            let account = repo::accounts::get(tx, tenant_id, address.account_id, Visibility::All, true).await?;
            check_billing_lock(caller, &account, &[address.fields.address_type])?;
            repo::addresses::delete(tx, &address).await?;
            let deleted = address_to_proto(&address);
            record(
                tx,
                tenant_id,
                address.account_id,
                caller,
                &line("ADDRESS_DELETED", "address", address_label(&deleted), String::new()),
            )
            .await?;
            let changed = AddressChanged { kind: ChangeKind::Deleted as i32, address: Some(deleted) };
            publish(tx, tenant_id, caller, Payload::AddressChanged(changed)).await?;
            let response = DeleteAddressResponse {};
            Ok(response)
        })
        .await
    }

    pub(crate) async fn validate_address_only(
        &self,
        request: ValidateAddressRequest,
    ) -> Result<ValidateAddressResponse, AccountsError> {
        let input = request.address.unwrap_or_default();
        // Only the address parts matter here; type defaults to "other".
        let input =
            Address { r#type: if input.r#type == 0 { AddressType::Other as i32 } else { input.r#type }, ..input };
        let fields = address_fields(&input)?;
        let check = self.validator.check(&fields.parts()).await;
        Ok(ValidateAddressResponse { validation: Some(validation_to_proto(&check, false)) })
    }

    /// Validates a new or changed address: an invalid one is refused unless
    /// the caller overrides the validator.
    async fn validated(
        &self,
        fields: &AddressFields,
        override_validation: bool,
    ) -> Result<StoredValidation, AccountsError> {
        let check: AddressCheck = self.validator.check(&fields.parts()).await;
        if check.verdict == Verdict::Invalid && !override_validation {
            let mut violations = Violations::new();
            for (field, problem) in &check.problems {
                violations.add(format!("address.{field}"), problem.clone());
            }
            return Err(AccountsError::AddressInvalid(violations));
        }
        Ok(StoredValidation { overridden: check.verdict == Verdict::Invalid, check })
    }
}

/// A managed copy's billing addresses belong to the sync when locked.
fn check_billing_lock(caller: &Caller, account: &Account, types: &[AddressType]) -> Result<(), AccountsError> {
    if types.contains(&AddressType::Billing) {
        managed::check_edit(
            account.fields.managed_by.as_ref(),
            &[BILLING_ADDRESS],
            caller.has_role(Role::Integration),
        )?;
    }
    Ok(())
}

/// The contact an address belongs to must be a contact of the same account.
async fn check_address_contact(
    connection: &mut sqlx::PgConnection,
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
