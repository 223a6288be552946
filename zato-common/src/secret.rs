//! A string that must never reach a log line or an API answer.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value (password, API key, credentials in a URL).
///
/// `Debug` and `Display` print `***`, so a secret inside a config struct cannot leak through
/// `tracing` or an error message. It serializes as itself, because it has to be stored; the
/// layers that answer users (the admin API) strip it before answering.
#[derive(Clone, PartialEq, Eq, Serialize, Default, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(extend("writeOnly" = true))]
pub struct Secret(String);

/// A secret that is not a string is refused without its value: serde's own message quotes
/// what it got (``invalid type: integer `12345678` ``), which would put the secret in an
/// error answer and a log line.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)
            .map(Secret)
            .map_err(|_| serde::de::Error::custom("a secret must be a string"))
    }
}

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the few places that must compare or use it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `url` with the password of its user info, if any, shown as `***`
/// (`redis://zato:pw@host:6379/0` -> `redis://zato:***@host:6379/0`), for printing a URL
/// that may carry credentials.
pub fn url_without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    match authority[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &url[scheme_end + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_refused_without_its_value() {
        let err = serde_json::from_str::<Secret>("12345678")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a secret must be a string") && !err.contains("12345678"),
            "{err}"
        );
        let ok: Secret = serde_json::from_str("\"pw\"").expect("a string");
        assert_eq!(ok.expose(), "pw");
    }

    #[test]
    fn urls_are_printed_without_their_password() {
        for (url, shown) in [
            (
                "redis://zato:s3cret@host:6379/0",
                "redis://zato:***@host:6379/0",
            ),
            (
                "rediss://:s3cret@host#insecure",
                "rediss://:***@host#insecure",
            ),
            ("amqp://u:p@ss@host/vh", "amqp://u:***@host/vh"),
            ("redis://zato@host", "redis://zato@host"),
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://host/0?user=a@b", "redis://host/0?user=a@b"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(url_without_password(url), shown);
        }
    }
}
