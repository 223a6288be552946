//! A request's headers.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The headers a request came with (HTTP headers; empty for other channels).
///
/// The HTTP layer's own map, moved out of the request rather than copied: an HTTP channel
/// hands its headers to the service without copying a byte (the values stay slices of the
/// buffer the request was read into), and most services never look at them. Names are
/// case-insensitive; values are offered as text, and a value that is not UTF-8 is as if it
/// were not there.
#[derive(Debug, Clone, Default)]
pub struct Headers(HeaderMap);

/// A header name or value that HTTP does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid HTTP header: {0}")]
pub struct InvalidHeader(String);

impl Headers {
    /// The headers of an HTTP request, but for `hidden` (a header that carried the caller's
    /// credentials: the service has no business with them).
    pub(crate) fn from_http(mut map: HeaderMap, hidden: Option<&HeaderName>) -> Self {
        if let Some(hidden) = hidden {
            map.remove(hidden);
        }
        Self(map)
    }

    /// The first value of `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(text)
    }

    /// Every header as (lower-case name, value); the values of a repeated header in the
    /// order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), text(value)?)))
    }

    /// Sets `name` to `value`, replacing what it had.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let name =
            HeaderName::try_from(name).map_err(|_| InvalidHeader(format!("name {name:?}")))?;
        let value =
            HeaderValue::try_from(value).map_err(|_| InvalidHeader(format!("value {value:?}")))?;
        self.0.insert(name, value);
        Ok(())
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }

    /// How many headers there are (a repeated header counts once per value).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A value as text, if it is UTF-8 (checked a word at a time, where `to_str` would check
/// byte by byte for visible ASCII).
fn text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

    use super::*;

    #[test]
    fn names_are_case_insensitive_and_values_text() {
        let mut headers = Headers::default();
        headers.insert("X-Order-Id", "42").expect("valid header");
        headers
            .insert("content-type", "application/json")
            .expect("valid header");
        headers.insert("x-order-id", "43").expect("valid header");
        assert_eq!(headers.get("x-order-id"), Some("43"));
        assert_eq!(headers.get("Content-Type"), Some("application/json"));
        assert_eq!(headers.len(), 2);
        let mut all: Vec<_> = headers.iter().collect();
        all.sort();
        assert_eq!(
            all,
            [("content-type", "application/json"), ("x-order-id", "43")]
        );
        headers.remove("X-ORDER-ID");
        assert_eq!(headers.get("x-order-id"), None);
    }

    #[test]
    fn invalid_headers_are_refused() {
        let mut headers = Headers::default();
        assert!(headers.insert("bad name", "x").is_err());
        assert!(headers.insert("x-ok", "line\nbreak").is_err());
        assert!(headers.is_empty());
    }

    #[test]
    fn http_headers_are_taken_but_the_hidden_one_and_binary_values() {
        let mut map = HeaderMap::new();
        let header = |name: &'static str| HeaderName::from_static(name);
        map.insert(header("host"), HeaderValue::from_static("example.com"));
        map.insert(
            header("authorization"),
            HeaderValue::from_static("Basic eA=="),
        );
        map.append(header("x-tag"), HeaderValue::from_static("a"));
        map.append(header("x-tag"), HeaderValue::from_static("b"));
        map.insert(
            header("x-binary"),
            HeaderValue::from_bytes(b"\xff\xfe").expect("opaque bytes are a valid value"),
        );
        let headers = Headers::from_http(map, Some(&header::AUTHORIZATION));
        assert_eq!(headers.get("Host"), Some("example.com"));
        assert_eq!(headers.get("authorization"), None);
        assert_eq!(headers.get("x-binary"), None);
        let tags: Vec<_> = headers
            .iter()
            .filter(|(name, _)| *name == "x-tag")
            .map(|(_, value)| value)
            .collect();
        assert_eq!(tags, ["a", "b"]);
    }
}
