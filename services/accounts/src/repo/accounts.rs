use std::collections::BTreeMap;

use bss_platform::error::{Violations, violated_constraint};
use bss_platform::idempotency::RequestKey;
use bss_platform::payment::PaymentType;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::corrupt;
use crate::domain::account::{
    Account, AccountCode, AccountFields, AccountKind, AccountName, AccountProfile, AccountStatus, ManagedBy,
};
use crate::domain::address::CountryCode;
use crate::domain::error::AccountsError;
use crate::domain::residential::Surroundings;
use crate::domain::text::{Email, email_text};

macro_rules! columns {
    () => {
        "id, tenant_id, code, external_key, name, kind, profile, status, is_active, tax_number, \
    contact_name, email, billing_email, sales_rep_id, account_class, territory, shipping_method, enable_ordering, \
    payment_types, separate_invoices, parent_account_id, responsible_user, sharing_rule, currency_code, \
    custom_fields, created_by_import, created_by, created_at, updated_at, version, status_reason, \
    status_cause_account_id, system_account, managed_by_account_id, managed_by_name, locked_fields, sync_options, \
    country_code, last_import_at, user_created_for_account"
    };
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    tenant_id: Uuid,
    code: String,
    external_key: Option<String>,
    name: String,
    kind: String,
    profile: String,
    status: String,
    is_active: bool,
    tax_number: String,
    contact_name: String,
    email: String,
    billing_email: String,
    sales_rep_id: String,
    account_class: String,
    territory: String,
    shipping_method: String,
    enable_ordering: bool,
    payment_types: Vec<String>,
    separate_invoices: bool,
    parent_account_id: Option<Uuid>,
    responsible_user: String,
    sharing_rule: String,
    currency_code: String,
    custom_fields: Json<BTreeMap<String, String>>,
    created_by_import: bool,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    status_reason: String,
    status_cause_account_id: Option<Uuid>,
    system_account: bool,
    managed_by_account_id: Option<Uuid>,
    managed_by_name: String,
    locked_fields: Vec<String>,
    sync_options: Vec<String>,
    country_code: String,
    last_import_at: Option<DateTime<Utc>>,
    user_created_for_account: bool,
}

impl TryFrom<AccountRow> for Account {
    type Error = AccountsError;
    fn try_from(row: AccountRow) -> Result<Account, AccountsError> {
        let stored_email = |value: &str| Email::parse_optional(value).map_err(|_| corrupt("email", value));
        let payment_types = row
            .payment_types
            .iter()
            .map(|code| PaymentType::from_code(code).map_err(|_| corrupt("payment type", code)))
            .collect::<Result<Vec<_>, _>>()?;
        let fields = AccountFields {
            code: AccountCode::parse(&row.code).map_err(|_| corrupt("account code", &row.code))?,
            external_key: row.external_key,
            name: AccountName::parse(&row.name).map_err(|_| corrupt("account name", &row.name))?,
            kind: AccountKind::from_stored(&row.kind).ok_or_else(|| corrupt("account kind", &row.kind))?,
            profile: AccountProfile::from_stored(&row.profile)
                .ok_or_else(|| corrupt("account profile", &row.profile))?,
            is_active: row.is_active,
            tax_number: row.tax_number,
            contact_name: row.contact_name,
            email: stored_email(&row.email)?,
            billing_email: stored_email(&row.billing_email)?,
            sales_rep_id: row.sales_rep_id,
            account_class: row.account_class,
            territory: row.territory,
            shipping_method: row.shipping_method,
            enable_ordering: row.enable_ordering,
            payment_types,
            separate_invoices: row.separate_invoices,
            parent_account_id: row.parent_account_id,
            responsible_user: row.responsible_user,
            sharing_rule: row.sharing_rule,
            custom_fields: row.custom_fields.0,
            system_account: row.system_account,
            sync_options: row.sync_options,
            country_code: match row.country_code.as_str() {
                "" => None,
                code => Some(CountryCode::parse(code).map_err(|_| corrupt("country code", code))?),
            },
            managed_by: row.managed_by_account_id.map(|tenant_reseller_account_id| ManagedBy {
                tenant_reseller_account_id,
                reseller_name: row.managed_by_name,
                locked_fields: row.locked_fields,
            }),
        };
        Ok(Account {
            id: row.id,
            tenant_id: row.tenant_id,
            fields,
            status: AccountStatus::from_stored(&row.status).ok_or_else(|| corrupt("account status", &row.status))?,
            status_reason: row.status_reason,
            status_cause_account_id: row.status_cause_account_id,
            currency_code: row.currency_code,
            created_by_import: row.created_by_import,
            last_imported_at: row.last_import_at,
            user_created: row.user_created_for_account,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

/// Unique constraints of the table, as the errors callers see.
fn map_write_error(error: sqlx::Error) -> AccountsError {
    match violated_constraint(&error) {
        Some("accounts_name_key") => AccountsError::NameTaken,
        Some("accounts_code_key") => AccountsError::CodeTaken,
        Some("accounts_managed_by_fkey") => AccountsError::Invalid(Violations::single(
            "account.managed_by.tenant_reseller_account_id",
            "no such account in this tenant",
        )),
        // The parent was checked in the same transaction; it can only vanish
        // under a concurrent delete.
        Some("accounts_parent_account_id_fkey") => {
            AccountsError::Invalid(Violations::single("account.parent_account_id", "no such account in this tenant"))
        }
        _ => error.into(),
    }
}

fn country_text(fields: &AccountFields) -> &str {
    fields.country_code.as_ref().map_or("", CountryCode::as_str)
}

fn payment_type_codes(fields: &AccountFields) -> Vec<&'static str> {
    fields.payment_types.iter().map(|payment_type| payment_type.code()).collect()
}

/// Inserts `account` and its AccountCreated event in one statement that
/// also claims `key` and stores `response` as its answer. `false`: the
/// request id was taken (nothing was inserted; see `idempotency::resolve`).
pub async fn insert(
    executor: impl PgExecutor<'_>,
    account: &Account,
    name_scope: Uuid,
    key: Option<&RequestKey>,
    response: Vec<u8>,
    event: Vec<u8>,
) -> Result<bool, AccountsError> {
    let fields = &account.fields;
    let managed = fields.managed_by.as_ref();
    let inserted: i64 = sqlx::query_scalar(concat!(
        "WITH ",
        bss_platform::claim_cte!(),
        ", inserted AS (
            INSERT INTO accounts.accounts (id, tenant_id, code, external_key, name, name_key, name_scope, kind, profile,
                is_active, tax_number, contact_name, email, billing_email, sales_rep_id, account_class, territory,
                shipping_method, enable_ordering, payment_types, separate_invoices, parent_account_id, responsible_user,
                sharing_rule, currency_code, custom_fields, created_by_import, created_by, created_at, updated_at,
                system_account, managed_by_account_id, managed_by_name, locked_fields, sync_options, country_code,
                last_import_at, user_created_for_account)
            SELECT $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25,
                $26, $27, $28, $29, $30, $31, $32, $33, $33, $34, $35, $36, $37, $38, $40, $41, $42
            WHERE $2 = '' OR EXISTS (SELECT 1 FROM claim)
            RETURNING tenant_id
         ), published AS (
            INSERT INTO outbox (tenant_id, event_type, payload) SELECT tenant_id, 'AccountCreated', $39 FROM inserted
         )
         SELECT count(*) FROM inserted"
    ))
    .bind(account.tenant_id)
    .bind(key.map_or("", RequestKey::request_id))
    .bind(key.map_or(&[][..], RequestKey::request_hash))
    .bind(response)
    .bind(account.id)
    .bind(account.tenant_id)
    .bind(fields.code.as_str())
    .bind(fields.external_key.as_deref())
    .bind(fields.name.as_str())
    .bind(fields.name.uniqueness_key())
    .bind(name_scope)
    .bind(fields.kind.as_str())
    .bind(fields.profile.as_str())
    .bind(fields.is_active)
    .bind(&fields.tax_number)
    .bind(&fields.contact_name)
    .bind(email_text(&fields.email))
    .bind(email_text(&fields.billing_email))
    .bind(&fields.sales_rep_id)
    .bind(&fields.account_class)
    .bind(&fields.territory)
    .bind(&fields.shipping_method)
    .bind(fields.enable_ordering)
    .bind(payment_type_codes(fields))
    .bind(fields.separate_invoices)
    .bind(fields.parent_account_id)
    .bind(&fields.responsible_user)
    .bind(&fields.sharing_rule)
    .bind(&account.currency_code)
    .bind(Json(&fields.custom_fields))
    .bind(account.created_by_import)
    .bind(&account.created_by)
    .bind(account.created_at)
    .bind(fields.system_account)
    .bind(managed.map(|managed| managed.tenant_reseller_account_id))
    .bind(managed.map_or("", |managed| managed.reseller_name.as_str()))
    .bind(managed.map_or(&[][..], |managed| managed.locked_fields.as_slice()))
    .bind(&fields.sync_options)
    .bind(event)
    .bind(country_text(fields))
    .bind(account.last_imported_at)
    .bind(account.user_created)
    .fetch_one(executor)
    .await
    .map_err(map_write_error)?;
    Ok(inserted == 1)
}

/// Writes `fields` over the stored account and bumps its version.
pub async fn update(
    connection: &mut PgConnection,
    account: &Account,
    fields: &AccountFields,
    name_scope: Uuid,
) -> Result<Account, AccountsError> {
    let row: AccountRow = sqlx::query_as(concat!(
        "UPDATE accounts.accounts SET code = $3, external_key = $4, name = $5, name_key = $6, name_scope = $7,
            kind = $8, profile = $9, is_active = $10, tax_number = $11, contact_name = $12, email = $13,
            billing_email = $14, sales_rep_id = $15, account_class = $16, territory = $17, shipping_method = $18,
            enable_ordering = $19, payment_types = $20, separate_invoices = $21, parent_account_id = $22,
            responsible_user = $23, sharing_rule = $24, custom_fields = $25, system_account = $26,
            managed_by_account_id = $27, managed_by_name = $28, locked_fields = $29, sync_options = $30,
            country_code = $31, updated_at = now(), version = version + 1
         WHERE tenant_id = $1 AND id = $2
         RETURNING ",
        columns!()
    ))
    .bind(account.tenant_id)
    .bind(account.id)
    .bind(fields.code.as_str())
    .bind(fields.external_key.as_deref())
    .bind(fields.name.as_str())
    .bind(fields.name.uniqueness_key())
    .bind(name_scope)
    .bind(fields.kind.as_str())
    .bind(fields.profile.as_str())
    .bind(fields.is_active)
    .bind(&fields.tax_number)
    .bind(&fields.contact_name)
    .bind(email_text(&fields.email))
    .bind(email_text(&fields.billing_email))
    .bind(&fields.sales_rep_id)
    .bind(&fields.account_class)
    .bind(&fields.territory)
    .bind(&fields.shipping_method)
    .bind(fields.enable_ordering)
    .bind(payment_type_codes(fields))
    .bind(fields.separate_invoices)
    .bind(fields.parent_account_id)
    .bind(&fields.responsible_user)
    .bind(&fields.sharing_rule)
    .bind(Json(&fields.custom_fields))
    .bind(fields.system_account)
    .bind(fields.managed_by.as_ref().map(|managed| managed.tenant_reseller_account_id))
    .bind(fields.managed_by.as_ref().map_or("", |managed| managed.reseller_name.as_str()))
    .bind(fields.managed_by.as_ref().map_or(&[][..], |managed| managed.locked_fields.as_slice()))
    .bind(&fields.sync_options)
    .bind(country_text(fields))
    .fetch_one(connection)
    .await
    .map_err(map_write_error)?;
    row.try_into()
}

/// Marks the account as changed by an import now (its "Last Updated").
pub async fn mark_imported(connection: &mut PgConnection, account: &Account) -> Result<Account, AccountsError> {
    let row: AccountRow = sqlx::query_as(concat!(
        "UPDATE accounts.accounts SET last_import_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ",
        columns!()
    ))
    .bind(account.tenant_id)
    .bind(account.id)
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// Sets the status of an account, with its reason and (for a cascade) the
/// group parent that caused it.
pub async fn set_status(
    connection: &mut PgConnection,
    account: &Account,
    status: AccountStatus,
    reason: &str,
    cause: Option<Uuid>,
) -> Result<Account, AccountsError> {
    let row: AccountRow = sqlx::query_as(concat!(
        "UPDATE accounts.accounts SET status = $3, status_reason = $4, status_cause_account_id = $5,
            updated_at = now(), version = version + 1
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        columns!()
    ))
    .bind(account.tenant_id)
    .bind(account.id)
    .bind(status.as_str())
    .bind(reason)
    .bind(cause)
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// The accounts with these ids, locked for update, in id order (a fixed
/// order, so concurrent callers never deadlock).
pub async fn lock_many(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Account>, AccountsError> {
    let rows: Vec<AccountRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.accounts WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Account::try_from).collect()
}

/// Which accounts a caller may see.
#[derive(Clone, Copy, Debug)]
pub enum Visibility<'a> {
    /// Every account of the tenant.
    All,
    /// Only the accounts of this sales representative.
    SalesRep(&'a str),
    /// Only this account (a customer's own user's).
    Own(Uuid),
}

impl<'a> Visibility<'a> {
    pub fn from_limit(sales_rep_limit: Option<&'a str>) -> Visibility<'a> {
        sales_rep_limit.map_or(Visibility::All, Visibility::SalesRep)
    }
}

/// The account, or NOT_FOUND when it does not exist in the tenant or the
/// caller may not see it. `lock` takes a row lock for an update.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
    visibility: Visibility<'_>,
    lock: bool,
) -> Result<Account, AccountsError> {
    let mut query =
        QueryBuilder::<Postgres>::new(concat!("SELECT ", columns!(), " FROM accounts.accounts WHERE tenant_id = "));
    query.push_bind(tenant_id).push(" AND id = ").push_bind(id);
    match visibility {
        Visibility::All => {}
        Visibility::SalesRep(sales_rep_id) => {
            query.push(" AND sales_rep_id = ").push_bind(sales_rep_id);
        }
        Visibility::Own(own) => {
            query.push(" AND id = ").push_bind(own);
        }
    }
    if lock {
        query.push(" FOR UPDATE");
    }
    let row: Option<AccountRow> = query.build_query_as().fetch_optional(connection).await?;
    row.ok_or_else(|| AccountsError::not_found("account", id))?.try_into()
}

pub async fn delete(connection: &mut PgConnection, account: &Account) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM accounts.accounts WHERE tenant_id = $1 AND id = $2")
        .bind(account.tenant_id)
        .bind(account.id)
        .execute(connection)
        .await
        .map_err(|error| match violated_constraint(&error) {
            Some("accounts_parent_account_id_fkey") => AccountsError::precondition(
                "ACCOUNT_HAS_CHILDREN",
                "the account is the parent (bill-to) of other accounts",
            ),
            Some("group_members_parent_fkey") => {
                AccountsError::precondition("GROUP_HAS_MEMBERS", "the account is the parent of a group with members")
            }
            _ => error.into(),
        })?;
    Ok(())
}

/// The tenant's accounts with any of these external keys, oldest first.
pub async fn by_external_keys(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    keys: &[String],
) -> Result<Vec<Account>, AccountsError> {
    let rows: Vec<AccountRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.accounts WHERE tenant_id = $1 AND external_key = ANY($2) ORDER BY id"
    ))
    .bind(tenant_id)
    .bind(keys)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Account::try_from).collect()
}

/// Whether another account of the tenant already has this external key.
pub async fn external_key_in_use(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    external_key: &str,
    except: Option<Uuid>,
) -> Result<bool, AccountsError> {
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM accounts.accounts
            WHERE tenant_id = $1 AND external_key = $2 AND ($3::uuid IS NULL OR id <> $3))",
    )
    .bind(tenant_id)
    .bind(external_key)
    .bind(except)
    .fetch_one(connection)
    .await?;
    Ok(in_use)
}

/// The sales-rep id of an account, if the account exists.
pub async fn sales_rep_of(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<String>, AccountsError> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT sales_rep_id FROM accounts.accounts WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(found)
}

/// What is around account `id` (none yet: `None`) whose parent would be
/// `parent`: whether accounts name it as their parent, whether it is in a
/// group, its parent's profile.
pub async fn surroundings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Option<Uuid>,
    parent: Option<Uuid>,
) -> Result<Surroundings, AccountsError> {
    let (has_children, in_group, parent_profile): (bool, bool, Option<String>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM accounts.accounts WHERE tenant_id = $1 AND parent_account_id = $2),
                EXISTS (SELECT 1 FROM accounts.group_members WHERE tenant_id = $1 AND (member_id = $2 OR parent_id = $2)),
                (SELECT profile FROM accounts.accounts WHERE tenant_id = $1 AND id = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(parent)
    .fetch_one(connection)
    .await?;
    let parent_profile = parent_profile
        .map(|profile| AccountProfile::from_stored(&profile).ok_or_else(|| corrupt("profile", &profile)))
        .transpose()?;
    Ok(Surroundings { has_children, in_group, parent_profile })
}

pub async fn exists(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, AccountsError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts.accounts WHERE tenant_id = $1 AND id = $2)")
            .bind(tenant_id)
            .bind(id)
            .fetch_one(connection)
            .await?;
    Ok(exists)
}

/// Whether making `parent_id` the parent of `account_id` would make the
/// account its own ancestor.
pub async fn parent_would_cycle(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    parent_id: Uuid,
) -> Result<bool, AccountsError> {
    let cycles: bool = sqlx::query_scalar(
        "WITH RECURSIVE ancestors (id, depth) AS (
            SELECT id, 0 FROM accounts.accounts WHERE tenant_id = $1 AND id = $3
            UNION ALL
            SELECT parent.parent_account_id, ancestors.depth + 1
            FROM ancestors JOIN accounts.accounts parent ON parent.id = ancestors.id
            WHERE parent.parent_account_id IS NOT NULL AND ancestors.depth < 1000
         )
         SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = $2)",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(parent_id)
    .fetch_one(connection)
    .await?;
    Ok(cycles)
}

/// Filters of a listing; each one that is set must match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub name_contains: Option<String>,
    pub code: Option<String>,
    pub external_key: Option<String>,
    pub email: Option<String>,
    pub status: Option<AccountStatus>,
    pub kind: Option<AccountKind>,
    pub sales_rep_id: Option<String>,
    pub territory: Option<String>,
    pub account_class: Option<String>,
    /// Start of the code, as stored.
    pub code_prefix: Option<String>,
    /// Start of the name key (trimmed, lower case).
    pub name_prefix: Option<String>,
}

impl Filter {
    /// True when no filter is set.
    fn is_empty(&self) -> bool {
        let Filter {
            name_contains,
            code,
            external_key,
            email,
            status,
            kind,
            sales_rep_id,
            territory,
            account_class,
            code_prefix,
            name_prefix,
        } = self;
        [name_contains, code, external_key, email, sales_rep_id, territory, account_class, code_prefix, name_prefix]
            .iter()
            .all(|set| set.is_none())
            && status.is_none()
            && kind.is_none()
    }
}

pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    filter: &Filter,
    visibility: Visibility<'_>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Account>, AccountsError> {
    let mut query =
        QueryBuilder::<Postgres>::new(concat!("SELECT ", columns!(), " FROM accounts.accounts WHERE tenant_id = "));
    query.push_bind(tenant_id);
    if let Some(after) = after {
        query.push(" AND id > ").push_bind(after);
    }
    match visibility {
        Visibility::All => {}
        Visibility::SalesRep(sales_rep_id) => {
            query.push(" AND sales_rep_id = ").push_bind(sales_rep_id.to_owned());
        }
        Visibility::Own(own) => {
            query.push(" AND id = ").push_bind(own);
        }
    }
    if let Some(part) = &filter.name_contains {
        query.push(" AND name_key LIKE ").push_bind(format!("%{}%", escape_like(&part.trim().to_lowercase())));
    }
    if let Some(code) = &filter.code {
        query.push(" AND code = ").push_bind(code.clone());
    }
    if let Some(external_key) = &filter.external_key {
        query.push(" AND external_key = ").push_bind(external_key.clone());
    }
    if let Some(email) = &filter.email {
        query.push(" AND lower(email) = ").push_bind(email.trim().to_lowercase());
    }
    if let Some(status) = filter.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(kind) = filter.kind {
        query.push(" AND kind = ").push_bind(kind.as_str());
    }
    if let Some(sales_rep_id) = &filter.sales_rep_id {
        query.push(" AND sales_rep_id = ").push_bind(sales_rep_id.clone());
    }
    if let Some(territory) = &filter.territory {
        query.push(" AND territory = ").push_bind(territory.clone());
    }
    if let Some(account_class) = &filter.account_class {
        query.push(" AND account_class = ").push_bind(account_class.clone());
    }
    // A prefix is a range of the column in byte order (`~>=~`, `~<~`: the
    // operators of the `text_pattern_ops` indexes on both columns), which a
    // prepared statement can run on the index whatever the prefix. The
    // matches' ids are read first, on their own, from the index (which
    // carries the id): asked in one query with the page's order, the
    // planner may walk the whole tenant in id order hoping to meet a page
    // of matches early, which over a million accounts takes a second. When
    // the prefixes are the only filter, the page's ids are chosen there
    // too, so only the page is looked up; otherwise every match is, and
    // the other filters sort them out.
    let prefixes = [("code", &filter.code_prefix), ("name_key", &filter.name_prefix)];
    if prefixes.iter().any(|(_, prefix)| prefix.is_some()) {
        query.push(" AND id = ANY(ARRAY(SELECT id FROM accounts.accounts WHERE tenant_id = ").push_bind(tenant_id);
        if let Some(after) = after {
            query.push(" AND id > ").push_bind(after);
        }
        for (column, prefix) in prefixes {
            if let Some(prefix) = prefix {
                query.push(format!(" AND {column} ~>=~ ")).push_bind(prefix.clone());
                if let Some(bound) = prefix_bound(prefix) {
                    query.push(format!(" AND {column} ~<~ ")).push_bind(bound);
                }
            }
        }
        let only_prefixes = matches!(visibility, Visibility::All)
            && Filter { code_prefix: None, name_prefix: None, ..filter.clone() }.is_empty();
        if only_prefixes {
            query.push(" ORDER BY id LIMIT ").push_bind(limit);
        }
        query.push("))");
    }
    query.push(" ORDER BY id LIMIT ").push_bind(limit);
    let rows: Vec<AccountRow> = query.build_query_as().fetch_all(connection).await?;
    rows.into_iter().map(Account::try_from).collect()
}

/// The least string greater, in byte order, than every string that starts
/// with `prefix`: the prefix with its last character raised by one (UTF-8
/// byte order is code point order), or `None` when no string bounds them
/// (an empty prefix, or one of only the last code point).
fn prefix_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value: surrogates are skipped, char::MAX has none.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::prefix_bound;

    #[test]
    fn the_bound_raises_the_last_character() {
        assert_eq!(prefix_bound("EU-").as_deref(), Some("EU."));
        assert_eq!(prefix_bound("acme").as_deref(), Some("acmf"));
        assert_eq!(prefix_bound("z\u{d7ff}").as_deref(), Some("z\u{e000}"), "surrogates skipped");
        assert_eq!(prefix_bound("a\u{10ffff}").as_deref(), Some("b"), "the last code point carries");
        assert_eq!(prefix_bound("\u{10ffff}"), None);
        assert_eq!(prefix_bound(""), None);
    }

    /// The range [prefix, bound) in byte order, which the query asks of
    /// the index, holds exactly the strings that start with the prefix.
    #[test]
    fn the_range_holds_exactly_the_strings_with_the_prefix() {
        const ALPHABET: [char; 6] = ['a', 'b', 'c', '\u{e9}', '\u{d7ff}', '\u{10ffff}'];
        let mut random = bss_testkit::seeded(22);
        let mut text = |most: u64| -> String {
            let length = random(most + 1);
            (0..length).map(|_| ALPHABET[random(ALPHABET.len() as u64) as usize]).collect()
        };
        for _ in 0..20_000 {
            let (prefix, candidate) = (text(3), text(5));
            let in_range = candidate.as_bytes() >= prefix.as_bytes()
                && prefix_bound(&prefix).is_none_or(|bound| candidate.as_bytes() < bound.as_bytes());
            assert_eq!(in_range, candidate.starts_with(&prefix), "{prefix:?} and {candidate:?}");
        }
    }
}
