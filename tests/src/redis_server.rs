//! A `redis-server` of the test's own on a free port, so the test may kill and restart it:
//! plain, TLS-only, or with an ACL user. Started and stopped by the workspace's one launcher
//! ([`zato_common::redis_server`]); this adds what tests need on top: the URL members use,
//! the CA of a TLS Redis, and connections for checks from the outside.

use std::path::Path;
use std::time::Duration;

use zato_common::redis_server::{self, Launch, TlsFiles};

use crate::certs::TestCerts;

/// A `redis-server` process owned by one test; its data directory goes with it.
pub struct RedisServer {
    server: redis_server::RedisServer,
    access: Access,
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

impl Access {
    /// The URL of a Redis on `port` reached this way.
    fn url(&self, port: u16) -> String {
        match self {
            Access::Open => format!("redis://127.0.0.1:{port}"),
            Access::Tls(_) => format!("rediss://127.0.0.1:{port}"),
            Access::User { name, password } => {
                format!("redis://{name}:{password}@127.0.0.1:{port}")
            }
        }
    }
}

impl RedisServer {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(launch(), Access::Open)
    }

    /// A Redis with `appendonly yes` and `appendfsync always`: what it acknowledged survives
    /// a kill -9.
    pub fn start_persistent() -> Self {
        let launch = launch().appendonly().args(["--appendfsync", "always"]);
        Self::launch(launch, Access::Open)
    }

    /// A Redis that speaks TLS only, with a server certificate of a CA made for it
    /// ([`RedisServer::ca_path`]); [`RedisServer::url`] is `rediss://`.
    pub fn start_tls() -> Self {
        let certs = TestCerts::generate();
        let files = TlsFiles {
            cert: certs.cert.clone(),
            key: certs.key.clone(),
            ca: certs.ca.clone(),
        };
        let ca = certs.ca.clone();
        // Ready once a client trusting the test CA gets a PONG: the launcher has no TLS client.
        let launch = launch().tls_only(files, move |port| {
            let url = format!("rediss://127.0.0.1:{port}");
            open_client(&url, Some(&ca)).is_ok_and(|client| ping(&client))
        });
        Self::launch(launch, Access::Tls(certs))
    }

    /// A Redis whose only user is `name` with `password` (an ACL user with every command on
    /// the keys `zato:*`; the `default` user is off); [`RedisServer::url`] carries the
    /// credentials.
    pub fn start_with_user(name: &str, password: &str) -> Self {
        let launch = launch()
            .args(["--user", name, "on"])
            .args([format!(">{password}")])
            .args(["~zato:*", "&*", "+@all", "--user", "default", "off"])
            .ping_as(name, password);
        let user = Access::User {
            name: name.to_owned(),
            password: password.to_owned(),
        };
        Self::launch(launch, user)
    }

    fn launch(launch: Launch, access: Access) -> Self {
        let server = launch
            .start()
            .unwrap_or_else(|e| panic!("test redis-server (scripts/test installs it): {e}"));
        Self { server, access }
    }

    /// The URL members use: `redis://127.0.0.1:<port>`, `rediss://` for a TLS Redis, with
    /// `user:password@` for one with an ACL user.
    pub fn url(&self) -> String {
        self.access.url(self.server.port())
    }

    /// `127.0.0.1:<port>`, for tests that make URLs of their own.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.server.port())
    }

    /// The CA certificate file a TLS Redis's certificate is signed by.
    pub fn ca_path(&self) -> Option<&Path> {
        match &self.access {
            Access::Tls(certs) => Some(&certs.ca),
            _ => None,
        }
    }

    /// kill -9.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts again on the same port with the same data directory (after a kill -9 if it
    /// still runs).
    pub fn restart(&mut self) {
        if let Err(e) = self.server.restart() {
            panic!("test redis-server restarts: {e}");
        }
    }

    /// A connection for checks from the outside that gives up rather than hangs (2 s to
    /// connect, 5 s per answer): for a Redis that may be restarting.
    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let conn = open_client(&self.url(), self.ca_path())?
            .get_connection_with_timeout(Duration::from_secs(2))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(conn)
    }

    /// Everything this Redis holds, as text (every key with its value, whatever its type), for
    /// checking that a secret is nowhere in clear.
    pub fn dump_all(&self) -> String {
        let mut conn = self.client();
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("KEYS");
        let mut dump = String::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("TYPE");
            let value: redis::Value = match kind.as_str() {
                "string" => redis::cmd("GET").arg(&key).query(&mut conn),
                "hash" => redis::cmd("HGETALL").arg(&key).query(&mut conn),
                "list" => redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(&mut conn),
                "set" => redis::cmd("SMEMBERS").arg(&key).query(&mut conn),
                "zset" => redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query(&mut conn),
                "stream" => redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query(&mut conn),
                _ => Ok(redis::Value::Nil),
            }
            .expect("a value");
            dump.push_str(&format!("{key} {}\n", text_of(&value)));
        }
        dump
    }

    /// A connection for checks from the outside; panics if there is none.
    pub fn client(&self) -> redis::Connection {
        self.connection()
            .unwrap_or_else(|e| panic!("connection to the test redis: {e}"))
    }
}

/// A reply as text, bulk strings as their UTF-8.
fn text_of(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            items.iter().map(text_of).collect::<Vec<_>>().join(" ")
        }
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{} {}", text_of(k), text_of(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => format!("{other:?}"),
    }
}

/// The launch of every test Redis: a free port and a fresh data directory, removed with it.
fn launch() -> Launch {
    Launch::temporary().unwrap_or_else(|e| panic!("test redis-server: {e}"))
}

/// A client of `url`, trusting `ca` for `rediss://`.
fn open_client(url: &str, ca: Option<&Path>) -> redis::RedisResult<redis::Client> {
    let Some(ca) = ca else {
        return redis::Client::open(url);
    };
    zato_broker::install_crypto_provider();
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(std::fs::read(ca)?),
    };
    redis::Client::build_with_tls(url, certificates)
}

/// Whether `client` gets a PONG.
fn ping(client: &redis::Client) -> bool {
    client
        .get_connection()
        .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
        .is_ok()
}
