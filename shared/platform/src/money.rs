//! Exact money: decimal strings on the wire, `rust_decimal::Decimal` in
//! Rust, `NUMERIC` in Postgres, and the ISO 4217 minor units that fix how a
//! total is rounded.

use std::str::FromStr;

use bss_proto::types;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::Violations;

/// An ISO 4217 currency and the number of digits of its minor unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub minor_units: u32,
}

impl Currency {
    /// Looks up an upper-case ISO 4217 alphabetic code of money (not a
    /// fund, a precious metal or another special code), with its minor
    /// units, in the `iso_currency` crate's data (kept current with ISO's
    /// amendments). A code ISO has withdrawn is still read, so books kept in
    /// it stay readable: those the crate still lists, and [`WITHDRAWN`].
    pub fn parse(code: &str) -> Result<Currency, String> {
        let listed = iso_currency::Currency::from_code(code)
            .filter(|currency| !currency.is_fund() && !currency.is_special())
            .and_then(|currency| {
                Some(Currency { code: currency.code(), minor_units: u32::from(currency.exponent()?) })
            });
        listed
            .or_else(|| {
                WITHDRAWN
                    .iter()
                    .find(|(known, _)| *known == code)
                    .map(|(code, minor_units)| Currency { code, minor_units: *minor_units })
            })
            .ok_or_else(|| "must be an ISO 4217 currency code such as EUR".to_owned())
    }

    /// Rounds an amount to this currency's minor unit, half away from zero,
    /// and writes it with exactly that many decimals ("100" EUR is
    /// "100.00").
    pub fn round(self, amount: Decimal) -> Decimal {
        let mut rounded = amount.round_dp_with_strategy(self.minor_units, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(self.minor_units);
        rounded
    }
}

/// Codes ISO has withdrawn that the `iso_currency` crate no longer lists,
/// with their minor units: the suite accepted them before, so amounts
/// stored in them must still read.
const WITHDRAWN: &[(&str, u32)] = &[("ANG", 2)];

/// Parses a decimal string of the contracts' grammar
/// `-?[0-9]+(\.[0-9]+)?`, keeping its scale.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    const GRAMMAR: &str = "must be a decimal number such as 12.50 (digits, an optional minus sign and decimal point)";
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits_only = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits_only(whole) || fraction.is_some_and(|fraction| !digits_only(fraction)) {
        return Err(GRAMMAR.to_owned());
    }
    Decimal::from_str(text).map_err(|_| "has too many digits (at most 28 significant digits)".to_owned())
}

/// Formats a decimal for the wire: plain notation, scale kept.
pub fn format_decimal(value: Decimal) -> String {
    value.to_string()
}

/// A required `Money` field: its amount and currency, or violations of
/// `field.amount` / `field.currency_code` recorded in `v`.
pub fn money_from_wire(v: &mut Violations, field: &str, money: Option<&types::Money>) -> Option<(Decimal, Currency)> {
    let Some(money) = money else {
        v.add(field, "required");
        return None;
    };
    let currency = v.keep(&format!("{field}.currency_code"), Currency::parse(&money.currency_code));
    let amount = v.keep(&format!("{field}.amount"), parse_decimal(&money.amount));
    Some((amount?, currency?))
}

/// A required `Money` field that must be zero or more and in `currency`.
pub fn amount_in(v: &mut Violations, field: &str, money: Option<&types::Money>, currency: Currency) -> Option<Decimal> {
    let (amount, given) = money_from_wire(v, field, money)?;
    if given != currency {
        v.add(format!("{field}.currency_code"), format!("must be {}", currency.code));
        return None;
    }
    if amount.is_sign_negative() {
        v.add(format!("{field}.amount"), "must be zero or more");
        return None;
    }
    Some(amount)
}

/// `amount` in `currency` on the wire.
pub fn money_to_wire(amount: Decimal, currency: Currency) -> types::Money {
    types::Money { currency_code: currency.code.to_owned(), amount: format_decimal(amount) }
}

/// A `Decimal` field: its value, `default` when it is unset or empty, or a
/// violation of `field`.
pub fn decimal_from_wire(
    v: &mut Violations,
    field: &str,
    decimal: Option<&types::Decimal>,
    default: Option<Decimal>,
) -> Option<Decimal> {
    match (decimal.map(|decimal| decimal.value.as_str()).filter(|value| !value.is_empty()), default) {
        (Some(value), _) => v.keep(field, parse_decimal(value)),
        (None, Some(default)) => Some(default),
        (None, None) => {
            v.add(field, "required");
            None
        }
    }
}

/// A percentage from 0 to 100; unset means 0.
pub fn percent_from_wire(v: &mut Violations, field: &str, decimal: Option<&types::Decimal>) -> Option<Decimal> {
    let percent = decimal_from_wire(v, field, decimal, Some(Decimal::ZERO))?;
    if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED {
        v.add(field, "must be a percentage from 0 to 100");
        return None;
    }
    Some(percent)
}

/// `value` on the wire.
pub fn decimal_to_wire(value: Decimal) -> types::Decimal {
    types::Decimal { value: format_decimal(value) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_follow_the_contract_grammar_and_keep_their_scale() {
        assert_eq!(parse_decimal("10.50").map(format_decimal), Ok("10.50".to_owned()));
        assert_eq!(parse_decimal("-3").map(format_decimal), Ok("-3".to_owned()));
        for bad in ["", "-", "1.", ".5", "+1", "1e3", "1,000", " 1", "NaN", "1.2.3"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_decimal("123456789012345678901234567890").is_err());
    }

    #[test]
    fn totals_round_half_away_from_zero_to_the_minor_unit() {
        let round = |code: &str, amount: &str| {
            let currency = Currency::parse(code).expect("currency");
            format_decimal(currency.round(parse_decimal(amount).expect("amount")))
        };
        assert_eq!(round("EUR", "2.345"), "2.35");
        assert_eq!(round("EUR", "-2.345"), "-2.35");
        assert_eq!(round("JPY", "2.5"), "3");
        assert_eq!(round("KWD", "1.23450"), "1.235");
        assert_eq!(round("EUR", "100"), "100.00");
        assert_eq!(round("KWD", "7.5"), "7.500");
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn currencies_are_iso_4217_money_as_amended() {
        let units = |code: &str| Currency::parse(code).map(|currency| currency.minor_units);
        assert_eq!((units("EUR"), units("JPY"), units("KWD"), units("CLP")), (Ok(2), Ok(0), Ok(3), Ok(0)));
        // The Caribbean guilder replaced the Netherlands Antillean guilder
        // (2025); the Venezuelan digital bolivar is money too.
        assert_eq!((units("XCG"), units("VED")), (Ok(2), Ok(2)));
        // Withdrawn, but books kept in it still read.
        assert_eq!((units("ANG"), units("HRK")), (Ok(2), Ok(2)));
        // Funds, metals and testing codes are not prices.
        for code in ["CLF", "BOV", "USN", "XAU", "XDR", "XTS", "EU"] {
            assert!(units(code).is_err(), "{code}");
        }
    }
}
