//! Reading what the user gives: JSON from flags and files.

use std::io::Read as _;
use std::path::Path;

use serde_json::{Map, Value};

/// Why an input was refused.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{what} is not valid JSON: {error}")]
    Json {
        what: String,
        error: serde_json::Error,
    },
    #[error("{what} must be a JSON object, not {found}")]
    NotObject { what: String, found: &'static str },
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// Parses `text` as JSON, naming `what` in the error.
pub fn json(what: &str, text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|error| InputError::Json {
        what: what.to_owned(),
        error,
    })
}

/// A message body: JSON when it parses, else the text as a JSON string, so `hello` and
/// `{"a":1}` both do what one expects.
pub fn body(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The JSON object in a file (`-` is standard input).
pub fn object_from_file(path: &Path) -> Result<Map<String, Value>, InputError> {
    let shown = path.display().to_string();
    let text = if shown == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| InputError::Read {
                path: "standard input".into(),
                error,
            })?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|error| InputError::Read {
            path: shown.clone(),
            error,
        })?
    };
    object(&shown, &text)
}

/// The JSON object in `text`.
pub fn object(what: &str, text: &str) -> Result<Map<String, Value>, InputError> {
    match json(what, text)? {
        Value::Object(map) => Ok(map),
        other => Err(InputError::NotObject {
            what: what.to_owned(),
            found: kind_of(&other),
        }),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `key=value` pairs, as repeated `--header` flags give them.
pub fn pairs(flag: &str, items: &[String]) -> Result<Map<String, Value>, InputError> {
    let mut map = Map::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            return Err(InputError::Invalid(format!(
                "{flag} '{item}' is not KEY=VALUE"
            )));
        };
        if key.trim().is_empty() {
            return Err(InputError::Invalid(format!("{flag} '{item}' has no key")));
        }
        map.insert(key.trim().to_owned(), Value::String(value.to_owned()));
    }
    Ok(map)
}

/// A point in time as milliseconds since the epoch: given so, or as an RFC 3339 timestamp
/// (`2025-01-31T12:00:00Z`, `2025-01-31T13:00:00+01:00`), which says its offset and so means
/// the same instant wherever the command runs.
pub fn epoch_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| format!("'{text}' is too large for milliseconds since the epoch"));
    }
    let instant: jiff::Timestamp = text.parse().map_err(|e| {
        format!("'{text}' is neither milliseconds since the epoch nor an RFC 3339 timestamp ({e})")
    })?;
    u64::try_from(instant.as_millisecond())
        .map_err(|_| format!("'{text}' is before 1970, when message ids start"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_milliseconds_or_rfc_3339() {
        assert_eq!(epoch_ms("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(epoch_ms("1970-01-01T00:00:01.5Z"), Ok(1_500));
        assert_eq!(epoch_ms("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(epoch_ms("1969-12-31T23:59:59Z").is_err());
        assert!(epoch_ms("yesterday").is_err());
        assert!(epoch_ms("2025-01-31T12:00:00").is_err());
    }
}
