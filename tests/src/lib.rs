//! Shared helpers of the end-to-end tests: a `redis-server` of the test's own
//! ([`RedisServer`]), unique cluster names, broker clients, and polling; the modules run the
//! real binaries, RabbitMQ's admin tool, the python peers, and the chaos scenario.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use zato_broker::{Broker, BrokerConfig};
use zato_common::settings::BrokerSettings;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
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
pub fn broker(redis: &dyn RedisAccess, cluster: &str, member: &str, role: &str) -> Broker {
    broker_with(redis, cluster, member, role, test_settings())
}

/// A broker client with explicit settings.
pub fn broker_with(
    redis: &dyn RedisAccess,
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
pub mod chaos;
pub mod cli;
pub mod connector;
pub mod curl;
pub mod failover;
pub mod local_server;
pub mod mariadb;
pub mod peers_in_process;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod rabbitmq;
pub mod records;
pub mod redis_access;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod redis_server;
pub mod scheduler;
pub mod server;
pub mod upstream;
pub mod wasm;

pub use mariadb::MariadbServer;
pub use postgres::PostgresServer;
pub use redis_access::RedisAccess;
pub use redis_cluster::RedisCluster;
pub use redis_sentinel::RedisSentinel;
pub use redis_server::RedisServer;
pub use upstream::HttpUpstream;
