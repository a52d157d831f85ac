//! Saved payment methods as billing uses them (credit keeps them): which
//! one pays a card or PayPal order or subscription, and the automatic
//! collection of a posted invoice with the account's method opted in for
//! subscriptions: what each attempt at the payment provider makes of it,
//! retried with a growing pause while the provider asks to, failed with
//! the provider's reason when declined.

use std::time::Duration;

use bss_platform::payment::PaymentType;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of saved method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    Card,
    Wallet,
}

/// The kind of method that pays a payment type: a card for card payments,
/// a wallet for PayPal; none for the others.
pub fn method_kind(payment_type: PaymentType) -> Option<MethodKind> {
    match payment_type {
        PaymentType::CreditCard => Some(MethodKind::Card),
        PaymentType::PayPal => Some(MethodKind::Wallet),
        _ => None,
    }
}

/// What a method is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Purchases,
    Subscriptions,
}

/// A saved method, as credit shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedMethod {
    pub id: String,
    pub kind: MethodKind,
    pub token_reference: String,
    pub label: String,
    pub is_default: bool,
    pub use_for_purchases: bool,
    pub use_for_subscriptions: bool,
    /// The user of a shared account whose own method it is; `None`: the
    /// account's.
    pub owner_user_id: Option<String>,
}

impl SavedMethod {
    fn serves(&self, purpose: Use) -> bool {
        match purpose {
            Use::Purchases => self.use_for_purchases,
            Use::Subscriptions => self.use_for_subscriptions,
        }
    }
}

/// The method that pays for `purpose` (of `kind`, when given) what `user`
/// (a customer's user placing an order; `None`: the account itself, for
/// staff's orders, subscriptions and collections) pays: among the user's
/// own methods, then the account's (never another user's), the one named
/// if it is of that kind and opted in; else the first that serves, the
/// default of each owner first. `methods` come as credit lists them: each
/// owner's default first, then oldest first.
pub fn choose_method<'a>(
    methods: &'a [SavedMethod],
    (purpose, kind): (Use, Option<MethodKind>),
    named: Option<&str>,
    user: Option<&str>,
) -> Option<&'a SavedMethod> {
    let fits = |method: &&SavedMethod| method.serves(purpose) && kind.is_none_or(|kind| method.kind == kind);
    let own = methods.iter().filter(|method| user.is_some() && method.owner_user_id.as_deref() == user);
    let mut usable = own.chain(methods.iter().filter(|method| method.owner_user_id.is_none())).filter(fits);
    match named {
        Some(named) => usable.find(|method| method.id == named),
        None => usable.next(),
    }
}

/// Where an invoice's automatic collection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Paid: the payment settled the invoice.
    Collected,
    /// Declined by the provider, or the provider never answered.
    Failed,
    /// Settled otherwise before it was collected.
    NotNeeded,
}

/// An invoice's automatic collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection {
    pub status: CollectionStatus,
    pub method_id: String,
    pub label: String,
    pub token_reference: String,
    /// What was (to be) collected: what the invoice owed at the attempt.
    pub amount: Decimal,
    pub attempts: u32,
    pub payment_id: Option<Uuid>,
    pub authorization_id: String,
    pub capture_id: String,
    pub decline_reason: String,
    pub updated_at: DateTime<Utc>,
}

/// How often the provider is asked before a collection fails.
pub const MOST_ATTEMPTS: u32 = 5;

/// What an attempt got from the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Captured: the payment to record.
    Captured { authorization_id: String, capture_id: String },
    /// Declined, with the provider's reason.
    Declined { authorization_id: String, reason: String },
    /// The provider asked to try again later, or did not answer.
    Retry { cause: String },
}

impl Collection {
    /// Whether the provider is asked: while pending, unless the invoice
    /// was settled otherwise before any attempt (`owed` now). After an
    /// attempt it is asked again: it may have taken the payment.
    pub fn to_attempt(&self, owed: Decimal) -> bool {
        self.status == CollectionStatus::Pending && (self.attempts > 0 || owed > Decimal::ZERO)
    }

    /// The collection once what happened is recorded, and when to try
    /// again: one no longer pending (recorded meanwhile) stays as it is; a
    /// pending one not asked (`None`) was not needed; else [`Self::after`].
    pub fn record(
        &self,
        attempt: Option<Attempt>,
        amount: Decimal,
        at: DateTime<Utc>,
    ) -> (Collection, Option<Duration>) {
        match attempt {
            _ if self.status != CollectionStatus::Pending => (self.clone(), None),
            None => (Collection { status: CollectionStatus::NotNeeded, updated_at: at, ..self.clone() }, None),
            Some(attempt) => self.after(amount, attempt, at),
        }
    }

    /// The collection after an attempt for `amount`, and when to try again
    /// (only while pending): a pause of 2^attempts seconds, until
    /// [`MOST_ATTEMPTS`] attempts fail it.
    pub fn after(&self, amount: Decimal, attempt: Attempt, at: DateTime<Utc>) -> (Collection, Option<Duration>) {
        let mut next = Collection { amount, attempts: self.attempts + 1, updated_at: at, ..self.clone() };
        match attempt {
            Attempt::Captured { authorization_id, capture_id } => {
                next.status = CollectionStatus::Collected;
                next.authorization_id = authorization_id;
                next.capture_id = capture_id;
                (next, None)
            }
            Attempt::Declined { authorization_id, reason } => {
                next.status = CollectionStatus::Failed;
                next.authorization_id = authorization_id;
                next.decline_reason = reason;
                (next, None)
            }
            Attempt::Retry { cause } if next.attempts >= MOST_ATTEMPTS => {
                next.status = CollectionStatus::Failed;
                next.decline_reason = format!("the payment provider did not take the payment: {cause}");
                (next, None)
            }
            Attempt::Retry { .. } => (next.clone(), Some(Duration::from_secs(1 << next.attempts.min(10)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn method(id: &str, kind: MethodKind, is_default: bool, purchases: bool, subscriptions: bool) -> SavedMethod {
        SavedMethod {
            id: id.into(),
            kind,
            token_reference: format!("tok_{id}"),
            label: id.into(),
            is_default,
            use_for_purchases: purchases,
            use_for_subscriptions: subscriptions,
            owner_user_id: None,
        }
    }

    #[test]
    fn the_default_pays_when_it_serves_else_the_oldest_that_does() {
        let methods = [
            method("default", MethodKind::Card, true, false, true),
            method("old-card", MethodKind::Card, false, true, true),
            method("wallet", MethodKind::Wallet, false, true, false),
        ];
        let chosen =
            |purpose, kind, named| choose_method(&methods, (purpose, kind), named, None).map(|m| m.id.as_str());
        assert_eq!(chosen(Use::Subscriptions, Some(MethodKind::Card), None), Some("default"));
        assert_eq!(chosen(Use::Purchases, Some(MethodKind::Card), None), Some("old-card"));
        assert_eq!(chosen(Use::Purchases, Some(MethodKind::Wallet), None), Some("wallet"));
        assert_eq!(chosen(Use::Subscriptions, Some(MethodKind::Wallet), None), None, "the wallet is not opted in");
        assert_eq!(chosen(Use::Subscriptions, None, None), Some("default"));
        assert_eq!(chosen(Use::Purchases, Some(MethodKind::Card), Some("old-card")), Some("old-card"));
        assert_eq!(chosen(Use::Purchases, Some(MethodKind::Card), Some("default")), None, "named but not opted in");
        assert_eq!(chosen(Use::Purchases, Some(MethodKind::Card), Some("nobody's")), None);
        assert_eq!(method_kind(PaymentType::OnAccount), None);
    }

    #[test]
    fn a_users_own_methods_pay_its_orders_first_and_nobody_elses() {
        let owned = |id, owner: &str, is_default| SavedMethod {
            owner_user_id: Some(owner.to_owned()),
            ..method(id, MethodKind::Card, is_default, true, true)
        };
        let methods = [
            method("account's", MethodKind::Card, true, true, true),
            owned("mine", "me", true),
            owned("yours", "you", true),
        ];
        let chosen = |named, user| {
            choose_method(&methods, (Use::Purchases, Some(MethodKind::Card)), named, user).map(|m| m.id.as_str())
        };
        assert_eq!(chosen(None, Some("me")), Some("mine"));
        assert_eq!(chosen(None, Some("them")), Some("account's"), "a user with none of its own pays the account's way");
        assert_eq!(chosen(None, None), Some("account's"), "staff's orders never use a user's method");
        assert_eq!(chosen(Some("account's"), Some("me")), Some("account's"));
        assert_eq!(chosen(Some("yours"), Some("me")), None, "another user's method is not to be named");
        assert_eq!(chosen(Some("mine"), None), None);
        let subscriptions = choose_method(&methods, (Use::Subscriptions, None), None, None);
        assert_eq!(subscriptions.map(|m| m.id.as_str()), Some("account's"));
        let only_users = [owned("mine", "me", true)];
        assert_eq!(choose_method(&only_users, (Use::Subscriptions, None), None, None), None, "collected by none");
    }

    fn pending() -> Collection {
        Collection {
            status: CollectionStatus::Pending,
            method_id: "m".into(),
            label: "Visa".into(),
            token_reference: "tok_visa".into(),
            amount: dec!(10.00),
            attempts: 0,
            payment_id: None,
            authorization_id: String::new(),
            capture_id: String::new(),
            decline_reason: String::new(),
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_collection_is_collected_declined_or_retried_until_it_fails() {
        let at = DateTime::UNIX_EPOCH;
        let captured = Attempt::Captured { authorization_id: "a".into(), capture_id: "c".into() };
        let (done, again) = pending().after(dec!(7.50), captured, at);
        assert_eq!(
            (done.status, done.amount, done.attempts, again),
            (CollectionStatus::Collected, dec!(7.50), 1, None)
        );
        let declined = Attempt::Declined { authorization_id: String::new(), reason: "insufficient funds".into() };
        let (failed, again) = pending().after(dec!(10.00), declined, at);
        assert_eq!(
            (failed.status, failed.decline_reason.as_str(), again),
            (CollectionStatus::Failed, "insufficient funds", None)
        );
        let mut collection = pending();
        let mut pauses = Vec::new();
        loop {
            let (next, again) = collection.after(dec!(10.00), Attempt::Retry { cause: "busy".into() }, at);
            collection = next;
            match again {
                Some(pause) => pauses.push(pause.as_secs()),
                None => break,
            }
        }
        assert_eq!(pauses, [2, 4, 8, 16]);
        assert_eq!((collection.status, collection.attempts), (CollectionStatus::Failed, MOST_ATTEMPTS));
        assert!(collection.decline_reason.contains("busy"));
    }

    #[test]
    fn an_invoice_settled_before_any_attempt_is_not_collected_and_a_recorded_one_stays() {
        let at = DateTime::UNIX_EPOCH;
        assert!(pending().to_attempt(dec!(10.00)));
        assert!(!pending().to_attempt(dec!(0.00)), "settled otherwise: not asked");
        let asked = Collection { attempts: 1, ..pending() };
        assert!(asked.to_attempt(dec!(0.00)), "asked once: asked again, it may have taken the payment");
        let (unasked, again) = pending().record(None, dec!(10.00), at);
        assert_eq!((unasked.status, again), (CollectionStatus::NotNeeded, None));
        let collected = Collection { status: CollectionStatus::Collected, ..pending() };
        assert!(!collected.to_attempt(dec!(10.00)));
        let retry = Attempt::Retry { cause: "busy".into() };
        assert_eq!(collected.record(Some(retry.clone()), dec!(10.00), at), (collected.clone(), None));
        assert_eq!(pending().record(Some(retry.clone()), dec!(10.00), at), pending().after(dec!(10.00), retry, at));
    }
}
