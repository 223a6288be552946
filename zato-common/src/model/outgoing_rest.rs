//! Outgoing REST connections: an HTTP API that services call by name
//! (`ctx.outgoing().rest("crm").get(params)`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name, check_not_empty};
use super::{ConfigKind, ConfigObject, default_true};
use crate::Secret;
use crate::url_path::UrlPath;

/// How a call's body is sent, and how a response is read when it does not say.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RestDataFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `text/plain; charset=utf-8`: a string body as it is, anything else as JSON text.
    Text,
    /// `application/x-www-form-urlencoded` from a JSON object's fields.
    Form,
}

/// The credentials the connection sends with every call. Stored encrypted, never shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RestSecurity {
    /// `Authorization: Basic ...` (RFC 7617).
    BasicAuth {
        username: String,
        /// On edit, absent or empty keeps the stored one (secrets are write-only).
        #[serde(default)]
        password: Secret,
    },
    /// A key in a request header, e.g. `X-API-Key`.
    Apikey {
        header: String,
        #[serde(default)]
        key: Secret,
    },
    /// `Authorization: Bearer <token>` (RFC 6750).
    Bearer {
        #[serde(default)]
        token: Secret,
    },
}

impl RestSecurity {
    /// The secret fields, for sealing and opening them.
    pub fn secrets_mut(&mut self) -> impl Iterator<Item = &mut Secret> {
        match self {
            RestSecurity::BasicAuth { password, .. } => std::iter::once(password),
            RestSecurity::Apikey { key, .. } => std::iter::once(key),
            RestSecurity::Bearer { token } => std::iter::once(token),
        }
    }
}

/// How the connection checks the upstream's certificate and proves its own identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RestTls {
    /// Check the upstream's certificate and host name (the default). Turning it off is for a
    /// test upstream only: anyone on the path can then read and change the calls.
    pub verify: bool,
    /// A PEM bundle of the CA(s) to trust instead of the system's roots (a private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// A PEM client certificate chain, leaf first, for upstreams that ask for one (mTLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_pem: Option<String>,
    /// The client certificate's private key (PEM). Stored encrypted, never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_pem: Option<Secret>,
}

impl Default for RestTls {
    fn default() -> Self {
        Self {
            verify: true,
            ca_pem: None,
            client_cert_pem: None,
            client_key_pem: None,
        }
    }
}

/// What `ping` calls to tell whether the upstream answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RestPing {
    pub method: String,
    /// A path below `address`, without parameters.
    pub path: String,
}

impl Default for RestPing {
    fn default() -> Self {
        Self {
            method: "HEAD".into(),
            path: "/".into(),
        }
    }
}

/// An outgoing REST connection (a client with its own connection pool, per server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutgoingRest {
    pub name: String,
    /// The base URL: `https://crm.example.com/api` (http or https, no query).
    pub address: String,
    /// Appended to `address`: `/customers/{id}`. Each `{param}` is filled from the call's
    /// parameters (percent-encoded); the parameters left over go to the query string.
    #[serde(default = "default_path")]
    pub path: String,
    /// The method of calls that do not name one.
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub data_format: RestDataFormat,
    /// Sent with every call; a call's own headers override them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How long a whole call may take, retries included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How long connecting (TCP and TLS) may take; 0: `timeout_ms`.
    #[serde(default)]
    pub connect_timeout_ms: u64,
    /// The most calls in flight from one server; further calls wait, within `timeout_ms`.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How many times an idempotent call (GET, HEAD, OPTIONS, PUT, DELETE) is tried again
    /// after a connection error or a 502, 503 or 504.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The first retry's delay; each next one doubles it.
    #[serde(default = "default_retry_backoff_ms")]
    pub retry_backoff_ms: u64,
    /// The largest answer read; a larger one fails the call (502) instead of filling memory.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<RestSecurity>,
    #[serde(default)]
    pub tls: RestTls,
    #[serde(default)]
    pub ping: RestPing,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_path() -> String {
    "/".into()
}

fn default_method() -> String {
    "GET".into()
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_pool_size() -> u32 {
    20
}

fn default_retries() -> u32 {
    2
}

fn default_retry_backoff_ms() -> u64 {
    100
}

fn default_max_response_bytes() -> u64 {
    10 * 1024 * 1024
}

/// The longest timeout accepted: a day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// Headers that carry credentials: they go in `security`, which is sealed and never shown,
/// not in `headers`, which are stored and shown as they are.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// The methods a connection may use.
pub const REST_METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// Whether calling `method` twice does what calling it once does (RFC 9110, 9.2.2), so a
/// failed call may be tried again.
pub fn is_idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE")
}

/// A header name (RFC 9110 token) and a value of visible ASCII, spaces and tabs (what an HTTP
/// client accepts as a header value).
pub fn check_header(field: &str, name: &str, value: &str) -> Result<(), ValidationError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(ValidationError::new(
            field,
            format!("'{name}' is not an HTTP header name"),
        ));
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(ValidationError::new(
            field,
            format!("the value of '{name}' has a character other than visible ASCII, space or tab"),
        ));
    }
    Ok(())
}

fn check_method(field: &str, method: &str) -> Result<(), ValidationError> {
    if REST_METHODS.contains(&method) {
        return Ok(());
    }
    Err(ValidationError::new(
        field,
        format!("'{method}' is not one of {}", REST_METHODS.join(", ")),
    ))
}

fn check_pem(field: &str, pem: &str, label: &str) -> Result<(), ValidationError> {
    if pem.contains(&format!("-----BEGIN {label}")) {
        return Ok(());
    }
    Err(ValidationError::new(
        field,
        format!("must be PEM (-----BEGIN {label}...)"),
    ))
}

impl OutgoingRest {
    /// The secret fields, for sealing and opening them.
    pub fn secrets_mut(&mut self) -> Vec<&mut Secret> {
        let mut secrets: Vec<&mut Secret> = self
            .security
            .iter_mut()
            .flat_map(RestSecurity::secrets_mut)
            .collect();
        secrets.extend(self.tls.client_key_pem.as_mut());
        secrets
    }

    /// The connect timeout in effect.
    pub fn connect_timeout_ms(&self) -> u64 {
        if self.connect_timeout_ms == 0 {
            self.timeout_ms
        } else {
            self.connect_timeout_ms.min(self.timeout_ms)
        }
    }
}

impl ConfigObject for OutgoingRest {
    const KIND: ConfigKind = ConfigKind::OutgoingRest;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        let rest = self
            .address
            .strip_prefix("http://")
            .or_else(|| self.address.strip_prefix("https://"))
            .ok_or_else(|| {
                ValidationError::new("address", "must start with http:// or https://")
            })?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains('@') {
            return Err(ValidationError::new(
                "address",
                "must name a host (and no user info: credentials go in `security`)",
            ));
        }
        if rest.contains(['?', '#', ' ']) {
            return Err(ValidationError::new(
                "address",
                "must not have a query, a fragment or spaces; parameters go in `path`",
            ));
        }
        UrlPath::parse(&self.path).map_err(|e| ValidationError::new("path", e.to_string()))?;
        check_method("method", &self.method)?;
        for (name, value) in &self.headers {
            check_header("headers", name, value)?;
            if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(ValidationError::new(
                    "headers",
                    format!(
                        "'{name}' carries credentials: put them in `security`, which is sealed and never shown"
                    ),
                ));
            }
        }
        for (field, value) in [
            ("timeout_ms", self.timeout_ms),
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("retry_backoff_ms", self.retry_backoff_ms),
        ] {
            if value > MAX_TIMEOUT_MS {
                return Err(ValidationError::new(
                    field,
                    "must be at most a day (86400000)",
                ));
            }
        }
        if self.timeout_ms == 0 {
            return Err(ValidationError::new("timeout_ms", "must be above 0"));
        }
        if !(1..=1024 * 1024 * 1024).contains(&self.max_response_bytes) {
            return Err(ValidationError::new(
                "max_response_bytes",
                "must be 1 to 1073741824",
            ));
        }
        if !(1..=10_000).contains(&self.pool_size) {
            return Err(ValidationError::new("pool_size", "must be 1 to 10000"));
        }
        if self.retries > 10 {
            return Err(ValidationError::new("retries", "must be at most 10"));
        }
        match &self.security {
            Some(RestSecurity::BasicAuth { username, password }) => {
                check_not_empty("security.username", username)?;
                if username.contains(':') {
                    return Err(ValidationError::new(
                        "security.username",
                        "must not contain ':' (RFC 7617)",
                    ));
                }
                check_not_empty("security.password", password.expose())?;
            }
            Some(RestSecurity::Apikey { header, key }) => {
                check_header("security.header", header, "")?;
                check_not_empty("security.key", key.expose())?;
            }
            Some(RestSecurity::Bearer { token }) => {
                check_not_empty("security.token", token.expose())?;
            }
            None => {}
        }
        if let Some(ca) = &self.tls.ca_pem {
            check_pem("tls.ca_pem", ca, "CERTIFICATE")?;
        }
        match (&self.tls.client_cert_pem, &self.tls.client_key_pem) {
            (Some(cert), Some(key)) => {
                check_pem("tls.client_cert_pem", cert, "CERTIFICATE")?;
                // The store validates again what the admin API sealed.
                if !crate::sealed::is_sealed(key) {
                    check_pem("tls.client_key_pem", key.expose(), "")?;
                }
            }
            (None, None) => {}
            _ => {
                return Err(ValidationError::new(
                    "tls.client_cert_pem",
                    "client_cert_pem and client_key_pem go together",
                ));
            }
        }
        check_method("ping.method", &self.ping.method)?;
        let ping = UrlPath::parse(&self.ping.path)
            .map_err(|e| ValidationError::new("ping.path", e.to_string()))?;
        if ping.params().next().is_some() {
            return Err(ValidationError::new(
                "ping.path",
                "must be a plain path: a ping has no parameters to fill it with",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crm() -> OutgoingRest {
        serde_json::from_value(json!({
            "name": "crm", "address": "https://crm.example.com/api", "path": "/customers/{id}",
            "security": {"type": "bearer", "token": "t0ken"}
        }))
        .expect("parses")
    }

    #[test]
    fn defaults_validate_and_hide_secrets() {
        let crm = crm();
        assert!(crm.validate().is_ok());
        assert_eq!(crm.method, "GET");
        assert!(crm.tls.verify);
        assert_eq!(crm.connect_timeout_ms(), 10_000);
        assert!(!format!("{crm:?}").contains("t0ken"));
        let mut crm = crm;
        assert_eq!(crm.secrets_mut().len(), 1);
    }

    #[test]
    fn refuses_what_cannot_work_naming_the_field() {
        type Change = fn(&mut OutgoingRest);
        let cases: [(Change, &str); 8] = [
            (|c| c.address = "ftp://x".into(), "address"),
            (|c| c.address = "https://u:p@x".into(), "address"),
            (|c| c.address = "https://x/?a=1".into(), "address"),
            (|c| c.path = "customers".into(), "path"),
            (|c| c.method = "FETCH".into(), "method"),
            (
                |c| {
                    c.headers.insert("X-A".into(), "a\r\nb".into());
                },
                "headers",
            ),
            (|c| c.pool_size = 0, "pool_size"),
            (
                |c| c.tls.client_cert_pem = Some("-----BEGIN CERTIFICATE-----".into()),
                "tls.client_cert_pem",
            ),
        ];
        for (change, field) in cases {
            let mut c = crm();
            change(&mut c);
            assert_eq!(c.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn only_safe_methods_are_retried() {
        assert!(is_idempotent("GET") && is_idempotent("PUT") && is_idempotent("DELETE"));
        assert!(!is_idempotent("POST") && !is_idempotent("PATCH"));
    }
}
