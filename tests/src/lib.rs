//! Shared helpers of the end-to-end tests: a `redis-server` of the test's own on a free port
//! (so the test may kill and restart it; plain, TLS-only, or with an ACL user), unique cluster
//! names, and polling.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zato_broker::{Broker, BrokerConfig};
use zato_common::settings::BrokerSettings;

use crate::certs::TestCerts;

/// A `redis-server` process owned by one test.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    appendonly: bool,
    access: Access,
    child: Option<Child>,
}

/// How clients get into a test's Redis.
enum Access {
    /// Plain TCP, the `default` user with no password.
    Open,
    /// TLS only (no plain port), with a certificate of a private CA.
    Tls(TestCerts),
    /// Plain TCP, one ACL user with a password and the keys `zato:*` (the rules
    /// docs/deploy.md suggests); `default` is switched off.
    User { name: String, password: String },
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
        Self::launch(false, Access::Open)
    }

    /// A Redis with `appendonly yes` and `appendfsync always`: what it acknowledged survives
    /// a kill -9.
    pub fn start_persistent() -> Self {
        Self::launch(true, Access::Open)
    }

    /// A Redis that speaks TLS only, with a server certificate of a CA made for it
    /// ([`RedisServer::ca_path`]); [`RedisServer::url`] is `rediss://`.
    pub fn start_tls() -> Self {
        Self::launch(false, Access::Tls(TestCerts::generate()))
    }

    /// A Redis whose only user is `name` with `password` (an ACL user with every command on
    /// the keys `zato:*`; the `default` user is off); [`RedisServer::url`] carries the
    /// credentials.
    pub fn start_with_user(name: &str, password: &str) -> Self {
        let user = Access::User {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        Self::launch(false, user)
    }

    fn launch(appendonly: bool, access: Access) -> Self {
        let dir =
            std::env::temp_dir().join(format!("zato-test-redis-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("redis data dir");
        let mut server = Self {
            port: free_port(),
            dir,
            appendonly,
            access,
            child: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        match &self.access {
            Access::Tls(certs) => {
                cmd.args(["--port", "0", "--tls-port"])
                    .arg(self.port.to_string())
                    .arg("--tls-cert-file")
                    .arg(&certs.cert)
                    .arg("--tls-key-file")
                    .arg(&certs.key)
                    .arg("--tls-ca-cert-file")
                    .arg(&certs.ca)
                    .args(["--tls-auth-clients", "no"]);
            }
            Access::User { name, password } => {
                cmd.arg("--port").arg(self.port.to_string());
                cmd.args(["--user", name, "on"])
                    .arg(format!(">{password}"))
                    .args(["~zato:*", "&*", "+@all", "--user", "default", "off"]);
            }
            Access::Open => {
                cmd.arg("--port").arg(self.port.to_string());
            }
        }
        cmd.arg("--bind")
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
            if let Ok(client) = self.open_client()
                && let Ok(mut conn) = client.get_connection()
                && redis::cmd("PING").query::<String>(&mut conn).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// The URL members use: `redis://127.0.0.1:<port>`, `rediss://` for a TLS Redis, with
    /// `user:password@` for one with an ACL user.
    pub fn url(&self) -> String {
        match &self.access {
            Access::Open => format!("redis://127.0.0.1:{}", self.port),
            Access::Tls(_) => format!("rediss://127.0.0.1:{}", self.port),
            Access::User { name, password } => {
                format!("redis://{name}:{password}@127.0.0.1:{}", self.port)
            }
        }
    }

    /// `127.0.0.1:<port>`, for tests that make URLs of their own.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA certificate file a TLS Redis's certificate is signed by.
    pub fn ca_path(&self) -> Option<&std::path::Path> {
        match &self.access {
            Access::Tls(certs) => Some(&certs.ca),
            _ => None,
        }
    }

    fn open_client(&self) -> redis::RedisResult<redis::Client> {
        let Some(ca) = self.ca_path() else {
            return redis::Client::open(self.url());
        };
        zato_broker::install_crypto_provider();
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(std::fs::read(ca)?),
        };
        redis::Client::build_with_tls(self.url(), certificates)
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
        self.open_client()
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
    mut settings: BrokerSettings,
) -> Broker {
    if let Some(ca) = redis.ca_path()
        && settings.redis_ca_path.is_empty()
    {
        settings.redis_ca_path = ca.display().to_string();
    }
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

pub mod certs;
pub mod cli;
pub mod connector;
pub mod curl;
pub mod process;
pub mod scheduler;
pub mod server;
