//! Contacts and addresses of an account. Every change writes a history line
//! on the account and an event; addresses are validated when new or
//! changed; a managed copy's billing addresses belong to the sync.

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::paging::Page;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{AddressChanged, ChangeKind, ContactChanged};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Accounts, publish, record};
use crate::domain::account::Account;
use crate::domain::address::{Address, AddressFields, AddressType, StoredValidation};
use crate::domain::address_check::{AddressCheck, Verdict};
use crate::domain::contact::{Contact, ContactFields};
use crate::domain::error::AccountsError;
use crate::domain::history::{FieldChange, HistoryLine};
use crate::domain::managed::{self, BILLING_ADDRESS};
use crate::repo;
use crate::repo::accounts::Visibility;
use crate::wire::{address_to_proto, contact_to_proto};

/// A history line about a contact or an address.
fn line(action: &'static str, field: &str, old: String, new: String) -> HistoryLine {
    HistoryLine { action, changes: vec![FieldChange::new(field, old, new)], reason: String::new() }
}

fn contact_changed(kind: ChangeKind, contact: &Contact) -> Payload {
    Payload::ContactChanged(ContactChanged { kind: kind as i32, contact: Some(contact_to_proto(contact)) })
}

fn address_changed(kind: ChangeKind, address: &Address) -> Payload {
    Payload::AddressChanged(AddressChanged { kind: kind as i32, address: Some(address_to_proto(address)) })
}

impl Accounts {
    /// Adds a contact to an account.
    pub async fn create_contact<R: Message + Default>(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        key: Option<RequestKey>,
        fields: ContactFields,
        respond: impl FnOnce(&Contact) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            let contact = repo::contacts::insert(tx, tenant_id, account_id, &fields).await?;
            let added = line("CONTACT_ADDED", "contact", String::new(), contact.label());
            record(tx, tenant_id, account_id, caller, &added).await?;
            publish(tx, tenant_id, caller, contact_changed(ChangeKind::Created, &contact)).await?;
            Ok(respond(&contact))
        })
        .await
    }

    /// A page of an account's contacts, if the caller may see the account.
    pub async fn contacts(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        page: &Page,
    ) -> Result<(Vec<Contact>, String), AccountsError> {
        let list = async |connection: &mut PgConnection, page: &Page| {
            repo::contacts::list(connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit()).await
        };
        self.account_page(caller, (tenant_id, account_id), page, list, |contact| contact.id.as_bytes().to_vec()).await
    }

    /// Changes a contact by `change`, unless it changed since `expected`.
    pub async fn update_contact<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, expected): (Uuid, &str),
        change: impl FnOnce(&Contact) -> Result<ContactFields, AccountsError>,
        respond: impl FnOnce(&Contact) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let read = repo::contacts::get(tx, tenant_id, id).await?;
            repo::accounts::get(tx, tenant_id, read.account_id, Visibility::All, true).await?;
            // Read again under the account's lock: what a racing edit left.
            let contact = repo::contacts::get(tx, tenant_id, id).await?;
            contact.check_etag(expected)?;
            let fields = change(&contact)?;
            let updated = repo::contacts::update(tx, &contact, &fields).await?;
            let (before, after) = (contact_to_proto(&contact), contact_to_proto(&updated));
            let history = line("CONTACT_CHANGED", "contact", format!("{before:?}"), format!("{after:?}"));
            record(tx, tenant_id, contact.account_id, caller, &history).await?;
            publish(tx, tenant_id, caller, contact_changed(ChangeKind::Updated, &updated)).await?;
            Ok(respond(&updated))
        })
        .await
    }

    /// Removes a contact from its account.
    pub async fn delete_contact<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let contact = repo::contacts::get(tx, tenant_id, id).await?;
            repo::accounts::get(tx, tenant_id, contact.account_id, Visibility::All, true).await?;
            repo::contacts::delete(tx, &contact).await?;
            let deleted = line("CONTACT_DELETED", "contact", contact.label(), String::new());
            record(tx, tenant_id, contact.account_id, caller, &deleted).await?;
            publish(tx, tenant_id, caller, contact_changed(ChangeKind::Deleted, &contact)).await?;
            Ok(respond)
        })
        .await
    }

    /// Adds an address to an account, validated (an invalid one only when
    /// `override_validation`).
    pub async fn create_address<R: Message + Default>(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        key: Option<RequestKey>,
        (fields, override_validation): (AddressFields, bool),
        respond: impl FnOnce(&Address) -> R,
    ) -> Result<R, AccountsError> {
        let validation = self.validated(&fields, override_validation).await?;
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, account_id, Visibility::All, true).await?;
            check_billing_lock(caller, &account, &[fields.address_type])?;
            check_address_contact(tx, account_id, fields.contact_id).await?;
            let address = repo::addresses::insert(tx, tenant_id, account_id, &fields, &validation).await?;
            let added = line("ADDRESS_ADDED", "address", String::new(), address.fields.label());
            record(tx, tenant_id, account_id, caller, &added).await?;
            publish(tx, tenant_id, caller, address_changed(ChangeKind::Created, &address)).await?;
            Ok(respond(&address))
        })
        .await
    }

    /// A page of an account's addresses, if the caller may see the account.
    pub async fn addresses(
        &self,
        caller: &Caller,
        (tenant_id, account_id): (Uuid, Uuid),
        page: &Page,
    ) -> Result<(Vec<Address>, String), AccountsError> {
        let list = async |connection: &mut PgConnection, page: &Page| {
            repo::addresses::list(connection, tenant_id, account_id, page.after_uuid()?, page.fetch_limit()).await
        };
        self.account_page(caller, (tenant_id, account_id), page, list, |address| address.id.as_bytes().to_vec()).await
    }

    /// Changes an address by `change`, unless it changed since `expected`;
    /// validated again only when the address itself changed.
    pub async fn update_address<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, expected, override_validation): (Uuid, &str, bool),
        change: impl FnOnce(&Address) -> Result<AddressFields, AccountsError>,
        respond: impl FnOnce(&Address) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let read = repo::addresses::get(tx, tenant_id, id).await?;
            let account = repo::accounts::get(tx, tenant_id, read.account_id, Visibility::All, true).await?;
            // Read again under the account's lock: what a racing edit left.
            let address = repo::addresses::get(tx, tenant_id, id).await?;
            address.check_etag(expected)?;
            let fields = change(&address)?;
            check_billing_lock(caller, &account, &[address.fields.address_type, fields.address_type])?;
            check_address_contact(tx, address.account_id, fields.contact_id).await?;
            let validation = if fields.parts() != address.fields.parts() {
                Some(self.validated(&fields, override_validation).await?)
            } else {
                None
            };
            let validation = validation.as_ref().or(address.validation.as_ref());
            let updated = repo::addresses::update(tx, &address, &fields, validation).await?;
            let history = line("ADDRESS_CHANGED", "address", address.fields.label(), updated.fields.label());
            record(tx, tenant_id, address.account_id, caller, &history).await?;
            publish(tx, tenant_id, caller, address_changed(ChangeKind::Updated, &updated)).await?;
            Ok(respond(&updated))
        })
        .await
    }

    /// Removes an address from its account.
    pub async fn delete_address<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let address = repo::addresses::get(tx, tenant_id, id).await?;
            let account = repo::accounts::get(tx, tenant_id, address.account_id, Visibility::All, true).await?;
            check_billing_lock(caller, &account, &[address.fields.address_type])?;
            repo::addresses::delete(tx, &address).await?;
            let deleted = line("ADDRESS_DELETED", "address", address.fields.label(), String::new());
            record(tx, tenant_id, address.account_id, caller, &deleted).await?;
            publish(tx, tenant_id, caller, address_changed(ChangeKind::Deleted, &address)).await?;
            Ok(respond)
        })
        .await
    }

    /// What the validator says of an address, storing nothing.
    pub async fn check_address(&self, fields: &AddressFields) -> AddressCheck {
        self.validator.check(&fields.parts()).await
    }

    /// Validates a new or changed address: an invalid one is refused unless
    /// the caller overrides the validator.
    async fn validated(
        &self,
        fields: &AddressFields,
        override_validation: bool,
    ) -> Result<StoredValidation, AccountsError> {
        let check = self.check_address(fields).await;
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
