//! An account's exposure and what follows from it: available credit, the
//! credit limit status, the notification thresholds crossed, and automatic
//! suspension.
//!
//! Signs: a positive balance means the account owes; a negative one that it
//! paid ahead. Exposure = balance + open reservations. Available credit =
//! limit - exposure. A limit of 0 means the account may never owe; a
//! negative limit that it must pay ahead first.

use rust_decimal::Decimal;

/// An account's credit position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    pub balance: Decimal,
    pub reserved: Decimal,
    /// `None` when the account's credit is unlimited.
    pub limit: Option<Decimal>,
}

/// Whether exposure is already over the limit [S4].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitStatus {
    NotExceeded,
    Exceeded,
}

impl Exposure {
    pub fn total(&self) -> Decimal {
        self.balance + self.reserved
    }

    /// What more the account may owe; `None` when unlimited. Negative when
    /// exposure is over the limit.
    pub fn available(&self) -> Option<Decimal> {
        self.limit.map(|limit| limit - self.total())
    }

    /// Whether reserving `amount` more would take exposure over the limit.
    pub fn would_exceed(&self, amount: Decimal) -> bool {
        self.limit.is_some_and(|limit| self.total() + amount > limit)
    }

    pub fn status(&self) -> LimitStatus {
        match self.limit {
            Some(limit) if self.total() > limit => LimitStatus::Exceeded,
            _ => LimitStatus::NotExceeded,
        }
    }
}

/// The notification thresholds (percentages of the limit used) that a move
/// of exposure from `before` to `after` crosses upwards. A threshold is
/// crossed once per rise through it: falling below it re-arms it.
/// Nothing is crossed for an unlimited account or a limit of 0 or below,
/// where a percentage of the limit means nothing.
pub fn thresholds_crossed(
    limit: Option<Decimal>,
    thresholds: &[Decimal],
    before: Decimal,
    after: Decimal,
) -> Vec<Decimal> {
    let Some(limit) = limit.filter(|limit| limit.is_sign_positive() && !limit.is_zero()) else {
        return Vec::new();
    };
    thresholds
        .iter()
        .copied()
        .filter(|percent| {
            let level = limit * percent / Decimal::ONE_HUNDRED;
            before < level && level <= after
        })
        .collect()
}

/// Whether a move of exposure from `before` to `after` passes the limit by
/// more than `over_percent` (of the limit; of its absolute value for a
/// negative limit, and by any amount over a limit of 0), for the first time.
pub fn suspension_due(limit: Option<Decimal>, over_percent: Option<Decimal>, before: Decimal, after: Decimal) -> bool {
    let (Some(limit), Some(percent)) = (limit, over_percent) else {
        return false;
    };
    let line = limit + limit.abs() * percent / Decimal::ONE_HUNDRED;
    before <= line && after > line
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn available_credit_is_limit_less_balance_and_reservations() {
        let exposure = Exposure { balance: dec!(250.10), reserved: dec!(100), limit: Some(dec!(1000)) };
        assert_eq!(exposure.available(), Some(dec!(649.90)));
        assert!(!exposure.would_exceed(dec!(649.90)));
        assert!(exposure.would_exceed(dec!(649.91)));
        assert_eq!(exposure.status(), LimitStatus::NotExceeded);
    }

    #[test]
    fn a_prepaid_balance_adds_to_available_credit() {
        let exposure = Exposure { balance: dec!(-50), reserved: dec!(0), limit: Some(dec!(0)) };
        assert_eq!(exposure.available(), Some(dec!(50)));
        assert!(!exposure.would_exceed(dec!(50)));
        assert!(exposure.would_exceed(dec!(50.01)));
    }

    #[test]
    fn a_zero_or_negative_limit_allows_no_debt() {
        let zero = Exposure { balance: dec!(0), reserved: dec!(0), limit: Some(dec!(0)) };
        assert!(zero.would_exceed(dec!(0.01)));
        let must_prepay = Exposure { balance: dec!(-100), reserved: dec!(0), limit: Some(dec!(-200)) };
        assert_eq!(must_prepay.status(), LimitStatus::Exceeded);
        assert_eq!(must_prepay.available(), Some(dec!(-100)));
    }

    #[test]
    fn unlimited_credit_is_never_exceeded() {
        let exposure = Exposure { balance: dec!(1_000_000_000), reserved: dec!(1_000_000_000), limit: None };
        assert_eq!(exposure.available(), None);
        assert!(!exposure.would_exceed(dec!(1_000_000_000_000)));
        assert_eq!(exposure.status(), LimitStatus::NotExceeded);
    }

    #[test]
    fn the_status_reads_exceeded_only_once_exposure_is_over_the_limit() {
        let at = Exposure { balance: dec!(600), reserved: dec!(400), limit: Some(dec!(1000)) };
        assert_eq!(at.status(), LimitStatus::NotExceeded);
        let over = Exposure { reserved: dec!(400.01), ..at };
        assert_eq!(over.status(), LimitStatus::Exceeded);
    }

    #[test]
    fn each_threshold_is_crossed_once_per_rise() {
        let thresholds = [dec!(50), dec!(75), dec!(90), dec!(100)];
        let limit = Some(dec!(1000));
        assert_eq!(thresholds_crossed(limit, &thresholds, dec!(0), dec!(499.99)), Vec::<Decimal>::new());
        assert_eq!(thresholds_crossed(limit, &thresholds, dec!(0), dec!(500)), vec![dec!(50)]);
        assert_eq!(thresholds_crossed(limit, &thresholds, dec!(500), dec!(950)), vec![dec!(75), dec!(90)]);
        // Staying above, or falling, crosses nothing; rising again does.
        assert!(thresholds_crossed(limit, &thresholds, dec!(950), dec!(960)).is_empty());
        assert!(thresholds_crossed(limit, &thresholds, dec!(960), dec!(100)).is_empty());
        assert_eq!(thresholds_crossed(limit, &thresholds, dec!(100), dec!(1200)).len(), 4);
        assert!(thresholds_crossed(None, &thresholds, dec!(0), dec!(1_000_000_000)).is_empty());
        assert!(thresholds_crossed(Some(dec!(0)), &thresholds, dec!(0), dec!(5)).is_empty());
    }

    #[test]
    fn suspension_is_due_once_when_exposure_passes_the_limit_by_the_percentage() {
        let limit = Some(dec!(1000));
        assert!(!suspension_due(limit, Some(dec!(10)), dec!(0), dec!(1100)));
        assert!(suspension_due(limit, Some(dec!(10)), dec!(0), dec!(1100.01)));
        assert!(!suspension_due(limit, Some(dec!(10)), dec!(1200), dec!(1300)));
        assert!(!suspension_due(limit, None, dec!(0), dec!(5000)));
        assert!(!suspension_due(None, Some(dec!(10)), dec!(0), dec!(5000)));
        assert!(suspension_due(Some(dec!(0)), Some(dec!(10)), dec!(0), dec!(0.01)));
    }
}
