//! How a payment settles invoices: a named invoice first (when given), then
//! the rest oldest first (by invoice date, then number); what no invoice
//! takes is left as the account's credit.

use rust_decimal::Decimal;
use uuid::Uuid;

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
    fn an_overpayment_leaves_credit() {
        let (settled, left) = allocate(dec!(700.01), &invoices(), None);
        assert_eq!(settled.len(), 3);
        assert_eq!(left, dec!(100.01));
        let (settled, left) = allocate(dec!(5), &[], None);
        assert!(settled.is_empty());
        assert_eq!(left, dec!(5));
    }
}
