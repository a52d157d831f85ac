//! Postal addresses of an account.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::address_check::{AddressCheck, AddressParts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressType {
    Billing,
    Delivery,
    Other,
}

impl AddressType {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::Billing => "billing",
            AddressType::Delivery => "delivery",
            AddressType::Other => "other",
        }
    }

    pub fn from_stored(value: &str) -> Option<AddressType> {
        [AddressType::Billing, AddressType::Delivery, AddressType::Other]
            .into_iter()
            .find(|address_type| address_type.as_str() == value)
    }
}

/// An ISO 3166-1 alpha-2 country code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(value: &str) -> Result<CountryCode, String> {
        let value = value.trim();
        // The `iso_country` crate's 249 assigned codes ("" is its
        // "unspecified").
        if !value.is_empty() && value.parse::<iso_country::Country>().is_ok() {
            Ok(CountryCode(value.to_owned()))
        } else {
            Err("must be an ISO 3166-1 alpha-2 country code in upper case, such as AU".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Street lines: 1 to 3, each 1 to 200 characters.
pub fn parse_lines(values: &[String]) -> Result<Vec<String>, String> {
    if values.is_empty() || values.len() > 3 {
        return Err("must have 1 to 3 street lines".to_owned());
    }
    values
        .iter()
        .map(|line| {
            super::text::required_text(line, 200).map_err(|_| "each line must be 1 to 200 characters".to_owned())
        })
        .collect()
}

/// The writable fields of an address, valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressFields {
    pub address_type: AddressType,
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: CountryCode,
    pub contact_id: Option<Uuid>,
    pub is_primary: bool,
}

#[derive(Clone, Debug)]
pub struct Address {
    pub id: Uuid,
    pub account_id: Uuid,
    pub fields: AddressFields,
    /// What the validator said when the address was last created or changed.
    pub validation: Option<StoredValidation>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Address {
    /// The opaque version of the address: the time of its last change.
    pub fn etag(&self) -> String {
        bss_platform::etag::of_time(Some(self.updated_at))
    }

    /// ABORTED (ETAG_MISMATCH) when `expected` is set and the address
    /// changed since it was read.
    pub fn check_etag(&self, expected: &str) -> Result<(), bss_platform::error::PlatformError> {
        bss_platform::etag::check(&format!("address {}", self.id), expected, &self.etag())
    }
}

/// A validator's answer kept with the address, and whether the user kept an
/// address it rejected.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredValidation {
    pub check: AddressCheck,
    pub overridden: bool,
}

impl AddressFields {
    /// The address as its account's history names it.
    pub fn label(&self) -> String {
        format!("{}, {} {} {}", self.lines.join(" "), self.postal_code, self.city, self.country_code.as_str())
    }

    /// The parts a validator looks at.
    pub fn parts(&self) -> AddressParts {
        AddressParts {
            lines: self.lines.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country_code: self.country_code.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_follow_iso_3166() {
        for code in ["AU", "SS", "CW", "BQ", "SX", "ZW"] {
            assert!(CountryCode::parse(code).is_ok(), "{code}");
        }
        for code in ["au", "XX", "AN", "UK", "", "AUS"] {
            assert!(CountryCode::parse(code).is_err(), "{code:?}");
        }
    }

    #[test]
    fn an_address_has_one_to_three_lines() {
        assert!(parse_lines(&[]).is_err());
        assert!(parse_lines(&["1 Main St".to_owned()]).is_ok());
        assert!(parse_lines(&vec!["x".to_owned(); 4]).is_err());
        assert!(parse_lines(&["  ".to_owned()]).is_err());
    }
}
