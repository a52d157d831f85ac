//! The "one primary per account" rule shared by contacts and addresses,
//! guarded by a partial unique index on each table. Callers hold the
//! account's row lock, so two changes of one account never race.

// Table names come from the PrimaryTable enum, never from a caller.
use sqlx::{AssertSqlSafe, PgConnection};
use uuid::Uuid;

use crate::domain::error::AccountsError;

/// A table of account sub-resources with an `is_primary` flag.
#[derive(Clone, Copy, Debug)]
pub enum PrimaryTable {
    Contacts,
    Addresses,
}

impl PrimaryTable {
    fn name(self) -> &'static str {
        match self {
            PrimaryTable::Contacts => "accounts.contacts",
            PrimaryTable::Addresses => "accounts.addresses",
        }
    }
}

pub async fn has_primary(
    connection: &mut PgConnection,
    table: PrimaryTable,
    account_id: Uuid,
) -> Result<bool, AccountsError> {
    let has: bool = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE account_id = $1 AND is_primary)",
        table.name()
    )))
    .bind(account_id)
    .fetch_one(connection)
    .await?;
    Ok(has)
}

/// Makes the account's primary row an ordinary one.
pub async fn clear_primary(
    connection: &mut PgConnection,
    table: PrimaryTable,
    account_id: Uuid,
) -> Result<(), AccountsError> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {} SET is_primary = false, updated_at = now() WHERE account_id = $1 AND is_primary",
        table.name()
    )))
    .bind(account_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// After the primary row was deleted: the oldest remaining row becomes primary.
pub async fn promote_oldest(
    connection: &mut PgConnection,
    table: PrimaryTable,
    account_id: Uuid,
) -> Result<(), AccountsError> {
    let name = table.name();
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {name} SET is_primary = true, updated_at = now()
         WHERE id = (SELECT id FROM {name} WHERE account_id = $1 ORDER BY id LIMIT 1)"
    )))
    .bind(account_id)
    .execute(connection)
    .await?;
    Ok(())
}

/// Checks a change of the primary flag from `was` to `wants` and demotes the
/// current primary row when another one becomes primary.
pub async fn apply_change(
    connection: &mut PgConnection,
    table: PrimaryTable,
    account_id: Uuid,
    was: bool,
    wants: bool,
) -> Result<(), AccountsError> {
    if was && !wants {
        let (reason, description) = match table {
            PrimaryTable::Contacts => (
                "PRIMARY_CONTACT_REQUIRED",
                "an account with contacts keeps one primary contact: make another one primary instead",
            ),
            PrimaryTable::Addresses => (
                "PRIMARY_ADDRESS_REQUIRED",
                "an account with addresses keeps one primary address: make another one primary instead",
            ),
        };
        return Err(AccountsError::precondition(reason, description));
    }
    if wants && !was {
        clear_primary(connection, table, account_id).await?;
    }
    Ok(())
}

/// Whether a new row becomes primary: when asked to (demoting the current
/// one) or when the account has none yet.
pub async fn for_new_row(
    connection: &mut PgConnection,
    table: PrimaryTable,
    account_id: Uuid,
    wants: bool,
) -> Result<bool, AccountsError> {
    let has_primary = has_primary(connection, table, account_id).await?;
    if wants && has_primary {
        clear_primary(connection, table, account_id).await?;
    }
    Ok(wants || !has_primary)
}
