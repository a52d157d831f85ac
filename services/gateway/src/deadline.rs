//! Deadlines: a default when the client sends none, a cap on the ones it
//! sends, written back into `grpc-timeout` for the backend.

use std::time::Duration;

use http::HeaderMap;

pub const GRPC_TIMEOUT: &str = "grpc-timeout";

#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub default: Duration,
    pub max: Duration,
}

impl Deadlines {
    /// The deadline of a call, written back into its headers.
    pub fn apply(&self, headers: &mut HeaderMap) -> Duration {
        let sent = headers.get(GRPC_TIMEOUT).and_then(|value| value.to_str().ok()).and_then(parse);
        let deadline = sent.unwrap_or(self.default).min(self.max);
        if let Ok(value) = http::HeaderValue::from_str(&format!("{}m", deadline.as_millis().max(1))) {
            headers.insert(GRPC_TIMEOUT, value);
        }
        deadline
    }
}

/// Parses a `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m,
/// u, n).
pub fn parse(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount * 3600)),
        "M" => Some(Duration::from_secs(amount * 60)),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadlines() -> Deadlines {
        Deadlines { default: Duration::from_secs(10), max: Duration::from_secs(30) }
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("150m"), Some(Duration::from_millis(150)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse("123456789S"), None, "more than 8 digits");
        assert_eq!(parse("10x"), None);
        assert_eq!(parse("S"), None);
    }

    #[test]
    fn a_missing_deadline_gets_the_default_and_a_long_one_is_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(deadlines().apply(&mut headers), Duration::from_secs(10));
        assert_eq!(headers[GRPC_TIMEOUT], "10000m");

        headers.insert(GRPC_TIMEOUT, http::HeaderValue::from_static("5M"));
        assert_eq!(deadlines().apply(&mut headers), Duration::from_secs(30));
        assert_eq!(headers[GRPC_TIMEOUT], "30000m");

        headers.insert(GRPC_TIMEOUT, http::HeaderValue::from_static("250m"));
        assert_eq!(deadlines().apply(&mut headers), Duration::from_millis(250));
    }
}
