//! Running real `zato-connector` binaries in tests, and the python peers (pika, pyzmq) that
//! talk AMQP and ZeroMQ to them.

use crate::RedisAccess;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::MemberProcess;
use crate::server::{binary, send};

/// The RabbitMQ the tests use (`scripts/test` starts one).
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The port of `AMQP_URL`.
pub const AMQP_PORT: u16 = 5672;

/// One `zato-connector` process.
pub struct ConnectorProcess {
    process: MemberProcess,
}

impl std::ops::Deref for ConnectorProcess {
    type Target = MemberProcess;

    fn deref(&self) -> &MemberProcess {
        &self.process
    }
}

impl std::ops::DerefMut for ConnectorProcess {
    fn deref_mut(&mut self) -> &mut MemberProcess {
        &mut self.process
    }
}

impl ConnectorProcess {
    /// Starts a connector of `cluster` called `member` and waits until it has loaded its
    /// config (health 200).
    pub fn start(
        redis: &dyn RedisAccess,
        cluster: &str,
        member: &str,
        env: &[(&str, &str)],
    ) -> Self {
        let defaults = [
            ("ZATO_BROKER__VISIBILITY_TIMEOUT_MS", "1500"),
            ("ZATO_BROKER__BLOCK_MS", "200"),
            ("ZATO_BROKER__LEASE_TTL_MS", "1500"),
            ("ZATO_BROKER__HEARTBEAT_INTERVAL_MS", "500"),
        ];
        let process = MemberProcess::spawn(
            binary("zato-connector"),
            redis,
            cluster,
            member,
            &defaults,
            env,
        );
        let connector = Self { process };
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

/// A RabbitMQ queue (and, optionally, a direct exchange bound to it, or a dead-letter queue
/// behind it) deleted on drop.
pub struct TestQueue {
    pub queue: String,
    pub exchange: Option<String>,
    /// Where RabbitMQ puts what is refused without requeue (through `<queue>.dlx`).
    pub dead_letters: Option<String>,
}

impl TestQueue {
    /// Declares a durable queue.
    pub fn declare(prefix: &str) -> Self {
        let queue = unique_name(prefix);
        run_peer("amqp_peer.py", &["declare", &queue]);
        Self {
            queue,
            exchange: None,
            dead_letters: None,
        }
    }

    /// Declares a queue whose refused messages go to a dead-letter queue of its own.
    pub fn declare_with_dead_letters(prefix: &str) -> Self {
        let queue = unique_name(prefix);
        let dead_letters = format!("{queue}-dead");
        run_peer(
            "amqp_peer.py",
            &["declare", &queue, "--dead-letter-to", &dead_letters],
        );
        Self {
            queue,
            exchange: None,
            dead_letters: Some(dead_letters),
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
            dead_letters: None,
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
        ready(&self.queue)
    }

    /// Messages ready in the dead-letter queue (0 without one).
    pub fn dead_lettered(&self) -> u64 {
        self.dead_letters.as_deref().map_or(0, ready)
    }
}

/// Messages ready in `queue`.
fn ready(queue: &str) -> u64 {
    run_peer("amqp_peer.py", &["count", queue])
        .trim()
        .parse()
        .unwrap_or(u64::MAX)
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        let mut args = vec!["delete", self.queue.as_str()];
        if let Some(exchange) = &self.exchange {
            args.extend(["--exchange", exchange.as_str()]);
        }
        if let Some(dead_letters) = &self.dead_letters {
            args.extend(["--dead-letter-to", dead_letters.as_str()]);
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

/// Stores an AMQP definition `rabbit` (prefetch 20) and a channel `in` with 2 consumers of
/// `queue` bound to `zato.record`.
pub fn configure_amqp_channel(redis: &dyn RedisAccess, cluster: &str, queue: &str) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = crate::broker(redis, cluster, "test", "test");
        let store = zato_broker::ConfigStore::new(client.clone());
        let definition: zato_common::model::AmqpDefinition = serde_json::from_value(
            serde_json::json!({"name": "rabbit", "url": AMQP_URL, "prefetch": 20}),
        )
        .expect("definition");
        let channel: zato_common::model::AmqpChannel = serde_json::from_value(serde_json::json!({
            "name": "in", "definition": "rabbit", "queue": queue,
            "service": "zato.record", "consumers": 2
        }))
        .expect("channel");
        store.create(&definition).await.expect("definition");
        store.create(&channel).await.expect("channel");
        client.shutdown();
    });
}

/// Starts pika publishing `count` messages at `rate` per second, in the background.
pub fn stream(queue: &str, count: usize, key: &str, rate: u32) -> std::process::Child {
    stream_with(queue, count, key, rate, &[])
}

/// [`stream`] with more of `amqp_peer.py publish`'s options (`--invalid-every K`, ...).
pub fn stream_with(
    queue: &str,
    count: usize,
    key: &str,
    rate: u32,
    options: &[&str],
) -> std::process::Child {
    let (count, rate) = (count.to_string(), rate.to_string());
    let mut args = vec!["publish", queue, &count, key, "--rate", &rate];
    args.extend(options);
    peer("amqp_peer.py", &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pika publisher")
}

/// The `n` of every `payload.n` among `entries`.
pub fn numbers(entries: &[Value]) -> std::collections::BTreeSet<u64> {
    entries
        .iter()
        .filter_map(|e| e["payload"]["n"].as_u64())
        .collect()
}

/// Waits until `recorded` stops growing for `quiet`, at most `limit`; the last entries.
pub fn settled(
    limit: Duration,
    quiet: Duration,
    mut recorded: impl FnMut() -> Vec<Value>,
) -> Vec<Value> {
    let deadline = Instant::now() + limit;
    let mut last = recorded();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = recorded();
        if now.len() != last.len() {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    last
}
