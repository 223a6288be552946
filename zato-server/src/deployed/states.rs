//! Each server's load state of each deployed service, in Redis, for `GET /zato/api/services`:
//! a deployment that failed on one server says so there, with the error, instead of failing
//! silently (Zato issues 1066, 1067).

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use zato_broker::{Broker, BrokerError};

/// Where one server is with one deployed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LoadState {
    /// Fetching and compiling the version.
    Loading { version: u64 },
    /// Serving the version.
    Ready {
        version: u64,
        load_ms: u64,
        from_cache: bool,
    },
    /// The version could not be loaded; the server serves the previous one, if any.
    Failed { version: u64, error: String },
}

/// Records this server's state of `service`.
pub async fn record(broker: &Broker, service: &str, state: &LoadState) -> Result<(), BrokerError> {
    // A tagged enum of numbers and strings always serialises.
    let json = serde_json::to_string(state).expect("a load state serialises");
    let mut conn = broker.redis().conn().await?;
    let () = conn
        .hset(broker.keys().service_states(service), broker.member(), json)
        .await?;
    Ok(())
}

/// Every server's state of `service`, by member name; unreadable entries are left out.
pub async fn read(
    broker: &Broker,
    service: &str,
) -> Result<BTreeMap<String, LoadState>, BrokerError> {
    let mut conn = broker.redis().conn().await?;
    let raw: BTreeMap<String, String> = conn.hgetall(broker.keys().service_states(service)).await?;
    Ok(raw
        .into_iter()
        .filter_map(|(member, json)| Some((member, serde_json::from_str(&json).ok()?)))
        .collect())
}

/// Forgets every server's state of `service` (it was undeployed).
pub async fn forget(broker: &Broker, service: &str) -> Result<(), BrokerError> {
    let mut conn = broker.redis().conn().await?;
    let _: u64 = conn.del(broker.keys().service_states(service)).await?;
    Ok(())
}
