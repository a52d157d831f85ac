//! Storage of the accounts context: schema-qualified SQL, constraint names
//! mapped to domain errors.

pub mod accounts;
pub mod addresses;
pub mod contacts;
pub mod custom_fields;
pub mod groups;
pub mod history;
pub mod primary;
pub mod tenants;
pub mod users;

use bss_platform::error::PlatformError;

use crate::domain::error::AccountsError;

impl From<sqlx::Error> for AccountsError {
    fn from(error: sqlx::Error) -> AccountsError {
        AccountsError::Platform(PlatformError::Database(error))
    }
}

/// A stored value this code cannot read back: a bug or a manual edit.
fn corrupt(what: &str, value: &str) -> AccountsError {
    AccountsError::Platform(PlatformError::Corrupt(format!("{what} {value:?}")))
}
