//! The built-in address validator: ISO country, postal code formats, and
//! the parts each country requires. It answers valid, valid once corrected
//! (with the corrected address), or invalid (with a problem per field).

/// The parts of a postal address a validator looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressParts {
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Valid,
    Corrected(AddressParts),
    Invalid,
}

/// A validator's answer about one address.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressCheck {
    pub verdict: Verdict,
    /// (field, explanation) for every problem found or corrected.
    pub problems: Vec<(String, String)>,
    /// Who checked: "builtin" or an external provider's name.
    pub validator: String,
}

/// Postal code formats: `9` a digit, `A` a letter, `X` a letter or digit,
/// anything else itself. The first format is the canonical spelling.
struct CountryRules {
    code: &'static str,
    postal_formats: &'static [&'static str],
    region_required: bool,
    city_required: bool,
}

const fn rules(code: &'static str, postal_formats: &'static [&'static str]) -> CountryRules {
    CountryRules { code, postal_formats, region_required: false, city_required: true }
}

const fn with_region(code: &'static str, postal_formats: &'static [&'static str]) -> CountryRules {
    CountryRules { code, postal_formats, region_required: true, city_required: true }
}

const fn city_state(code: &'static str, postal_formats: &'static [&'static str]) -> CountryRules {
    CountryRules { code, postal_formats, region_required: false, city_required: false }
}

const COUNTRIES: &[CountryRules] = &[
    with_region("US", &["99999", "99999-9999"]),
    with_region("CA", &["A9A 9A9"]),
    rules("GB", &["A9 9AA", "A99 9AA", "A9A 9AA", "AA9 9AA", "AA99 9AA", "AA9A 9AA"]),
    with_region("AU", &["9999"]),
    rules("NZ", &["9999"]),
    rules("DE", &["99999"]),
    rules("FR", &["99999"]),
    rules("IT", &["99999"]),
    rules("ES", &["99999"]),
    rules("NL", &["9999 AA"]),
    rules("BE", &["9999"]),
    rules("AT", &["9999"]),
    rules("CH", &["9999"]),
    rules("SE", &["999 99"]),
    rules("NO", &["9999"]),
    rules("DK", &["9999"]),
    rules("FI", &["99999"]),
    rules("PL", &["99-999"]),
    rules("PT", &["9999-999"]),
    rules("IE", &["A99 XXXX"]),
    rules("JP", &["999-9999"]),
    with_region("IN", &["999999"]),
    with_region("BR", &["99999-999"]),
    with_region("MX", &["99999"]),
    rules("CZ", &["999 99"]),
    rules("GR", &["999 99"]),
    rules("HU", &["9999"]),
    rules("ZA", &["9999"]),
    city_state("SG", &["999999"]),
    rules("KR", &["99999"]),
    rules("CN", &["999999"]),
    rules("RU", &["999999"]),
    rules("LU", &["9999"]),
    city_state("HK", &[]),
    city_state("MC", &["98000"]),
];

/// Australian states and territories by name, for corrections.
const AU_REGIONS: &[(&str, &str)] = &[
    ("NSW", "new south wales"),
    ("VIC", "victoria"),
    ("QLD", "queensland"),
    ("WA", "western australia"),
    ("SA", "south australia"),
    ("TAS", "tasmania"),
    ("ACT", "australian capital territory"),
    ("NT", "northern territory"),
];

/// Canadian provinces and territories by name, for corrections.
const CA_REGIONS: &[(&str, &str)] = &[
    ("AB", "alberta"),
    ("BC", "british columbia"),
    ("MB", "manitoba"),
    ("NB", "new brunswick"),
    ("NL", "newfoundland and labrador"),
    ("NS", "nova scotia"),
    ("NT", "northwest territories"),
    ("NU", "nunavut"),
    ("ON", "ontario"),
    ("PE", "prince edward island"),
    ("QC", "quebec"),
    ("SK", "saskatchewan"),
    ("YT", "yukon"),
];

/// US states, the District of Columbia and the territories.
const US_REGIONS: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME",
    "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA",
    "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "AS", "GU", "MP", "PR", "VI",
];

/// Countries with a known postal code format.
pub fn countries_with_postal_formats() -> impl Iterator<Item = &'static str> {
    COUNTRIES.iter().filter(|country| !country.postal_formats.is_empty()).map(|country| country.code)
}

/// Checks an address whose country code is already known to be ISO 3166.
pub fn check(address: &AddressParts) -> AddressCheck {
    let mut problems = Vec::new();
    let mut corrected = address.clone();
    let country = COUNTRIES.iter().find(|country| country.code == address.country_code);
    let mut invalid = false;

    if let Some(country) = country {
        if country.city_required && address.city.trim().is_empty() {
            problems.push(("city".to_owned(), format!("a city is required in {}", country.code)));
            invalid = true;
        }
        if !country.postal_formats.is_empty() {
            match canonical_postal_code(&address.postal_code, country.postal_formats) {
                Some(canonical) if canonical == address.postal_code => {}
                Some(canonical) => {
                    problems.push(("postal_code".to_owned(), format!("written as {canonical} in {}", country.code)));
                    corrected.postal_code = canonical;
                }
                None if address.postal_code.trim().is_empty() => {
                    problems.push(("postal_code".to_owned(), format!("a postal code is required in {}", country.code)));
                    invalid = true;
                }
                None => {
                    let formats = country.postal_formats.join(" or ");
                    problems.push((
                        "postal_code".to_owned(),
                        format!("{} postal codes look like {formats} (9 a digit, A a letter)", country.code),
                    ));
                    invalid = true;
                }
            }
        }
        if country.region_required {
            match canonical_region(country.code, &address.region) {
                Some(canonical) if canonical == address.region => {}
                Some(canonical) => {
                    problems.push(("region".to_owned(), format!("written as {canonical}")));
                    corrected.region = canonical;
                }
                None if address.region.trim().is_empty() => {
                    problems
                        .push(("region".to_owned(), format!("a state or province is required in {}", country.code)));
                    invalid = true;
                }
                None => {
                    problems.push((
                        "region".to_owned(),
                        format!("{:?} is not a state or province of {}", address.region, country.code),
                    ));
                    invalid = true;
                }
            }
        }
    } else if address.city.trim().is_empty() {
        problems.push(("city".to_owned(), "a city is required".to_owned()));
        invalid = true;
    }

    let verdict = if invalid {
        Verdict::Invalid
    } else if corrected != *address {
        Verdict::Corrected(corrected)
    } else {
        Verdict::Valid
    };
    AddressCheck { verdict, problems, validator: "builtin".to_owned() }
}

/// The postal code in the first format it fits, once spaces and hyphens are
/// ignored and letters upper-cased; `None` when it fits none.
fn canonical_postal_code(value: &str, formats: &[&str]) -> Option<String> {
    let compact: Vec<char> =
        value.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect();
    if compact.is_empty() {
        return None;
    }
    formats.iter().find_map(|format| fill(format, &compact))
}

/// Writes `compact` into `format`, if each character fits its place (a
/// slot, or a fixed character) and there are exactly as many of them.
fn fill(format: &str, compact: &[char]) -> Option<String> {
    let expected = format.chars().filter(|c| !matches!(c, ' ' | '-')).count();
    if expected != compact.len() {
        return None;
    }
    let mut next = compact.iter();
    let mut filled = String::with_capacity(format.len());
    for slot in format.chars() {
        let fits = |c: &char| match slot {
            '9' => c.is_ascii_digit(),
            'A' => c.is_ascii_alphabetic(),
            'X' => c.is_ascii_alphanumeric(),
            literal if literal.is_ascii_digit() => *c == literal,
            _ => true,
        };
        match slot {
            ' ' | '-' => filled.push(slot),
            _ => {
                let c = next.next()?;
                if !fits(c) {
                    return None;
                }
                filled.push(*c);
            }
        }
    }
    next.next().is_none().then_some(filled)
}

/// The region code of a country that requires one: the code itself (any
/// case), or for AU and CA the full name.
fn canonical_region(country: &str, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let upper = value.to_uppercase();
    let lower = value.to_lowercase();
    let named = |regions: &[(&str, &str)]| {
        regions.iter().find(|(code, name)| *code == upper || *name == lower).map(|(code, _)| (*code).to_owned())
    };
    match country {
        "AU" => named(AU_REGIONS),
        "CA" => named(CA_REGIONS),
        "US" => US_REGIONS.contains(&upper.as_str()).then_some(upper),
        // Other countries: any region name, as written.
        _ => Some(value.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(country: &str, city: &str, region: &str, postal: &str) -> AddressParts {
        AddressParts {
            lines: vec!["1 Main St".to_owned()],
            city: city.to_owned(),
            region: region.to_owned(),
            postal_code: postal.to_owned(),
            country_code: country.to_owned(),
        }
    }

    #[test]
    fn at_least_twenty_countries_have_postal_formats() {
        assert!(countries_with_postal_formats().count() >= 20);
    }

    #[test]
    fn well_formed_addresses_are_valid() {
        for (country, region, postal) in [
            ("US", "NY", "10001"),
            ("US", "CA", "94105-1234"),
            ("CA", "ON", "K1A 0B1"),
            ("GB", "", "SW1A 1AA"),
            ("AU", "NSW", "2000"),
            ("NL", "", "1012 AB"),
            ("JP", "", "100-0001"),
            ("IE", "", "D02 X285"),
            ("BR", "SP", "01310-100"),
            ("DE", "", "10115"),
        ] {
            let result = check(&address(country, "Town", region, postal));
            assert_eq!(result.verdict, Verdict::Valid, "{country} {postal}: {:?}", result.problems);
        }
    }

    #[test]
    fn sloppy_spelling_is_corrected() {
        let result = check(&address("GB", "London", "", "sw1a1aa"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!(suggestion.postal_code, "SW1A 1AA");

        let result = check(&address("CA", "Ottawa", "ontario", "k1a0b1"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!((suggestion.region.as_str(), suggestion.postal_code.as_str()), ("ON", "K1A 0B1"));

        let result = check(&address("US", "Boston", "ma", "021081234"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!((suggestion.region.as_str(), suggestion.postal_code.as_str()), ("MA", "02108-1234"));
    }

    #[test]
    fn missing_and_malformed_parts_are_invalid() {
        let result = check(&address("US", "", "ZZ", "1234"));
        assert_eq!(result.verdict, Verdict::Invalid);
        let fields: Vec<&str> = result.problems.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["city", "postal_code", "region"]);

        assert_eq!(check(&address("AU", "Sydney", "", "2000")).verdict, Verdict::Invalid, "a state is required");
        assert_eq!(check(&address("DE", "Berlin", "", "")).verdict, Verdict::Invalid, "a postal code is required");
        assert_eq!(check(&address("NL", "Amsterdam", "", "AB 1234")).verdict, Verdict::Invalid);
    }

    #[test]
    fn city_states_need_no_city_and_unknown_countries_need_one() {
        assert_eq!(check(&address("SG", "", "", "018956")).verdict, Verdict::Valid);
        assert_eq!(check(&address("HK", "", "", "")).verdict, Verdict::Valid);
        assert_eq!(check(&address("KE", "", "", "")).verdict, Verdict::Invalid);
        assert_eq!(check(&address("KE", "Nairobi", "", "anything")).verdict, Verdict::Valid);
    }
}
