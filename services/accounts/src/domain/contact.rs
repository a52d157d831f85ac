//! Contacts: the people at a customer.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::text::Email;

/// The writable fields of a contact, valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactFields {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: String,
    pub roles: Vec<String>,
    pub is_primary: bool,
}

#[derive(Clone, Debug)]
pub struct Contact {
    pub id: Uuid,
    pub account_id: Uuid,
    pub fields: ContactFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Contact {
    /// The contact as its account's history names it: its name.
    pub fn label(&self) -> String {
        format!("{} {}", self.fields.first_name, self.fields.last_name).trim().to_owned()
    }

    /// The opaque version of the contact: the time of its last change.
    pub fn etag(&self) -> String {
        bss_platform::etag::of_time(Some(self.updated_at))
    }

    /// ABORTED (ETAG_MISMATCH) when `expected` is set and the contact
    /// changed since it was read.
    pub fn check_etag(&self, expected: &str) -> Result<(), bss_platform::error::PlatformError> {
        bss_platform::etag::check(&format!("contact {}", self.id), expected, &self.etag())
    }
}

/// A phone number as dialled: at most 32 of digits, spaces and `+-()`.
pub fn parse_phone(value: &str) -> Result<String, String> {
    let value = value.trim();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')');
    if value.len() > 32 || !value.chars().all(allowed) {
        return Err("must be at most 32 digits, spaces and +-()".to_owned());
    }
    Ok(value.to_owned())
}

/// Free-text roles of a person: each 1 to 64 characters, no duplicates, at
/// most 20.
pub fn parse_roles(values: &[String]) -> Result<Vec<String>, String> {
    if values.len() > 20 {
        return Err("at most 20 roles".to_owned());
    }
    let mut roles: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let role = value.trim();
        if role.is_empty() || role.chars().count() > 64 {
            return Err("each role must be 1 to 64 characters".to_owned());
        }
        if roles.iter().any(|existing| existing == role) {
            return Err(format!("role {role:?} is listed twice"));
        }
        roles.push(role.to_owned());
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_allow_dialling_characters_only() {
        assert_eq!(parse_phone(" +61 (2) 555-0100 "), Ok("+61 (2) 555-0100".to_owned()));
        assert!(parse_phone("call me").is_err());
        assert!(parse_phone(&"1".repeat(33)).is_err());
    }

    #[test]
    fn roles_are_trimmed_bounded_and_distinct() {
        let roles = vec![" billing ".to_owned(), "technical".to_owned()];
        assert_eq!(parse_roles(&roles), Ok(vec!["billing".to_owned(), "technical".to_owned()]));
        assert!(parse_roles(&["billing".to_owned(), "billing".to_owned()]).is_err());
        assert!(parse_roles(&[String::new()]).is_err());
    }
}
