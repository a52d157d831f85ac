use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::AccountsError;
use crate::domain::text::Email;
use crate::domain::user::User;
use bss_platform::error::violated_constraint;

macro_rules! columns {
    () => {
        "id, tenant_id, account_id, email, display_name, sales_rep_id, created_at, updated_at"
    };
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    tenant_id: Uuid,
    account_id: Uuid,
    email: String,
    display_name: String,
    sales_rep_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for User {
    type Error = AccountsError;
    fn try_from(row: UserRow) -> Result<User, AccountsError> {
        Ok(User {
            id: row.id,
            tenant_id: row.tenant_id,
            account_id: row.account_id,
            email: Email::parse(&row.email).map_err(|_| corrupt("user email", &row.email))?,
            display_name: row.display_name,
            sales_rep_id: row.sales_rep_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub async fn insert(connection: &mut PgConnection, user: &User) -> Result<User, AccountsError> {
    let row: UserRow = sqlx::query_as(concat!(
        "INSERT INTO accounts.users (id, tenant_id, account_id, email, email_key, display_name, sales_rep_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
        columns!()
    ))
    .bind(user.id)
    .bind(user.tenant_id)
    .bind(user.account_id)
    .bind(user.email.as_str())
    .bind(user.email.as_str().to_lowercase())
    .bind(&user.display_name)
    .bind(user.sales_rep_id.as_deref())
    .fetch_one(connection)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("users_email_key") => AccountsError::UserEmailTaken,
        _ => error.into(),
    })?;
    row.try_into()
}

/// The user, or NOT_FOUND; `lock` takes its row lock.
pub async fn get(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid, lock: bool) -> Result<User, AccountsError> {
    let query = if lock {
        concat!("SELECT ", columns!(), " FROM accounts.users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
    } else {
        concat!("SELECT ", columns!(), " FROM accounts.users WHERE tenant_id = $1 AND id = $2")
    };
    let row: Option<UserRow> = sqlx::query_as(query).bind(tenant_id).bind(id).fetch_optional(connection).await?;
    row.ok_or_else(|| AccountsError::not_found("user", id))?.try_into()
}

/// Moves the user to another account.
pub async fn assign(connection: &mut PgConnection, user: &User, account_id: Uuid) -> Result<User, AccountsError> {
    let row: UserRow = sqlx::query_as(concat!(
        "UPDATE accounts.users SET account_id = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2 RETURNING ",
        columns!()
    ))
    .bind(user.tenant_id)
    .bind(user.id)
    .bind(account_id)
    .fetch_one(connection)
    .await?;
    row.try_into()
}

pub async fn delete(connection: &mut PgConnection, user: &User) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM accounts.users WHERE tenant_id = $1 AND id = $2")
        .bind(user.tenant_id)
        .bind(user.id)
        .execute(connection)
        .await?;
    Ok(())
}

pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<User>, AccountsError> {
    let rows: Vec<UserRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.users WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(User::try_from).collect()
}
