//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! (each bad field named) into billing's own terms, calls its use case in
//! `app/` and converts the answer.

pub mod assets;
pub mod events;
pub mod invoices;
pub mod ledger;
pub mod locations;
pub mod orders;
pub mod payments;
pub mod settings;
pub mod subscriptions;
pub mod usage;
pub mod wallets;

use bss_platform::auth::{Role, bound_account};
use bss_platform::error::{Answer, Violations};
use uuid::Uuid;

use crate::domain::error::BillingError;

/// Roles that may read billing.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::CreditManager, Role::AccountManager, Role::Integration];

/// Roles that may read an account's enquiry (its orders, invoices,
/// subscriptions, transactions, balance, wallet and assets): the readers,
/// a sales rep (the accounts carrying its sales-rep id only) and a
/// customer's own user (its own account's only).
pub const ENQUIRERS: &[Role] = &[
    Role::TenantAdmin,
    Role::BillingClerk,
    Role::CreditManager,
    Role::AccountManager,
    Role::Integration,
    Role::SalesRep,
    Role::CustomerUser,
];

/// The pricing book version a new order or subscription asks to be priced
/// by at least (a version a pricing write returned, or 0).
pub(crate) fn min_pricing_version(v: &mut Violations, version: i64) -> i64 {
    if version < 0 {
        v.add("min_pricing_version", "is a version a pricing write returned, or 0");
    }
    version.max(0)
}

/// The account a new order or subscription is for: a customer's own
/// user's is always its own (`requested` may be empty; another account is
/// NOT_FOUND), anyone else names it in `field` (a violation in `v`).
pub(crate) fn ordering_account(
    v: &mut Violations,
    field: &str,
    requested: &str,
    own: Option<Uuid>,
) -> Result<Option<Uuid>, BillingError> {
    if own.is_none() {
        return Ok(v.keep(field, bss_platform::input::required_id(requested)));
    }
    let named = match requested {
        "" => None,
        // Not even an id: no account of the caller's.
        requested => Some(requested.parse().map_err(|_| BillingError::not_found("account", requested))?),
    };
    bound_account(own, named).map_err(|other| BillingError::not_found("account", other))
}

/// Roles that may create and post invoices and record payments.
pub const WRITERS: &[Role] = &[Role::TenantAdmin, Role::BillingClerk, Role::Integration];

/// The ErrorInfo domain of this context.
pub const DOMAIN: &str = "billing.bss";

bss_platform::service_error!(BillingError, DOMAIN);

impl From<BillingError> for Answer {
    fn from(error: BillingError) -> Answer {
        let description = error.to_string();
        match error {
            BillingError::Invalid(violations) => Answer::Invalid(violations),
            BillingError::NotFound { kind, id } => Answer::NotFound { kind, id },
            BillingError::AlreadyExists { reason, .. } => Answer::AlreadyExists { reason, description },
            BillingError::Precondition { reason, .. } => Answer::refused(reason, "billing", description),
            BillingError::Unavailable { what, cause } => Answer::Unavailable { what, cause },
            BillingError::Upstream(status) => Answer::Upstream(status),
            BillingError::Platform(error) => Answer::Platform(error),
        }
    }
}

pub use crate::app::Billing as BillingApi;
