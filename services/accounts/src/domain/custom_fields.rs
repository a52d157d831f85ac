//! Custom fields: the tenant's definitions, and values checked against them.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Number,
    Date,
    Boolean,
    Choice,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Boolean => "boolean",
            FieldType::Choice => "choice",
        }
    }

    pub fn from_stored(value: &str) -> Option<FieldType> {
        [FieldType::Text, FieldType::Number, FieldType::Date, FieldType::Boolean, FieldType::Choice]
            .into_iter()
            .find(|field_type| field_type.as_str() == value)
    }
}

/// A tenant's definition of one custom field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub choices: Vec<String>,
}

impl Definition {
    /// Checks a definition: key, label, and the choices of a choice field.
    pub fn parse(
        key: &str,
        label: &str,
        field_type: FieldType,
        choices: &[String],
    ) -> Result<Definition, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let key_ok = !key.is_empty()
            && key.len() <= 64
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            problems.push(("key", "must be 1 to 64 of lower-case letters, digits and '_'".to_owned()));
        }
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 200 {
            problems.push(("label", "must be 1 to 200 characters".to_owned()));
        }
        let mut distinct: Vec<String> = Vec::new();
        for choice in choices {
            let choice = choice.trim();
            if choice.is_empty() || choice.chars().count() > 200 || distinct.iter().any(|known| known == choice) {
                problems.push(("choices", "each choice must be 1 to 200 characters, without repeats".to_owned()));
                break;
            }
            distinct.push(choice.to_owned());
        }
        match field_type {
            FieldType::Choice if distinct.is_empty() => {
                problems.push(("choices", "a choice field needs choices".to_owned()))
            }
            FieldType::Choice => {}
            _ if !distinct.is_empty() => problems.push(("choices", "only a choice field has choices".to_owned())),
            _ => {}
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Definition { key: key.to_owned(), label: label.to_owned(), field_type, choices: distinct })
    }

    /// Checks one value against the definition.
    pub fn check(&self, value: &str) -> Result<(), String> {
        match self.field_type {
            FieldType::Text if value.chars().count() <= 1024 => Ok(()),
            FieldType::Text => Err("must be at most 1024 characters".to_owned()),
            FieldType::Number => bss_platform::money::parse_decimal(value).map(|_| ()),
            FieldType::Date => bss_platform::time::parse_date(value).map(|_| ()),
            FieldType::Boolean if value == "true" || value == "false" => Ok(()),
            FieldType::Boolean => Err("must be true or false".to_owned()),
            FieldType::Choice if self.choices.iter().any(|choice| choice == value) => Ok(()),
            FieldType::Choice => Err(format!("must be one of: {}", self.choices.join(", "))),
        }
    }
}

/// Checks every value against the definitions: unknown keys and values
/// that do not fit are reported by key.
pub fn check_values(values: &BTreeMap<String, String>, definitions: &[Definition]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (key, value) in values {
        match definitions.iter().find(|definition| &definition.key == key) {
            None => problems.push((key.clone(), "no custom field is defined with this key".to_owned())),
            Some(definition) => {
                if let Err(problem) = definition.check(value) {
                    problems.push((key.clone(), problem));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions() -> Vec<Definition> {
        vec![
            Definition::parse("segment", "Segment", FieldType::Choice, &["smb".to_owned(), "enterprise".to_owned()])
                .expect("choice"),
            Definition::parse("seats", "Seats", FieldType::Number, &[]).expect("number"),
            Definition::parse("renewal", "Renewal", FieldType::Date, &[]).expect("date"),
            Definition::parse("vip", "VIP", FieldType::Boolean, &[]).expect("boolean"),
            Definition::parse("note", "Note", FieldType::Text, &[]).expect("text"),
        ]
    }

    #[test]
    fn values_must_fit_their_definition() {
        let good: BTreeMap<String, String> =
            [("segment", "smb"), ("seats", "12.5"), ("renewal", "2027-02-28"), ("vip", "true"), ("note", "x")]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
        assert!(check_values(&good, &definitions()).is_empty());

        let bad: BTreeMap<String, String> =
            [("segment", "huge"), ("seats", "12,5"), ("renewal", "2027-02-30"), ("vip", "yes"), ("colour", "red")]
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .collect();
        let keys: Vec<String> = check_values(&bad, &definitions()).into_iter().map(|(key, _)| key).collect();
        assert_eq!(keys, ["colour", "renewal", "seats", "segment", "vip"]);
    }

    #[test]
    fn definitions_are_checked() {
        assert!(Definition::parse("Bad Key", "x", FieldType::Text, &[]).is_err());
        assert!(Definition::parse("pick", "Pick", FieldType::Choice, &[]).is_err());
        assert!(Definition::parse("flag", "Flag", FieldType::Boolean, &["a".to_owned()]).is_err());
        assert!(Definition::parse("pick", "Pick", FieldType::Choice, &["a".to_owned(), "a".to_owned()]).is_err());
    }
}
