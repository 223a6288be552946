//! Member heartbeats: who is alive in the cluster, in what role, since when.
//!
//! Each process keeps `member:<id>` (JSON, with a TTL of three heartbeat intervals) and its
//! id in the sorted set `members` (scored by last heartbeat). A process that dies simply
//! stops refreshing; its key expires and the next listing forgets it.

use std::time::Duration;

use redis::Value;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::warn;
use zato_common::clock::unix_ms;

use crate::Broker;
use crate::error::Result;
use crate::stream_entry::as_string;

/// What a member says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The unique process id, `<member>:<pid>:<boot id>`.
    pub id: String,
    /// The stable member name from its config.
    pub name: String,
    pub role: String,
    pub pid: u32,
    pub host: String,
    pub version: String,
    /// Unix ms.
    pub started_at: u64,
    /// Unix ms of the last heartbeat.
    pub last_seen: u64,
}

/// Starts refreshing this process's heartbeat until the broker shuts down, when the
/// heartbeat is removed at once (so `zato status` does not show a stopped member).
pub fn spawn_heartbeat(broker: &Broker) -> JoinHandle<()> {
    let broker = broker.clone();
    tokio::spawn(async move {
        let interval = Duration::from_millis(broker.settings().heartbeat_interval_ms);
        let mut info = MemberInfo {
            id: broker.consumer_id().to_owned(),
            name: broker.member().to_owned(),
            role: broker.role().to_owned(),
            pid: std::process::id(),
            host: hostname::get()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: unix_ms(),
            last_seen: 0,
        };
        let cancel = broker.cancel_token().clone();
        loop {
            info.last_seen = unix_ms();
            if let Err(e) = beat(&broker, &info, interval * 3).await {
                warn!(error = %e, "heartbeat failed");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = cancel.cancelled() => break,
            }
        }
        if let Err(e) = forget(&broker, &info.id).await {
            warn!(error = %e, "could not remove the heartbeat; it will expire");
        }
    })
}

async fn beat(broker: &Broker, info: &MemberInfo, ttl: Duration) -> Result<()> {
    let json = serde_json::to_string(info).unwrap_or_default();
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("SET")
        .arg(broker.keys().member(&info.id))
        .arg(json)
        .arg("PX")
        .arg(ttl.as_millis() as u64)
        .ignore()
        .cmd("ZADD")
        .arg(broker.keys().members())
        .arg(info.last_seen)
        .arg(&info.id)
        .ignore();
    let mut conn = broker.redis().conn().await?;
    let () = pipe.query_async(&mut conn).await?;
    Ok(())
}

async fn forget(broker: &Broker, id: &str) -> Result<()> {
    let mut pipe = redis::pipe();
    pipe.cmd("DEL").arg(broker.keys().member(id)).ignore();
    pipe.cmd("ZREM")
        .arg(broker.keys().members())
        .arg(id)
        .ignore();
    let mut conn = broker.redis().conn().await?;
    let () = pipe.query_async(&mut conn).await?;
    Ok(())
}

/// The live members of the cluster, oldest heartbeat first. Members whose heartbeat
/// expired are dropped from the set on the way.
pub async fn list_members(broker: &Broker) -> Result<Vec<MemberInfo>> {
    let mut conn = broker.redis().conn().await?;
    let ids: Vec<String> = redis::cmd("ZRANGE")
        .arg(broker.keys().members())
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids.iter().map(|id| broker.keys().member(id)).collect();
    let values: Vec<Value> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
    let mut live = Vec::new();
    let mut gone = Vec::new();
    for (id, value) in ids.iter().zip(values) {
        match as_string(&value).and_then(|json| serde_json::from_str::<MemberInfo>(&json).ok()) {
            Some(info) => live.push(info),
            None => gone.push(id.clone()),
        }
    }
    if !gone.is_empty() {
        let _: u64 = redis::cmd("ZREM")
            .arg(broker.keys().members())
            .arg(&gone)
            .query_async(&mut conn)
            .await?;
    }
    Ok(live)
}
