//! Conversions the pricing services share: prices with quantity breaks,
//! validity periods, dates.

use bss_platform::error::Violations;
use bss_platform::money::{Currency, decimal_from_wire, decimal_to_wire, money_from_wire, money_to_wire};
use bss_platform::time::{format_date, parse_date};
use bss_proto::pricing::QuantityBreak;
use bss_proto::types::Money;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::book::{Dated, Validity};
use crate::domain::price::Tiered;

/// A price and its breaks, all in one currency: `currency` when given, else
/// the price's own. Records violations under `field` (the price) and
/// `breaks_field`.
pub fn tiered_from_wire(
    v: &mut Violations,
    field: &str,
    price: Option<&Money>,
    breaks_field: &str,
    breaks: &[QuantityBreak],
    currency: Option<Currency>,
) -> Option<(Tiered, Currency)> {
    let violations_before = v.iter().count();
    let (base, given) = money_from_wire(v, field, price)?;
    let currency = currency.unwrap_or(given);
    if given != currency {
        v.add(format!("{field}.currency_code"), format!("must be {}", currency.code));
    }
    let mut parsed = Vec::with_capacity(breaks.len());
    for (index, quantity_break) in breaks.iter().enumerate() {
        let prefix = format!("{breaks_field}[{index}]");
        let minimum =
            decimal_from_wire(v, &format!("{prefix}.min_quantity"), quantity_break.min_quantity.as_ref(), None);
        let price = money_from_wire(v, &format!("{prefix}.price"), quantity_break.price.as_ref());
        if let Some((_, break_currency)) = price
            && break_currency != currency
        {
            v.add(
                format!("{prefix}.price.currency_code"),
                format!("must be {}, the currency of the price", currency.code),
            );
        }
        if let (Some(minimum), Some((price, _))) = (minimum, price) {
            parsed.push((minimum, price));
        }
    }
    if v.iter().count() > violations_before {
        return None;
    }
    if base.is_sign_negative() {
        v.add(format!("{field}.amount"), "must be zero or more");
        return None;
    }
    match Tiered::new(base, parsed) {
        Ok(tiered) => Some((tiered, currency)),
        Err(problem) => {
            v.add(breaks_field, problem);
            None
        }
    }
}

/// A price's wire form: the base and the breaks.
pub fn tiered_to_wire(tiered: &Tiered, currency: Currency) -> (Money, Vec<QuantityBreak>) {
    let breaks = tiered
        .breaks
        .iter()
        .map(|(minimum, price)| QuantityBreak {
            min_quantity: Some(decimal_to_wire(*minimum)),
            price: Some(money_to_wire(*price, currency)),
        })
        .collect();
    (money_to_wire(tiered.base, currency), breaks)
}

/// A date field: required, or empty for `None` when `required` is false.
pub fn date_from_wire(v: &mut Violations, field: &str, text: &str, required: bool) -> Option<Option<NaiveDate>> {
    if text.is_empty() {
        if required {
            v.add(field, "is required (YYYY-MM-DD)");
            return None;
        }
        return Some(None);
    }
    v.keep(field, parse_date(text)).map(Some)
}

/// A validity period: a required first day and an optional last day on or
/// after it.
pub fn validity_from_wire(v: &mut Violations, prefix: &str, valid_from: &str, valid_to: &str) -> Option<Validity> {
    let from = date_from_wire(v, &format!("{prefix}.valid_from"), valid_from, true).flatten();
    let to = date_from_wire(v, &format!("{prefix}.valid_to"), valid_to, false)?;
    let from = from?;
    if to.is_some_and(|to| to < from) {
        v.add(format!("{prefix}.valid_to"), "must be on or after valid_from");
        return None;
    }
    Some((from, to))
}

/// A dated price from its wire parts, with a new id.
pub fn dated(price: Tiered, (from, to): Validity) -> Dated {
    Dated { id: Uuid::now_v7(), price, from, to }
}

/// The wire form of an optional last day.
pub fn optional_date(date: Option<NaiveDate>) -> String {
    date.map(format_date).unwrap_or_default()
}

/// A quantity: greater than zero.
pub fn quantity_from_wire(
    v: &mut Violations,
    field: &str,
    quantity: Option<&bss_proto::types::Decimal>,
) -> Option<Decimal> {
    let quantity = decimal_from_wire(v, field, quantity, None)?;
    if quantity <= Decimal::ZERO {
        v.add(field, "must be greater than zero");
        return None;
    }
    Some(quantity)
}
