//! The two ways this crate talks to Redis.
//!
//! Ordinary commands go through a deadpool-redis pool of multiplexed connections. Blocking
//! reads (`XREADGROUP ... BLOCK`, `BLPOP`) never do: a blocked multiplexed connection would
//! stall every other command sharing it, and redis-rs applies a response timeout to pooled
//! connections that a long `BLOCK` would trip. Each blocking reader gets a dedicated
//! connection with no response timeout instead.
//!
//! Both come from one `redis::Client`, so a `rediss://` URL (and the private CA of
//! `broker.redis_ca_path`, and `#insecure`) applies to the pool and to every dedicated
//! connection alike: no path to Redis is left in plain text.

use std::time::Duration;

use deadpool_redis::{Manager, Pool, PoolConfig, Runtime, Timeouts};
use redis::aio::MultiplexedConnection;
use redis::io::tcp::TcpSettings;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};
use zato_common::settings::BrokerSettings;

use crate::error::{BrokerError, Result};
use crate::tls;

/// How long to wait for a connection to Redis before giving up on this attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long an ordinary (non-blocking) command may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to one Redis server: a command pool plus a factory of dedicated connections.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    client: redis::Client,
}

impl Redis {
    /// Prepares connections to `url` (`redis://` or `rediss://`); nothing is connected until
    /// first use, so a member can start while Redis is still down and connect when it comes
    /// up. A CA file that cannot be used is refused here, before anything starts.
    pub fn new(url: &str, settings: &BrokerSettings) -> Result<Self> {
        tls::install_crypto_provider();
        // Nagle's algorithm would hold back small commands while earlier ones are unanswered,
        // which is exactly what a multiplexed connection does all the time.
        let info = url
            .into_connection_info()?
            .set_tcp_settings(TcpSettings::default().set_nodelay(true));
        let client = client(info, &settings.redis_ca_path)?;
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
        Ok(Self { pool, client })
    }

    /// A pooled connection for ordinary commands. Taking one pings Redis (deadpool checks
    /// connections on the way out), so hot loops hold one across many commands.
    pub async fn conn(&self) -> Result<deadpool_redis::Connection> {
        let mut conn = self.pool.get().await?;
        conn.set_response_timeout(RESPONSE_TIMEOUT);
        Ok(conn)
    }

    /// A new connection of its own, with no response timeout, for one blocking reader.
    pub async fn dedicated(&self) -> Result<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None);
        Ok(self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }
}

/// A client for `info`, trusting the CA file at `ca_path` if one is given.
fn client(info: ConnectionInfo, ca_path: &str) -> Result<redis::Client> {
    if ca_path.is_empty() {
        return Ok(redis::Client::open(info)?);
    }
    if !matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        return Err(tls::refused(format!(
            "broker.redis_ca_path is set ({ca_path}), but the Redis URL is not rediss://"
        )));
    }
    let root_cert = tls::read_ca_file(std::path::Path::new(ca_path))?;
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(root_cert),
    };
    Ok(redis::Client::build_with_tls(info, certificates)?)
}
