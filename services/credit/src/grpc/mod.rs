//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! into credit's own terms, calls its use case on `app::Credit` and
//! converts the answer (with `crate::wire`).

pub mod credit;
pub mod error;
pub mod events;
pub mod settings;

use bss_platform::auth::Role;

/// Roles that may read credit.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk, Role::AccountManager, Role::Integration];

/// Roles that may change credit settings, terms and holds.
pub const MANAGERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager];

/// Roles that may approve and reject held orders: account managers too
/// unless the tenant keeps the decision to credit managers
/// (`Settings::check_held_order_decider`).
pub const DECIDERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager, Role::AccountManager];

/// Roles that may set payment preferences.
pub const PREFERENCE_WRITERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk];

/// Roles that may save, change and remove payment methods: the preference
/// writers, and a customer's own user (its own account's).
pub const METHOD_WRITERS: &[Role] = &[Role::TenantAdmin, Role::CreditManager, Role::BillingClerk, Role::CustomerUser];

/// Roles that may list payment methods: the readers, and a customer's own
/// user (its own account's).
pub const METHOD_READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::CreditManager,
    Role::BillingClerk,
    Role::AccountManager,
    Role::Integration,
    Role::CustomerUser,
];

/// Roles that may authorize orders and release reservations (billing).
pub const ORDER_CHECKERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::Integration];

pub use crate::app::Credit as CreditApi;
