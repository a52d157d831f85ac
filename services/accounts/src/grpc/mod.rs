//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! into accounts' own terms (`wire`), calls its use case on
//! `app::Accounts` and converts the answer.

pub mod accounts;
pub mod contacts;
pub mod custom_fields;
pub mod error;
pub mod events;
pub mod groups;
pub mod import;
pub mod lifecycle;
pub mod tenants;
pub mod users;

use bss_platform::auth::Role;

/// Roles that may read accounts (a sales rep only its own).
pub const READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::SalesRep,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
];

/// Roles that may read an account, its contacts, addresses and users: the
/// readers, and a customer's own user (its own account only).
pub const ACCOUNT_READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::SalesRep,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
    Role::CustomerUser,
];

/// Roles that may create, change and delete accounts.
pub const WRITERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration];

pub use bss_platform::auth::authorize;

pub use crate::app::{Accounts as AccountsApi, Peers};
