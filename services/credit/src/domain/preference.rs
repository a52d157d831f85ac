//! Saved payment methods hold a token reference from the payment
//! provider, never card data: a value that looks like a card number (12 to
//! 19 digits, spaces or dashes aside, passing the Luhn check) is refused.
//! An account with methods has exactly one default.

use super::error::CreditError;

/// Whether a method is the default after a change asking `asked` (`None`:
/// unchanged): a default stays one until another method is made the
/// default (DEFAULT_METHOD_REQUIRED).
pub fn default_after(current: bool, asked: Option<bool>) -> Result<bool, CreditError> {
    match (current, asked) {
        (true, Some(false)) => Err(CreditError::precondition(
            "DEFAULT_METHOD_REQUIRED",
            "an account with saved methods keeps a default one: make another method the default instead",
        )),
        (_, Some(asked)) => Ok(asked),
        (current, None) => Ok(current),
    }
}

/// Whether `text` looks like a primary account number.
pub fn looks_like_card_number(text: &str) -> bool {
    let digits: Vec<u32> = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, digit)| if index % 2 == 1 { (digit * 2).div_euclid(10) + (digit * 2) % 10 } else { *digit })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_unset_only_by_making_another_the_default() {
        assert!(default_after(false, Some(true)).expect("made default"));
        assert!(default_after(true, None).expect("unchanged"));
        assert!(!default_after(false, None).expect("unchanged"));
        assert!(default_after(true, Some(true)).expect("again"));
        assert!(default_after(true, Some(false)).is_err());
    }

    #[test]
    fn card_numbers_are_recognised_and_tokens_are_not() {
        assert!(looks_like_card_number("4242424242424242"));
        assert!(looks_like_card_number("4242 4242 4242 4242"));
        assert!(looks_like_card_number("5555-5555-5555-4444"));
        assert!(!looks_like_card_number("4242424242424241"), "fails Luhn");
        assert!(!looks_like_card_number("tok_1NaB2c3D4e5F"));
        assert!(!looks_like_card_number("pm_4242424242424242"));
        assert!(!looks_like_card_number("12345"));
    }
}
