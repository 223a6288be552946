//! A request's headers.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The headers a request came with (HTTP headers; empty for other channels).
///
/// Every name and value sits in one string, with a table of where each starts and ends:
/// handing a request's headers to a service costs two allocations however many headers
/// there are (a map of strings costs two per header, and a clone of the HTTP layer's own
/// map costs more), and most services never look at them. Names are kept in lower case and
/// looked up case-insensitively; a request has a handful of headers, so a lookup is a scan.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    /// Names and values, back to back.
    text: String,
    /// Per header: where its name starts, where its value starts, where its value ends.
    spans: Vec<(usize, usize, usize)>,
}

/// Room for the names and values of a usual request's headers, so that the text is
/// allocated once.
const TYPICAL_TEXT: usize = 512;

/// A header name or value that HTTP does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid HTTP header: {0}")]
pub struct InvalidHeader(String);

impl Headers {
    /// The text headers of an HTTP request, but for `hidden` (a header that carried the
    /// caller's credentials: the service has no business with them).
    ///
    /// A value is kept if it is UTF-8 (checked a word at a time, where `to_str` would check
    /// byte by byte for visible ASCII).
    pub(crate) fn from_http(map: &HeaderMap, hidden: Option<&str>) -> Self {
        let mut headers = Self {
            text: String::with_capacity(TYPICAL_TEXT),
            spans: Vec::with_capacity(map.len()),
        };
        for (name, value) in map.iter() {
            if Some(name.as_str()) == hidden {
                continue;
            }
            if let Ok(value) = std::str::from_utf8(value.as_bytes()) {
                headers.push(name.as_str(), value);
            }
        }
        headers
    }

    fn push(&mut self, name: &str, value: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let value_start = self.text.len();
        self.text.push_str(value);
        self.spans.push((start, value_start, self.text.len()));
    }

    /// The first value of `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Every header as (lower-case name, value), in the order they came.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|&(start, value_start, end)| {
            (&self.text[start..value_start], &self.text[value_start..end])
        })
    }

    /// Sets `name` to `value`, replacing what it had.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let name =
            HeaderName::try_from(name).map_err(|_| InvalidHeader(format!("name {name:?}")))?;
        let value =
            HeaderValue::try_from(value).map_err(|_| InvalidHeader(format!("value {value:?}")))?;
        let value = value
            .to_str()
            .map_err(|_| InvalidHeader(format!("value {value:?} is not text")))?;
        self.remove(name.as_str());
        self.push(name.as_str(), value);
        Ok(())
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &str) {
        let text = &self.text;
        self.spans.retain(|&(start, value_start, _)| {
            !text[start..value_start].eq_ignore_ascii_case(name)
        });
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

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
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
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
        let headers = Headers::from_http(&map, Some("authorization"));
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
