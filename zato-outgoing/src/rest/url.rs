//! The URL of one call: the connection's address, its path template filled from the call's
//! parameters, and the parameters left over as the query string.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;
use serde_json::{Map, Value};
use zato_common::url_path::{Segment, UrlPath};

use super::RestError;

/// What stays as it is in a path segment: RFC 3986's unreserved characters. Everything
/// else, `/` and `?` above all, is percent-encoded, so a parameter can never add a segment
/// or start a query.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A parameter's value as text: strings as they are, numbers and booleans as JSON writes them.
fn as_text(name: &str, value: &Value) -> Result<Option<String>, RestError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Bool(_) | Value::Number(_) => Ok(Some(value.to_string())),
        Value::Array(_) | Value::Object(_) => Err(RestError::Call(format!(
            "parameter '{name}' is {}; a parameter is a string, a number or a boolean",
            if value.is_array() {
                "an array"
            } else {
                "an object"
            }
        ))),
    }
}

/// The URL for `template` below `address`, filled from `params`.
pub fn build(
    address: &str,
    template: &UrlPath,
    params: &Map<String, Value>,
) -> Result<Url, RestError> {
    let mut url = address.trim_end_matches('/').to_owned();
    let mut used = Vec::new();
    for segment in template.segments() {
        url.push('/');
        match segment {
            Segment::Static(text) => url.push_str(text),
            Segment::Param(name) => {
                let value = params
                    .get(name)
                    .map(|v| as_text(name, v))
                    .transpose()?
                    .flatten()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        RestError::Call(format!("path parameter '{name}' is missing"))
                    })?;
                // A URL parser resolves dot segments, encoded or not: `..` would climb out
                // of the template.
                if value == "." || value == ".." {
                    return Err(RestError::Call(format!(
                        "path parameter '{name}' is '{value}', which would name another path"
                    )));
                }
                url.extend(utf8_percent_encode(&value, SEGMENT));
                used.push(name.as_str());
            }
        }
    }
    if template.segments().is_empty() {
        url.push('/');
    }
    let mut url = Url::parse(&url)
        .map_err(|e| RestError::Call(format!("the URL {url} is not valid: {e}")))?;
    let mut leftover = params
        .iter()
        .filter(|(name, value)| !value.is_null() && !used.contains(&name.as_str()))
        .peekable();
    if leftover.peek().is_some() {
        let mut query = url.query_pairs_mut();
        for (name, value) in leftover {
            let values = match value {
                Value::Array(items) => items.iter().collect(),
                single => vec![single],
            };
            for value in values {
                if let Some(text) = as_text(name, value)? {
                    query.append_pair(name, &text);
                }
            }
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn url(address: &str, template: &str, p: Value) -> Result<String, RestError> {
        let template = UrlPath::parse(template).expect("valid template");
        build(address, &template, &params(p)).map(|u| u.to_string())
    }

    #[test]
    fn fills_the_path_and_puts_the_rest_in_the_query() {
        assert_eq!(
            url(
                "https://crm.example.com/api/",
                "/customers/{id}/orders",
                json!({"id": 42, "status": "open", "tag": ["a", "b c"]})
            )
            .expect("url"),
            "https://crm.example.com/api/customers/42/orders?status=open&tag=a&tag=b+c"
        );
        assert_eq!(
            url("http://h:8080", "/", json!({})).expect("url"),
            "http://h:8080/"
        );
        assert_eq!(
            url("http://h", "/x", json!({"skip": null})).expect("url"),
            "http://h/x"
        );
    }

    #[test]
    fn a_parameter_cannot_escape_its_segment() {
        assert_eq!(
            url("http://h", "/users/{id}", json!({"id": "../admin?x=1#f"})).expect("url"),
            "http://h/users/..%2Fadmin%3Fx%3D1%23f"
        );
        assert_eq!(
            url("http://h", "/u/{id}", json!({"id": "é ü"})).expect("url"),
            "http://h/u/%C3%A9%20%C3%BC"
        );
    }

    #[test]
    fn missing_or_unusable_parameters_are_clear_errors() {
        assert_eq!(
            url("http://h", "/users/{id}", json!({})),
            Err(RestError::Call("path parameter 'id' is missing".into()))
        );
        assert!(matches!(
            url("http://h", "/users/{id}", json!({"id": ""})),
            Err(RestError::Call(_))
        ));
        assert!(matches!(
            url("http://h", "/", json!({"q": {"a": 1}})),
            Err(RestError::Call(_))
        ));
        for dots in [".", ".."] {
            assert!(matches!(
                url("http://h", "/u/{id}/orders", json!({"id": dots})),
                Err(RestError::Call(_))
            ));
        }
        assert_eq!(
            url("http://h", "/u/{id}", json!({"id": "..."})).expect("url"),
            "http://h/u/..."
        );
    }
}
