//! Billing cycles: how a subscription's time is cut into periods, when each
//! period is billed, and what a part of a period costs (proration by the
//! day).
//!
//! - A cycle lasts 1, 3, 6 or 12 months. Periods start on an anchor day of
//!   the month (1 to 31); in a month without that day, on the month's last
//!   day, and the next period goes back to the anchor day (an anchor of 31
//!   starts periods on 31 January, 28 February, 31 March).
//! - A subscription that starts on its anchor day has whole periods from
//!   its start. One that starts on another day (aligned to its account's
//!   anchor, or given one) first has a part period up to the next anchor
//!   day, prorated.
//! - A period is billed on its first day (in advance) or on the day after
//!   its last (in arrears).
//! - Day count: a period covers the days from its first day up to, not
//!   including, the next period's first day. The part of a period's amount
//!   for some of its days is amount × days ÷ the days of the whole period
//!   (its own length: 28 to 31 days for a month, 365 or 366 for a year),
//!   rounded once per invoice line to the currency's minor unit, half away
//!   from zero.
//! - A change takes effect on its day: the old terms are billed for the
//!   days before it, the new ones from it, so no day is billed twice.

use bss_platform::money::Currency;
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How long a period lasts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Cycle {
    #[default]
    Monthly,
    Quarterly,
    HalfYearly,
    Yearly,
}

impl Cycle {
    pub const ALL: [Cycle; 4] = [Cycle::Monthly, Cycle::Quarterly, Cycle::HalfYearly, Cycle::Yearly];

    pub fn months(self) -> u32 {
        match self {
            Cycle::Monthly => 1,
            Cycle::Quarterly => 3,
            Cycle::HalfYearly => 6,
            Cycle::Yearly => 12,
        }
    }

    /// The code a cycle is stored by.
    pub fn code(self) -> &'static str {
        match self {
            Cycle::Monthly => "MONTHLY",
            Cycle::Quarterly => "QUARTERLY",
            Cycle::HalfYearly => "HALF_YEARLY",
            Cycle::Yearly => "YEARLY",
        }
    }

    pub fn from_code(code: &str) -> Option<Cycle> {
        Cycle::ALL.into_iter().find(|cycle| cycle.code() == code)
    }

    /// The cycle of `months` (as stored: 1, 3, 6 or 12).
    pub fn from_months(months: i32) -> Option<Cycle> {
        Cycle::ALL.into_iter().find(|cycle| i64::from(cycle.months()) == i64::from(months))
    }
}

/// When a period is billed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Timing {
    /// On its first day, for the whole period.
    #[default]
    Advance,
    /// On the day after its last, for the days it was used.
    Arrears,
}

impl Timing {
    /// The code a timing is stored by.
    pub fn code(self) -> &'static str {
        match self {
            Timing::Advance => "ADVANCE",
            Timing::Arrears => "ARREARS",
        }
    }

    pub fn from_code(code: &str) -> Option<Timing> {
        [Timing::Advance, Timing::Arrears].into_iter().find(|timing| timing.code() == code)
    }
}

/// The day of the month periods start on: 1 to 31; in a shorter month, its
/// last day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct AnchorDay(u32);

impl AnchorDay {
    /// Refused (the rule said) unless `day` is 1 to 31.
    pub fn new(day: u32) -> Result<AnchorDay, &'static str> {
        if !(1..=31).contains(&day) {
            return Err("must be a day of the month, 1 to 31");
        }
        Ok(AnchorDay(day))
    }

    /// The day of the month of `date`: periods from it are whole.
    pub fn of(date: NaiveDate) -> AnchorDay {
        AnchorDay(date.day())
    }

    pub fn day(self) -> u32 {
        self.0
    }

    /// The anchor's date in the month `month` months after January of year
    /// 0: the anchor day, or the month's last day when it has fewer days.
    fn in_month(self, month: i64) -> Option<NaiveDate> {
        let year = i32::try_from(month.div_euclid(12)).ok()?;
        let month = u32::try_from(month.rem_euclid(12)).ok()? + 1;
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
        first.with_day(self.0.min(last.day()))
    }
}

impl TryFrom<u32> for AnchorDay {
    type Error = &'static str;

    fn try_from(day: u32) -> Result<AnchorDay, &'static str> {
        AnchorDay::new(day)
    }
}

impl From<AnchorDay> for u32 {
    fn from(anchor: AnchorDay) -> u32 {
        anchor.0
    }
}

/// The month of `date`, counted from January of year 0.
fn month_of(date: NaiveDate) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// A billing period: from `start` up to, not including, `end` (the next
/// period's first day), and how many days the whole period it is (a part
/// of) has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub whole_days: i64,
}

impl Span {
    /// The days it covers.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// Whether it is only a part of a period (a first period up to the
    /// anchor).
    pub fn is_part(&self) -> bool {
        self.days() < self.whole_days
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// Its last day.
    pub fn last_day(&self) -> Option<NaiveDate> {
        self.end.pred_opt()
    }

    /// The first day of it not run by a subscription ending (cancelled)
    /// on `end`: its end, or `end` when within it (its start when before).
    pub fn ended_by(&self, end: Option<NaiveDate>) -> NaiveDate {
        end.map_or(self.end, |end| end.clamp(self.start, self.end))
    }

    /// The days from `from` (a day of it) to its end: what a change on
    /// `from` bills on the new terms.
    pub fn days_from(&self, from: NaiveDate) -> i64 {
        (self.end - from.clamp(self.start, self.end)).num_days()
    }
}

/// How a subscription's time is cut into periods: its cycle, its anchor
/// day and the day it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub cycle: Cycle,
    pub anchor: AnchorDay,
    pub start: NaiveDate,
}

impl Schedule {
    /// The index of the first whole period (1 after a part period up to
    /// the anchor, else 0): a fixed term counts whole periods from it.
    pub fn first_whole(&self) -> Option<u32> {
        Some(u32::from(self.starts_with_part()?))
    }

    /// Whole periods from `start` on (its own day is the anchor).
    pub fn from_start(cycle: Cycle, start: NaiveDate) -> Schedule {
        Schedule { cycle, anchor: AnchorDay::of(start), start }
    }

    /// The month of the first anchor date on or after the start.
    fn first_anchor_month(&self) -> Option<i64> {
        let month = month_of(self.start);
        if self.anchor.in_month(month)? >= self.start { Some(month) } else { Some(month + 1) }
    }

    /// The anchor date `k` cycles after the first one on or after the start
    /// (`k` may be -1: the start of the whole period a part period belongs
    /// to).
    fn boundary(&self, k: i64) -> Option<NaiveDate> {
        self.anchor.in_month(self.first_anchor_month()? + k * i64::from(self.cycle.months()))
    }

    /// Whether the first period is a part period (the start is not on an
    /// anchor date).
    pub fn starts_with_part(&self) -> Option<bool> {
        Some(self.boundary(0)? > self.start)
    }

    /// Period `index` (0 is the first).
    /// Whether a change scheduled for `on` is applied by `date` with
    /// `charged` periods charged: its day has come and every period before
    /// it is charged (the next to charge starts on or after it), so the
    /// periods it covers are charged at its terms and none before it is.
    pub fn change_ready(&self, charged: u32, on: NaiveDate, date: NaiveDate) -> bool {
        on <= date && self.period(charged).is_some_and(|next| next.start >= on)
    }

    pub fn period(&self, index: u32) -> Option<Span> {
        let index = i64::from(index);
        if self.starts_with_part()? {
            if index == 0 {
                let end = self.boundary(0)?;
                let whole_days = (end - self.boundary(-1)?).num_days();
                return Some(Span { start: self.start, end, whole_days });
            }
            return self.whole(index - 1);
        }
        self.whole(index)
    }

    /// The whole period from anchor date `k` to `k + 1`.
    fn whole(&self, k: i64) -> Option<Span> {
        let (start, end) = (self.boundary(k)?, self.boundary(k + 1)?);
        Some(Span { start, end, whole_days: (end - start).num_days() })
    }

    /// The period `date` falls in, with its index; none before the start.
    pub fn period_on(&self, date: NaiveDate) -> Option<(u32, Span)> {
        if date < self.start {
            return None;
        }
        // Months since the first anchor date, in whole cycles: the period
        // found or the one before it (a month's anchor date may clamp).
        let part = u32::from(self.starts_with_part()?);
        let months = month_of(date) - self.first_anchor_month()?;
        let guess = u32::try_from(months.div_euclid(i64::from(self.cycle.months())).max(0)).ok()?;
        let mut index = (guess + part).saturating_sub(1);
        loop {
            let span = self.period(index)?;
            if span.contains(date) {
                return Some((index, span));
            }
            index = index.checked_add(1)?;
        }
    }

    /// The day period `index` is billed: its first day in advance, the day
    /// after its last in arrears; a period cut short by `ends_on` (the
    /// first day not charged: a cancellation's) is billed in arrears on
    /// that day, and one starting on it or later never (none). The SQL
    /// function `billing.bill_on` is the same rule; a test compares them.
    pub fn billed_on(&self, index: u32, timing: Timing, ends_on: Option<NaiveDate>) -> Option<NaiveDate> {
        let span = self.period(index)?;
        if ends_on.is_some_and(|end| span.start >= end) {
            return None;
        }
        Some(match timing {
            Timing::Advance => span.start,
            Timing::Arrears => ends_on.map_or(span.end, |end| end.min(span.end)),
        })
    }

    /// The periods to bill on `date`, by index, from `billed` on (the
    /// periods before were billed): each [billed on](Schedule::billed_on)
    /// `date` or before.
    pub fn due(&self, billed: u32, timing: Timing, date: NaiveDate, ends_on: Option<NaiveDate>) -> Vec<(u32, Span)> {
        (billed..)
            .map_while(|index| {
                self.billed_on(index, timing, ends_on).filter(|day| *day <= date)?;
                Some((index, self.period(index)?))
            })
            .collect()
    }
}

/// What `days` of a period cost when the whole period costs `amount`:
/// amount × days ÷ `whole_days`, rounded to the currency's minor unit, half
/// away from zero. The product is exact; the quotient has 28 significant
/// digits before that one rounding.
pub fn prorate(amount: Decimal, days: i64, whole_days: i64, currency: Currency) -> Decimal {
    if days == whole_days || whole_days <= 0 {
        return currency.round(amount);
    }
    currency.round(amount * Decimal::from(days) / Decimal::from(whole_days))
}

/// What a change on `on`, a day of `period` billed in advance at `old`,
/// bills: a credit for the old amount's days from `on` to the period's end,
/// and a charge for the new amount over the same days. Each prorated by
/// [`prorate`] (for a part period, against its whole period's days, as it
/// was charged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The days from the change to the period's end.
    pub days: i64,
    /// The unused part of the old amount (zero or more).
    pub credit: Decimal,
    /// The new amount for those days (zero or more).
    pub charge: Decimal,
}

pub fn change(period: &Span, on: NaiveDate, old: Decimal, new: Decimal, currency: Currency) -> Change {
    let days = period.days_from(on);
    Change {
        days,
        credit: prorate(old, days, period.whole_days, currency),
        charge: prorate(new, days, period.whole_days, currency),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().expect("date")
    }

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    fn span(schedule: &Schedule, index: u32) -> (NaiveDate, NaiveDate, i64) {
        let span = schedule.period(index).expect("period");
        (span.start, span.end, span.whole_days)
    }

    #[test]
    fn a_scheduled_change_waits_for_its_day_and_the_periods_before_it() {
        // Monthly from 15 January; a change for 15 March.
        let schedule = Schedule::from_start(Cycle::Monthly, day("2026-01-15"));
        let march = day("2026-03-15");
        assert!(!schedule.change_ready(2, march, day("2026-03-14")), "before its day");
        assert!(schedule.change_ready(2, march, march), "its day, January and February charged");
        assert!(!schedule.change_ready(1, march, day("2026-04-01")), "February not charged yet");
        assert!(schedule.change_ready(3, march, day("2026-04-01")), "March charged ahead: from April");
    }

    #[test]
    fn a_cancellation_ends_a_period_on_its_day() {
        let november = Span { start: day("2026-11-01"), end: day("2026-12-01"), whole_days: 30 };
        assert_eq!(november.ended_by(None), day("2026-12-01"));
        assert_eq!(november.ended_by(Some(day("2026-11-10"))), day("2026-11-10"));
        assert_eq!(november.ended_by(Some(day("2027-01-01"))), day("2026-12-01"), "after it: whole");
        assert_eq!(november.ended_by(Some(day("2026-10-01"))), day("2026-11-01"), "before it: none of it");
    }

    #[test]
    fn a_cycle_is_stored_by_its_code() {
        for cycle in Cycle::ALL {
            assert_eq!(Cycle::from_code(cycle.code()), Some(cycle));
            assert_eq!(serde_json::to_value(cycle).expect("json"), serde_json::json!(cycle.code()));
        }
        assert_eq!(Cycle::from_code("WEEKLY"), None);
        assert_eq!(Timing::from_code("ARREARS"), Some(Timing::Arrears));
        assert_eq!(AnchorDay::new(0), Err("must be a day of the month, 1 to 31"));
        assert!(AnchorDay::new(32).is_err());
        assert!(serde_json::from_str::<AnchorDay>("40").is_err(), "a stored anchor is checked when read");
    }

    #[test]
    fn whole_periods_run_from_the_start_and_month_end_anchors_clamp_without_drifting() {
        let schedule = Schedule::from_start(Cycle::Monthly, day("2026-01-31"));
        assert_eq!(span(&schedule, 0), (day("2026-01-31"), day("2026-02-28"), 28));
        assert_eq!(span(&schedule, 1), (day("2026-02-28"), day("2026-03-31"), 31), "back to the 31st");
        assert_eq!(span(&schedule, 2), (day("2026-03-31"), day("2026-04-30"), 30));
        let leap = Schedule::from_start(Cycle::Quarterly, day("2027-11-30"));
        assert_eq!(span(&leap, 0), (day("2027-11-30"), day("2028-02-29"), 91), "a leap February's last day");
        assert_eq!(span(&leap, 1), (day("2028-02-29"), day("2028-05-30"), 91));
        let yearly = Schedule::from_start(Cycle::Yearly, day("2028-02-29"));
        assert_eq!(span(&yearly, 0), (day("2028-02-29"), day("2029-02-28"), 365));
        assert_eq!(span(&yearly, 3), (day("2031-02-28"), day("2032-02-29"), 366));
        let half = Schedule::from_start(Cycle::HalfYearly, day("2026-03-15"));
        assert_eq!(span(&half, 1), (day("2026-09-15"), day("2027-03-15"), 181));
    }

    #[test]
    fn a_start_off_the_anchor_gets_a_part_period_up_to_it_prorated_against_the_whole() {
        let anchor = AnchorDay::new(1).expect("anchor");
        let monthly = Schedule { cycle: Cycle::Monthly, anchor, start: day("2026-03-20") };
        let first = monthly.period(0).expect("period");
        assert_eq!(
            (first.start, first.end, first.days(), first.whole_days),
            (day("2026-03-20"), day("2026-04-01"), 12, 31)
        );
        assert!(first.is_part());
        assert_eq!(span(&monthly, 1), (day("2026-04-01"), day("2026-05-01"), 30));
        // 12 of March's 31 days of 31.00: 12.00; of 10.00: 3.870967... = 3.87.
        assert_eq!(prorate(dec!(31.00), first.days(), first.whole_days, eur()), dec!(12.00));
        assert_eq!(prorate(dec!(10.00), first.days(), first.whole_days, eur()), dec!(3.87));

        let yearly = Schedule { cycle: Cycle::Yearly, anchor, start: day("2026-03-20") };
        let first = yearly.period(0).expect("period");
        assert_eq!((first.end, first.days(), first.whole_days), (day("2026-04-01"), 12, 365));
        assert_eq!(span(&yearly, 1), (day("2026-04-01"), day("2027-04-01"), 365));
        assert_eq!(prorate(dec!(1200.00), 12, 365, eur()), dec!(39.45), "39.4520...");

        // An anchor of the 31st from 10 February: up to February's last day.
        let clamped =
            Schedule { cycle: Cycle::Monthly, anchor: AnchorDay::new(31).expect("anchor"), start: day("2026-02-10") };
        assert_eq!(span(&clamped, 0), (day("2026-02-10"), day("2026-02-28"), 28));
        assert_eq!(span(&clamped, 1), (day("2026-02-28"), day("2026-03-31"), 31));
        // Starting on the clamped anchor date itself: no part period.
        let on_anchor = Schedule { start: day("2026-02-28"), ..clamped };
        assert!(!on_anchor.period(0).expect("period").is_part());
    }

    #[test]
    fn periods_are_billed_on_their_first_day_in_advance_and_after_their_last_in_arrears() {
        let schedule = Schedule::from_start(Cycle::Monthly, day("2026-01-15"));
        assert_eq!(schedule.billed_on(0, Timing::Advance, None), Some(day("2026-01-15")));
        assert_eq!(schedule.billed_on(0, Timing::Arrears, None), Some(day("2026-02-15")));
        assert_eq!(
            schedule.billed_on(1, Timing::Arrears, Some(day("2026-03-01"))),
            Some(day("2026-03-01")),
            "cut short"
        );
        assert_eq!(schedule.billed_on(2, Timing::Advance, Some(day("2026-03-15"))), None, "starts on the end");
        let indexes = |due: Vec<(u32, Span)>| due.into_iter().map(|(index, _)| index).collect::<Vec<_>>();
        assert_eq!(indexes(schedule.due(0, Timing::Advance, day("2026-03-15"), None)), vec![0, 1, 2]);
        assert_eq!(indexes(schedule.due(0, Timing::Arrears, day("2026-03-15"), None)), vec![0, 1]);
        assert_eq!(indexes(schedule.due(2, Timing::Arrears, day("2026-03-15"), None)), Vec::<u32>::new(), "billed");
        assert_eq!(
            indexes(schedule.due(0, Timing::Advance, day("2026-01-14"), None)),
            Vec::<u32>::new(),
            "not started"
        );
        // Cancelled from 1 March: the period starting 15 February is the
        // last; in arrears it is billed on 1 March, cut short.
        let ends = Some(day("2026-03-01"));
        assert_eq!(indexes(schedule.due(0, Timing::Advance, day("2026-06-01"), ends)), vec![0, 1]);
        assert_eq!(indexes(schedule.due(1, Timing::Arrears, day("2026-02-28"), ends)), Vec::<u32>::new());
        assert_eq!(indexes(schedule.due(1, Timing::Arrears, day("2026-03-01"), ends)), vec![1]);
    }

    #[test]
    fn a_change_credits_the_old_terms_and_charges_the_new_for_the_same_days() {
        // Upgrade from 30.00 to 45.00 on 11 April: 20 of April's 30 days.
        let schedule = Schedule::from_start(Cycle::Monthly, day("2026-04-01"));
        let april = schedule.period(0).expect("period");
        let upgrade = change(&april, day("2026-04-11"), dec!(30.00), dec!(45.00), eur());
        assert_eq!(upgrade, Change { days: 20, credit: dec!(20.00), charge: dec!(30.00) });
        // On the period's first day the whole amount changes hands.
        let whole = change(&april, day("2026-04-01"), dec!(30.00), dec!(45.00), eur());
        assert_eq!((whole.credit, whole.charge), (dec!(30.00), dec!(45.00)));
        // Cancelled now on 1 May of a yearly 1,200.00 plan from 1 January:
        // 245 of 365 days unused.
        let yearly = Schedule::from_start(Cycle::Yearly, day("2026-01-01"));
        let year = yearly.period(0).expect("period");
        let cancel = change(&year, day("2026-05-01"), dec!(1200.00), Decimal::ZERO, eur());
        assert_eq!((cancel.days, cancel.credit, cancel.charge), (245, dec!(805.48), dec!(0.00)), "805.479...");
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_minor_unit() {
        // 0.05 × 1 ÷ 2 = 0.025: 0.03; in a currency without minor units,
        // 5 × 1 ÷ 2 = 2.5: 3.
        assert_eq!(prorate(dec!(0.05), 1, 2, eur()), dec!(0.03));
        assert_eq!(prorate(dec!(5), 1, 2, Currency::parse("JPY").expect("JPY")), dec!(3));
        assert_eq!(prorate(dec!(10), 30, 30, eur()).to_string(), "10.00", "whole: the amount at the currency's scale");
    }

    /// Random schedules from 1999 to 2040: periods follow each other with
    /// no gap and no overlap; each whole period starts on the anchor day or
    /// its month's last day and lasts the cycle's months; the period found
    /// for a day is the one that holds it; a change's days split the
    /// period with the days before it, and the credit and charge of a
    /// change to the same amount cancel out.
    #[test]
    fn periods_tile_time_on_their_anchor_for_random_schedules() {
        let mut random = bss_testkit::seeded(0x0005_eedc_1c1e);
        for _ in 0..2_000 {
            let cycle = Cycle::ALL[random(4) as usize];
            let anchor = AnchorDay::new(1 + random(31) as u32).expect("anchor");
            let start = day("1999-01-01") + chrono::Duration::days(random(15_000) as i64);
            let schedule = Schedule { cycle, anchor, start };
            let mut previous_end = start;
            for index in 0..30 {
                let span = schedule.period(index).expect("period");
                assert_eq!(span.start, previous_end, "{schedule:?} period {index} follows the one before");
                assert!(span.days() > 0 && span.days() <= span.whole_days, "{schedule:?} {span:?}");
                if index > 0 || !span.is_part() {
                    let month_last = span.start.succ_opt().is_some_and(|next| next.month() != span.start.month());
                    assert!(span.start.day() == anchor.day() || month_last, "{schedule:?} {span:?}");
                    assert_eq!(
                        month_of(span.end) - month_of(span.start),
                        i64::from(cycle.months()),
                        "{schedule:?} {span:?}"
                    );
                    assert_eq!(span.days(), span.whole_days);
                }
                let inside = span.start + chrono::Duration::days(random(span.days() as u64) as i64);
                assert_eq!(schedule.period_on(inside), Some((index, span)), "{schedule:?} on {inside}");
                let before = (inside - span.start).num_days();
                assert_eq!(before + span.days_from(inside), span.days(), "the days before a change and from it");
                let same = change(&span, inside, dec!(99.99), dec!(99.99), eur());
                assert_eq!(same.credit, same.charge);
                previous_end = span.end;
            }
            assert_eq!(schedule.period_on(start.pred_opt().expect("date")), None);
        }
    }
}
