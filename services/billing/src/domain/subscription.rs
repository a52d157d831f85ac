//! A subscription as billing keeps it (in its own terms, not the wire
//! message), where it stands, and the rules of its life: what credit's
//! verdict on its activation makes of it, and when it may be cancelled.

use bss_platform::payment::PaymentType;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::BillingError;
use super::order::{CreditReason, OrderState, Payer, with_reservations};

/// A subscription as billing keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Uuid,
    pub account_id: Uuid,
    /// The product as the caller named it (id or code).
    pub product: String,
    pub quantity: Decimal,
    #[serde(with = "super::order::payment_code")]
    pub payment_type: PaymentType,
    /// The currency of its price (pricing's quote).
    pub currency: String,
    /// The unit price, fixed when it was created.
    pub unit_price: Decimal,
    /// Whether it is charged for (a price above zero, not a running quote).
    pub paid: bool,
    pub state: SubscriptionState,
    pub created_at: DateTime<Utc>,
    pub cancel_date: Option<NaiveDate>,
    /// Why credit decided its activation as it did.
    pub reasons: Vec<CreditReason>,
    /// Who pays it, with the reservation credit made on each.
    pub payers: Vec<Payer>,
    /// The reference credit knows its activation by.
    pub reference: String,
    /// Credit's held order while (or since) its activation waited.
    pub held_order_id: Option<Uuid>,
}

/// Where a subscription stands; stored by [`SubscriptionState::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubscriptionState {
    Active,
    Cancelled,
    PendingApproval,
    Rejected,
}

impl SubscriptionState {
    pub const ALL: [SubscriptionState; 4] = [
        SubscriptionState::Active,
        SubscriptionState::Cancelled,
        SubscriptionState::PendingApproval,
        SubscriptionState::Rejected,
    ];

    /// The code billing stores the state by (its `status` column).
    pub fn code(self) -> &'static str {
        match self {
            SubscriptionState::Active => "ACTIVE",
            SubscriptionState::Cancelled => "CANCELLED",
            SubscriptionState::PendingApproval => "PENDING_APPROVAL",
            SubscriptionState::Rejected => "REJECTED",
        }
    }

    /// What credit's verdict on the activation makes of a subscription: an
    /// executed activation is active, a held one waits for approval,
    /// anything else is rejected.
    pub fn after(activation: OrderState) -> SubscriptionState {
        match activation {
            OrderState::Executed => SubscriptionState::Active,
            OrderState::HeldForApproval => SubscriptionState::PendingApproval,
            _ => SubscriptionState::Rejected,
        }
    }
}

impl Subscription {
    /// Credit's decision on its held activation: approved activates it
    /// with the reservations credit made on its payers (in order),
    /// rejected or expired rejects it.
    pub fn decide(&mut self, approved: bool, reservations: &[Option<Uuid>]) {
        self.state = if approved { SubscriptionState::Active } else { SubscriptionState::Rejected };
        with_reservations(&mut self.payers, reservations);
    }

    /// Cancels it on `today`: refused when it was cancelled already or
    /// never activated (rejected by credit).
    pub fn cancel(&mut self, today: NaiveDate) -> Result<(), BillingError> {
        match (self.state, self.cancel_date) {
            (SubscriptionState::Cancelled, cancelled) => Err(BillingError::precondition(
                "SUBSCRIPTION_CANCELLED",
                format!(
                    "subscription {} was cancelled on {}",
                    self.id,
                    cancelled.map(|date| date.to_string()).unwrap_or_default()
                ),
            )),
            (SubscriptionState::Rejected, _) => Err(BillingError::precondition(
                "SUBSCRIPTION_REJECTED",
                format!("subscription {} was refused by credit: it was never charged", self.id),
            )),
            _ => {
                self.state = SubscriptionState::Cancelled;
                self.cancel_date = Some(today);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn subscription(state: SubscriptionState) -> Subscription {
        Subscription {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            product: "PLAN".to_owned(),
            quantity: dec!(2),
            payment_type: PaymentType::OnAccount,
            currency: "EUR".to_owned(),
            unit_price: dec!(9.99),
            paid: true,
            state,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            cancel_date: None,
            reasons: vec![],
            payers: vec![Payer { account_id: Uuid::from_u128(2), amount: dec!(19.98), reservation_id: None }],
            reference: "subscription:s-1".to_owned(),
            held_order_id: None,
        }
    }

    #[test]
    fn a_state_is_stored_by_its_own_code() {
        for state in SubscriptionState::ALL {
            assert_eq!(serde_json::to_value(state).expect("json"), serde_json::json!(state.code()));
        }
        let kept = subscription(SubscriptionState::Active);
        let json = serde_json::to_string(&kept).expect("json");
        assert_eq!(serde_json::from_str::<Subscription>(&json).expect("read back"), kept);
    }

    #[test]
    fn credits_verdict_decides_the_activation() {
        assert_eq!(SubscriptionState::after(OrderState::Executed), SubscriptionState::Active);
        assert_eq!(SubscriptionState::after(OrderState::HeldForApproval), SubscriptionState::PendingApproval);
        assert_eq!(SubscriptionState::after(OrderState::Rejected), SubscriptionState::Rejected);
        let mut held = subscription(SubscriptionState::PendingApproval);
        held.decide(true, &[Some(Uuid::from_u128(9))]);
        assert_eq!((held.state, held.payers[0].reservation_id), (SubscriptionState::Active, Some(Uuid::from_u128(9))));
        held.decide(false, &[]);
        assert_eq!(held.state, SubscriptionState::Rejected);
    }

    #[test]
    fn only_a_live_subscription_is_cancelled_and_once() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        let mut live = subscription(SubscriptionState::Active);
        live.cancel(today).expect("cancelled");
        assert_eq!((live.state, live.cancel_date), (SubscriptionState::Cancelled, Some(today)));
        let reason = |result: Result<(), BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        };
        assert_eq!(reason(live.cancel(today)), "SUBSCRIPTION_CANCELLED");
        assert_eq!(reason(subscription(SubscriptionState::Rejected).cancel(today)), "SUBSCRIPTION_REJECTED");
        assert!(subscription(SubscriptionState::PendingApproval).cancel(today).is_ok());
    }
}
