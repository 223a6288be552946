//! What the member-process helpers need of a test's Redis, whichever it is: one Redis, a
//! Redis Cluster or a Sentinel group. The same helpers then start servers, schedulers and
//! connectors against any of them, and read what they recorded.

use std::path::Path;

use crate::redis_cluster::RedisCluster;
use crate::redis_sentinel::RedisSentinel;
use crate::redis_server::RedisServer;

/// A test's Redis, as members and checks reach it.
pub trait RedisAccess {
    /// The URL members use (`redis://`, `rediss://`, `redis+cluster://`, `redis+sentinel://`).
    fn url(&self) -> String;

    /// The CA certificate a TLS Redis's certificate is signed by.
    fn ca_path(&self) -> Option<&Path> {
        None
    }

    /// A connection for checks from the outside to the node that holds `key` now (the one
    /// Redis; a cluster's master of the key's slot; the sentinels' current master).
    fn connection_for(&self, key: &str) -> redis::RedisResult<redis::Connection>;
}

impl RedisAccess for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }

    fn ca_path(&self) -> Option<&Path> {
        RedisServer::ca_path(self)
    }

    fn connection_for(&self, _key: &str) -> redis::RedisResult<redis::Connection> {
        self.connection()
    }
}

impl RedisAccess for RedisCluster {
    fn url(&self) -> String {
        RedisCluster::url(self)
    }

    fn connection_for(&self, key: &str) -> redis::RedisResult<redis::Connection> {
        Ok(self.connection(self.master_of(key)))
    }
}

impl RedisAccess for RedisSentinel {
    fn url(&self) -> String {
        RedisSentinel::url(self)
    }

    fn connection_for(&self, _key: &str) -> redis::RedisResult<redis::Connection> {
        Ok(self.connection(self.master_port()))
    }
}
