//! Shared helpers of the end-to-end tests: a `redis-server` of the test's own on a free port
//! (so the test may kill and restart it), unique cluster names, and polling.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zato_broker::{Broker, BrokerConfig};
use zato_common::settings::BrokerSettings;

/// A `redis-server` process owned by one test.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    appendonly: bool,
    child: Option<Child>,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

impl RedisServer {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A Redis with `appendonly yes` and `appendfsync always`: what it acknowledged survives
    /// a kill -9.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(appendonly: bool) -> Self {
        let dir =
            std::env::temp_dir().join(format!("zato-test-redis-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("redis data dir");
        let mut server = Self {
            port: free_port(),
            dir,
            appendonly,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--appendonly")
            .arg(if self.appendonly { "yes" } else { "no" })
            .arg("--appendfsync")
            .arg("always")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .expect("redis-server on PATH (scripts/test installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same data directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A plain connection for checks from the outside.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connection to the test redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cluster name no other test run uses.
pub fn unique_cluster() -> String {
    format!("t{}", uuid::Uuid::now_v7().simple())
}

/// Broker settings scaled down so that time-outs happen within a test.
pub fn test_settings() -> BrokerSettings {
    BrokerSettings {
        visibility_timeout_ms: 600,
        max_deliveries: 3,
        block_ms: 100,
        lease_ttl_ms: 1_000,
        heartbeat_interval_ms: 200,
        ..BrokerSettings::default()
    }
}

/// A broker client for `member` of `cluster`.
pub fn broker(redis: &RedisServer, cluster: &str, member: &str, role: &str) -> Broker {
    broker_with(redis, cluster, member, role, test_settings())
}

/// A broker client with explicit settings.
pub fn broker_with(
    redis: &RedisServer,
    cluster: &str,
    member: &str,
    role: &str,
    settings: BrokerSettings,
) -> Broker {
    Broker::new(BrokerConfig {
        redis_url: redis.url(),
        cluster: cluster.to_owned(),
        member: member.to_owned(),
        role: role.to_owned(),
        settings,
    })
    .expect("broker client")
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; whether it held.
pub async fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs of the code under test, shown for failing tests (`ZATO_LOG` sets the level).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("ZATO_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

pub mod cli;
pub mod connector;
pub mod process;
pub mod scheduler;
pub mod server;
