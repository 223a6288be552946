//! The ways this crate talks to Redis: one Redis, a Redis Cluster, or a master found through
//! Redis Sentinel, chosen by the URL ([`RedisUrl`]) and hidden behind one [`Conn`].
//!
//! Ordinary commands share connections: a deadpool-redis pool of multiplexed connections
//! on one Redis, one cluster connection (itself a multiplexed connection per node, following
//! `MOVED`/`ASK` and a replica's promotion), or one connection to the current master.
//! Blocking reads (`XREADGROUP ... BLOCK`, `BLPOP`) never do: a blocked multiplexed
//! connection would stall every other command sharing it, and the response timeout of
//! ordinary commands would trip on a long `BLOCK`. Each blocking reader gets a dedicated
//! connection with no response timeout instead (on a cluster, a cluster connection of its
//! own, so per node).
//!
//! Every path is built from the same settings, so a `rediss://` URL (and the private CA of
//! `broker.redis_ca_path`, and `#insecure`) applies to the pool, the cluster's nodes, the
//! master and every dedicated connection alike: no path to Redis is left in plain text.

mod conn;
mod replicas;
mod sentinel;
mod url;

use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::{Manager, Pool, PoolConfig, Runtime, Timeouts};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo};
use tokio::sync::OnceCell;
use zato_common::settings::BrokerSettings;

pub use conn::Conn;
pub use replicas::ReplicaAck;
pub use url::RedisUrl;

use crate::error::{BrokerError, Result};
use crate::tls;

/// How long to wait for a connection to Redis before giving up on this attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long an ordinary (non-blocking) command may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a cluster command is retried (after `MOVED`, a lost node, a failover) before
/// its caller hears of it, and the longest wait between two tries: a replica's promotion
/// takes about the cluster's `cluster-node-timeout`, and every caller retries on its own.
const CLUSTER_RETRIES: u32 = 6;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 1_000;

/// The clients and shared connections of a Redis Cluster.
struct Cluster {
    commands: ClusterClient,
    blocking: ClusterClient,
    /// For writes that wait for replicas: no retries of its own (see `writer`).
    writes_client: ClusterClient,
    shared: OnceCell<ClusterConnection>,
    /// The writes that wait for replicas, apart from `shared` (see [`Redis::write_conn`]).
    writes: OnceCell<ClusterConnection>,
}

/// A handle to Redis: shared connections for commands, plus dedicated ones for blocking
/// reads. Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    backend: Arc<Backend>,
    ack: Option<ReplicaAck>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "one per process, behind an Arc: boxing would only add an indirection"
)]
enum Backend {
    Single { pool: Pool, client: redis::Client },
    Cluster(Cluster),
    Sentinel(Arc<sentinel::Master>),
}

impl Redis {
    /// Prepares connections to `url` (see [`RedisUrl`]); nothing is connected until first
    /// use, so a member can start while Redis is still down and connect when it comes up. A
    /// URL or CA file that cannot be used is refused here, before anything starts.
    pub fn new(url: &str, settings: &BrokerSettings) -> Result<Self> {
        tls::install_crypto_provider();
        let backend = match RedisUrl::parse(url)? {
            RedisUrl::Single(info) => single(info, settings)?,
            RedisUrl::Cluster(nodes) => cluster(nodes, &settings.redis_ca_path)?,
            RedisUrl::Sentinel {
                sentinels,
                master,
                node,
            } => Backend::Sentinel(Arc::new(sentinel::Master::new(
                sentinels,
                &master,
                node,
                certificates(&settings.redis_ca_path)?,
            )?)),
        };
        Ok(Self {
            backend: Arc::new(backend),
            ack: ReplicaAck::from_settings(settings),
        })
    }

    /// The replication every write must have before it counts as done, if any.
    pub fn replica_ack(&self) -> Option<ReplicaAck> {
        self.ack
    }

    /// Waits until enough replicas have what `conn` wrote so far (`broker.min_replicas_ack`;
    /// at once when that is 0). `key` is one the writes touched, so that on a cluster the
    /// `WAIT` reaches the node they went to.
    pub async fn confirm_replicated(&self, conn: &mut Conn, key: &str) -> Result<()> {
        let Some(ack) = self.ack else { return Ok(()) };
        let reply: redis::Value = conn.query_at(key, ack.cmd()).await?;
        ack.check(&reply)
    }

    /// Whether keys of different hash tags may live on different nodes (a Redis Cluster):
    /// then no pipeline may mix them.
    pub fn is_cluster(&self) -> bool {
        matches!(*self.backend, Backend::Cluster(_))
    }

    /// A shared connection for ordinary commands. On one Redis, taking one pings it
    /// (deadpool checks connections on the way out), so hot loops hold one across many
    /// commands.
    pub async fn conn(&self) -> Result<Conn> {
        match &*self.backend {
            Backend::Single { pool, .. } => {
                let mut conn = pool.get().await?;
                conn.set_response_timeout(RESPONSE_TIMEOUT);
                Ok(Conn::Pooled(conn))
            }
            Backend::Cluster(cluster) => cluster_conn(&cluster.commands, &cluster.shared).await,
            Backend::Sentinel(master) => master.shared(sentinel::Use::Commands).await,
        }
    }

    /// A connection for writes that end with a `WAIT` for replicas (the batching writer, the
    /// config store, fires, leases). `WAIT` holds the connection it is sent on until the
    /// replicas answer, up to `broker.replicas_ack_timeout_ms`: on a connection shared with
    /// every other command (a cluster's per-node connection, the sentinel master's) one
    /// publish waiting for a lagging replica would stall heartbeats, acknowledgements and
    /// lease renewals behind it. A pooled connection of one Redis is held by one caller at
    /// a time already. On a cluster this connection never retries a command by itself: a
    /// write retried on another node could run twice, and a `WAIT` retried on a promoted
    /// replica (where this connection wrote nothing) would confirm a write that was lost.
    pub async fn write_conn(&self) -> Result<Conn> {
        match &*self.backend {
            Backend::Single { .. } => self.conn().await,
            Backend::Cluster(cluster) => {
                cluster_conn(&cluster.writes_client, &cluster.writes).await
            }
            Backend::Sentinel(master) => master.shared(sentinel::Use::Writes).await,
        }
    }

    /// A new connection of its own, with no response timeout, for one blocking reader.
    pub async fn dedicated(&self) -> Result<Conn> {
        match &*self.backend {
            Backend::Single { client, .. } => Ok(Conn::Multiplexed(
                client
                    .get_multiplexed_async_connection_with_config(&blocking_config())
                    .await?,
            )),
            Backend::Cluster(cluster) => Ok(Conn::Cluster(
                cluster.blocking.get_async_connection().await?,
            )),
            Backend::Sentinel(master) => master.dedicated().await,
        }
    }
}

/// The cluster connection kept in `slot`, made on first use (and again after a failure to
/// make it); itself reconnects to nodes and follows the cluster's changes.
async fn cluster_conn(client: &ClusterClient, slot: &OnceCell<ClusterConnection>) -> Result<Conn> {
    let conn = slot
        .get_or_try_init(|| client.get_async_connection())
        .await?;
    Ok(Conn::Cluster(conn.clone()))
}

/// Connection settings for a blocking reader: a bounded connect, an unbounded wait.
fn blocking_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None)
}

/// Nagle's algorithm would hold back small commands while earlier ones are unanswered,
/// which is exactly what a multiplexed connection does all the time.
fn no_delay() -> TcpSettings {
    TcpSettings::default().set_nodelay(true)
}

fn single(info: ConnectionInfo, settings: &BrokerSettings) -> Result<Backend> {
    let info = info.set_tcp_settings(no_delay());
    let client = match certificates(&settings.redis_ca_path)? {
        None => redis::Client::open(info)?,
        Some(certificates) => {
            require_tls(&info, &settings.redis_ca_path)?;
            redis::Client::build_with_tls(info, certificates)?
        }
    };
    // The pool gets the client's own connection info, which carries the CA.
    let info = client.get_connection_info().clone();
    let mut pool_config = PoolConfig::new(settings.pool_size);
    pool_config.timeouts = Timeouts {
        wait: Some(CONNECT_TIMEOUT),
        create: Some(CONNECT_TIMEOUT),
        recycle: Some(CONNECT_TIMEOUT),
    };
    let pool = Pool::builder(Manager::new(info)?)
        .config(pool_config)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| BrokerError::Pool(e.to_string()))?;
    Ok(Backend::Single { pool, client })
}

fn cluster(nodes: Vec<ConnectionInfo>, ca_path: &str) -> Result<Backend> {
    let certificates = certificates(ca_path)?;
    if certificates.is_some() {
        for node in &nodes {
            require_tls(node, ca_path)?;
        }
    }
    let client = |response_timeout: Duration, retries: u32| {
        let mut builder = ClusterClient::builder(nodes.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(response_timeout)
            .retries(retries)
            .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS)
            .tcp_settings(no_delay());
        if let Some(certificates) = &certificates {
            builder = builder.certs(certificates.clone());
        }
        builder.build()
    };
    Ok(Backend::Cluster(Cluster {
        commands: client(RESPONSE_TIMEOUT, CLUSTER_RETRIES)?,
        writes_client: client(RESPONSE_TIMEOUT, 0)?,
        // A blocking read waits at most `broker.block_ms` (capped well below this) or a
        // reply's timeout; this only bounds a node that stopped answering altogether.
        blocking: client(Duration::from_secs(3_600), CLUSTER_RETRIES)?,
        shared: OnceCell::new(),
        writes: OnceCell::new(),
    }))
}

/// The private CA of `broker.redis_ca_path`, if one is set.
fn certificates(ca_path: &str) -> Result<Option<redis::TlsCertificates>> {
    if ca_path.is_empty() {
        return Ok(None);
    }
    Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(tls::read_ca_file(std::path::Path::new(ca_path))?),
    }))
}

fn require_tls(info: &ConnectionInfo, ca_path: &str) -> Result<()> {
    if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        return Ok(());
    }
    Err(tls::refused(format!(
        "broker.redis_ca_path is set ({ca_path}), but the Redis URL is not rediss://"
    )))
}
