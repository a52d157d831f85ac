//! Payment preferences hold a card token reference from the payment
//! provider, never card data: a value that looks like a card number (12 to
//! 19 digits, spaces or dashes aside, passing the Luhn check) is refused.

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
