//! The gRPC adapter: each RPC authorizes the caller, parses the request,
//! runs the use case in one transaction and converts the answer.

pub mod accounts;
pub mod convert;
pub mod error;
pub mod tenants;

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

/// Roles that may create, change and delete accounts.
pub const WRITERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration];
