//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! and converts the answer (with `crate::wire`); the use cases run on
//! `app::Credit` (a write in one transaction, holding the account's row
//! lock where the limit is concerned), most of them still written here.

pub mod credit;
pub mod error;
pub mod events;
pub mod settings;

use bss_platform::auth::Role;

/// Roles that may read credit.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk, Role::AccountManager, Role::Integration];

/// Roles that may change credit settings, terms and holds, and decide held
/// orders.
pub const MANAGERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager];

/// Roles that may set payment preferences.
pub const PREFERENCE_WRITERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk];

/// Roles that may authorize orders and release reservations (billing).
pub const ORDER_CHECKERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::Integration];

pub use crate::app::Credit as CreditApi;
