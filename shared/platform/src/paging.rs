//! Keyset pagination with opaque page tokens (AIP-158).
//!
//! A token holds the sort key of the last item returned and a fingerprint of
//! the filters, so a token is refused when the filters change between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{PlatformError, Violations};

pub const DEFAULT_PAGE_SIZE: usize = 50;
pub const MAX_PAGE_SIZE: usize = 500;

const FINGERPRINT_LEN: usize = 8;

/// One page request: how many items, and after which sort key.
#[derive(Clone, Debug)]
pub struct Page {
    size: usize,
    after: Option<Vec<u8>>,
    fingerprint: [u8; FINGERPRINT_LEN],
}

impl Page {
    /// Reads `page_size` (0 means the default, above the maximum is capped,
    /// negative is refused) and `page_token`. `filters` is the list request
    /// with its page size and token cleared.
    pub fn parse(page_size: i32, page_token: &str, filters: &impl Message) -> Result<Page, Violations> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            size if size < 0 => return Err(Violations::single("page_size", "must not be negative")),
            size => (size as usize).min(MAX_PAGE_SIZE),
        };
        let fingerprint = fingerprint(filters);
        let after = if page_token.is_empty() {
            None
        } else {
            let bytes = URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| Violations::single("page_token", "not a token of this listing"))?;
            if bytes.len() < FINGERPRINT_LEN || bytes[..FINGERPRINT_LEN] != fingerprint {
                return Err(Violations::single(
                    "page_token",
                    "not a token of this listing, or the filters changed since the first page",
                ));
            }
            Some(bytes[FINGERPRINT_LEN..].to_vec())
        };
        Ok(Page { size, after, fingerprint })
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size as i64 + 1
    }

    /// The UUID sort key after which this page starts.
    pub fn after_uuid(&self) -> Result<Option<Uuid>, PlatformError> {
        self.after
            .as_deref()
            .map(|bytes| Uuid::from_slice(bytes).map_err(|_| PlatformError::InvalidPageToken))
            .transpose()
    }

    /// The integer sort key after which this page starts.
    pub fn after_i64(&self) -> Result<Option<i64>, PlatformError> {
        self.after
            .as_deref()
            .map(|bytes| {
                <[u8; 8]>::try_from(bytes).map(i64::from_be_bytes).map_err(|_| PlatformError::InvalidPageToken)
            })
            .transpose()
    }

    /// The text sort key after which this page starts.
    pub fn after_text(&self) -> Result<Option<String>, PlatformError> {
        self.after
            .as_deref()
            .map(|bytes| String::from_utf8(bytes.to_vec()).map_err(|_| PlatformError::InvalidPageToken))
            .transpose()
    }

    /// The (time, id) sort key after which this page starts (see
    /// [`time_and_id`]).
    pub fn after_time_and_id(&self) -> Result<Option<(DateTime<Utc>, Uuid)>, PlatformError> {
        self.after
            .as_deref()
            .map(|bytes| {
                let (micros, id) = bytes.split_at_checked(8).ok_or(PlatformError::InvalidPageToken)?;
                let micros = <[u8; 8]>::try_from(micros).map(i64::from_be_bytes);
                let at = micros.ok().and_then(DateTime::from_timestamp_micros);
                let id = Uuid::from_slice(id).ok();
                at.zip(id).ok_or(PlatformError::InvalidPageToken)
            })
            .transpose()
    }

    /// The (text, number) sort key after which this page starts (see
    /// [`text_and_number`]).
    pub fn after_text_and_number(&self) -> Result<Option<(String, i64)>, PlatformError> {
        self.after
            .as_deref()
            .map(|bytes| {
                let (number, text) = bytes.split_at_checked(8).ok_or(PlatformError::InvalidPageToken)?;
                let number = <[u8; 8]>::try_from(number).map(i64::from_be_bytes);
                let text = String::from_utf8(text.to_vec()).ok();
                text.zip(number.ok()).ok_or(PlatformError::InvalidPageToken)
            })
            .transpose()
    }

    /// Cuts the fetched rows to the page and makes the next token from the
    /// sort key of the last row kept (empty when this is the last page).
    pub fn finish<T>(&self, mut rows: Vec<T>, sort_key: impl Fn(&T) -> Vec<u8>) -> (Vec<T>, String) {
        if rows.len() <= self.size {
            return (rows, String::new());
        }
        rows.truncate(self.size);
        let token = rows.last().map_or_else(String::new, |last| {
            let mut bytes = self.fingerprint.to_vec();
            bytes.extend(sort_key(last));
            URL_SAFE_NO_PAD.encode(bytes)
        });
        (rows, token)
    }
}

/// The sort key of a row listed by a time (to the microsecond, as
/// Postgres keeps it) then an id.
pub fn time_and_id(at: DateTime<Utc>, id: Uuid) -> Vec<u8> {
    let mut key = at.timestamp_micros().to_be_bytes().to_vec();
    key.extend(id.as_bytes());
    key
}

/// The sort key of a row listed by a text then a number.
pub fn text_and_number(text: &str, number: i64) -> Vec<u8> {
    let mut key = number.to_be_bytes().to_vec();
    key.extend(text.as_bytes());
    key
}

fn fingerprint(filters: &impl Message) -> [u8; FINGERPRINT_LEN] {
    let digest = Sha256::digest(filters.encode_to_vec());
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(&digest[..FINGERPRINT_LEN]);
    fingerprint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_carries_the_last_key_and_refuses_other_filters() {
        let filters = prost_types::Duration { seconds: 1, nanos: 0 };
        let first = Page::parse(2, "", &filters).expect("first page");
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (kept, token) = first.finish(ids.clone(), |id| id.as_bytes().to_vec());
        assert_eq!(kept, ids[..2]);
        assert!(!token.is_empty());

        let second = Page::parse(2, &token, &filters).expect("second page");
        assert_eq!(second.after_uuid().expect("uuid"), Some(ids[1]));

        let other_filters = prost_types::Duration { seconds: 2, nanos: 0 };
        assert!(Page::parse(2, &token, &other_filters).is_err());
        assert!(Page::parse(2, "not-base64!", &filters).is_err());
    }

    #[test]
    fn page_size_defaults_caps_and_refuses_negative() {
        let filters = prost_types::Duration::default();
        assert_eq!(Page::parse(0, "", &filters).expect("default").size, DEFAULT_PAGE_SIZE);
        assert_eq!(Page::parse(10_000, "", &filters).expect("capped").size, MAX_PAGE_SIZE);
        assert!(Page::parse(-1, "", &filters).is_err());
    }

    #[test]
    fn the_last_page_has_no_token() {
        let page = Page::parse(5, "", &prost_types::Duration::default()).expect("page");
        let (kept, token) = page.finish(vec![1i64, 2, 3], |key| key.to_be_bytes().to_vec());
        assert_eq!(kept.len(), 3);
        assert!(token.is_empty());
    }

    #[test]
    fn composite_keys_read_back_as_they_were_made() {
        let filters = prost_types::Duration { seconds: 2, nanos: 0 };
        let at = DateTime::from_timestamp_micros(1_764_633_600_123_456).expect("time");
        let id = Uuid::now_v7();
        let first = Page::parse(1, "", &filters).expect("first page");
        let (_, token) = first.finish(vec![1, 2], |_| time_and_id(at, id));
        assert_eq!(Page::parse(1, &token, &filters).expect("next").after_time_and_id().ok(), Some(Some((at, id))));
        let (_, token) = first.finish(vec![1, 2], |_| text_and_number("billing", 42));
        let next = Page::parse(1, &token, &filters).expect("next");
        assert_eq!(next.after_text_and_number().ok(), Some(Some(("billing".to_owned(), 42))));
        assert!(next.after_time_and_id().is_err(), "not a time and an id");
    }
}
