//! Running real `zato-connector` binaries in tests, and the python peers (pika, pyzmq) that
//! talk AMQP and ZeroMQ to them.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{binary, send};
use crate::{RedisServer, free_port};

/// The RabbitMQ the tests use (`scripts/test` starts one).
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// One `zato-connector` process.
pub struct ConnectorProcess {
    child: Option<Child>,
    pub member: String,
    pub url: String,
    pub log: PathBuf,
}

impl ConnectorProcess {
    /// Starts a connector of `cluster` called `member` and waits until it has loaded its
    /// config (health 200).
    pub fn start(redis: &RedisServer, cluster: &str, member: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "zato-test-{member}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(binary("zato-connector"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ZATO_LOG", "info")
            .env("ZATO_CLUSTER", cluster)
            .env("ZATO_MEMBER", member)
            .env("ZATO_REDIS_URL", redis.url())
            .env("ZATO_BIND", format!("127.0.0.1:{port}"))
            .env("ZATO_BROKER__VISIBILITY_TIMEOUT_MS", "1500")
            .env("ZATO_BROKER__BLOCK_MS", "200")
            .env("ZATO_BROKER__LEASE_TTL_MS", "1500")
            .env("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("zato-connector starts");
        let connector = Self {
            child: Some(child),
            member: member.to_owned(),
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        connector.wait_for(Duration::from_secs(15), "healthy", |_| true);
        connector
    }

    /// `/zato/health` as JSON, when it answers 200.
    pub fn health(&self) -> Option<Value> {
        send("GET", &format!("{}/zato/health", self.url), &[], None)
            .filter(|a| a.status == 200)
            .map(|a| a.json())
    }

    /// `/metrics` as text.
    pub fn metrics(&self) -> String {
        send("GET", &format!("{}/metrics", self.url), &[], None)
            .map(|a| a.body)
            .unwrap_or_default()
    }

    /// Whether it holds the lease.
    pub fn is_active(&self) -> bool {
        self.health()
            .is_some_and(|h| h["lease"]["role"] == "active")
    }

    /// The health entry of one connection (`amqp_channel`, `zmq_outgoing`, ...).
    pub fn connection(&self, kind: &str, name: &str) -> Option<Value> {
        let health = self.health()?;
        health["connections"]
            .as_array()?
            .iter()
            .find(|c| c["kind"] == kind && c["name"] == name)
            .cloned()
    }

    /// Whether that connection is up.
    pub fn is_connected(&self, kind: &str, name: &str) -> bool {
        self.connection(kind, name)
            .is_some_and(|c| c["state"] == "connected")
    }

    /// Waits until `check` holds on the health report; panics with the log otherwise.
    pub fn wait_for(&self, limit: Duration, what: &str, mut check: impl FnMut(&Value) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.health().is_some_and(|h| check(&h)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} not {what}; health {:?}; its log:\n{}",
            self.member,
            self.health(),
            self.logs()
        );
    }

    /// Waits until that connection is up.
    pub fn wait_connected(&self, kind: &str, name: &str, limit: Duration) {
        self.wait_for(limit, &format!("connected on {kind}/{name}"), |h| {
            h["connections"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["kind"] == kind && c["name"] == name && c["state"] == "connected")
            })
        });
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

impl Drop for ConnectorProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn peer_path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("peers")
        .join(script)
}

/// A python peer command (`tests/peers/<script>`), not started yet.
pub fn peer(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg(peer_path(script))
        .args(args)
        .env("AMQP_URL", AMQP_URL);
    cmd
}

/// Runs a peer to its end; its output, or a panic with its stderr.
pub fn run_peer(script: &str, args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = peer(script, args).output().expect("python3 runs");
    assert!(
        status.success(),
        "{script} {args:?} failed: {}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8_lossy(&stdout).into_owned()
}

/// A name no other test run uses, for queues and exchanges.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A RabbitMQ queue (and, optionally, a direct exchange bound to it) deleted on drop.
pub struct TestQueue {
    pub queue: String,
    pub exchange: Option<String>,
}

impl TestQueue {
    /// Declares a durable queue.
    pub fn declare(prefix: &str) -> Self {
        let queue = unique_name(prefix);
        run_peer("amqp_peer.py", &["declare", &queue]);
        Self {
            queue,
            exchange: None,
        }
    }

    /// Declares a queue bound to a new direct exchange with `routing_key`.
    pub fn declare_bound(prefix: &str, routing_key: &str) -> Self {
        let queue = unique_name(prefix);
        let exchange = format!("{queue}-x");
        run_peer(
            "amqp_peer.py",
            &[
                "declare",
                &queue,
                "--exchange",
                &exchange,
                "--key",
                routing_key,
            ],
        );
        Self {
            queue,
            exchange: Some(exchange),
        }
    }

    /// Publishes `count` `{"key", "n"}` bodies, n from `start`.
    pub fn publish(&self, count: usize, record_key: &str, start: usize) {
        run_peer(
            "amqp_peer.py",
            &[
                "publish",
                &self.queue,
                &count.to_string(),
                record_key,
                "--start",
                &start.to_string(),
            ],
        );
    }

    /// Messages ready in the queue.
    pub fn ready(&self) -> u64 {
        run_peer("amqp_peer.py", &["count", &self.queue])
            .trim()
            .parse()
            .unwrap_or(u64::MAX)
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let mut args = vec!["delete", self.queue.as_str()];
        if let Some(exchange) = &self.exchange {
            args.extend(["--exchange", exchange.as_str()]);
        }
        let _ = peer("amqp_peer.py", &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// How many distinct `payload.n` there are among `entries`, and how many entries repeat one.
pub fn distinct_and_duplicates(entries: &[Value]) -> (usize, usize) {
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for e in entries {
        if let Some(n) = e["payload"]["n"].as_u64()
            && !seen.insert(n)
        {
            duplicates += 1;
        }
    }
    (seen.len(), duplicates)
}
