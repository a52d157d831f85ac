//! Accounting periods: a tenant sets its frequency and first period once;
//! exactly one period is open; a period closes only after its last day,
//! and closing it opens the next, whose opening balances are each
//! account's opening plus what was posted in the closed period.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::BillingError;

/// How long a period lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Monthly,
    Yearly,
}

impl Frequency {
    /// The code the settings are stored by.
    pub fn code(self) -> &'static str {
        match self {
            Frequency::Monthly => "MONTHLY",
            Frequency::Yearly => "YEARLY",
        }
    }

    pub fn from_code(code: &str) -> Option<Frequency> {
        [Frequency::Monthly, Frequency::Yearly].into_iter().find(|frequency| frequency.code() == code)
    }

    fn months(self) -> u32 {
        match self {
            Frequency::Monthly => 1,
            Frequency::Yearly => 12,
        }
    }
}

/// A tenant's period settings, set once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodSettings {
    pub frequency: Frequency,
    /// The first day of the first period: the first of a month.
    pub first_start: NaiveDate,
}

impl PeriodSettings {
    /// Settings whose first period starts on `first_start`; refused (the
    /// field named) unless that is the first day of a month.
    pub fn new(frequency: Frequency, first_start: NaiveDate) -> Result<PeriodSettings, &'static str> {
        check_first_start(first_start)?;
        Ok(PeriodSettings { frequency, first_start })
    }

    /// The first period's dates.
    pub fn first_period(&self) -> Result<(NaiveDate, NaiveDate), BillingError> {
        Ok((self.first_start, period_end(self.first_start, self.frequency)?))
    }
}

/// A first period starts on the first day of a month.
pub fn check_first_start(start: NaiveDate) -> Result<(), &'static str> {
    if start.day() != 1 {
        return Err("must be the first day of a month");
    }
    Ok(())
}

/// The last day of the period of `frequency` starting on `start`.
pub fn period_end(start: NaiveDate, frequency: Frequency) -> Result<NaiveDate, BillingError> {
    start
        .checked_add_months(Months::new(frequency.months()))
        .and_then(|next| next.pred_opt())
        .ok_or_else(|| BillingError::precondition("PERIOD_OUT_OF_RANGE", "the next period is past the last date"))
}

/// An accounting period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub id: Uuid,
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// `None` while open.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Period {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// The dates of the period after this one: refused unless this one is
    /// open (PERIOD_NOT_OPEN) and its last day is over by `today`
    /// (PERIOD_NOT_ENDED).
    pub fn close(&self, today: NaiveDate, frequency: Frequency) -> Result<(NaiveDate, NaiveDate), BillingError> {
        if !self.is_open() {
            return Err(BillingError::precondition("PERIOD_NOT_OPEN", format!("period {} is closed", self.id)));
        }
        if self.end >= today {
            return Err(BillingError::precondition(
                "PERIOD_NOT_ENDED",
                format!("period {} ends on {}; close it after that day", self.id, self.end.format("%Y-%m-%d")),
            ));
        }
        let start = self.end.succ_opt().ok_or_else(|| {
            BillingError::precondition("PERIOD_OUT_OF_RANGE", "the next period is past the last date")
        })?;
        Ok((start, period_end(start, frequency)?))
    }
}

/// A kind of money posted to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posting {
    Invoice,
    Payment,
    CreditNote,
    Refund,
    WriteOff,
}

impl Posting {
    pub const ALL: [Posting; 5] =
        [Posting::Invoice, Posting::Payment, Posting::CreditNote, Posting::Refund, Posting::WriteOff];

    /// The code a posting is stored and filtered by.
    pub fn code(self) -> &'static str {
        match self {
            Posting::Invoice => "INVOICE",
            Posting::Payment => "PAYMENT",
            Posting::CreditNote => "CREDIT_NOTE",
            Posting::Refund => "REFUND",
            Posting::WriteOff => "WRITE_OFF",
        }
    }

    pub fn from_code(code: &str) -> Option<Posting> {
        Posting::ALL.into_iter().find(|posting| posting.code() == code)
    }

    /// How a posting of `amount` (positive) moves what the account owes:
    /// invoices and refunds add, payments, credit notes and write-offs
    /// take away.
    pub fn owed(self, amount: Decimal) -> Decimal {
        match self {
            Posting::Invoice | Posting::Refund => amount,
            // Subtracted from zero: nothing open reads "0", never "-0".
            Posting::Payment | Posting::CreditNote | Posting::WriteOff => Decimal::ZERO - amount,
        }
    }
}

/// The balance an account closes a period with (and opens the next with):
/// its opening balance moved by each posting of the period.
pub fn closing_balance(opening: Decimal, postings: impl IntoIterator<Item = (Posting, Decimal)>) -> Decimal {
    postings.into_iter().fold(opening, |balance, (posting, amount)| balance + posting.owed(amount))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid")
    }

    #[test]
    fn a_period_starts_on_the_first_and_lasts_a_month_or_a_year() {
        assert!(PeriodSettings::new(Frequency::Monthly, date("2026-01-02")).is_err());
        let monthly = PeriodSettings::new(Frequency::Monthly, date("2026-02-01")).expect("valid");
        assert_eq!(monthly.first_period().expect("valid"), (date("2026-02-01"), date("2026-02-28")));
        let yearly = PeriodSettings::new(Frequency::Yearly, date("2026-04-01")).expect("valid");
        assert_eq!(yearly.first_period().expect("valid"), (date("2026-04-01"), date("2027-03-31")));
        assert_eq!(Frequency::from_code("YEARLY"), Some(Frequency::Yearly));
        assert_eq!(Frequency::from_code("WEEKLY"), None);
    }

    #[test]
    fn an_open_period_closes_after_its_last_day_and_the_next_follows_it() {
        let open = Period { id: Uuid::nil(), start: date("2026-01-01"), end: date("2026-01-31"), closed_at: None };
        let early = open.close(date("2026-01-31"), Frequency::Monthly).expect_err("refused");
        assert!(matches!(early, BillingError::Precondition { reason: "PERIOD_NOT_ENDED", .. }), "{early:?}");
        assert_eq!(
            open.close(date("2026-02-01"), Frequency::Monthly).expect("valid"),
            (date("2026-02-01"), date("2026-02-28"))
        );
        let closed = Period { closed_at: Some(DateTime::<Utc>::UNIX_EPOCH), ..open };
        let again = closed.close(date("2026-03-01"), Frequency::Monthly).expect_err("refused");
        assert!(matches!(again, BillingError::Precondition { reason: "PERIOD_NOT_OPEN", .. }), "{again:?}");
    }

    #[test]
    fn the_closing_balance_adds_invoices_and_refunds_and_takes_away_the_rest() {
        let postings = [
            (Posting::Invoice, dec!(100.00)),
            (Posting::Payment, dec!(30.00)),
            (Posting::CreditNote, dec!(5.50)),
            (Posting::Refund, dec!(2.00)),
            (Posting::WriteOff, dec!(1.25)),
        ];
        assert_eq!(closing_balance(dec!(10.00), postings), dec!(75.25));
        assert_eq!(closing_balance(dec!(-3.00), []), dec!(-3.00), "nothing posted: the opening carries over");
        assert_eq!(Posting::Payment.owed(dec!(0.00)).to_string(), "0.00", "no negative zero");
    }
}
