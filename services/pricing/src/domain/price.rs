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

/// How a metered quantity is rated through a price's breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rating {
    /// All of it at the price of the break it reaches.
    Volume,
    /// Each part of it at the price of the tier the part falls in: the
    /// breaks' minimums cut the quantity, from zero to the first minimum at
    /// the base price, from each minimum to the next at that break's price.
    Graduated,
}

/// A part of a rated quantity: the tier it falls in (from `from` up to,
/// not including, `to`; no end for the last), how much of it falls there
/// and at what unit price. Its amount is `quantity × unit_price`, exact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierLine {
    pub from: Decimal,
    pub to: Option<Decimal>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
}

impl TierLine {
    pub fn amount(&self) -> Decimal {
        self.quantity * self.unit_price
    }
}

impl Tiered {
    /// The tiers: (from, to, unit price), from zero up (the breaks sorted
    /// here too: the fields are public, [`Tiered::new`] is not the only
    /// maker).
    fn tiers(&self) -> impl Iterator<Item = (Decimal, Option<Decimal>, Decimal)> {
        let mut breaks = self.breaks.clone();
        breaks.sort_by_key(|(minimum, _)| *minimum);
        let ends: Vec<Option<Decimal>> =
            breaks.iter().map(|(minimum, _)| Some(*minimum)).chain(std::iter::once(None)).collect();
        std::iter::once((Decimal::ZERO, self.base)).chain(breaks).zip(ends).map(|((from, price), to)| (from, to, price))
    }

    /// `quantity` (zero or more) rated by `rating`: the tiers it is
    /// charged in, in order; none for zero.
    pub fn rate(&self, quantity: Decimal, rating: Rating) -> Vec<TierLine> {
        if quantity <= Decimal::ZERO {
            return Vec::new();
        }
        match rating {
            Rating::Volume => self
                .tiers()
                .filter(|(from, to, _)| *from <= quantity && to.is_none_or(|to| quantity < to))
                .map(|(from, to, unit_price)| TierLine { from, to, quantity, unit_price })
                .collect(),
            Rating::Graduated => self
                .tiers()
                .take_while(|(from, _, _)| *from < quantity)
                .map(|(from, to, unit_price)| {
                    let upto = to.map_or(quantity, |to| to.min(quantity));
                    TierLine { from, to, quantity: upto - from, unit_price }
                })
                .collect(),
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

    fn amount(lines: &[TierLine]) -> Decimal {
        lines.iter().map(TierLine::amount).sum()
    }

    #[test]
    fn graduated_rating_charges_each_part_at_its_tiers_price_and_volume_all_at_one() {
        // 0.10 up to 1,000, 0.08 from 1,000, 0.05 from 10,000.
        let price = Tiered::new(dec!(0.10), vec![(dec!(1000), dec!(0.08)), (dec!(10000), dec!(0.05))]).expect("tiered");
        let graduated = price.rate(dec!(12500), Rating::Graduated);
        let parts: Vec<(Decimal, Decimal)> = graduated.iter().map(|line| (line.quantity, line.unit_price)).collect();
        assert_eq!(parts, vec![(dec!(1000), dec!(0.10)), (dec!(9000), dec!(0.08)), (dec!(2500), dec!(0.05))]);
        assert_eq!((graduated[1].from, graduated[1].to, graduated[2].to), (dec!(1000), Some(dec!(10000)), None));
        assert_eq!(amount(&graduated), dec!(945.00), "100 + 720 + 125");
        let volume = price.rate(dec!(12500), Rating::Volume);
        assert_eq!(
            volume,
            vec![TierLine { from: dec!(10000), to: None, quantity: dec!(12500), unit_price: dec!(0.05) }]
        );
        assert_eq!(amount(&volume), dec!(625.00));
        // Within the first tier both agree; on a minimum, volume takes the
        // break and graduated charges nothing above it yet.
        assert_eq!(
            amount(&price.rate(dec!(999.5), Rating::Graduated)),
            amount(&price.rate(dec!(999.5), Rating::Volume))
        );
        assert_eq!(amount(&price.rate(dec!(1000), Rating::Volume)), dec!(80.00));
        assert_eq!(price.rate(dec!(1000), Rating::Graduated).len(), 1);
        assert!(price.rate(Decimal::ZERO, Rating::Graduated).is_empty());
        assert!(price.rate(Decimal::ZERO, Rating::Volume).is_empty());
    }

    /// Random prices and quantities: the graduated parts add up to the
    /// quantity, each within its tier, and the amount never falls as the
    /// quantity grows; the volume line is the price `at` the quantity.
    #[test]
    fn rating_splits_the_quantity_exactly_for_random_prices() {
        let mut random = bss_testkit::seeded(0x9e37_79b9);
        for _ in 0..2_000 {
            let cents = |value: u64| Decimal::new(value as i64, 2);
            let breaks = (0..random(4)).map(|_| (Decimal::from(1 + random(500)), cents(random(1_000)))).collect();
            let Ok(price) = Tiered::new(cents(random(1_000)), breaks) else { continue };
            let quantity = Decimal::new(random(100_000) as i64, 1);
            let graduated = price.rate(quantity, Rating::Graduated);
            assert_eq!(graduated.iter().map(|line| line.quantity).sum::<Decimal>(), quantity, "{price:?} {quantity}");
            for line in &graduated {
                assert!(line.quantity > Decimal::ZERO && line.to.is_none_or(|to| line.from + line.quantity <= to));
            }
            let more = price.rate(quantity + Decimal::ONE, Rating::Graduated);
            assert!(amount(&more) >= amount(&graduated), "{price:?} {quantity}");
            if quantity > Decimal::ZERO {
                let volume = price.rate(quantity, Rating::Volume);
                assert_eq!(volume.len(), 1, "{price:?} {quantity}");
                assert_eq!(volume[0].unit_price, price.at(quantity).0);
            }
        }
    }

    #[test]
    fn bad_breaks_are_refused() {
        assert!(Tiered::new(dec!(-1), vec![]).is_err());
        assert!(Tiered::new(dec!(1), vec![(dec!(0), dec!(1))]).is_err());
        assert!(Tiered::new(dec!(1), vec![(dec!(5), dec!(1)), (dec!(5), dec!(2))]).is_err());
    }
}
