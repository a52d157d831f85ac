//! A price with quantity breaks.

use rust_decimal::Decimal;

/// A unit price and lower prices for larger quantities. Of the breaks whose
/// minimum is not above the quantity, the one with the highest minimum
/// wins; below every break, the base price applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tiered {
    pub base: Decimal,
    /// (minimum quantity, unit price), sorted by minimum.
    pub breaks: Vec<(Decimal, Decimal)>,
}

impl Tiered {
    /// Checks and sorts the breaks: minimums above zero and distinct, prices
    /// zero or more.
    pub fn new(base: Decimal, mut breaks: Vec<(Decimal, Decimal)>) -> Result<Tiered, String> {
        if base.is_sign_negative() {
            return Err("a price must be zero or more".to_owned());
        }
        if breaks.iter().any(|(minimum, price)| *minimum <= Decimal::ZERO || price.is_sign_negative()) {
            return Err("each break needs a minimum quantity above zero and a price of zero or more".to_owned());
        }
        breaks.sort_by_key(|(minimum, _)| *minimum);
        if breaks.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err("two breaks have the same minimum quantity".to_owned());
        }
        Ok(Tiered { base, breaks })
    }

    pub fn flat(base: Decimal) -> Tiered {
        Tiered { base, breaks: Vec::new() }
    }

    /// The unit price for `quantity`, and whether a break set it.
    pub fn at(&self, quantity: Decimal) -> (Decimal, bool) {
        match self.breaks.iter().rev().find(|(minimum, _)| *minimum <= quantity) {
            Some((_, price)) => (*price, true),
            None => (self.base, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_highest_break_not_above_the_quantity_wins() {
        let price = Tiered::new(dec!(10.00), vec![(dec!(100), dec!(8.00)), (dec!(10), dec!(9.00))]).expect("tiered");
        assert_eq!(price.at(dec!(1)), (dec!(10.00), false));
        assert_eq!(price.at(dec!(9.99)), (dec!(10.00), false));
        assert_eq!(price.at(dec!(10)), (dec!(9.00), true), "exactly on a break");
        assert_eq!(price.at(dec!(99)), (dec!(9.00), true));
        assert_eq!(price.at(dec!(100)), (dec!(8.00), true));
        assert_eq!(price.at(dec!(5000)), (dec!(8.00), true));
    }

    #[test]
    fn bad_breaks_are_refused() {
        assert!(Tiered::new(dec!(-1), vec![]).is_err());
        assert!(Tiered::new(dec!(1), vec![(dec!(0), dec!(1))]).is_err());
        assert!(Tiered::new(dec!(1), vec![(dec!(5), dec!(1)), (dec!(5), dec!(2))]).is_err());
    }
}
