//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! into pricing's own terms, calls its use case on `app::Pricing` and
//! converts the answer.

pub mod account_pricing;
pub mod catalog;
pub mod contracts;
pub mod convert;
pub mod error;
pub mod exchange_rates;
pub mod pricelists;
pub mod quotes;

use bss_platform::auth::Role;

/// Roles that may read pricing (a sales rep only for its own accounts).
pub const READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::SalesRep,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
];

/// Roles that may quote: the readers, a customer's own user (for its own
/// account only) and a guest (as the tenant's guest account).
pub const QUOTERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::SalesRep,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
    Role::CustomerUser,
    Role::Guest,
];

/// Roles that may quote many accounts at once: those that see every
/// account of the tenant.
pub const BATCH_QUOTERS: &[Role] =
    &[Role::TenantAdmin, Role::AccountManager, Role::CreditManager, Role::BillingClerk, Role::Integration];

/// Roles that may browse the catalog: the readers, a customer's own user,
/// and a guest (the public products only).
pub const BROWSERS: &[Role] = QUOTERS;

/// Roles that may read contracts (they list other accounts: not for sales
/// reps, who see contract prices through quotes). A customer's own user
/// reads its account's contracts, which show no other account.
pub const CONTRACT_READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::AccountManager,
    Role::CreditManager,
    Role::BillingClerk,
    Role::Integration,
    Role::CustomerUser,
];

/// Roles that may read a contract's history: staff (it names every account
/// of the contract, who changed it and why).
pub const HISTORY_READERS: &[Role] =
    &[Role::TenantAdmin, Role::AccountManager, Role::CreditManager, Role::BillingClerk, Role::Integration];

/// Roles that may change pricing.
pub const WRITERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration];

/// Roles that may make and change contracts: the writers, and a sales rep
/// with the facility role for its own accounts (checked by the use case).
pub const CONTRACT_MAKERS: &[Role] = &[Role::TenantAdmin, Role::AccountManager, Role::Integration, Role::SalesRep];

/// Roles that may compute rebates.
pub const REBATE_CALCULATORS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::Integration];

pub use crate::app::Pricing as PricingApi;
