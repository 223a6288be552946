//! A request's headers.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The headers a request came with (HTTP headers; empty for other channels).
///
/// Kept as the HTTP layer parsed them rather than copied into strings: handing a request's
/// headers to a service then costs one table, not two strings per header, and most
/// services never look at them. Names are case-insensitive.
#[derive(Debug, Clone, Default)]
pub struct Headers(HeaderMap);

/// A header name or value that HTTP does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid HTTP header: {0}")]
pub struct InvalidHeader(String);

impl Headers {
    pub(crate) fn from_http(map: HeaderMap) -> Self {
        Self(map)
    }

    /// The first value of `name`, if there is one and it is text.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }

    /// Every header whose value is text, as (lower-case name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
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

    /// How many header values there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_values_text() {
        let mut headers = Headers::default();
        headers.insert("X-Order-Id", "42").expect("valid header");
        headers
            .insert("content-type", "application/json")
            .expect("valid header");
        assert_eq!(headers.get("x-order-id"), Some("42"));
        assert_eq!(headers.get("Content-Type"), Some("application/json"));
        assert_eq!(headers.len(), 2);
        let mut all: Vec<_> = headers.iter().collect();
        all.sort();
        assert_eq!(
            all,
            [("content-type", "application/json"), ("x-order-id", "42")]
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
}
