//! Accounts: create, read, change, list and delete.

use bss_platform::auth::{Caller, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::paging::Page;
use bss_platform::time;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{AccountCreated, AccountDeleted, AccountUpdated};
use bss_proto::billing::SettlementPurpose;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Accounts, event, publish, record};
use crate::domain::account::{self, Account, AccountFields};
use crate::domain::custom_fields;
use crate::domain::error::AccountsError;
use crate::domain::history::HistoryLine;
use crate::domain::managed;
use crate::domain::residential::Surroundings;
use crate::domain::tenant::Tenant;
use crate::repo;
use crate::repo::accounts::{Filter, Visibility};
use crate::wire::account_to_proto;

impl Accounts {
    /// Opens an account with `fields`, in `currency` or the tenant's
    /// default. `respond` gets the account and, when another account has
    /// its external key already, that key.
    pub async fn create_account<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (fields, currency): (AccountFields, Option<String>),
        respond: impl FnOnce(&Account, Option<&str>) -> R,
    ) -> Result<R, AccountsError> {
        account::check_new(&fields, caller.has_role(Role::Integration))?;
        let tenant = self.tenants.get(&self.db, tenant_id).await?;
        let country = fields.country_code.as_ref().map(|code| code.as_str());
        let currency = tenant.currency_for(currency.as_deref(), country, fields.managed_by.is_some())?;
        let account = Account::new(tenant_id, fields, currency, caller.subject.clone(), false, time::now());
        let mut connection = self.db.acquire().await?;
        check_custom_fields(&mut connection, tenant_id, &account.fields).await?;
        check_residential(&mut connection, &tenant, None, &account.fields).await?;
        let duplicate = duplicate_key(&mut connection, &account).await?;
        let created = event(
            tenant_id,
            caller,
            Payload::AccountCreated(AccountCreated { account: Some(account_to_proto(&account)) }),
        );
        let response = respond(&account, duplicate);
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

    /// The account, if the caller may see it.
    pub async fn account(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<Account, AccountsError> {
        let visibility = self.scope(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::accounts::get(&mut connection, tenant_id, id, visibility, false).await
    }

    /// Changes an account, unless it changed since the etag the change was
    /// made against (ETAG_MISMATCH): `currency` is the currency asked for,
    /// if any (fixed at creation); `change` makes the new fields from the
    /// account as it is. `respond` as for [`Accounts::create_account`].
    pub async fn update_account<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, expected, currency): (Uuid, &str, Option<&str>),
        change: impl FnOnce(&Account) -> Result<AccountFields, AccountsError>,
        respond: impl FnOnce(&Account, Option<&str>) -> R,
    ) -> Result<R, AccountsError> {
        self.write(key, async |tx| {
            let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
            account.check_etag(expected)?;
            account.check_currency(currency)?;
            let fields = change(&account)?;
            let changes = account.changes_to(&fields, caller.has_role(Role::Integration))?;
            if changes.is_empty() {
                return Ok(respond(&account, None));
            }
            check_custom_fields(tx, tenant_id, &fields).await?;
            check_parent(tx, tenant_id, &account, &fields).await?;
            let tenant = self.tenants.get(&self.db, tenant_id).await?;
            check_residential(tx, &tenant, Some(&account), &fields).await?;
            let updated = repo::accounts::update(tx, &account, &fields, tenant.name_scope()).await?;
            let duplicate = if updated.fields.external_key != account.fields.external_key {
                duplicate_key(tx, &updated).await?
            } else {
                None
            };
            let changed_fields: Vec<String> = changes.iter().map(|change| change.field.clone()).collect();
            record(tx, tenant_id, id, caller, &HistoryLine { action: "UPDATED", changes, reason: String::new() })
                .await?;
            let account = Some(account_to_proto(&updated));
            publish(tx, tenant_id, caller, Payload::AccountUpdated(AccountUpdated { account, changed_fields })).await?;
            Ok(respond(&updated, duplicate))
        })
        .await
    }

    /// A page of the accounts the caller may see that match `filter`, and
    /// the next page's token.
    pub async fn accounts(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        filter: &Filter,
        page: &Page,
    ) -> Result<(Vec<Account>, String), AccountsError> {
        let visibility = self.scope(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        let accounts = repo::accounts::list(
            &mut connection,
            tenant_id,
            filter,
            visibility,
            page.after_uuid()?,
            page.fetch_limit(),
        )
        .await?;
        Ok(page.finish(accounts, |account| account.id.as_bytes().to_vec()))
    }

    /// Deletes an account that never held money (billing and credit say
    /// so), unless it changed since `expected`.
    pub async fn delete_account<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, expected): (Uuid, &str),
        respond: R,
    ) -> Result<R, AccountsError> {
        if let Some(key) = &key {
            let mut connection = self.db.acquire().await?;
            if let Ok(stored) = idempotency::resolve::<R>(&mut connection, key).await {
                return Ok(stored);
            }
        }
        let integration = caller.has_role(Role::Integration);
        {
            let mut connection = self.db.acquire().await?;
            let account = repo::accounts::get(&mut connection, tenant_id, id, Visibility::All, false).await?;
            account.check_etag(expected)?;
            managed::check_action(account.fields.managed_by.as_ref(), "delete", integration)?;
        }
        // Financial history is never orphaned: an account with money in
        // billing or credit stays (terminate it once it is final).
        self.check_financially_settled(caller, &[id], SettlementPurpose::Deletion).await?;
        let response = self
            .write(key, async |tx| {
                let account = repo::accounts::get(tx, tenant_id, id, Visibility::All, true).await?;
                account.check_etag(expected)?;
                managed::check_action(account.fields.managed_by.as_ref(), "delete", integration)?;
                repo::accounts::delete(tx, &account).await?;
                let deleted = AccountDeleted { account: Some(account_to_proto(&account)) };
                publish(tx, tenant_id, caller, Payload::AccountDeleted(deleted)).await?;
                Ok(respond)
            })
            .await?;
        tracing::info!(account_id = %id, "account deleted");
        Ok(response)
    }
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

/// A change of account `before` (none: a new account) to `fields` against
/// what the tenant lets residential accounts have (RESIDENTIAL_FEATURE, for
/// what the change adds); what is around it is read only when the rule
/// needs it.
pub(crate) async fn check_residential(
    connection: &mut PgConnection,
    tenant: &Tenant,
    before: Option<&Account>,
    fields: &AccountFields,
) -> Result<(), AccountsError> {
    let features = &tenant.residential;
    let around = match features.needs_surroundings(fields) {
        true => {
            let id = before.map(|account| account.id);
            repo::accounts::surroundings(connection, tenant.id, id, fields.parent_account_id).await?
        }
        false => Surroundings::default(),
    };
    let before = before.map(|account| &account.fields);
    AccountsError::check_residential(features.refusals_of_change(before, fields, &around))
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

/// The account's external key when another account has it already:
/// imports update by key, so a duplicate is allowed but worth knowing.
async fn duplicate_key<'a>(
    connection: &mut PgConnection,
    account: &'a Account,
) -> Result<Option<&'a str>, AccountsError> {
    let Some(external_key) = &account.fields.external_key else {
        return Ok(None);
    };
    let taken =
        repo::accounts::external_key_in_use(connection, account.tenant_id, external_key, Some(account.id)).await?;
    Ok(taken.then_some(external_key.as_str()))
}
