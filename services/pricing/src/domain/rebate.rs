//! Rebates on invoiced turnover: tiers in scale mode (each band at its own
//! rate) or continuous mode (everything at the rate of the highest tier
//! reached), and the calendar periods they are computed for.

use bss_platform::money::Currency;
use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::PricingError;

/// A rebate term of a contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebateTerm {
    pub id: Uuid,
    pub contract_id: Uuid,
    pub scope: Scope,
    pub period: Period,
    pub mode: Mode,
    pub tiers: Vec<Tier>,
}

/// Which invoiced items a rebate counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    AllInvoicedItems,
    /// The products of this pricelist.
    PricelistProducts(Uuid),
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AllInvoicedItems => "all_invoiced_items",
            Scope::PricelistProducts(_) => "pricelist_products",
        }
    }

    pub fn pricelist_id(self) -> Option<Uuid> {
        match self {
            Scope::AllInvoicedItems => None,
            Scope::PricelistProducts(id) => Some(id),
        }
    }

    pub fn from_stored(value: &str, pricelist_id: Option<Uuid>) -> Option<Scope> {
        match (value, pricelist_id) {
            ("all_invoiced_items", None) => Some(Scope::AllInvoicedItems),
            ("pricelist_products", Some(id)) => Some(Scope::PricelistProducts(id)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each band of the turnover at its own tier's rate.
    Scale,
    /// The whole turnover at the rate of the highest tier it reaches.
    Continuous,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Scale => "scale",
            Mode::Continuous => "continuous",
        }
    }

    pub fn from_stored(value: &str) -> Option<Mode> {
        match value {
            "scale" => Some(Mode::Scale),
            "continuous" => Some(Mode::Continuous),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
    HalfYear,
    Year,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::HalfYear => "half_year",
            Period::Year => "year",
        }
    }

    pub fn from_stored(value: &str) -> Option<Period> {
        match value {
            "month" => Some(Period::Month),
            "quarter" => Some(Period::Quarter),
            "half_year" => Some(Period::HalfYear),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    /// The first and last day of the period containing `day`.
    pub fn around(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let months = match self {
            Period::Month => 1,
            Period::Quarter => 3,
            Period::HalfYear => 6,
            Period::Year => 12,
        };
        let first_month = (day.month0() / months) * months + 1;
        let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
        let next = start.checked_add_months(chrono::Months::new(months)).unwrap_or(start);
        (start, next.pred_opt().unwrap_or(next))
    }
}

/// A tier: from `from` on, `rate_percent` applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub from: Decimal,
    pub rate_percent: Decimal,
}

/// Tiers start at zero or more, rise strictly, and have rates of 0 to 100.
pub fn check_tiers(tiers: &[Tier]) -> Result<(), String> {
    if tiers.is_empty() {
        return Err("at least one tier".to_owned());
    }
    if tiers.iter().any(|tier| {
        tier.from.is_sign_negative() || tier.rate_percent < Decimal::ZERO || tier.rate_percent > Decimal::ONE_HUNDRED
    }) {
        return Err("tiers start at zero or more and have rates of 0 to 100".to_owned());
    }
    if tiers.windows(2).any(|pair| pair[1].from <= pair[0].from) {
        return Err("tiers must be given in increasing order of their start".to_owned());
    }
    Ok(())
}

/// One band of a computed rebate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub rate_percent: Decimal,
    pub base: Decimal,
    pub amount: Decimal,
}

/// Refuses a rebate for an account outside the contract (nor priced as a
/// member of it: ACCOUNT_NOT_IN_CONTRACT) or for a period the contract
/// does not reach (CONTRACT_NOT_IN_FORCE).
pub fn check_applies(
    contract: &crate::domain::book::Contract,
    members: &[Uuid],
    (account_id, priced_as): (Uuid, Uuid),
    (start, end): (NaiveDate, NaiveDate),
) -> Result<(), PricingError> {
    if !members.contains(&account_id) && !members.contains(&priced_as) {
        return Err(PricingError::precondition(
            "ACCOUNT_NOT_IN_CONTRACT",
            format!("account {account_id} is not in contract {:?}", contract.name),
        ));
    }
    if !crate::domain::catalog::overlaps((start, Some(end)), (contract.start, Some(contract.expiry))) {
        return Err(PricingError::precondition(
            "CONTRACT_NOT_IN_FORCE",
            format!(
                "contract {:?} runs from {} to {}, outside the period {start} to {end}",
                contract.name, contract.start, contract.expiry
            ),
        ));
    }
    Ok(())
}

/// The rebate of `turnover` under `tiers`: its bands (each rounded half away
/// from zero to the currency's minor unit) and their sum.
pub fn compute(turnover: Decimal, tiers: &[Tier], mode: Mode, currency: Currency) -> (Decimal, Vec<Band>) {
    let bands: Vec<Band> = match mode {
        Mode::Continuous => tiers
            .iter()
            .rev()
            .find(|tier| tier.from <= turnover)
            .map(|tier| {
                let amount = currency.round(turnover * tier.rate_percent / Decimal::ONE_HUNDRED);
                vec![Band { from: tier.from, to: None, rate_percent: tier.rate_percent, base: turnover, amount }]
            })
            .unwrap_or_default(),
        Mode::Scale => tiers
            .iter()
            .enumerate()
            .filter(|(_, tier)| tier.from < turnover)
            .map(|(index, tier)| {
                let to = tiers.get(index + 1).map(|next| next.from);
                let top = to.map_or(turnover, |to| to.min(turnover));
                let base = top - tier.from;
                let amount = currency.round(base * tier.rate_percent / Decimal::ONE_HUNDRED);
                Band { from: tier.from, to, rate_percent: tier.rate_percent, base, amount }
            })
            .collect(),
    };
    (bands.iter().map(|band| band.amount).sum(), bands)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tiers() -> Vec<Tier> {
        vec![
            Tier { from: dec!(0), rate_percent: dec!(1) },
            Tier { from: dec!(10000), rate_percent: dec!(2) },
            Tier { from: dec!(50000), rate_percent: dec!(3) },
        ]
    }

    fn euro() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    #[test]
    fn scale_mode_rates_each_band_at_its_own_rate() {
        let (rebate, bands) = compute(dec!(60000), &tiers(), Mode::Scale, euro());
        let amounts: Vec<Decimal> = bands.iter().map(|band| band.amount).collect();
        assert_eq!(amounts, [dec!(100.00), dec!(800.00), dec!(300.00)]);
        assert_eq!(rebate, dec!(1200.00));
        assert_eq!(bands[1].base, dec!(40000));
        assert_eq!(bands[2].to, None);
    }

    #[test]
    fn continuous_mode_rates_everything_at_the_highest_tier_reached() {
        let (rebate, bands) = compute(dec!(60000), &tiers(), Mode::Continuous, euro());
        assert_eq!(rebate, dec!(1800.00));
        assert_eq!(bands.len(), 1);
        let (rebate, _) = compute(dec!(9999.99), &tiers(), Mode::Continuous, euro());
        assert_eq!(rebate, dec!(100.00), "9999.99 at 1 % rounds half away from zero");
    }

    #[test]
    fn turnover_below_the_first_tier_earns_nothing() {
        let tiers = vec![Tier { from: dec!(1000), rate_percent: dec!(5) }];
        assert_eq!(compute(dec!(999), &tiers, Mode::Scale, euro()).0, dec!(0));
        assert_eq!(compute(dec!(999), &tiers, Mode::Continuous, euro()).0, dec!(0));
    }

    #[test]
    fn periods_follow_the_calendar() {
        let day = NaiveDate::from_ymd_opt(2028, 2, 29).expect("day");
        let on = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        assert_eq!(Period::Month.around(day), (on(2028, 2, 1), on(2028, 2, 29)));
        assert_eq!(Period::Quarter.around(day), (on(2028, 1, 1), on(2028, 3, 31)));
        assert_eq!(Period::HalfYear.around(on(2028, 8, 15)), (on(2028, 7, 1), on(2028, 12, 31)));
        assert_eq!(Period::Year.around(day), (on(2028, 1, 1), on(2028, 12, 31)));
    }

    #[test]
    fn tiers_must_rise() {
        assert!(check_tiers(&[]).is_err());
        assert!(
            check_tiers(&[
                Tier { from: dec!(10), rate_percent: dec!(1) },
                Tier { from: dec!(5), rate_percent: dec!(2) }
            ])
            .is_err()
        );
        assert!(check_tiers(&[Tier { from: dec!(0), rate_percent: dec!(101) }]).is_err());
        assert!(check_tiers(&tiers()).is_ok());
    }
}
