//! The gRPC adapter: each RPC authorizes the caller, parses the request
//! (each bad field named), and runs its use case. OrderService and
//! SubscriptionService only convert and call `app/`; the invoice, payment
//! and ledger RPCs still run their use cases here, on the same `Billing`,
//! until they move to `app/` in turn.

pub mod events;
pub mod invoices;
pub mod ledger;
pub mod orders;
pub mod payments;
pub mod subscriptions;

use bss_platform::auth::Role;
use bss_platform::error::Answer;

use crate::domain::error::BillingError;

/// Roles that may read billing.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::CreditManager, Role::AccountManager, Role::Integration];

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
