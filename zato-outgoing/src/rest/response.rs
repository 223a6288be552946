//! What an upstream answered.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// An upstream's answer, whatever its status: a 404 or a 500 from the upstream is an answer
/// the service decides about, not an error of the call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestResponse {
    pub status: u16,
    /// Header names in lower case; a header sent several times has its values joined by ", ".
    pub headers: BTreeMap<String, String>,
    /// Parsed when the upstream said it is JSON (`application/json`, `...+json`) and it
    /// parses; otherwise the body as text (invalid UTF-8 replaced).
    pub body: Value,
}

impl RestResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, by name in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// Builds the answer from its parts; `json` says whether the upstream labelled it JSON.
    pub(crate) fn from_parts(status: u16, headers: BTreeMap<String, String>, bytes: &[u8]) -> Self {
        let is_json = headers.get("content-type").is_some_and(|t| {
            let media = t.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/json") || media.ends_with("+json")
        });
        let body = is_json
            .then(|| serde_json::from_slice(bytes).ok())
            .flatten()
            .unwrap_or_else(|| Value::String(String::from_utf8_lossy(bytes).into_owned()));
        Self {
            status,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(content_type: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("content-type".to_owned(), content_type.to_owned())])
    }

    #[test]
    fn json_is_parsed_only_when_labelled_and_valid() {
        let r = RestResponse::from_parts(
            200,
            headers("application/json; charset=utf-8"),
            b"{\"a\":1}",
        );
        assert_eq!(r.body, json!({"a": 1}));
        let r = RestResponse::from_parts(200, headers("application/problem+json"), b"[1]");
        assert_eq!(r.body, json!([1]));
        let r = RestResponse::from_parts(200, headers("text/plain"), b"{\"a\":1}");
        assert_eq!(r.body, json!("{\"a\":1}"));
        let r = RestResponse::from_parts(502, headers("application/json"), b"<html>");
        assert_eq!(r.body, json!("<html>"));
        assert!(!r.is_success());
        assert_eq!(r.header("Content-Type"), Some("application/json"));
    }
}
