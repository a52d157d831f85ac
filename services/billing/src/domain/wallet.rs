//! Wallets: money an account keeps in advance. Top-ups and refunds of
//! orders it paid put money in; orders and invoices it pays take money
//! out; the balance never goes below zero. A wallet is a payment
//! preference used automatically: opted in for purchases it pays, whole
//! and at submission, an order that would take its account over the credit
//! limit (credit decides that, see `authorize_or_prepay`), when it holds
//! the order's total; opted in for subscriptions it pays each invoice of
//! its account as the invoice is posted, as far as its balance goes.

use bss_platform::payment::PaymentType;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::BillingError;
use super::order::{Standing, check_not_terminated};

/// An account's wallet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wallet {
    pub account_id: Uuid,
    pub currency: String,
    pub balance: Decimal,
    pub use_for_purchases: bool,
    pub use_for_subscriptions: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a wallet transaction does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Movement {
    TopUp,
    OrderPayment,
    InvoicePayment,
    OrderRefund,
    /// Money paid back to the customer.
    PayOut,
}

impl Movement {
    pub const ALL: [Movement; 5] =
        [Movement::TopUp, Movement::OrderPayment, Movement::InvoicePayment, Movement::OrderRefund, Movement::PayOut];

    /// The code stored.
    pub fn code(self) -> &'static str {
        match self {
            Movement::TopUp => "TOP_UP",
            Movement::OrderPayment => "ORDER_PAYMENT",
            Movement::InvoicePayment => "INVOICE_PAYMENT",
            Movement::OrderRefund => "ORDER_REFUND",
            Movement::PayOut => "PAY_OUT",
        }
    }

    pub fn from_code(code: &str) -> Option<Movement> {
        Movement::ALL.into_iter().find(|movement| movement.code() == code)
    }

    /// What it does to the balance, for an amount greater than zero.
    pub fn change(self, amount: Decimal) -> Decimal {
        match self {
            Movement::TopUp | Movement::OrderRefund => amount,
            Movement::OrderPayment | Movement::InvoicePayment | Movement::PayOut => -amount,
        }
    }
}

/// A movement of a wallet's money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalletTransaction {
    /// Its place among its wallet's movements, in the order the balance
    /// saw them.
    pub seq: i64,
    pub id: Uuid,
    pub account_id: Uuid,
    pub movement: Movement,
    /// Greater than zero; `movement` gives the direction.
    pub amount: Decimal,
    pub balance_after: Decimal,
    pub order_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// The balance after `movement` of `amount`: FAILED_PRECONDITION
/// WALLET_BALANCE_TOO_LOW when it would go below zero. The SQL that moves
/// the money (`repo::wallets::move_money`) guards the same rule under the
/// wallet's row lock; a property test proves they agree.
pub fn moved(balance: Decimal, movement: Movement, amount: Decimal) -> Result<Decimal, BillingError> {
    let after = balance + movement.change(amount);
    if after < Decimal::ZERO {
        return Err(too_low(balance, amount));
    }
    Ok(after)
}

/// FAILED_PRECONDITION WALLET_BALANCE_TOO_LOW.
pub fn too_low(balance: Decimal, amount: Decimal) -> BillingError {
    BillingError::precondition(
        "WALLET_BALANCE_TOO_LOW",
        format!("the wallet holds {balance}, less than the {amount} to pay"),
    )
}

/// FAILED_PRECONDITION ACCOUNT_TERMINATED: a terminated account opens no
/// wallet and tops none up (a suspended one may: money still moves for
/// it).
pub fn check_openable(account_id: Uuid, standing: Standing) -> Result<(), BillingError> {
    check_not_terminated(account_id, standing, "open or top up a wallet")
}

/// Whether credit may be told the wallet can prepay an order of `total`
/// paid `payment_type`, its account paying all of it (`alone`): an order
/// on credit that it can pay whole, with a wallet opted in for purchases.
pub fn can_prepay(wallet: Option<&Wallet>, payment_type: PaymentType, total: Decimal, alone: bool) -> bool {
    wallet.is_some_and(|wallet| {
        wallet.use_for_purchases
            && alone
            && payment_type.uses_credit()
            && total > Decimal::ZERO
            && wallet.balance >= total
    })
}

/// What PayFromWallet takes from a wallet holding `balance` for invoices
/// that owe `owed`: `asked`, or (`None`) all that is owed as far as the
/// wallet goes. FAILED_PRECONDITION NOTHING_OWED when nothing is owed,
/// AMOUNT_EXCEEDS_OWED when more is asked than owed (a wallet's money never
/// becomes account credit), WALLET_BALANCE_TOO_LOW when the wallet cannot
/// pay it (or holds nothing).
pub fn pays_of_owed(balance: Decimal, owed: Decimal, asked: Option<Decimal>) -> Result<Decimal, BillingError> {
    if owed <= Decimal::ZERO {
        return Err(BillingError::precondition("NOTHING_OWED", "the account owes nothing on posted invoices"));
    }
    let amount = match asked {
        Some(asked) if asked > owed => {
            return Err(BillingError::precondition(
                "AMOUNT_EXCEEDS_OWED",
                format!("{asked} is more than the {owed} the account owes on posted invoices"),
            ));
        }
        Some(asked) => asked,
        None => pays_of_invoice(balance, owed),
    };
    if amount.is_zero() {
        return Err(too_low(balance, owed));
    }
    moved(balance, Movement::InvoicePayment, amount)?;
    Ok(amount)
}

/// What a pay-out takes from a wallet holding `balance`: `asked`, or
/// (`None`) all it holds; WALLET_BALANCE_TOO_LOW when it holds less (or
/// nothing).
pub fn pays_out(balance: Decimal, asked: Option<Decimal>) -> Result<Decimal, BillingError> {
    let amount = asked.unwrap_or(balance);
    if amount <= Decimal::ZERO {
        return Err(too_low(balance, amount));
    }
    moved(balance, Movement::PayOut, amount)?;
    Ok(amount)
}

/// What a wallet opted in for subscriptions pays of an invoice that owes
/// `owed` when it is posted: as much as it holds, up to what is owed.
pub fn pays_of_invoice(balance: Decimal, owed: Decimal) -> Decimal {
    balance.min(owed).max(Decimal::ZERO)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn wallet(balance: Decimal, purchases: bool) -> Wallet {
        Wallet {
            account_id: Uuid::from_u128(1),
            currency: "AUD".to_owned(),
            balance,
            use_for_purchases: purchases,
            use_for_subscriptions: false,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn money_goes_in_and_out_but_never_below_zero() {
        assert_eq!(moved(dec!(0), Movement::TopUp, dec!(50.00)).expect("in"), dec!(50.00));
        assert_eq!(moved(dec!(50.00), Movement::OrderPayment, dec!(50.00)).expect("all of it"), dec!(0.00));
        assert_eq!(moved(dec!(10.00), Movement::OrderRefund, dec!(5.50)).expect("back"), dec!(15.50));
        let low = moved(dec!(49.99), Movement::InvoicePayment, dec!(50.00)).expect_err("too low");
        assert!(matches!(low, BillingError::Precondition { reason: "WALLET_BALANCE_TOO_LOW", .. }));
        for movement in Movement::ALL {
            assert_eq!(Movement::from_code(movement.code()), Some(movement));
        }
    }

    #[test]
    fn a_wallet_prepays_only_an_order_on_credit_its_account_pays_alone_and_that_it_can_pay_whole() {
        let rich = wallet(dec!(100.00), true);
        assert!(can_prepay(Some(&rich), PaymentType::OnAccount, dec!(100.00), true));
        assert!(can_prepay(Some(&rich), PaymentType::DirectDeposit, dec!(20.00), true));
        assert!(!can_prepay(Some(&rich), PaymentType::OnAccount, dec!(100.01), true), "never part of an order");
        assert!(!can_prepay(Some(&rich), PaymentType::OnAccount, dec!(20.00), false), "another account pays");
        assert!(!can_prepay(Some(&rich), PaymentType::CreditCard, dec!(20.00), true), "paid by card anyway");
        assert!(!can_prepay(Some(&rich), PaymentType::OnAccount, dec!(0), true), "a free order needs no money");
        assert!(!can_prepay(Some(&wallet(dec!(100.00), false)), PaymentType::OnAccount, dec!(20.00), true));
        assert!(!can_prepay(None, PaymentType::OnAccount, dec!(20.00), true));
    }

    #[test]
    fn a_wallet_pays_what_is_owed_never_more_and_never_more_than_it_holds() {
        let refused = |result: Result<Decimal, BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused, not {other:?}"),
        };
        assert_eq!(pays_of_owed(dec!(100), dec!(80.00), None).expect("all owed"), dec!(80.00));
        assert_eq!(pays_of_owed(dec!(30), dec!(80.00), None).expect("all it holds"), dec!(30));
        assert_eq!(pays_of_owed(dec!(100), dec!(80.00), Some(dec!(50.00))).expect("asked"), dec!(50.00));
        assert_eq!(refused(pays_of_owed(dec!(100), dec!(80.00), Some(dec!(80.01)))), "AMOUNT_EXCEEDS_OWED");
        assert_eq!(refused(pays_of_owed(dec!(100), dec!(0), None)), "NOTHING_OWED");
        assert_eq!(refused(pays_of_owed(dec!(100), dec!(0), Some(dec!(1)))), "NOTHING_OWED");
        assert_eq!(refused(pays_of_owed(dec!(0), dec!(80.00), None)), "WALLET_BALANCE_TOO_LOW");
        assert_eq!(refused(pays_of_owed(dec!(10), dec!(80.00), Some(dec!(20)))), "WALLET_BALANCE_TOO_LOW");
    }

    #[test]
    fn a_pay_out_empties_the_wallet_or_takes_what_is_asked_and_no_more() {
        assert_eq!(pays_out(dec!(30.00), None).expect("all"), dec!(30.00));
        assert_eq!(pays_out(dec!(30.00), Some(dec!(10.00))).expect("part"), dec!(10.00));
        assert!(pays_out(dec!(30.00), Some(dec!(30.01))).is_err());
        assert!(pays_out(dec!(0), None).is_err(), "nothing to pay out");
        assert_eq!(moved(dec!(30.00), Movement::PayOut, dec!(30.00)).expect("out"), dec!(0.00));
    }

    #[test]
    fn a_terminated_account_opens_no_wallet() {
        let id = Uuid::from_u128(7);
        assert!(check_openable(id, Standing::Active).is_ok());
        assert!(check_openable(id, Standing::Suspended).is_ok());
        let refused = check_openable(id, Standing::Terminated).expect_err("terminated");
        assert!(matches!(refused, BillingError::Precondition { reason: "ACCOUNT_TERMINATED", .. }));
    }

    #[test]
    fn an_invoice_takes_what_the_wallet_holds_up_to_what_it_owes() {
        assert_eq!(pays_of_invoice(dec!(30.00), dec!(110.00)), dec!(30.00));
        assert_eq!(pays_of_invoice(dec!(300.00), dec!(110.00)), dec!(110.00));
        assert_eq!(pays_of_invoice(dec!(0), dec!(110.00)), dec!(0));
    }
}
