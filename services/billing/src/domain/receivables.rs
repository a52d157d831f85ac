//! What accounts owe over time: the aging of open invoices, and an
//! account's balance at the end of each day.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::period::Posting;

/// How far past its due date an open invoice is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Age {
    /// Not past due yet: due today or later, or with no due date.
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90Days,
}

impl Age {
    /// The age of an invoice due on `due` (none: never past due), counted
    /// to `today`: one day past due on the day after its due date.
    pub fn of(due: Option<NaiveDate>, today: NaiveDate) -> Age {
        let Some(due) = due else {
            return Age::Current;
        };
        match (today - due).num_days() {
            ..=0 => Age::Current,
            1..=30 => Age::Days1To30,
            31..=60 => Age::Days31To60,
            61..=90 => Age::Days61To90,
            _ => Age::Over90Days,
        }
    }
}

/// What open invoices in one currency owe, by age. Amounts are exact sums
/// of what each invoice still owes (no rounding).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aging {
    pub current: Decimal,
    pub days_1_to_30: Decimal,
    pub days_31_to_60: Decimal,
    pub days_61_to_90: Decimal,
    pub over_90_days: Decimal,
    pub open_invoices: i64,
}

impl Aging {
    /// Adds `invoices` invoices due on `due` that still owe `open` in all.
    pub fn add(&mut self, due: Option<NaiveDate>, today: NaiveDate, open: Decimal, invoices: i64) {
        let bucket = match Age::of(due, today) {
            Age::Current => &mut self.current,
            Age::Days1To30 => &mut self.days_1_to_30,
            Age::Days31To60 => &mut self.days_31_to_60,
            Age::Days61To90 => &mut self.days_61_to_90,
            Age::Over90Days => &mut self.over_90_days,
        };
        *bucket += open;
        self.open_invoices += invoices;
    }

    /// Everything still owed.
    pub fn total(&self) -> Decimal {
        self.current + self.days_1_to_30 + self.days_31_to_60 + self.days_61_to_90 + self.over_90_days
    }
}

/// The aging of each currency owed in, from (currency, due date, owed,
/// invoices) rows, counted to `today`; currencies in the order they first
/// come.
pub fn aging_by_currency<C: PartialEq>(
    open: impl IntoIterator<Item = (C, Option<NaiveDate>, Decimal, i64)>,
    today: NaiveDate,
) -> Vec<(C, Aging)> {
    let mut agings: Vec<(C, Aging)> = Vec::new();
    for (currency, due, owed, invoices) in open {
        let at = match agings.iter().position(|(known, _)| *known == currency) {
            Some(at) => at,
            None => {
                agings.push((currency, Aging::default()));
                agings.len() - 1
            }
        };
        agings[at].1.add(due, today, owed, invoices);
    }
    agings
}

/// The balance at the end of each day from `from` to `to`: everything
/// posted up to that day. `postings` are (day, kind, amount), in any
/// order; those after `to` are ignored.
pub fn daily_balances(
    postings: &[(NaiveDate, Posting, Decimal)],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(NaiveDate, Decimal)> {
    let mut moved: Vec<(NaiveDate, Decimal)> = postings
        .iter()
        .filter(|(day, _, _)| *day <= to)
        .map(|(day, kind, amount)| (*day, kind.owed(*amount)))
        .collect();
    moved.sort_by_key(|(day, _)| *day);
    let mut moves = moved.into_iter().peekable();
    let mut balance = Decimal::ZERO;
    let mut points = Vec::new();
    for day in from.iter_days().take_while(|day| *day <= to) {
        while let Some((_, owed)) = moves.next_if(|(posted, _)| *posted <= day) {
            balance += owed;
        }
        points.push((day, balance));
    }
    points
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("valid")
    }

    #[test]
    fn an_invoice_is_current_until_the_day_after_its_due_date() {
        let today = date("2026-12-03");
        assert_eq!(Age::of(None, today), Age::Current);
        assert_eq!(Age::of(Some(date("2026-12-10")), today), Age::Current);
        assert_eq!(Age::of(Some(today), today), Age::Current);
        assert_eq!(Age::of(Some(date("2026-12-02")), today), Age::Days1To30);
        assert_eq!(Age::of(Some(date("2026-11-03")), today), Age::Days1To30, "30 days");
        assert_eq!(Age::of(Some(date("2026-11-02")), today), Age::Days31To60, "31 days");
        assert_eq!(Age::of(Some(date("2026-10-04")), today), Age::Days31To60, "60 days");
        assert_eq!(Age::of(Some(date("2026-10-03")), today), Age::Days61To90, "61 days");
        assert_eq!(Age::of(Some(date("2026-09-04")), today), Age::Days61To90, "90 days");
        assert_eq!(Age::of(Some(date("2026-09-03")), today), Age::Over90Days, "91 days");
    }

    #[test]
    fn aging_sums_what_each_invoice_still_owes_into_its_bucket() {
        let today = date("2026-12-03");
        let mut aging = Aging::default();
        aging.add(Some(date("2026-12-31")), today, dec!(100.10), 2);
        aging.add(None, today, dec!(0.05), 1);
        aging.add(Some(date("2026-11-20")), today, dec!(40.00), 1);
        aging.add(Some(date("2026-11-21")), today, dec!(2.50), 1);
        aging.add(Some(date("2026-06-30")), today, dec!(999.99), 3);
        assert_eq!(aging.current, dec!(100.15));
        assert_eq!(aging.days_1_to_30, dec!(42.50));
        assert_eq!(aging.days_31_to_60, dec!(0));
        assert_eq!(aging.days_61_to_90, dec!(0));
        assert_eq!(aging.over_90_days, dec!(999.99));
        assert_eq!(aging.total(), dec!(1142.64));
        assert_eq!(aging.open_invoices, 8);
    }

    #[test]
    fn each_currency_is_aged_apart() {
        let today = date("2026-12-03");
        let open = [
            ("EUR", Some(date("2026-12-31")), dec!(10.00), 1),
            ("USD", Some(date("2026-08-01")), dec!(7.25), 2),
            ("EUR", Some(date("2026-11-30")), dec!(3.50), 1),
        ];
        let agings = aging_by_currency(open, today);
        assert_eq!(agings.iter().map(|(currency, _)| *currency).collect::<Vec<_>>(), ["EUR", "USD"]);
        let (_, euros) = &agings[0];
        assert_eq!(
            (euros.current, euros.days_1_to_30, euros.total(), euros.open_invoices),
            (dec!(10.00), dec!(3.50), dec!(13.50), 2)
        );
        let (_, dollars) = &agings[1];
        assert_eq!((dollars.over_90_days, dollars.total(), dollars.open_invoices), (dec!(7.25), dec!(7.25), 2));
        assert!(aging_by_currency(Vec::<(&str, _, _, _)>::new(), today).is_empty());
    }

    #[test]
    fn each_day_closes_with_everything_posted_up_to_it() {
        let postings = [
            (date("2026-11-30"), Posting::Payment, dec!(10.00)),
            (date("2026-11-01"), Posting::Invoice, dec!(110.00)),
            (date("2026-12-02"), Posting::CreditNote, dec!(5.25)),
            (date("2026-12-02"), Posting::Refund, dec!(1.00)),
            (date("2026-12-04"), Posting::Invoice, dec!(50.00)),
            (date("2026-12-09"), Posting::WriteOff, dec!(95.75)),
        ];
        let points = daily_balances(&postings, date("2026-12-01"), date("2026-12-04"));
        assert_eq!(
            points,
            vec![
                (date("2026-12-01"), dec!(100.00)),
                (date("2026-12-02"), dec!(95.75)),
                (date("2026-12-03"), dec!(95.75)),
                (date("2026-12-04"), dec!(145.75)),
            ]
        );
        assert_eq!(daily_balances(&[], date("2026-12-01"), date("2026-12-01")), vec![(date("2026-12-01"), dec!(0))]);
    }
}
