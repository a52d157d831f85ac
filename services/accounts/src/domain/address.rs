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
        if COUNTRY_CODES.contains(&value) {
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

/// Every officially assigned ISO 3166-1 alpha-2 code.
const COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD",
    "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA",
    "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE",
    "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA",
    "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK",
    "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP",
    "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT",
    "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS",
    "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ",
    "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS",
    "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST",
    "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA",
    "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_follow_iso_3166() {
        assert_eq!(COUNTRY_CODES.len(), 249);
        assert!(CountryCode::parse("AU").is_ok());
        assert!(CountryCode::parse("au").is_err());
        assert!(CountryCode::parse("XX").is_err());
    }

    #[test]
    fn an_address_has_one_to_three_lines() {
        assert!(parse_lines(&[]).is_err());
        assert!(parse_lines(&["1 Main St".to_owned()]).is_ok());
        assert!(parse_lines(&vec!["x".to_owned(); 4]).is_err());
        assert!(parse_lines(&["  ".to_owned()]).is_err());
    }
}
