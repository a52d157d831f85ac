//! Checks of request fields every context shares: ids and free text.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::Violations;

/// A required id: a UUID.
pub fn required_id(value: &str) -> Result<Uuid, String> {
    if value.is_empty() {
        return Err("is required".to_owned());
    }
    Uuid::parse_str(value).map_err(|_| "must be a UUID".to_owned())
}

/// A required id field: a UUID, or the violation of `field`.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, Violations> {
    required_id(value).map_err(|problem| Violations::single(field, problem))
}

/// An optional id field: empty, or a UUID.
pub fn parse_optional_id(value: &str) -> Result<Option<Uuid>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(value).map(Some).map_err(|_| "must be a UUID or empty".to_owned())
}

/// A list of 1 to `most` ids in `field`: the ids that parse; a violation
/// for the list's length and for each id that does not (`field[i]`).
pub fn id_list(v: &mut Violations, field: &str, values: &[String], most: usize) -> Vec<Uuid> {
    if values.is_empty() || values.len() > most {
        v.add(field, format!("give 1 to {most} ids"));
    }
    values.iter().enumerate().filter_map(|(index, id)| v.keep(&format!("{field}[{index}]"), required_id(id))).collect()
}

/// Why text with a NUL character (U+0000) is refused: Postgres cannot
/// store it.
pub const NUL_IN_TEXT: &str = "holds a NUL character (U+0000), which text may not contain";

/// Optional free text: trimmed, at most `max` characters, no NUL.
/// A date field that may be left empty (`Some(None)`); `None` after a
/// violation, recorded in `v`.
pub fn optional_date(v: &mut Violations, field: &str, value: &str) -> Option<Option<chrono::NaiveDate>> {
    if value.is_empty() { Some(None) } else { v.keep(field, crate::time::parse_date(value)).map(Some) }
}

pub fn optional_text(value: &str, max: usize) -> Result<String, String> {
    if value.contains('\0') {
        return Err(NUL_IN_TEXT.to_owned());
    }
    let trimmed = value.trim();
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_owned())
}

/// Required free text: trimmed, 1 to `max` characters.
pub fn required_text(value: &str, max: usize) -> Result<String, String> {
    let text = optional_text(value, max)?;
    if text.is_empty() {
        return Err("is required".to_owned());
    }
    Ok(text)
}

/// The time zone of a tenant or request that names none.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// An IANA time zone name as written ("Europe/Paris", "UTC",
/// "America/Argentina/Buenos_Aires", "Etc/GMT+10"): 1 to 64 letters, digits
/// and `/ _ + -`; empty is [`DEFAULT_TIME_ZONE`]. Whether the time zone
/// database knows it is [`crate::db::today_in`]'s to say.
pub fn time_zone_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Ok(DEFAULT_TIME_ZONE.to_owned());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '+' | '-');
    // Postgres also lists the system's own aliases and copies, which
    // browsers' time zone data does not know.
    let lowered = name.to_ascii_lowercase();
    let system = ["posix/", "right/"].iter().any(|prefix| lowered.starts_with(prefix))
        || ["localtime", "posixrules", "factory"].contains(&lowered.as_str());
    if name.len() > 64 || !name.chars().all(allowed) || name.starts_with('/') || system {
        return Err("must be an IANA time zone name such as Europe/Paris".to_owned());
    }
    Ok(name.to_owned())
}

/// Most days a history (balance, exposure) covers: a leap year.
pub const MOST_HISTORY_DAYS: i64 = 366;

/// The days from `from` to `to` of a history, refused (`to_date` named)
/// when `to` is before `from` or the range is longer than
/// [`MOST_HISTORY_DAYS`].
pub fn history_range(from: NaiveDate, to: NaiveDate) -> Result<(NaiveDate, NaiveDate), Violations> {
    let days = (to - from).num_days() + 1;
    if days < 1 {
        return Err(Violations::single("to_date", "must be on or after from_date"));
    }
    if days > MOST_HISTORY_DAYS {
        return Err(Violations::single("to_date", format!("a history covers at most {MOST_HISTORY_DAYS} days")));
    }
    Ok((from, to))
}

/// A request for an account's figures day by day (`account_id`,
/// `from_date`, `to_date`, `time_zone`), checked: every bad field named
/// at once, then the range (see [`history_range`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    pub account_id: Uuid,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// An IANA name, `UTC` when none was given.
    pub time_zone: String,
}

impl HistoryQuery {
    pub fn parse(
        account_id: &str,
        from_date: &str,
        to_date: &str,
        time_zone: &str,
    ) -> Result<HistoryQuery, Violations> {
        let mut v = Violations::new();
        let account_id = v.keep("account_id", required_id(account_id));
        let from = v.keep("from_date", crate::time::parse_date(from_date));
        let to = v.keep("to_date", crate::time::parse_date(to_date));
        let time_zone = v.keep("time_zone", time_zone_name(time_zone));
        let (Some(account_id), Some(from), Some(to), Some(time_zone)) = (account_id, from, to, time_zone) else {
            return Err(v);
        };
        let (from, to) = history_range(from, to)?;
        Ok(HistoryQuery { account_id, from, to, time_zone })
    }
}

/// The violation of `field` naming a time zone the time zone database does
/// not know ([`crate::db::today_in`] found none).
pub fn unknown_time_zone(field: &str, name: &str) -> Violations {
    Violations::single(field, format!("{name:?} is not in the time zone database (IANA names such as Europe/Paris)"))
}

/// A code (account code, SKU, level code), trimmed: 1 to `max` letters,
/// digits, '.', '_' or '-'.
pub fn code(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("is required".to_owned());
    }
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    if value.len() > max || !value.bytes().all(allowed) {
        return Err(format!("must be 1 to {max} letters, digits, '.', '_' or '-'"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_runs_forward_and_at_most_a_leap_year() {
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a date");
        assert!(history_range(date("2026-12-02"), date("2026-12-01")).is_err());
        assert!(history_range(date("2026-12-01"), date("2026-12-01")).is_ok());
        assert!(history_range(date("2024-01-01"), date("2024-12-31")).is_ok(), "366 days");
        assert!(history_range(date("2023-01-01"), date("2024-01-01")).is_ok(), "366 days");
        assert!(history_range(date("2023-01-01"), date("2024-01-02")).is_err(), "367 days");
    }

    #[test]
    fn a_history_query_names_every_bad_field_then_checks_the_range() {
        let id = Uuid::now_v7().to_string();
        let query = HistoryQuery::parse(&id, "2026-11-01", "2026-11-30", "").expect("a query");
        assert_eq!((query.to - query.from).num_days(), 29);
        assert_eq!(query.time_zone, "UTC");
        let fields = |error: Violations| error.iter().map(|violation| violation.field.clone()).collect::<Vec<_>>();
        let bad = HistoryQuery::parse("x", "yesterday", "2026-11-30", "posix/Europe/Paris").expect_err("bad");
        assert_eq!(fields(bad), ["account_id", "from_date", "time_zone"]);
        let backwards = HistoryQuery::parse(&id, "2026-11-30", "2026-11-01", "UTC").expect_err("backwards");
        assert_eq!(fields(backwards), ["to_date"]);
    }

    #[test]
    fn a_time_zone_is_an_iana_name_and_empty_is_utc() {
        assert_eq!(time_zone_name("").as_deref(), Ok("UTC"));
        assert_eq!(time_zone_name(" Europe/Paris ").as_deref(), Ok("Europe/Paris"));
        assert_eq!(time_zone_name("America/Argentina/Buenos_Aires").as_deref(), Ok("America/Argentina/Buenos_Aires"));
        assert_eq!(time_zone_name("Etc/GMT+10").as_deref(), Ok("Etc/GMT+10"));
        for bad in [
            "Europe/Paris; DROP",
            "/etc/passwd",
            "Mars Time",
            &"A".repeat(65),
            "posix/Asia/Tokyo",
            "right/UTC",
            "localtime",
        ] {
            assert!(time_zone_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(required_text("  Acme  ", 10), Ok("Acme".to_owned()));
        assert!(required_text("   ", 10).is_err());
        assert!(optional_text("abcdef", 5).is_err());
        assert_eq!(optional_text("", 5), Ok(String::new()));
    }

    #[test]
    fn ids_and_codes_are_checked() {
        assert!(parse_id("id", "").is_err());
        assert!(parse_id("id", "nope").is_err());
        assert_eq!(parse_optional_id(""), Ok(None));
        assert_eq!(code("SKU-1.a_b", 16), Ok("SKU-1.a_b".to_owned()));
        assert!(code("has space", 16).is_err());
        assert!(code("", 16).is_err());
    }
}
