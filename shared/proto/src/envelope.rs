//! The envelope every event stream of the suite shares: position, tenant,
//! time, actor and trace context around one payload, and the payload's
//! name stored beside it in the publishing service's outbox.

use crate::accounts::{self, account_event};
use crate::billing::{self, billing_event};
use crate::credit::{self, credit_event};

/// Who made an event, when, and in which trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Made {
    pub tenant_id: String,
    pub occur_time: Option<prost_types::Timestamp>,
    pub actor: String,
    /// The W3C traceparent of the request that made the change; empty when
    /// none.
    pub traceparent: String,
}

/// An event message of one stream.
pub trait Envelope: prost::Message + Default + Sized {
    type Payload;

    /// The event of `payload` as `made` says (its sequence is given when it
    /// commits).
    fn wrap(made: &Made, payload: Self::Payload) -> Self;

    /// The event `made` says, without a payload: what a stream sends in
    /// place of a stored event it cannot read.
    fn bare(made: &Made) -> Self;

    /// The name of the event's payload ("Unknown" without one).
    fn event_type(&self) -> &'static str;

    /// Its position in the stream (1, 2, 3, ...).
    fn sequence(&self) -> i64;

    /// Who made it, when, and in which trace.
    fn made(&self) -> Made;
}

macro_rules! envelope {
    ($event:ty, $module:ident { $($case:ident),+ $(,)? }) => {
        impl Envelope for $event {
            type Payload = $module::Payload;

            fn wrap(made: &Made, payload: $module::Payload) -> Self {
                Self { payload: Some(payload), ..Self::bare(made) }
            }

            fn bare(made: &Made) -> Self {
                Self {
                    sequence: 0,
                    tenant_id: made.tenant_id.clone(),
                    occur_time: made.occur_time,
                    actor: made.actor.clone(),
                    traceparent: made.traceparent.clone(),
                    payload: None,
                }
            }

            fn sequence(&self) -> i64 {
                self.sequence
            }

            fn made(&self) -> Made {
                Made {
                    tenant_id: self.tenant_id.clone(),
                    occur_time: self.occur_time,
                    actor: self.actor.clone(),
                    traceparent: self.traceparent.clone(),
                }
            }

            fn event_type(&self) -> &'static str {
                match &self.payload {
                    $(Some($module::Payload::$case(_)) => stringify!($case),)+
                    None => "Unknown",
                }
            }
        }
    };
}

envelope!(
    accounts::AccountEvent,
    account_event {
        AccountCreated,
        AccountUpdated,
        AccountStatusChanged,
        AccountDeleted,
        ContactChanged,
        AddressChanged,
        GroupMembershipChanged,
        UserAssigned,
    }
);

envelope!(
    billing::BillingEvent,
    billing_event {
        InvoicePosted,
        CreditNotePosted,
        PaymentPosted,
        WriteOffPosted,
        InvoiceOverdue,
        InvoiceSettled,
        FirstPaidSubscriptionCreated,
        OrderOutcome,
        RefundPosted,
        OrderCancelled,
        SubscriptionCancelled,
        SubscriptionPeriodCharged,
        WalletTransactionPosted,
        SubscriptionTrialEnded,
        SubscriptionRenewed,
        UsageReserved,
    }
);

envelope!(
    credit::CreditEvent,
    credit_event {
        CreditTermsChanged,
        HoldChanged,
        ReservationChanged,
        HeldOrderChanged,
        CreditThresholdCrossed,
        SuspensionRequested,
        PaymentMethodsChanged,
    }
);
