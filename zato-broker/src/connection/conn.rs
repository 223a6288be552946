//! One connection type for every way of reaching Redis, so that the code sending commands
//! never knows which it has.

use std::sync::Arc;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use super::sentinel::Master;

/// A connection to Redis, whatever its topology.
pub enum Conn {
    /// From the pool of one Redis.
    Pooled(deadpool_redis::Connection),
    /// A dedicated connection to one Redis.
    Multiplexed(MultiplexedConnection),
    /// A Redis Cluster: routes each command to its slot's master.
    Cluster(ClusterConnection),
    /// The master a sentinel named. A reply that says the node is no longer the master, or
    /// that it is gone, makes the next connection ask the sentinels again.
    Sentinel {
        conn: MultiplexedConnection,
        master: Arc<Master>,
        /// Which discovery of the master this connection came from.
        generation: u64,
    },
}

impl Conn {
    /// Sends `cmd` to the node that holds `key` (on a cluster; elsewhere to the one Redis):
    /// for a command without a key, such as `WAIT`, that must reach the node an earlier
    /// write of this connection went to.
    pub async fn query_at<T: redis::FromRedisValue>(
        &mut self,
        key: &str,
        cmd: Cmd,
    ) -> redis::RedisResult<T> {
        match self {
            Conn::Cluster(conn) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let value = conn
                    .route_command(
                        cmd,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
            other => cmd.query_async(other).await,
        }
    }

    /// Sends a blocking read (`XREADGROUP ... BLOCK`, `BLPOP`) that Redis answers within
    /// `block` at the latest. A dedicated connection has no response timeout of its own (a
    /// block may be long), so a node that stopped answering without closing the connection
    /// (frozen, cut off) would hold its reader for ever; past `block` plus the ordinary
    /// response timeout the read fails as timed out, and its reader reconnects.
    pub async fn query_blocking<T: redis::FromRedisValue>(
        &mut self,
        cmd: &Cmd,
        block: std::time::Duration,
    ) -> redis::RedisResult<T> {
        match tokio::time::timeout(block + super::RESPONSE_TIMEOUT, cmd.query_async(self)).await {
            Ok(reply) => reply,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "Redis did not answer a blocking read in time",
            )
            .into()),
        }
    }

    /// Whether this is a connection to a master the sentinels have been asked about again
    /// since (it was found gone or demoted): its holder should take a new one.
    pub fn is_stale(&self) -> bool {
        match self {
            Conn::Sentinel {
                master, generation, ..
            } => !master.is_current(*generation),
            _ => false,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Pooled(conn) => conn.req_packed_command(cmd),
            Conn::Multiplexed(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
            Conn::Sentinel {
                conn,
                master,
                generation,
            } => Box::pin(async move {
                let reply = conn.req_packed_command(cmd).await;
                master.check(*generation, reply.as_ref().map(std::slice::from_ref));
                reply
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Pooled(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Multiplexed(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
            Conn::Sentinel {
                conn,
                master,
                generation,
            } => Box::pin(async move {
                let replies = conn.req_packed_commands(cmd, offset, count).await;
                master.check(*generation, replies.as_deref());
                replies
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Pooled(conn) => conn.get_db(),
            Conn::Multiplexed(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
            Conn::Sentinel { conn, .. } => conn.get_db(),
        }
    }
}

/// Whether a reply says that the node is not (or no longer) a master that can be reached:
/// the connection broke or timed out, a write was refused as to a replica (`READONLY`, or
/// `EXECABORT` for a transaction, whose commands a replica refuses), or a blocked read was
/// released because the node turned into a replica (`UNBLOCKED`).
pub(super) fn master_is_gone(reply: Result<&[Value], &RedisError>) -> bool {
    match reply {
        Err(e) => {
            e.is_connection_dropped()
                || e.is_io_error()
                || e.is_timeout()
                || e.is_connection_refusal()
                || matches!(
                    e.code(),
                    Some("READONLY" | "UNBLOCKED" | "MASTERDOWN" | "EXECABORT")
                )
        }
        Ok(values) => values.iter().any(|v| {
            matches!(v, Value::ServerError(e) if matches!(e.code(), "READONLY" | "UNBLOCKED" | "MASTERDOWN" | "EXECABORT"))
        }),
    }
}
