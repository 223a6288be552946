//! The master of a Redis Sentinel group: found through the sentinels, its role checked, and
//! forgotten as soon as a reply says it is no longer the master.
//!
//! redis-rs asks the sentinels in turn for the master's address and checks with `ROLE` that
//! the node there is a master before it hands out a connection, so a demoted master that
//! still answers is never written to by a new connection. A connection already open to it
//! learns of the demotion from its next reply (`READONLY` on a write, `UNBLOCKED` on a
//! blocked read, or a broken connection when it died): [`Master::check`] then drops the
//! shared connection, and the next command asks the sentinels again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, RedisError, TlsMode, Value};
use tracing::{info, warn};

use super::conn::{Conn, master_is_gone};
use super::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, blocking_config, no_delay};
use crate::error::Result;
use crate::sync::lock;

/// What a shared connection to the master is for.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    /// Ordinary commands.
    Commands = 0,
    /// Writes that wait for replicas (see `Redis::write_conn`).
    Writes = 1,
}

/// The current master of one sentinel-monitored group.
pub struct Master {
    name: String,
    client: tokio::sync::Mutex<SentinelClient>,
    /// The shared connections by [`Use`], each with its discovery's generation.
    current: [Mutex<Option<(u64, MultiplexedConnection)>>; 2],
    generation: AtomicU64,
}

impl Master {
    pub fn new(
        sentinels: Vec<ConnectionInfo>,
        name: &str,
        node: ConnectionInfo,
        certificates: Option<redis::TlsCertificates>,
    ) -> Result<Self> {
        let tls = match node.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => Some(if *insecure {
                TlsMode::Insecure
            } else {
                TlsMode::Secure
            }),
            _ => None,
        };
        let settings = node.redis_settings();
        let addresses = sentinels.iter().map(|s| s.addr().clone());
        let mut builder = SentinelClientBuilder::new(addresses, name, SentinelServerType::Master)?
            .set_client_to_redis_db(settings.db())
            .set_client_to_redis_tcp_settings(no_delay())
            .set_client_to_sentinel_tcp_settings(no_delay());
        if let Some(username) = settings.username() {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password);
        }
        if let Some(tls) = tls {
            builder = builder
                .set_client_to_redis_tls_mode(tls)
                .set_client_to_sentinel_tls_mode(tls);
        }
        if let Some(certificates) = certificates {
            builder = builder.set_client_to_redis_certificates(certificates);
        }
        Ok(Self {
            name: name.to_owned(),
            client: tokio::sync::Mutex::new(builder.build()?),
            current: [Mutex::new(None), Mutex::new(None)],
            generation: AtomicU64::new(0),
        })
    }

    /// The shared connection to the master for `usage`, found through the sentinels if
    /// there is none.
    pub async fn shared(self: &Arc<Self>, usage: Use) -> Result<Conn> {
        if let Some(conn) = self.current_conn(usage) {
            return Ok(conn);
        }
        let mut client = self.client.lock().await;
        // Another caller may have connected while this one waited for the client.
        if let Some(conn) = self.current_conn(usage) {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = client.get_async_connection_with_config(&config).await?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        info!(master = %self.name, generation, "connected to the master the sentinels name");
        *lock(&self.current[usage as usize]) = Some((generation, conn.clone()));
        Ok(self.wrap(conn, generation))
    }

    /// A connection of its own to the master, for one blocking reader.
    pub async fn dedicated(self: &Arc<Self>) -> Result<Conn> {
        let generation = self.generation.load(Ordering::SeqCst);
        let conn = self
            .client
            .lock()
            .await
            .get_async_connection_with_config(&blocking_config())
            .await?;
        Ok(self.wrap(conn, generation))
    }

    /// Called with every reply: one that says the master is gone drops the shared
    /// connection of that discovery, so the next command asks the sentinels again.
    pub fn check(&self, generation: u64, reply: Result<&[Value], &RedisError>) {
        if !master_is_gone(reply) {
            return;
        }
        for slot in &self.current {
            let mut current = lock(slot);
            if current.as_ref().is_some_and(|(g, _)| *g == generation) {
                warn!(master = %self.name, generation, "the master is gone or demoted; asking the sentinels again");
                *current = None;
            }
        }
    }

    /// Whether a shared connection of discovery `generation` is still in use.
    pub fn is_current(&self, generation: u64) -> bool {
        self.current
            .iter()
            .any(|slot| lock(slot).as_ref().is_some_and(|(g, _)| *g == generation))
    }

    fn current_conn(self: &Arc<Self>, usage: Use) -> Option<Conn> {
        let current = lock(&self.current[usage as usize]);
        let (generation, conn) = current.as_ref()?;
        Some(self.wrap(conn.clone(), *generation))
    }

    fn wrap(self: &Arc<Self>, conn: MultiplexedConnection, generation: u64) -> Conn {
        Conn::Sentinel {
            conn,
            master: self.clone(),
            generation,
        }
    }
}
