//! What operators see of topics and subscriptions, read from the streams themselves: a
//! topic's depth and publish count, a subscription's backlog and its oldest unacknowledged
//! message, and the counters kept beside them.

use redis::Value;
use serde::Serialize;

use crate::Broker;
use crate::error::Result;
use crate::janitor::groups;
use crate::keys::subscription_source;
use crate::stream_entry::{as_string, as_u64, id_time_ms, parse_entries, parse_flat_map};

/// When Redis cannot tell how many messages a subscription has still to read (after a
/// seek or a trim), they are counted, up to this many.
const MAX_COUNTED: usize = 100_000;

/// A topic's figures.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TopicFigures {
    /// Messages the topic holds now.
    pub depth: u64,
    /// Messages ever published to it (a counter: its rate is the publish rate).
    pub published: u64,
    /// How old its oldest message is, in ms.
    pub oldest_age_ms: Option<u64>,
}

/// A subscription's figures.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SubscriptionFigures {
    /// Messages not yet acknowledged: `pending + waiting`.
    pub backlog: u64,
    /// Delivered and not yet acknowledged.
    pub pending: u64,
    /// Not yet delivered.
    pub waiting: u64,
    /// How old the oldest message not yet acknowledged is, in ms.
    pub oldest_unacked_age_ms: Option<u64>,
    /// Messages read by the subscription so far (a counter: its rate is the delivery rate).
    pub delivered: u64,
    /// Deliveries that failed and were tried again.
    pub retries: u64,
    /// Messages that expired before they could be delivered.
    pub expired: u64,
    /// Messages in the subscription's dead letters.
    pub dead_letters: u64,
}

fn age_of(id: &str) -> Option<u64> {
    let added = id_time_ms(id)?;
    Some(zato_common::clock::unix_ms().saturating_sub(added))
}

/// The figures of the topic `topic`, over all its partitions.
pub async fn topic_figures(broker: &Broker, topic: &str) -> Result<TopicFigures> {
    let mut conn = broker.redis().conn().await?;
    let mut figures = TopicFigures::default();
    for partition in 0..broker.partitions() {
        let stream = broker.keys().topic(topic, partition);
        let (depth, info, first): (u64, Value, Value) = redis::pipe()
            .cmd("XLEN")
            .arg(&stream)
            .cmd("XINFO")
            .arg("STREAM")
            .arg(&stream)
            .cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .ignore_errors()
            .query_async(&mut conn)
            .await?;
        figures.depth += depth;
        figures.published += parse_flat_map(&info)
            .into_iter()
            .find(|(k, _)| k == "entries-added")
            .and_then(|(_, v)| as_u64(&v))
            .unwrap_or(0);
        let oldest = parse_entries(first).first().and_then(|e| age_of(&e.id));
        figures.oldest_age_ms = figures.oldest_age_ms.max(oldest);
    }
    Ok(figures)
}

/// The figures of the subscription `name` of `topic`, over all its partitions.
pub async fn subscription_figures(
    broker: &Broker,
    name: &str,
    topic: &str,
) -> Result<SubscriptionFigures> {
    let keys = broker.keys();
    let mut conn = broker.redis().conn().await?;
    let mut figures = SubscriptionFigures::default();
    let mut dead_letters = 0;
    for partition in 0..broker.partitions() {
        let stream = keys.topic(topic, partition);
        let Some(group) = groups(&mut conn, &stream)
            .await?
            .into_iter()
            .find(|g| g.name == name)
        else {
            continue;
        };
        let (summary, next, in_partition): (Value, Value, u64) = redis::pipe()
            .cmd("XPENDING")
            .arg(&stream)
            .arg(name)
            .cmd("XRANGE")
            .arg(&stream)
            .arg(format!("({}", group.last_delivered))
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XLEN")
            .arg(keys.dlq(&subscription_source(name), partition))
            .query_async(&mut conn)
            .await?;
        dead_letters += in_partition;
        let oldest_pending = match &summary {
            Value::Array(parts) => parts.get(1).and_then(as_string),
            _ => None,
        };
        let next_waiting = parse_entries(next).into_iter().next().map(|e| e.id);
        let oldest = [oldest_pending, next_waiting]
            .into_iter()
            .flatten()
            .min_by(|a, b| crate::stream_entry::id_cmp(a, b));
        let waiting = match group.lag {
            Some(lag) => lag,
            None => {
                let reply: Value = redis::cmd("XRANGE")
                    .arg(&stream)
                    .arg(format!("({}", group.last_delivered))
                    .arg("+")
                    .arg("COUNT")
                    .arg(MAX_COUNTED)
                    .query_async(&mut conn)
                    .await?;
                match reply {
                    Value::Array(entries) => entries.len() as u64,
                    _ => 0,
                }
            }
        };
        figures.backlog += group.pending + waiting;
        figures.pending += group.pending;
        figures.waiting += waiting;
        figures.delivered += group.entries_read.unwrap_or(0);
        let age = oldest.as_deref().and_then(age_of);
        figures.oldest_unacked_age_ms = figures.oldest_unacked_age_ms.max(age);
    }
    // The counters live in the control plane's slot, apart from every partition.
    let counters: Vec<Option<u64>> = redis::cmd("HMGET")
        .arg(keys.subscription_counters(name))
        .arg("retries")
        .arg("expired")
        .query_async(&mut conn)
        .await?;
    let counter = |i: usize| counters.get(i).copied().flatten().unwrap_or(0);
    figures.retries = counter(0);
    figures.expired = counter(1);
    figures.dead_letters = dead_letters;
    Ok(figures)
}

/// Counts an expired message of subscription `name` (its consumer acknowledged it unread).
pub async fn count_expired(broker: &Broker, name: &str) -> Result<()> {
    let mut hincr = redis::cmd("HINCRBY");
    hincr
        .arg(broker.keys().subscription_counters(name))
        .arg("expired")
        .arg(1);
    broker.writer().send(hincr).await.map(drop)
}
