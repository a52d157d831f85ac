//! Checks shared by the account's text fields.

pub use bss_platform::input::{optional_text, required_text};

/// An email address: a plain syntactic check (one `@`, a local part, a domain
/// with a dot, no spaces), at most 254 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, String> {
        const BAD: &str = "must be an email address such as name@example.com";
        let value = value.trim();
        if value.len() > 254 {
            return Err("must be at most 254 characters".to_owned());
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(BAD.to_owned());
        };
        let domain_ok =
            domain.contains('.') && domain.split('.').all(|label| !label.is_empty()) && !domain.contains('@');
        if local.is_empty() || !domain_ok || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BAD.to_owned());
        }
        Ok(Email(value.to_owned()))
    }

    /// Empty means "no address".
    pub fn parse_optional(value: &str) -> Result<Option<Email>, String> {
        if value.trim().is_empty() {
            return Ok(None);
        }
        Email::parse(value).map(Some)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of an optional email, empty when there is none.
pub fn email_text(email: &Option<Email>) -> &str {
    email.as_ref().map_or("", Email::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(Email::parse("ops@example.com").is_ok());
        assert_eq!(Email::parse_optional("  "), Ok(None));
        for bad in ["no-at-sign", "@example.com", "a@b", "a@@b.com", "a b@c.com", "a@b..com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
