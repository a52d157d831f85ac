use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use super::primary::{self, PrimaryTable};
use crate::domain::contact::{Contact, ContactFields};
use crate::domain::error::AccountsError;
use crate::domain::text::{Email, email_text};

macro_rules! columns {
    () => {
        "id, account_id, first_name, last_name, email, phone, roles, is_primary, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: Uuid,
    account_id: Uuid,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    roles: Vec<String>,
    is_primary: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ContactRow> for Contact {
    type Error = AccountsError;
    fn try_from(row: ContactRow) -> Result<Contact, AccountsError> {
        Ok(Contact {
            id: row.id,
            account_id: row.account_id,
            fields: ContactFields {
                first_name: row.first_name,
                last_name: row.last_name,
                email: Email::parse_optional(&row.email).map_err(|_| corrupt("contact email", &row.email))?,
                phone: row.phone,
                roles: row.roles,
                is_primary: row.is_primary,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Adds a contact; it becomes primary when asked to or when it is the
/// account's first. The caller holds the account's row lock.
pub async fn insert(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    fields: &ContactFields,
) -> Result<Contact, AccountsError> {
    let is_primary = primary::for_new_row(connection, PrimaryTable::Contacts, account_id, fields.is_primary).await?;
    let row: ContactRow = sqlx::query_as(concat!("INSERT INTO accounts.contacts (id, tenant_id, account_id, first_name, last_name, email, phone, roles, is_primary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ", columns!()))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(account_id)
    .bind(&fields.first_name)
    .bind(&fields.last_name)
    .bind(email_text(&fields.email))
    .bind(&fields.phone)
    .bind(&fields.roles)
    .bind(is_primary)
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// The contact, or NOT_FOUND.
pub async fn get(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Contact, AccountsError> {
    let row: Option<ContactRow> =
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM accounts.contacts WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(connection)
            .await?;
    row.ok_or_else(|| AccountsError::not_found("contact", id))?.try_into()
}

/// Writes `fields` over the contact. Making it primary demotes the previous
/// primary contact; un-making the primary contact is refused.
pub async fn update(
    connection: &mut PgConnection,
    contact: &Contact,
    fields: &ContactFields,
) -> Result<Contact, AccountsError> {
    primary::apply_change(
        connection,
        PrimaryTable::Contacts,
        contact.account_id,
        contact.fields.is_primary,
        fields.is_primary,
    )
    .await?;
    let row: ContactRow = sqlx::query_as(concat!(
        "UPDATE accounts.contacts SET first_name = $2, last_name = $3, email = $4, phone = $5, roles = $6,
            is_primary = $7, updated_at = now()
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(contact.id)
    .bind(&fields.first_name)
    .bind(&fields.last_name)
    .bind(email_text(&fields.email))
    .bind(&fields.phone)
    .bind(&fields.roles)
    .bind(fields.is_primary)
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// Deletes the contact; when it was primary, the oldest remaining contact
/// becomes primary.
pub async fn delete(connection: &mut PgConnection, contact: &Contact) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM accounts.contacts WHERE id = $1").bind(contact.id).execute(&mut *connection).await?;
    if contact.fields.is_primary {
        primary::promote_oldest(connection, PrimaryTable::Contacts, contact.account_id).await?;
    }
    Ok(())
}

pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Contact>, AccountsError> {
    let rows: Vec<ContactRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.contacts
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Contact::try_from).collect()
}

pub async fn belongs_to(
    connection: &mut PgConnection,
    contact_id: Uuid,
    account_id: Uuid,
) -> Result<bool, AccountsError> {
    let belongs: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM accounts.contacts WHERE id = $1 AND account_id = $2)")
            .bind(contact_id)
            .bind(account_id)
            .fetch_one(connection)
            .await?;
    Ok(belongs)
}
