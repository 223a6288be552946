//! Running real `zato-server` binaries in tests, and talking to them over HTTP.

use crate::RedisAccess;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::certs::TestCerts;
use crate::curl::curl;
use crate::process::MemberProcess;
use crate::records::recorded;

/// The admin token the test servers use.
pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The key test servers seal outgoing secrets with (32 bytes in base64).
pub const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// Where the workspace's binaries are (`scripts/test` builds them before the tests run);
/// `examples/NAME` for an example.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// One `zato-server` process.
pub struct ServerProcess {
    process: MemberProcess,
}

impl std::ops::Deref for ServerProcess {
    type Target = MemberProcess;

    fn deref(&self) -> &MemberProcess {
        &self.process
    }
}

impl std::ops::DerefMut for ServerProcess {
    fn deref_mut(&mut self) -> &mut MemberProcess {
        &mut self.process
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header by (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Sends a request; `None` when nothing answered (connection refused, reset).
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Option<Answer> {
    let agent = agent();
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = headers.iter().fold(request, |r, (k, v)| r.header(*k, *v));
    let result = match body {
        Some(body) => agent.run(request.body(body.to_owned()).ok()?),
        None => agent.run(request.body(()).ok()?),
    };
    let mut response = result.ok()?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Some(Answer {
        status,
        headers,
        body,
    })
}

impl ServerProcess {
    /// Starts a server of `cluster` called `member` and waits until it is ready.
    pub fn start(
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_binary(binary("zato-server"), redis, cluster, member, env)
    }

    /// Starts another server binary (a user's own, built on the `zato-server` library).
    pub fn start_binary(
        program: PathBuf,
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let server = Self::spawn(program, redis, cluster, member, env);
        server.wait_healthy(Duration::from_secs(15));
        server
    }

    /// Starts the example server whose services call outgoing REST and SQL connections
    /// (`zato-server/examples/integration.rs`), with [`SECRET_KEY`] unless `env` sets another.
    pub fn start_integration(
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let mut all = vec![("ZATO_SECRET_KEY", SECRET_KEY)];
        all.extend_from_slice(env);
        Self::start_binary(binary("examples/integration"), redis, cluster, member, &all)
    }

    /// Runs `service` on this server through the admin API.
    pub fn invoke(&self, service: &str, payload: &Value) -> Answer {
        self.admin(
            "POST",
            &format!("/zato/api/invoke/{service}"),
            Some(payload),
        )
    }

    /// Starts a server whose listener speaks HTTPS with `certs` and waits until curl,
    /// trusting their CA, finds it healthy.
    pub fn start_https(
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        certs: &TestCerts,
    ) -> Self {
        let path = |p: &std::path::Path| p.to_str().expect("a UTF-8 temp path").to_owned();
        let (cert, key) = (path(&certs.cert), path(&certs.key));
        let tls = [
            ("ZATO_TLS_CERT_PATH", cert.as_str()),
            ("ZATO_TLS_KEY_PATH", &key),
        ];
        let server = Self::spawn(binary("zato-server"), redis, cluster, member, &tls);
        server.wait_healthy_by(Duration::from_secs(15), |url| {
            curl(Some(&certs.ca), "GET", url, &[], None).is_ok_and(|a| a.status == 200)
        });
        server
    }

    /// Starts a server without waiting for it (one that is expected to fail, say).
    pub fn spawn(
        program: PathBuf,
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let cache_dir = crate::wasm::target_dir("test-component-cache")
            .display()
            .to_string();
        let defaults = [
            ("ZATO_WORKERS", "2"),
            ("ZATO_ADMIN_TOKEN", ADMIN_TOKEN),
            ("ZATO_BROKER__VISIBILITY_TIMEOUT_MS", "1500"),
            ("ZATO_BROKER__BLOCK_MS", "200"),
            ("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500"),
            // Shared by the test servers, so a guest is compiled once per run, not per server.
            ("ZATO_COMPONENT_CACHE_DIR", &cache_dir),
        ];
        let process = MemberProcess::spawn(program, redis, cluster, member, &defaults, env);
        Self { process }
    }

    /// GET without credentials.
    pub fn get(&self, path: &str) -> Option<Answer> {
        send("GET", &format!("{}{path}", self.url), &[], None)
    }

    /// A request with the admin token.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let body = body.map(Value::to_string);
        send(
            method,
            &format!("{}{path}", self.url),
            &[("authorization", &auth)],
            body.as_deref(),
        )
        .unwrap_or_else(|| panic!("{} did not answer {method} {path}", self.member))
    }

    /// Has `zato.record` run through the admin API's invoke-async with `payload` (whose
    /// `key` names the record list) and returns that list once it holds an entry; panics with
    /// the server's log if the call is refused or nothing is recorded within `limit`.
    pub fn record_async(
        &self,
        redis: &dyn RedisAccess,
        cluster: &str,
        payload: Value,
        limit: Duration,
    ) -> Vec<Value> {
        let key = payload["key"].as_str().unwrap_or("default").to_owned();
        let sent = self.admin("POST", "/zato/api/invoke-async/zato.record", Some(&payload));
        assert_eq!(sent.status, 202, "{}", sent.body);
        assert!(
            eventually(limit, || !recorded(redis, cluster, &key).is_empty()),
            "the async call was not recorded under {key}; server log:\n{}",
            self.logs()
        );
        recorded(redis, cluster, &key)
    }

    /// A request to a channel.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Option<Answer> {
        send(method, &format!("{}{path}", self.url), headers, body)
    }
}

/// Polls `check` every 20 ms until it holds or `limit` passes (for tests without a runtime).
pub fn eventually(limit: Duration, check: impl FnMut() -> bool) -> bool {
    eventually_every(limit, Duration::from_millis(20), check)
}

/// Polls `check` every `period` until it holds or `limit` passes: for checks too costly to
/// run every 20 ms beside a load that is being measured.
pub fn eventually_every(
    limit: Duration,
    period: Duration,
    mut check: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(period);
    }
}
