//! The admin API client: one blocking HTTP call per command, with every failure turned into
//! a message an operator can act on.
//!
//! Blocking `ureq` is enough: the CLI makes one or two calls and exits, so an async client
//! would only add a runtime to start.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{RootCerts, TlsConfig, TlsProvider};

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered: the server is down, the address is wrong, or a firewall is in the way.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered 401.
    #[error("the admin token was refused by {url} ({message}); check --token or ZATO_ADMIN_TOKEN")]
    Unauthorized { url: String, message: String },
    /// The server answered with an error of its own (4xx, 5xx).
    #[error("{message} (HTTP {status}{})", cid.as_deref().map(|c| format!(", cid {c}")).unwrap_or_default())]
    Api {
        status: u16,
        message: String,
        cid: Option<String>,
    },
    /// No token was given at all: calling would only get a 401.
    #[error("no admin token: pass --token or set ZATO_ADMIN_TOKEN")]
    NoToken,
    /// The CA certificate given for HTTPS cannot be used.
    #[error("cannot use the CA certificate {path}: {reason}")]
    CaCert { path: String, reason: String },
}

/// A client of one server's admin API.
pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminClient {
    /// A client of the server at `base` (e.g. `http://127.0.0.1:17010`, or `https://...`
    /// trusting `ca_cert`, a PEM file, or else the system's roots).
    pub fn new(
        base: &str,
        token: Option<&str>,
        ca_cert: Option<&Path>,
    ) -> Result<Self, ClientError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ClientError::NoToken)?;
        let roots = match ca_cert {
            Some(path) => trusted_roots(path)?,
            None => RootCerts::PlatformVerifier,
        };
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent: agent_trusting(roots),
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        self.call("POST", path, body)
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("PUT", path, Some(body))
    }

    /// Like [`post`](Self::post), waiting up to `timeout` for the answer instead of a minute:
    /// for a call the server itself may hold that long (a pull waiting for messages).
    pub fn post_waiting(
        &self,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.request("POST", path, &[], Body::Json(body), Some(timeout))
    }

    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call("DELETE", path, None)
    }

    /// One call to `/zato/api<path>`; the JSON answer of a 2xx, an error otherwise.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let body = body.map_or(Body::Empty, Body::Json);
        self.request(method, path, &[], body, None)
    }

    /// POSTs `bytes` as they are (a WebAssembly component, not JSON) to `/zato/api<path>`,
    /// with `headers` besides the token, waiting up to `timeout` for the answer: the other
    /// calls' limit is a minute, and a server may take longer than that to take in an upload.
    pub fn upload(
        &self,
        path: &str,
        content_type: &str,
        bytes: &[u8],
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        let body = Body::Bytes {
            content_type,
            bytes,
        };
        self.request("POST", path, headers, body, Some(timeout))
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        timeout: Option<Duration>,
    ) -> Result<Value, ClientError> {
        let url = format!("{}/zato/api{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let mut all_headers = vec![("authorization", auth.as_str())];
        all_headers.extend_from_slice(headers);
        let answer = send_body(&self.agent, method, &url, &all_headers, body, timeout)?;
        match answer.status {
            200..=299 => {
                if answer.body.trim().is_empty() {
                    return Ok(Value::Null);
                }
                // A service may answer text (or XML, CSV...): that is its response as it is.
                Ok(serde_json::from_str(&answer.body)
                    .unwrap_or_else(|_| Value::String(answer.body.clone())))
            }
            401 => Err(ClientError::Unauthorized {
                url: self.base.clone(),
                message: error_text(&answer.body).unwrap_or_else(|| "401".into()),
            }),
            status => {
                let json: Option<Value> = serde_json::from_str(&answer.body).ok();
                let cid = json
                    .as_ref()
                    .and_then(|j| j.get("cid"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let message = error_text(&answer.body).unwrap_or_else(|| {
                    let text = answer.body.trim();
                    if text.is_empty() {
                        format!("{method} {url} failed")
                    } else {
                        text.chars().take(500).collect()
                    }
                });
                Err(ClientError::Api {
                    status,
                    message,
                    cid,
                })
            }
        }
    }
}

/// The `error` field of a JSON error body.
fn error_text(body: &str) -> Option<String> {
    let json: Value = serde_json::from_str(body).ok()?;
    json.get("error")?.as_str().map(str::to_owned)
}

/// An agent that hands every status back (errors are ours to word) and never waits forever;
/// for HTTPS it trusts the system's roots.
pub fn agent() -> ureq::Agent {
    agent_trusting(RootCerts::PlatformVerifier)
}

/// Like [`agent`], trusting `roots` for HTTPS. The crypto provider is named rather than left
/// to a process default: aws-lc-rs, the one the servers and the broker use, so one crypto
/// library is built.
fn agent_trusting(roots: RootCerts) -> ureq::Agent {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(roots)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        .timeout_global(Some(Duration::from_secs(60)))
        .tls_config(tls)
        .build()
        .into()
}

/// The certificates of the PEM file at `path`, as the only roots to trust.
fn trusted_roots(path: &Path) -> Result<RootCerts, ClientError> {
    let refused = |reason: String| ClientError::CaCert {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
    let certificates: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(Ok(certificate)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .map_err(|e| refused(format!("not valid PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(refused("it holds no PEM certificate".into()));
    }
    Ok(RootCerts::new_with_certs(&certificates))
}

/// A raw HTTP answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// What a request carries.
pub enum Body<'a> {
    Empty,
    Json(&'a Value),
    /// Bytes sent as they are, e.g. a WebAssembly component as `application/wasm`.
    Bytes {
        content_type: &'a str,
        bytes: &'a [u8],
    },
}

/// Sends one request; a transport failure becomes [`ClientError::Unreachable`].
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Answer, ClientError> {
    let body = body.map_or(Body::Empty, Body::Json);
    send_body(agent, method, url, headers, body, None)
}

/// Like [`send`], with any [`Body`] and, when `timeout` is given, that limit for this request
/// instead of the agent's.
pub fn send_body(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Body<'_>,
    timeout: Option<Duration>,
) -> Result<Answer, ClientError> {
    let unreachable = |reason: String| ClientError::Unreachable {
        url: url.to_owned(),
        reason,
    };
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers.iter().fold(request, |r, (k, v)| r.header(*k, *v));
    let result = match body {
        Body::Json(body) => {
            let request = request
                .header("content-type", "application/json")
                .body(body.to_string())
                .map_err(|e| unreachable(format!("bad request: {e}")))?;
            run(agent, request, timeout)
        }
        Body::Bytes {
            content_type,
            bytes,
        } => {
            let request = request
                .header("content-type", content_type)
                .body(bytes)
                .map_err(|e| unreachable(format!("bad request: {e}")))?;
            run(agent, request, timeout)
        }
        Body::Empty => {
            let request = request
                .body(())
                .map_err(|e| unreachable(format!("bad request: {e}")))?;
            run(agent, request, timeout)
        }
    };
    let mut response = result.map_err(|e| unreachable(describe(&e)))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| unreachable(format!("reading the answer: {}", describe(&e))))?;
    Ok(Answer { status, body })
}

/// Runs `request` on `agent`, with its own overall `timeout` when one is given.
fn run<S: ureq::AsSendBody>(
    agent: &ureq::Agent,
    request: ureq::http::Request<S>,
    timeout: Option<Duration>,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    match timeout {
        Some(timeout) => {
            let request = agent
                .configure_request(request)
                .timeout_global(Some(timeout))
                .build();
            agent.run(request)
        }
        None => agent.run(request),
    }
}

/// A transport error in the words of `curl` and friends ("connection refused").
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::ConnectionReset => "connection reset".into(),
            std::io::ErrorKind::TimedOut => "timed out".into(),
            _ => io.to_string(),
        },
        ureq::Error::Timeout(_) => "timed out".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::BadUri(uri) => format!("not a valid URL ({uri})"),
        other => other.to_string(),
    }
}
