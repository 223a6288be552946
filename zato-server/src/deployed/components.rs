//! Deployed components in Redis, one key per SHA-256 of the bytes.
//!
//! Stored once however many services or versions use it, never overwritten (a hash names
//! exactly one content), and deleted only when no record refers to it any more.

use redis::AsyncCommands;
use zato_broker::{Broker, BrokerError};

/// Stores `bytes` under `hash` unless they are there already.
pub async fn put(broker: &Broker, hash: &str, bytes: &[u8]) -> Result<(), BrokerError> {
    let mut conn = broker.redis().conn().await?;
    let _: bool = conn.set_nx(broker.keys().component(hash), bytes).await?;
    Ok(())
}

/// The component stored under `hash`, if any.
pub async fn get(broker: &Broker, hash: &str) -> Result<Option<Vec<u8>>, BrokerError> {
    let mut conn = broker.redis().conn().await?;
    Ok(conn.get(broker.keys().component(hash)).await?)
}

/// Deletes the components under `hashes`.
pub async fn delete(broker: &Broker, hashes: &[&str]) -> Result<(), BrokerError> {
    if hashes.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = hashes.iter().map(|h| broker.keys().component(h)).collect();
    let mut conn = broker.redis().conn().await?;
    let _: u64 = conn.del(keys).await?;
    Ok(())
}
