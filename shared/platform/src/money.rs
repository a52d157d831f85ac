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
    /// Looks up an upper-case ISO 4217 alphabetic code.
    pub fn parse(code: &str) -> Result<Currency, String> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(code, minor_units)| Currency { code, minor_units: *minor_units })
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

/// ISO 4217 active codes with their minor units.
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

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
}
