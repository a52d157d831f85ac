//! Payment terms and the due date they give an invoice.
//!
//! Every kind is a pure function of the invoice date (and, for cash on
//! delivery, the delivery date). A day of the month past a month's end
//! clamps to that month's last day: "day 31" is 30 April and 28 or 29
//! February.

use chrono::{Datelike, Days, Months, NaiveDate};

/// The longest period a term may name, in days (ten years).
pub const MAX_DAYS: u32 = 3_660;

/// When an invoice falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentTerms {
    /// The account's credit period applies (the tenant's default period
    /// unless the account sets its own).
    NotSpecified,
    /// The invoice date plus N days.
    NetDays(u32),
    /// The first date on or after the invoice date whose day is D (1 to 31).
    DayOfMonth(u32),
    /// The last day of the invoice's month plus N days.
    DaysAfterEndOfMonth(u32),
    /// Day D (1 to 31) of the month after the invoice's month.
    DayOfNextMonth(u32),
    /// Due at delivery; on the invoice date when no delivery date is known.
    CashOnDelivery,
}

/// Why a term cannot be stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TermsError {
    #[error("a day of the month is 1 to 31")]
    DayOutOfRange,
    #[error("a number of days is 0 to {MAX_DAYS}")]
    DaysOutOfRange,
}

impl PaymentTerms {
    /// Checks the term's number.
    pub fn validate(self) -> Result<PaymentTerms, TermsError> {
        match self {
            PaymentTerms::DayOfMonth(day) | PaymentTerms::DayOfNextMonth(day) if !(1..=31).contains(&day) => {
                Err(TermsError::DayOutOfRange)
            }
            PaymentTerms::NetDays(days) | PaymentTerms::DaysAfterEndOfMonth(days) if days > MAX_DAYS => {
                Err(TermsError::DaysOutOfRange)
            }
            terms => Ok(terms),
        }
    }

    /// The due date of an invoice dated `invoice` and delivered on
    /// `delivery`, for an account whose credit period is `credit_period_days`.
    ///
    /// Cash on delivery is never due before the invoice date: goods
    /// delivered before they are invoiced are due when invoiced.
    pub fn due_date(self, invoice: NaiveDate, delivery: Option<NaiveDate>, credit_period_days: u32) -> NaiveDate {
        match self {
            PaymentTerms::NotSpecified => plus_days(invoice, credit_period_days),
            PaymentTerms::NetDays(days) => plus_days(invoice, days),
            PaymentTerms::DayOfMonth(day) => {
                let this_month = day_of(first_of_month(invoice), day);
                if this_month >= invoice { this_month } else { day_of(next_month(invoice), day) }
            }
            PaymentTerms::DaysAfterEndOfMonth(days) => plus_days(last_of_month(invoice), days),
            PaymentTerms::DayOfNextMonth(day) => day_of(next_month(invoice), day),
            PaymentTerms::CashOnDelivery => delivery.map_or(invoice, |delivery| delivery.max(invoice)),
        }
    }
}

fn plus_days(date: NaiveDate, days: u32) -> NaiveDate {
    // Dates stay far inside chrono's range (years up to 262,142) for any
    // term the validation lets through.
    date.checked_add_days(Days::new(u64::from(days))).unwrap_or(NaiveDate::MAX)
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The first day of the month after `date`'s month.
fn next_month(date: NaiveDate) -> NaiveDate {
    first_of_month(date).checked_add_months(Months::new(1)).unwrap_or(NaiveDate::MAX)
}

fn last_of_month(date: NaiveDate) -> NaiveDate {
    next_month(date).pred_opt().unwrap_or(date)
}

/// Day `day` of the month starting at `first`, clamped to its last day.
fn day_of(first: NaiveDate, day: u32) -> NaiveDate {
    let last = last_of_month(first).day();
    first.with_day(day.clamp(1, last)).unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::PaymentTerms::*;
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn due(terms: PaymentTerms, invoice: &str) -> NaiveDate {
        terms.due_date(d(invoice), None, 30)
    }

    #[test]
    fn not_specified_uses_the_credit_period() {
        assert_eq!(due(NotSpecified, "2026-01-31"), d("2026-03-02"));
        assert_eq!(NotSpecified.due_date(d("2028-02-29"), None, 14), d("2028-03-14"));
        assert_eq!(NotSpecified.due_date(d("2026-11-23"), None, 0), d("2026-11-23"));
    }

    #[test]
    fn net_days_count_calendar_days_across_month_ends_and_leap_days() {
        assert_eq!(due(NetDays(30), "2026-01-31"), d("2026-03-02"));
        assert_eq!(due(NetDays(30), "2028-01-31"), d("2028-03-01"));
        assert_eq!(due(NetDays(1), "2028-02-28"), d("2028-02-29"));
        assert_eq!(due(NetDays(1), "2028-02-29"), d("2028-03-01"));
        assert_eq!(due(NetDays(1), "2026-12-31"), d("2027-01-01"));
        assert_eq!(due(NetDays(0), "2026-04-30"), d("2026-04-30"));
    }

    #[test]
    fn day_of_month_is_the_first_such_day_on_or_after_the_invoice() {
        assert_eq!(due(DayOfMonth(15), "2026-03-10"), d("2026-03-15"));
        assert_eq!(due(DayOfMonth(15), "2026-03-15"), d("2026-03-15"));
        assert_eq!(due(DayOfMonth(15), "2026-03-16"), d("2026-04-15"));
        assert_eq!(due(DayOfMonth(15), "2026-12-20"), d("2027-01-15"));
    }

    #[test]
    fn day_of_month_past_a_months_end_clamps_to_its_last_day() {
        // 31 in a 30-day month, and in February of common and leap years.
        assert_eq!(due(DayOfMonth(31), "2026-04-10"), d("2026-04-30"));
        assert_eq!(due(DayOfMonth(31), "2026-02-01"), d("2026-02-28"));
        assert_eq!(due(DayOfMonth(31), "2028-02-01"), d("2028-02-29"));
        assert_eq!(due(DayOfMonth(30), "2028-02-29"), d("2028-02-29"));
        // Past this month's (clamped) day: next month's.
        assert_eq!(due(DayOfMonth(29), "2026-03-30"), d("2026-04-29"));
        assert_eq!(due(DayOfMonth(31), "2026-03-31"), d("2026-03-31"));
        assert_eq!(due(DayOfMonth(30), "2026-01-31"), d("2026-02-28"));
    }

    #[test]
    fn days_after_end_of_month_start_at_the_invoices_last_day() {
        assert_eq!(due(DaysAfterEndOfMonth(10), "2026-01-01"), d("2026-02-10"));
        assert_eq!(due(DaysAfterEndOfMonth(10), "2026-01-31"), d("2026-02-10"));
        assert_eq!(due(DaysAfterEndOfMonth(0), "2026-04-15"), d("2026-04-30"));
        assert_eq!(due(DaysAfterEndOfMonth(0), "2028-02-01"), d("2028-02-29"));
        assert_eq!(due(DaysAfterEndOfMonth(30), "2026-02-14"), d("2026-03-30"));
        assert_eq!(due(DaysAfterEndOfMonth(31), "2026-12-05"), d("2027-01-31"));
    }

    #[test]
    fn day_of_next_month_clamps_in_short_months() {
        assert_eq!(due(DayOfNextMonth(10), "2026-01-31"), d("2026-02-10"));
        assert_eq!(due(DayOfNextMonth(31), "2026-01-15"), d("2026-02-28"));
        assert_eq!(due(DayOfNextMonth(31), "2028-01-15"), d("2028-02-29"));
        assert_eq!(due(DayOfNextMonth(31), "2026-03-31"), d("2026-04-30"));
        assert_eq!(due(DayOfNextMonth(1), "2026-12-31"), d("2027-01-01"));
        assert_eq!(due(DayOfNextMonth(29), "2028-01-29"), d("2028-02-29"));
    }

    #[test]
    fn cash_on_delivery_is_due_at_delivery_never_before_the_invoice() {
        assert_eq!(CashOnDelivery.due_date(d("2026-05-31"), Some(d("2026-06-03")), 30), d("2026-06-03"));
        assert_eq!(CashOnDelivery.due_date(d("2026-05-31"), None, 30), d("2026-05-31"));
        assert_eq!(CashOnDelivery.due_date(d("2026-05-31"), Some(d("2026-05-20")), 30), d("2026-05-31"));
        assert_eq!(CashOnDelivery.due_date(d("2028-02-29"), Some(d("2028-02-29")), 30), d("2028-02-29"));
    }

    #[test]
    fn terms_outside_their_ranges_are_refused() {
        assert_eq!(DayOfMonth(0).validate(), Err(TermsError::DayOutOfRange));
        assert_eq!(DayOfNextMonth(32).validate(), Err(TermsError::DayOutOfRange));
        assert_eq!(NetDays(MAX_DAYS + 1).validate(), Err(TermsError::DaysOutOfRange));
        assert_eq!(DaysAfterEndOfMonth(MAX_DAYS + 1).validate(), Err(TermsError::DaysOutOfRange));
        assert_eq!(DayOfMonth(31).validate(), Ok(DayOfMonth(31)));
        assert_eq!(NetDays(0).validate(), Ok(NetDays(0)));
    }
}
