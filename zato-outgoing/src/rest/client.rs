//! One outgoing REST connection on one server: a reqwest client with its own connection pool
//! and TLS settings, a bound on the calls in flight, and retries for calls that may be
//! repeated.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Certificate, Identity, Method};
use serde_json::Value;
use tokio::sync::Semaphore;
use zato_common::model::{OutgoingRest, RestDataFormat, RestSecurity, is_idempotent};
use zato_common::url_path::UrlPath;

use super::error::root_cause;
use super::{RestCall, RestError, RestResponse, url};
use crate::connections::{PoolFigures, Waiting};

/// A connection's client, built from its definition with the secrets opened.
pub struct RestClient {
    client: reqwest::Client,
    address: String,
    path: UrlPath,
    method: Method,
    data_format: RestDataFormat,
    /// The definition's headers and its security header, sensitive ones marked so.
    headers: HeaderMap,
    timeout: Duration,
    retries: u32,
    retry_backoff: Duration,
    ping_method: Method,
    ping_path: UrlPath,
    /// One permit per call in flight: `pool_size` bounds them, the rest wait.
    slots: Semaphore,
    pool_size: u32,
    waiting: AtomicU32,
    max_response_bytes: usize,
}

fn method(field: &str, name: &str) -> Result<Method, RestError> {
    Method::from_bytes(name.as_bytes())
        .map_err(|_| RestError::Config(format!("{field}: '{name}' is not an HTTP method")))
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), RestError> {
    let bad = || RestError::Call(format!("'{name}' is not a valid header"));
    Ok((
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?,
        HeaderValue::from_str(value).map_err(|_| bad())?,
    ))
}

fn sensitive(value: String) -> Result<HeaderValue, RestError> {
    let mut value = HeaderValue::try_from(value).map_err(|_| {
        RestError::Config("security: the credentials are not a valid header value".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl RestClient {
    /// The client for `def`, whose secrets are in clear. Connects to nothing yet.
    pub fn new(def: &OutgoingRest) -> Result<Self, RestError> {
        let path =
            UrlPath::parse(&def.path).map_err(|e| RestError::Config(format!("path: {e}")))?;
        let ping_path = UrlPath::parse(&def.ping.path)
            .map_err(|e| RestError::Config(format!("ping.path: {e}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &def.headers {
            let (name, value) = header(name, value)?;
            headers.insert(name, value);
        }
        match &def.security {
            Some(RestSecurity::BasicAuth { username, password }) => {
                let credentials = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{}", password.expose()));
                headers.insert(AUTHORIZATION, sensitive(format!("Basic {credentials}"))?);
            }
            Some(RestSecurity::Apikey { header: name, key }) => {
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    RestError::Config(format!("security.header: '{name}' is not a header name"))
                })?;
                headers.insert(name, sensitive(key.expose().to_owned())?);
            }
            Some(RestSecurity::Bearer { token }) => {
                headers.insert(
                    AUTHORIZATION,
                    sensitive(format!("Bearer {}", token.expose()))?,
                );
            }
            None => {}
        }
        let timeout = Duration::from_millis(def.timeout_ms);
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(def.connect_timeout_ms()))
            .pool_max_idle_per_host(def.pool_size as usize)
            .user_agent(concat!("zato-rs/", env!("CARGO_PKG_VERSION")))
            // A redirect would send the credentials to wherever the upstream points: the
            // service sees the 3xx and decides.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &def.tls.ca_pem {
            let roots = Certificate::from_pem_bundle(ca.as_bytes())
                .map_err(|e| RestError::Config(format!("tls.ca_pem: {}", root_cause(&e))))?;
            builder = builder.tls_certs_only(roots);
        }
        if let (Some(cert), Some(key)) = (&def.tls.client_cert_pem, &def.tls.client_key_pem) {
            let pem = format!("{}\n{}", key.expose(), cert);
            let identity = Identity::from_pem(pem.as_bytes()).map_err(|_| {
                RestError::Config(
                    "tls.client_cert_pem: the client certificate or its key does not parse".into(),
                )
            })?;
            builder = builder.identity(identity);
        }
        if !def.tls.verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(|e| {
            RestError::Config(format!(
                "the HTTP client cannot be built: {}",
                root_cause(&e)
            ))
        })?;
        Ok(Self {
            client,
            address: def.address.clone(),
            path,
            method: method("method", &def.method)?,
            data_format: def.data_format,
            headers,
            timeout,
            retries: def.retries,
            retry_backoff: Duration::from_millis(def.retry_backoff_ms),
            ping_method: method("ping.method", &def.ping.method)?,
            ping_path,
            slots: Semaphore::new(def.pool_size as usize),
            pool_size: def.pool_size,
            waiting: AtomicU32::new(0),
            max_response_bytes: usize::try_from(def.max_response_bytes).unwrap_or(usize::MAX),
        })
    }

    /// Makes `call`: waits for a free slot, sends, retries an idempotent call after a
    /// connection error or a 502/503/504, all within the connection's timeout.
    pub async fn call(&self, call: RestCall) -> Result<RestResponse, RestError> {
        let method = match &call.method {
            Some(name) => Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                .map_err(|_| RestError::Call(format!("'{name}' is not an HTTP method")))?,
            None => self.method.clone(),
        };
        let url = url::build(&self.address, &self.path, &call.params)?;
        let mut headers = self.headers.clone();
        let body = self.body(call.body.as_ref(), &mut headers)?;
        for (name, value) in &call.headers {
            let (name, value) = header(name, value)?;
            headers.insert(name, value);
        }
        self.send(method, url, headers, body).await
    }

    /// Calls the ping method and path; the upstream answering at all (any status) is a pong.
    pub async fn ping(&self) -> Result<RestResponse, RestError> {
        let url = url::build(&self.address, &self.ping_path, &serde_json::Map::new())?;
        self.send(self.ping_method.clone(), url, self.headers.clone(), None)
            .await
    }

    /// The pool's figures now.
    pub fn stats(&self) -> PoolFigures {
        PoolFigures {
            max: self.pool_size,
            in_use: self
                .pool_size
                .saturating_sub(self.slots.available_permits() as u32),
            waiting: self.waiting.load(Ordering::Relaxed),
        }
    }

    fn body(
        &self,
        body: Option<&Value>,
        headers: &mut HeaderMap,
    ) -> Result<Option<Bytes>, RestError> {
        let Some(body) = body else { return Ok(None) };
        let (content_type, bytes) = match self.data_format {
            RestDataFormat::Json => (
                "application/json",
                serde_json::to_vec(body).map_err(|e| RestError::Call(e.to_string()))?,
            ),
            RestDataFormat::Text => (
                "text/plain; charset=utf-8",
                match body {
                    Value::String(text) => text.clone().into_bytes(),
                    other => other.to_string().into_bytes(),
                },
            ),
            RestDataFormat::Form => {
                let Value::Object(fields) = body else {
                    return Err(RestError::Call("a form body must be a JSON object".into()));
                };
                let mut form =
                    reqwest::Url::parse("form:").map_err(|e| RestError::Call(e.to_string()))?;
                {
                    let mut pairs = form.query_pairs_mut();
                    for (name, value) in fields {
                        match value {
                            Value::Null => {}
                            Value::String(text) => {
                                pairs.append_pair(name, text);
                            }
                            other => {
                                pairs.append_pair(name, &other.to_string());
                            }
                        }
                    }
                }
                (
                    "application/x-www-form-urlencoded",
                    form.query().unwrap_or_default().as_bytes().to_vec(),
                )
            }
        };
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static(content_type));
        Ok(Some(Bytes::from(bytes)))
    }

    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<RestResponse, RestError> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let timeout_ms = self.timeout.as_millis() as u64;
        let target = Target {
            method: &method,
            url: &url,
        };
        let waiting = Waiting::enter(&self.waiting);
        let slot = tokio::time::timeout_at(deadline.into(), self.slots.acquire()).await;
        drop(waiting);
        let _slot = match slot {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => {
                return Err(RestError::Unreachable("the connection is closed".into()));
            }
            Err(_) => {
                return Err(RestError::Timeout {
                    what: format!("{target}: all {} connections stayed busy", self.pool_size),
                    after_ms: timeout_ms,
                });
            }
        };
        let may_retry = is_idempotent(method.as_str());
        let mut backoff = self.retry_backoff;
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .timeout(remaining);
            if let Some(bytes) = &body {
                request = request.body(bytes.clone());
            }
            let outcome = match request.send().await {
                Ok(response) => read(response, self.max_response_bytes).await,
                Err(e) => Err(ReadError::Http(e)),
            };
            let retryable = match &outcome {
                Ok(response) => matches!(response.status, 502..=504),
                Err(ReadError::Http(e)) => !e.is_timeout() && (e.is_connect() || e.is_request()),
                Err(ReadError::TooLarge) => false,
            };
            // Another attempt only if the pause leaves it time of its own: one sent with no
            // time left would turn the upstream's quick 503 into our 504.
            let left = deadline.saturating_duration_since(Instant::now());
            if !(may_retry && retryable && attempt < self.retries && backoff < left) {
                return outcome.map_err(|e| match e {
                    ReadError::Http(e) => classify(target, timeout_ms, &e),
                    ReadError::TooLarge => RestError::Unreachable(format!(
                        "{target}: the answer is larger than max_response_bytes ({})",
                        self.max_response_bytes
                    )),
                });
            }
            attempt += 1;
            tracing::debug!(%target, attempt, "retrying an idempotent call");
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

/// `url` without its query, for messages: the query may carry what a log must not hold.
/// What a call was, for its error messages, written only when one is: the method and the URL
/// without its query or fragment, which may carry what a log must not hold.
#[derive(Clone, Copy)]
struct Target<'a> {
    method: &'a Method,
    url: &'a reqwest::Url,
}

impl std::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.as_str();
        write!(
            f,
            "{} {}",
            self.method,
            &url[..url.find(['?', '#']).unwrap_or(url.len())]
        )
    }
}

/// Why an attempt has no answer to give.
enum ReadError {
    Http(reqwest::Error),
    /// The body went past `max_response_bytes`.
    TooLarge,
}

/// Reads the answer, refusing a body larger than `limit`, so that no upstream can exhaust
/// the server's memory.
async fn read(mut response: reqwest::Response, limit: usize) -> Result<RestResponse, ReadError> {
    let status = response.status().as_u16();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if bytes.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(RestResponse::from_parts(status, headers, &bytes))
}

fn classify(target: Target<'_>, timeout_ms: u64, e: &reqwest::Error) -> RestError {
    if e.is_timeout() {
        return RestError::Timeout {
            what: format!("{target}: no answer"),
            after_ms: timeout_ms,
        };
    }
    RestError::Unreachable(format!("{target}: {}", root_cause(e)))
}
