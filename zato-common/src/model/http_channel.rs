//! HTTP channels: a URL path (and optionally a method) bound to a service.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, DataFormat, default_true};
use crate::url_path::UrlPath;

/// The HTTP methods a channel may be restricted to.
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Exposes a service at a URL path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpChannel {
    pub name: String,
    /// A template such as `/customers/{id}`; see [`UrlPath`].
    pub url_path: String,
    /// Only this method is accepted (405 otherwise); any method when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The service that answers.
    pub service: String,
    #[serde(default)]
    pub data_format: DataFormat,
    /// The name of a security definition that callers must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<String>,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

/// Whether `path` belongs to the server itself (`/zato`, `/zato/...`: health and the admin
/// API; `/metrics`) rather than to channels: requests for these never reach a channel.
pub fn is_server_path(path: &str) -> bool {
    path == "/metrics"
        || path
            .strip_prefix("/zato")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl HttpChannel {
    /// The parsed path template.
    pub fn parsed_path(&self) -> Result<UrlPath, ValidationError> {
        UrlPath::parse(&self.url_path).map_err(|e| ValidationError::new("url_path", e.to_string()))
    }
}

impl ConfigObject for HttpChannel {
    const KIND: ConfigKind = ConfigKind::HttpChannel;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        self.parsed_path()?;
        if is_server_path(&self.url_path) {
            return Err(ValidationError::new(
                "url_path",
                "/zato, /zato/... and /metrics are the server's own paths (health, the admin API, metrics)",
            ));
        }
        if let Some(method) = &self.method
            && !HTTP_METHODS.contains(&method.as_str())
        {
            return Err(ValidationError::new(
                "method",
                format!("'{method}' is not one of {}", HTTP_METHODS.join(", ")),
            ));
        }
        check_name("service", &self.service)?;
        if let Some(security) = &self.security {
            check_name("security", security)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn channel(value: serde_json::Value) -> HttpChannel {
        serde_json::from_value(value).expect("deserializes")
    }

    #[test]
    fn defaults_make_an_active_json_channel() {
        let c = channel(json!({"name": "c", "url_path": "/a/{id}", "service": "zato.echo"}));
        assert!(c.is_active);
        assert_eq!(c.data_format, DataFormat::Json);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn refuses_bad_fields_naming_them() {
        let bad = [
            (
                json!({"name": "c", "url_path": "a", "service": "s"}),
                "url_path",
            ),
            (
                json!({"name": "c", "url_path": "/a", "service": ""}),
                "service",
            ),
            (
                json!({"name": "", "url_path": "/a", "service": "s"}),
                "name",
            ),
            (
                json!({"name": "c", "url_path": "/a", "service": "s", "method": "FETCH"}),
                "method",
            ),
            (
                json!({"name": "c", "url_path": "/zato/mine", "service": "s"}),
                "url_path",
            ),
            (
                json!({"name": "c", "url_path": "/metrics", "service": "s"}),
                "url_path",
            ),
        ];
        for (value, field) in bad {
            assert_eq!(channel(value).validate().unwrap_err().field, field);
        }
        let unknown: Result<HttpChannel, _> = serde_json::from_value(
            json!({"name": "c", "url_path": "/a", "service": "s", "srvice": 1}),
        );
        assert!(unknown.is_err(), "a misspelt field is refused, not ignored");
    }

    #[test]
    fn server_paths_are_told_from_channel_paths() {
        for own in [
            "/zato",
            "/zato/",
            "/zato/ping",
            "/zato/api/services",
            "/metrics",
        ] {
            assert!(is_server_path(own), "{own}");
        }
        for path in [
            "/",
            "/echo",
            "/zatoxyz",
            "/metrics/x",
            "/api/zato/x",
            "/{zato}",
        ] {
            assert!(!is_server_path(path), "{path}");
        }
    }
}
