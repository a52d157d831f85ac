//! The tenant's billing settings: the bank account direct deposit orders
//! are paid into, and how an order's payer is told to pay it.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::order::{Order, OrderState};
use bss_platform::payment::PaymentType;

/// Longest text of a bank detail.
const MAX_FIELD: usize = 100;
/// Longest free-text instructions.
const MAX_INSTRUCTIONS: usize = 500;

/// The bank account customers pay into by transfer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDetails {
    pub account_name: String,
    pub bank_name: String,
    pub account_number: String,
    pub routing_code: String,
    /// Without spaces, upper case.
    pub iban: String,
    /// Upper case.
    pub bic: String,
    pub instructions: String,
}

impl BankDetails {
    /// Nothing set: the tenant has no bank details.
    pub fn is_empty(&self) -> bool {
        *self == BankDetails::default()
    }

    /// The details as given, trimmed and normalized (IBAN without spaces,
    /// IBAN and BIC upper case), or every problem by field.
    pub fn parse(given: BankDetails) -> Result<BankDetails, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let mut text = |field: &'static str, value: String, max: usize| {
            let value = value.trim().to_owned();
            if value.chars().count() > max {
                problems.push((field, format!("at most {max} characters")));
            }
            if value.chars().any(char::is_control) {
                problems.push((field, "no control characters".to_owned()));
            }
            value
        };
        let details = BankDetails {
            account_name: text("account_name", given.account_name, MAX_FIELD),
            bank_name: text("bank_name", given.bank_name, MAX_FIELD),
            account_number: text("account_number", given.account_number, MAX_FIELD),
            routing_code: text("routing_code", given.routing_code, MAX_FIELD),
            iban: text("iban", given.iban, MAX_FIELD).replace(' ', "").to_uppercase(),
            bic: text("bic", given.bic, MAX_FIELD).to_uppercase(),
            instructions: text("instructions", given.instructions, MAX_INSTRUCTIONS),
        };
        if !details.iban.is_empty()
            && let Err(problem) = check_iban(&details.iban)
        {
            problems.push(("iban", problem));
        }
        if !details.bic.is_empty()
            && !((details.bic.len() == 8 || details.bic.len() == 11)
                && details.bic.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            problems.push(("bic", "8 or 11 letters and digits".to_owned()));
        }
        if !details.is_empty() {
            if details.account_name.is_empty() {
                problems.push(("account_name", "is required with bank details".to_owned()));
            }
            if details.account_number.is_empty() && details.iban.is_empty() {
                problems.push(("account_number", "an account number or an IBAN is required".to_owned()));
            }
        }
        if problems.is_empty() { Ok(details) } else { Err(problems) }
    }
}

/// An IBAN's shape and its ISO 13616 check (mod 97 of the rearranged
/// number is 1).
fn check_iban(iban: &str) -> Result<(), String> {
    let shaped = (15..=34).contains(&iban.len())
        && iban.chars().all(|c| c.is_ascii_alphanumeric())
        && iban[..2].chars().all(|c| c.is_ascii_uppercase())
        && iban[2..4].chars().all(|c| c.is_ascii_digit());
    if !shaped {
        return Err("15 to 34 letters and digits: a country code, two check digits, the account".to_owned());
    }
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut remainder: u32 = 0;
    for c in rearranged {
        // Letters count as 10 to 35; each step keeps the remainder small.
        let value = c.to_digit(36).unwrap_or(0);
        let (digits, base) = if value >= 10 { (value, 100) } else { (value, 10) };
        remainder = (remainder * base + digits) % 97;
    }
    if remainder == 1 { Ok(()) } else { Err("the check digits do not match the account".to_owned()) }
}

/// How to pay an order by bank transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentInstructions {
    /// The tenant's bank account when the order was placed (`None`: it had
    /// none set).
    pub bank_details: Option<BankDetails>,
    pub amount: Decimal,
    pub reference: String,
}

/// What the payer of `order` is told to do: a direct deposit order that
/// is executed or waits for approval is paid by transfer of its total to
/// the tenant's account, quoting the order's id. Other orders: nothing.
pub fn payment_instructions(order: &Order, bank: &BankDetails) -> Option<PaymentInstructions> {
    let payable = matches!(order.state, OrderState::Executed | OrderState::HeldForApproval);
    (order.payment_type == PaymentType::DirectDeposit && payable).then(|| PaymentInstructions {
        bank_details: Some(bank.clone()).filter(|bank| !bank.is_empty()),
        amount: order.total,
        reference: reference_of(order.id),
    })
}

/// The payment reference of an order: its id.
fn reference_of(order_id: Uuid) -> String {
    order_id.to_string()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn bank() -> BankDetails {
        BankDetails {
            account_name: "Acme Books Pty Ltd".to_owned(),
            iban: "DE89 3704 0044 0532 0130 00".to_owned(),
            bic: "cobadeffxxx".to_owned(),
            ..BankDetails::default()
        }
    }

    #[test]
    fn bank_details_are_normalized_and_the_iban_checked() {
        let parsed = BankDetails::parse(bank()).expect("valid");
        assert_eq!((parsed.iban.as_str(), parsed.bic.as_str()), ("DE89370400440532013000", "COBADEFFXXX"));
        let wrong_check = BankDetails { iban: "DE88370400440532013000".to_owned(), ..bank() };
        let problems = BankDetails::parse(wrong_check).expect_err("bad check digits");
        assert_eq!(problems.iter().map(|(field, _)| *field).collect::<Vec<_>>(), ["iban"]);
        let bad = BankDetails { bic: "ABC".to_owned(), account_name: String::new(), ..bank() };
        let fields: Vec<&str> = BankDetails::parse(bad).expect_err("bad").iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["bic", "account_name"]);
        let no_account = BankDetails { account_name: "Acme".to_owned(), ..BankDetails::default() };
        let fields: Vec<&str> =
            BankDetails::parse(no_account).expect_err("no account").iter().map(|(field, _)| *field).collect();
        assert_eq!(fields, ["account_number"]);
        assert_eq!(BankDetails::parse(BankDetails::default()), Ok(BankDetails::default()), "none at all is fine");
    }

    fn order(payment_type: PaymentType, state: OrderState) -> Order {
        Order { payment_type, state, total: dec!(24.00), ..Order::example(Vec::new()) }
    }

    #[test]
    fn only_a_payable_direct_deposit_order_is_paid_by_transfer_of_its_total_quoting_its_id() {
        let bank = BankDetails::parse(bank()).expect("valid");
        let placed = order(PaymentType::DirectDeposit, OrderState::Executed);
        let told = payment_instructions(&placed, &bank).expect("instructions");
        assert_eq!((told.amount, told.reference.clone()), (dec!(24.00), placed.id.to_string()));
        assert_eq!(told.bank_details, Some(bank.clone()));
        let held = order(PaymentType::DirectDeposit, OrderState::HeldForApproval);
        assert!(payment_instructions(&held, &bank).is_some());
        let unset = payment_instructions(&placed, &BankDetails::default()).expect("instructions");
        assert_eq!(unset.bank_details, None, "a tenant without bank details gives amount and reference only");
        for (payment_type, state) in [
            (PaymentType::DirectDeposit, OrderState::Rejected),
            (PaymentType::OnAccount, OrderState::Executed),
            (PaymentType::CreditCard, OrderState::Executed),
        ] {
            assert!(payment_instructions(&order(payment_type, state), &bank).is_none(), "{payment_type:?} {state:?}");
        }
    }
}
