//! Running real `zato-server` binaries in tests, and talking to them over HTTP.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{RedisServer, free_port};

/// The admin token the test servers use.
pub const ADMIN_TOKEN: &str = "test-admin-token";

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
    child: Option<Child>,
    pub member: String,
    pub url: String,
    pub log: PathBuf,
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
    pub fn start(redis: &RedisServer, cluster: &str, member: &str, env: &[(&str, &str)]) -> Self {
        Self::start_binary(binary("zato-server"), redis, cluster, member, env)
    }

    /// Starts another server binary (a user's own, built on the `zato-server` library).
    pub fn start_binary(
        program: PathBuf,
        redis: &RedisServer,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "zato-test-{member}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ZATO_LOG", "info")
            .env("ZATO_CLUSTER", cluster)
            .env("ZATO_MEMBER", member)
            .env("ZATO_REDIS_URL", redis.url())
            .env("ZATO_BIND", format!("127.0.0.1:{port}"))
            .env("ZATO_WORKERS", "2")
            .env("ZATO_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ZATO_BROKER__VISIBILITY_TIMEOUT_MS", "1500")
            .env("ZATO_BROKER__BLOCK_MS", "200")
            .env("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("zato-server starts");
        let server = Self {
            child: Some(child),
            member: member.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy(Duration::from_secs(15));
        server
    }

    /// Waits until `/zato/health` answers 200.
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.get("/zato/health").is_some_and(|a| a.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not become healthy; its log:\n{}",
            self.member,
            self.logs()
        );
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

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM; the exit status once it has stopped (within `limit`).
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Polls `check` every 20 ms until it holds or `limit` passes (for tests without a runtime).
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON entries `zato.record` appended to `record:<key>`.
pub fn recorded(redis: &RedisServer, cluster: &str, key: &str) -> Vec<Value> {
    let mut conn = redis.client();
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("zato:{{{cluster}}}:record:{key}"))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect()
}
