//! Rebates billing issues: pricing works out what a contract's rebate term
//! gives on an account's turnover in a period; billing counts the
//! turnover (posted invoices of the account in the contract's currency,
//! dated in the period, their lines of the term's products when it names a
//! pricelist), issues each (account, term, period) once, and pays a
//! positive rebate as a credit note.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

/// A rebate of one account and term for one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebate {
    pub account_id: Uuid,
    pub term_id: Uuid,
    pub currency: bss_platform::money::Currency,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub turnover: Decimal,
    pub rebate: Decimal,
    /// The credit note that paid it, once issued (none for a rebate of
    /// zero).
    pub credit_note_id: Option<Uuid>,
}

impl Rebate {
    /// Whether it is paid: a rebate of zero is recorded (so it is not
    /// worked out again) and pays nothing.
    pub fn pays(&self) -> bool {
        self.rebate > Decimal::ZERO
    }

    /// The reason on the credit note that pays it.
    pub fn credit_note_reason(&self) -> String {
        format!(
            "Rebate of term {} for {} to {}",
            self.term_id,
            self.period_start.format("%Y-%m-%d"),
            self.period_end.format("%Y-%m-%d")
        )
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn a_positive_rebate_is_paid_by_a_credit_note_naming_its_term_and_period() {
        let rebate = Rebate {
            account_id: Uuid::from_u128(1),
            term_id: Uuid::from_u128(2),
            currency: bss_platform::money::Currency::parse("EUR").expect("EUR"),
            period_start: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            period_end: NaiveDate::from_ymd_opt(2026, 3, 31).expect("date"),
            turnover: dec!(1000.00),
            rebate: dec!(25.00),
            credit_note_id: None,
        };
        assert!(rebate.pays());
        assert_eq!(
            rebate.credit_note_reason(),
            "Rebate of term 00000000-0000-0000-0000-000000000002 for 2026-01-01 to 2026-03-31"
        );
        assert!(!Rebate { rebate: Decimal::ZERO, ..rebate }.pays(), "nothing earned: recorded, not paid");
    }
}
