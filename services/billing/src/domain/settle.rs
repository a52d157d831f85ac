//! How money settles invoices: a payment, credit note or write-off
//! settles a named invoice first (when given), then the rest oldest first
//! (by invoice date, then number); what no invoice takes is left as the
//! account's credit. A credit note against an invoice's lines credits each
//! at most what is left of it; a refund pays back at most the credit the
//! account holds.

use bss_platform::error::Violations;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::BillingError;

/// Money that settled invoices (a payment, a credit note, a write-off) or
/// left them (a refund), as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub id: Uuid,
    pub account_id: Uuid,
    pub currency: bss_platform::money::Currency,
    pub amount: Decimal,
    /// What each invoice got of it, in the order settled.
    pub allocations: Vec<Allocation>,
    /// What no invoice took: the account's credit.
    pub unallocated: Decimal,
    /// Why (credit notes, write-offs and refunds).
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// What one invoice got of a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub invoice_id: Uuid,
    pub invoice_number: i64,
    pub amount: Decimal,
    /// The invoice is settled in full now.
    pub settled: bool,
}

/// What of an account's credit may be paid back: what its payments and
/// credit notes hold unallocated, never more than the account is in credit
/// (the negative of its balance), never below zero.
pub fn refundable(held: Decimal, balance: Decimal) -> Decimal {
    held.min(-balance).max(Decimal::ZERO)
}

/// A line of a posted invoice as a credit note sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditableLine {
    pub total: Decimal,
    /// What earlier credit notes credited of it.
    pub credited: Decimal,
}

/// The credits a credit note gives an invoice's lines: for each line named
/// (number from 1, amount or `None` for all that is left of it), or for
/// every line (`wanted` `None`) what is left. A line the invoice does not
/// have is an invalid argument; more than is left of a line, a zero
/// named, or nothing left at all is LINE_ALREADY_CREDITED.
pub fn line_credits(
    invoice_id: Uuid,
    lines: &[CreditableLine],
    wanted: Option<&[(i32, Option<Decimal>)]>,
) -> Result<Vec<(i32, Decimal)>, BillingError> {
    let named = wanted.is_some();
    let every: Vec<(i32, Option<Decimal>)>;
    let wanted = match wanted {
        Some(wanted) => wanted,
        None => {
            every = (1..=lines.len() as i32).map(|number| (number, None)).collect();
            &every
        }
    };
    let mut credits = Vec::with_capacity(wanted.len());
    for &(number, amount) in wanted {
        let Some(line) = usize::try_from(number - 1).ok().and_then(|index| lines.get(index)) else {
            return Err(Violations::single("lines", format!("invoice {invoice_id} has {} lines", lines.len())).into());
        };
        let left = line.total - line.credited;
        let amount = amount.unwrap_or(left);
        if amount > left || (named && amount.is_zero()) {
            return Err(BillingError::precondition(
                "LINE_ALREADY_CREDITED",
                format!("line {number} of invoice {invoice_id} has {left} left to credit, less than {amount}"),
            ));
        }
        if amount > Decimal::ZERO {
            credits.push((number, amount));
        }
    }
    if credits.is_empty() {
        return Err(BillingError::precondition(
            "LINE_ALREADY_CREDITED",
            format!("invoice {invoice_id} is credited in full already"),
        ));
    }
    Ok(credits)
}

/// A posted invoice not settled in full, oldest first in the slice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenInvoice {
    pub id: Uuid,
    /// What is still owed on it.
    pub owed: Decimal,
}

/// The amounts `payment` settles of each invoice, in order, and what is
/// left over.
pub fn allocate(payment: Decimal, open: &[OpenInvoice], first: Option<Uuid>) -> (Vec<(Uuid, Decimal)>, Decimal) {
    let named = open.iter().filter(|invoice| Some(invoice.id) == first);
    let rest = open.iter().filter(|invoice| Some(invoice.id) != first);
    let mut left = payment;
    let mut settled = Vec::new();
    for invoice in named.chain(rest) {
        if left.is_zero() {
            break;
        }
        let amount = left.min(invoice.owed);
        if amount > Decimal::ZERO {
            settled.push((invoice.id, amount));
            left -= amount;
        }
    }
    (settled, left)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn invoices() -> Vec<OpenInvoice> {
        (1..=3u128).map(|n| OpenInvoice { id: Uuid::from_u128(n), owed: dec!(100.00) * Decimal::from(n) }).collect()
    }

    #[test]
    fn a_payment_settles_the_oldest_invoices_first() {
        let (settled, left) = allocate(dec!(250.00), &invoices(), None);
        assert_eq!(settled, vec![(Uuid::from_u128(1), dec!(100.00)), (Uuid::from_u128(2), dec!(150.00))]);
        assert_eq!(left, dec!(0));
    }

    #[test]
    fn a_named_invoice_is_settled_first_then_the_oldest() {
        let (settled, left) = allocate(dec!(350.00), &invoices(), Some(Uuid::from_u128(3)));
        assert_eq!(settled, vec![(Uuid::from_u128(3), dec!(300.00)), (Uuid::from_u128(1), dec!(50.00))]);
        assert_eq!(left, dec!(0));
    }

    #[test]
    fn a_refund_pays_back_at_most_the_credit_held_and_the_balance_in_credit() {
        assert_eq!(refundable(dec!(25.00), dec!(-15.00)), dec!(15.00), "the balance is the lesser");
        assert_eq!(refundable(dec!(10.00), dec!(-15.00)), dec!(10.00), "what is held is the lesser");
        assert_eq!(refundable(dec!(10.00), dec!(5.00)), Decimal::ZERO, "an account that owes gets nothing");
    }

    #[test]
    fn a_credit_note_credits_each_line_at_most_what_is_left_of_it() {
        let id = Uuid::nil();
        let lines = [
            CreditableLine { total: dec!(30.00), credited: dec!(10.00) },
            CreditableLine { total: dec!(5.00), credited: dec!(5.00) },
        ];
        assert_eq!(line_credits(id, &lines, None).expect("whole"), vec![(1, dec!(20.00))], "what is left of each");
        let some = [(1, Some(dec!(7.50)))];
        assert_eq!(line_credits(id, &lines, Some(&some)).expect("named"), vec![(1, dec!(7.50))]);
        let all_of_one = [(1, None)];
        assert_eq!(line_credits(id, &lines, Some(&all_of_one)).expect("the rest"), vec![(1, dec!(20.00))]);
        let too_much = [(1, Some(dec!(20.01)))];
        let refused = line_credits(id, &lines, Some(&too_much)).expect_err("more than is left");
        assert!(matches!(refused, BillingError::Precondition { reason: "LINE_ALREADY_CREDITED", .. }));
        let spent = [(2, None)];
        assert!(line_credits(id, &lines, Some(&spent)).is_err(), "a line credited in full");
        assert!(matches!(line_credits(id, &lines, Some(&[(3, None)])), Err(BillingError::Invalid(_))), "no line 3");
        let done = [CreditableLine { total: dec!(5.00), credited: dec!(5.00) }];
        assert!(line_credits(id, &done, None).is_err(), "nothing left to credit");
    }

    #[test]
    fn an_overpayment_leaves_credit() {
        let (settled, left) = allocate(dec!(700.01), &invoices(), None);
        assert_eq!(settled.len(), 3);
        assert_eq!(left, dec!(100.01));
        let (settled, left) = allocate(dec!(5), &[], None);
        assert!(settled.is_empty());
        assert_eq!(left, dec!(5));
    }
}
