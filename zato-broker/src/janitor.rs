//! Housekeeping: trimming work queues, dropping 1:all groups of long-gone members, and the
//! queue figures that `zato status` shows.
//!
//! A work queue cannot be trimmed by length: `MAXLEN` would delete messages not yet handled.
//! Everything before the oldest message still pending and not after the group's
//! last-delivered position has been acknowledged, so the janitor trims to that point
//! (`XTRIM MINID`). Every member may run the janitor; each pass is idempotent.

use std::time::Duration;

use redis::Value;
use serde::Serialize;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::Broker;
use crate::error::Result;
use crate::keys::Queue;
use crate::members::list_members;
use crate::stream_entry::{as_string, as_u64, id_cmp, id_time_ms, parse_entries, parse_flat_map};

/// How often the janitor runs.
pub const JANITOR_INTERVAL: Duration = Duration::from_secs(5);

/// The state of one work queue: its partitions' figures added up, and each partition's (when
/// there are several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueInfo {
    pub queue: &'static str,
    #[serde(flatten)]
    pub figures: QueueFigures,
    /// Each partition's own figures; empty with one partition.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<QueueFigures>,
}

/// The figures of a work queue or of one of its partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct QueueFigures {
    /// Entries in the stream (handled ones included until trimmed).
    pub length: u64,
    /// Delivered to a consumer and not yet acknowledged.
    pub pending: u64,
    /// Not yet delivered to any consumer (`None` when Redis cannot tell).
    pub waiting: Option<u64>,
    /// Entries in this queue's dead-letter stream.
    pub dead_letters: u64,
    /// How long ago the oldest message still pending was published, in ms (`None` when
    /// nothing is pending).
    pub oldest_pending_age_ms: Option<u64>,
}

pub(crate) struct GroupInfo {
    pub name: String,
    pub last_delivered: String,
    pub pending: u64,
    pub lag: Option<u64>,
    /// Entries delivered to the group so far (`None` when Redis cannot tell).
    pub entries_read: Option<u64>,
}

/// Creates `group` on `stream` at `start` (creating the stream too) unless it exists: an
/// existing group keeps its position.
pub(crate) async fn create_group(
    conn: &mut crate::Conn,
    stream: &str,
    group: &str,
    start: &str,
) -> Result<()> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}

pub(crate) async fn groups(conn: &mut crate::Conn, stream: &str) -> Result<Vec<GroupInfo>> {
    let reply: redis::RedisResult<Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await;
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e.into()),
    };
    let Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    Ok(items
        .iter()
        .map(|item| {
            let fields = parse_flat_map(item);
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            GroupInfo {
                name: get("name").as_ref().and_then(as_string).unwrap_or_default(),
                last_delivered: get("last-delivered-id")
                    .as_ref()
                    .and_then(as_string)
                    .unwrap_or_default(),
                pending: get("pending").as_ref().and_then(as_u64).unwrap_or(0),
                lag: get("lag").as_ref().and_then(as_u64),
                entries_read: get("entries-read").as_ref().and_then(as_u64),
            }
        })
        .collect())
}

impl QueueFigures {
    /// The figures of two parts of a queue as one.
    fn add(self, other: &QueueFigures) -> QueueFigures {
        QueueFigures {
            length: self.length + other.length,
            pending: self.pending + other.pending,
            waiting: self.waiting.zip(other.waiting).map(|(a, b)| a + b),
            dead_letters: self.dead_letters + other.dead_letters,
            oldest_pending_age_ms: self.oldest_pending_age_ms.max(other.oldest_pending_age_ms),
        }
    }
}

/// The figures of `queue`, over all its partitions.
pub async fn queue_info(broker: &Broker, queue: Queue) -> Result<QueueInfo> {
    let mut partitions = Vec::with_capacity(broker.partitions());
    for partition in 0..broker.partitions() {
        partitions.push(partition_figures(broker, queue, partition).await?);
    }
    let figures = partitions.iter().fold(
        QueueFigures {
            waiting: Some(0),
            ..QueueFigures::default()
        },
        QueueFigures::add,
    );
    if partitions.len() == 1 {
        partitions.clear();
    }
    Ok(QueueInfo {
        queue: queue.as_str(),
        figures,
        partitions,
    })
}

/// The figures of one partition of `queue`.
async fn partition_figures(
    broker: &Broker,
    queue: Queue,
    partition: usize,
) -> Result<QueueFigures> {
    let stream = broker.keys().queue(queue, partition);
    let mut conn = broker.redis().conn().await?;
    let group = groups(&mut conn, &stream)
        .await?
        .into_iter()
        .find(|g| g.name == queue.group());
    let (length, dead_letters, summary): (u64, u64, Value) = redis::pipe()
        .cmd("XLEN")
        .arg(&stream)
        .cmd("XLEN")
        .arg(broker.keys().dlq(queue.as_str(), partition))
        .cmd("XPENDING")
        .arg(&stream)
        .arg(queue.group())
        .ignore_errors()
        .query_async(&mut conn)
        .await?;
    // XPENDING's summary: [count, smallest id, greatest id, consumers]; the id's first part
    // is the time it was added (ms). A missing group is an error reply: nothing pending.
    let oldest_pending_age_ms = match &summary {
        Value::Array(fields) => fields
            .get(1)
            .and_then(as_string)
            .and_then(|id| id_time_ms(&id))
            .map(|added| zato_common::clock::unix_ms().saturating_sub(added)),
        _ => None,
    };
    Ok(QueueFigures {
        length,
        pending: group.as_ref().map_or(0, |g| g.pending),
        waiting: match &group {
            Some(g) => g.lag,
            None => Some(length),
        },
        dead_letters,
        oldest_pending_age_ms,
    })
}

/// How far behind each member's 1:all group is: entries not yet delivered to it, by member
/// name (`None` when Redis cannot tell, after a trim passed the group's position).
pub async fn all_lags(broker: &Broker) -> Result<Vec<(String, Option<u64>)>> {
    let mut conn = broker.redis().conn().await?;
    Ok(groups(&mut conn, &broker.keys().all())
        .await?
        .into_iter()
        .map(|g| (g.name, g.lag))
        .collect())
}

/// Trims the handled entries off every partition of `queue`; how many were removed.
pub async fn trim_queue(broker: &Broker, queue: Queue) -> Result<u64> {
    let mut removed = 0;
    for partition in 0..broker.partitions() {
        let stream = broker.keys().queue(queue, partition);
        removed += trim_handled(broker, &stream, Some(queue.group())).await?;
    }
    Ok(removed)
}

/// Trims the entries of `stream` that every group (or the one named) has acknowledged;
/// how many were removed. A stream without groups is left alone.
pub(crate) async fn trim_handled(broker: &Broker, stream: &str, only: Option<&str>) -> Result<u64> {
    let mut conn = broker.redis().conn().await?;
    let mut keep_from: Option<String> = None;
    for group in groups(&mut conn, stream).await? {
        if only.is_some_and(|only| only != group.name) {
            continue;
        }
        let summary: Value = redis::cmd("XPENDING")
            .arg(stream)
            .arg(&group.name)
            .query_async(&mut conn)
            .await?;
        let oldest_pending = match &summary {
            Value::Array(parts) if parts.first().and_then(as_u64).unwrap_or(0) > 0 => {
                parts.get(1).and_then(as_string)
            }
            _ => None,
        };
        let needed = match oldest_pending {
            Some(oldest) if id_cmp(&oldest, &group.last_delivered).is_lt() => oldest,
            _ => group.last_delivered,
        };
        if keep_from
            .as_ref()
            .is_none_or(|k| id_cmp(&needed, k).is_lt())
        {
            keep_from = Some(needed);
        }
    }
    let Some(keep_from) = keep_from else {
        return Ok(0);
    };
    Ok(redis::cmd("XTRIM")
        .arg(stream)
        .arg("MINID")
        .arg(&keep_from)
        .query_async(&mut conn)
        .await?)
}

/// Removes the 1:all groups of members that are not alive and whose position fell behind the
/// stream's retention: should such a member come back, it reloads the config store anyway.
pub async fn drop_stale_groups(broker: &Broker) -> Result<Vec<String>> {
    let stream = broker.keys().all();
    let live: Vec<String> = list_members(broker)
        .await?
        .into_iter()
        .map(|m| m.name)
        .collect();
    let mut conn = broker.redis().conn().await?;
    let first: Value = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let Some(first) = parse_entries(first).into_iter().next() else {
        return Ok(Vec::new());
    };
    let mut dropped = Vec::new();
    for group in groups(&mut conn, &stream).await? {
        if live.contains(&group.name) || !id_cmp(&group.last_delivered, &first.id).is_lt() {
            continue;
        }
        let _: u64 = redis::cmd("XGROUP")
            .arg("DESTROY")
            .arg(&stream)
            .arg(&group.name)
            .query_async(&mut conn)
            .await?;
        info!(member = %group.name, "dropped the 1:all group of a member gone longer than the retention");
        dropped.push(group.name);
    }
    Ok(dropped)
}

/// Runs the janitor every [`JANITOR_INTERVAL`] until the broker shuts down.
pub fn spawn_janitor(broker: &Broker) -> JoinHandle<()> {
    let broker = broker.clone();
    tokio::spawn(async move {
        let cancel = broker.cancel_token().clone();
        loop {
            tokio::select! {
                () = tokio::time::sleep(JANITOR_INTERVAL) => {}
                () = cancel.cancelled() => return,
            }
            for queue in [Queue::Server, Queue::Connector] {
                if let Err(e) = trim_queue(&broker, queue).await {
                    warn!(queue = queue.as_str(), error = %e, "janitor could not trim");
                }
            }
            if let Err(e) = drop_stale_groups(&broker).await {
                warn!(error = %e, "janitor could not check 1:all groups");
            }
        }
    })
}
