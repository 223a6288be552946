//! A subscription's group on its topic: created with the subscription, moved by a seek,
//! removed with it.

use redis::Value;
use zato_common::model::{StartPosition, Subscription, SubscriptionDelivery};

use super::{KEY_FIELD, TARGET_FIELD, ordering_member};
use crate::Broker;
use crate::error::{BrokerError, Result};
use crate::janitor::{create_group, groups};
use crate::keys::subscription_source;
use crate::partitioned_id;
use crate::stream_entry::{as_string, parse_entries};

/// Entries read per step when a seek or a new subscription fills its ordering sets.
const SCAN_BATCH: usize = 1000;

/// Where a seek moves a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeekTarget {
    /// The oldest message the topic retains: everything is delivered again.
    Start,
    /// After the newest message: nothing is left to deliver.
    End,
    /// The first message published at or after this time (ms since the Unix epoch).
    Time(u64),
    /// This message and everything after it.
    Message(String),
}

/// The stream id a group's position must be set to so that the next read starts at
/// `target` (the position is the last id delivered, so one before it).
fn position_before(target: &SeekTarget, last: &str) -> String {
    fn before(ms: u64, seq: u64) -> String {
        match (ms, seq) {
            (0, 0) => "0-0".to_owned(),
            (ms, 0) => format!("{}-{}", ms - 1, u64::MAX),
            (ms, seq) => format!("{ms}-{}", seq - 1),
        }
    }
    match target {
        SeekTarget::Start => "0-0".to_owned(),
        SeekTarget::End => last.to_owned(),
        SeekTarget::Time(ms) => before(*ms, 0),
        SeekTarget::Message(id) => {
            let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
            before(ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
        }
    }
}

/// Whether `id` is a message id (a stream id, with its partition past the first), as a
/// seek to a message needs.
pub fn is_message_id(id: &str) -> bool {
    partitioned_id::is_stream_id(id)
}

/// Whether the subscription delivers keyed messages one at a time per key (push kinds):
/// only those keep ordering sets.
fn is_ordered(subscription: &Subscription) -> bool {
    !matches!(subscription.delivery, SubscriptionDelivery::Pull { .. })
}

/// Creates the group of a new subscription at its start position in every partition of its
/// topic, and registers a push subscription with its topic so that publishes record its
/// ordering keys (a pull one is taken off, after an edit). Idempotent: an existing group
/// keeps its position.
pub async fn attach(broker: &Broker, subscription: &Subscription) -> Result<()> {
    let keys = broker.keys();
    let mut conn = broker.redis().conn().await?;
    for partition in 0..broker.partitions() {
        let _: u64 = redis::cmd(if is_ordered(subscription) {
            "SADD"
        } else {
            "SREM"
        })
        .arg(keys.topic_subscriptions(&subscription.topic, partition))
        .arg(&subscription.name)
        .query_async(&mut conn)
        .await?;
        let start = match subscription.start {
            StartPosition::New => "$",
            StartPosition::Earliest => {
                fill_ordering_sets(broker, subscription, partition, "-").await?;
                "0"
            }
        };
        let stream = keys.topic(&subscription.topic, partition);
        create_group(&mut conn, &stream, &subscription.name, start).await?;
    }
    Ok(())
}

/// Makes the subscription's groups that are missing from some partition of its topic, at
/// the partition's start: a partition added after the subscription holds only messages
/// published since, which the subscription is to get. Existing groups are left as they are,
/// and a subscription with no group anywhere yet is left to [`attach`] (it is being made
/// now; a group made here at the start would hand a `new` subscription the whole history).
pub async fn ensure_groups(broker: &Broker, subscription: &Subscription) -> Result<()> {
    let keys = broker.keys();
    let mut conn = broker.redis().conn().await?;
    let mut missing = Vec::new();
    for partition in 0..broker.partitions() {
        let stream = keys.topic(&subscription.topic, partition);
        let has_group = groups(&mut conn, &stream)
            .await?
            .iter()
            .any(|g| g.name == subscription.name);
        if !has_group {
            missing.push((partition, stream));
        }
    }
    if missing.len() == broker.partitions() {
        return Ok(());
    }
    for (partition, stream) in missing {
        if is_ordered(subscription) {
            let _: u64 = redis::cmd("SADD")
                .arg(keys.topic_subscriptions(&subscription.topic, partition))
                .arg(&subscription.name)
                .query_async(&mut conn)
                .await?;
        }
        create_group(&mut conn, &stream, &subscription.name, "0").await?;
    }
    Ok(())
}

/// Removes a deleted subscription's groups, ordering sets, counters and dead letters.
pub async fn detach(broker: &Broker, name: &str, topic: &str) -> Result<()> {
    let keys = broker.keys();
    let mut conn = broker.redis().conn().await?;
    let _: u64 = redis::cmd("DEL")
        .arg(keys.subscription_counters(name))
        .query_async(&mut conn)
        .await?;
    for partition in 0..broker.partitions() {
        let _: Value = redis::pipe()
            .cmd("SREM")
            .arg(keys.topic_subscriptions(topic, partition))
            .arg(name)
            .cmd("XGROUP")
            .arg("DESTROY")
            .arg(keys.topic(topic, partition))
            .arg(name)
            .cmd("DEL")
            .arg(keys.ordering_running(name, partition))
            .arg(keys.dlq(&subscription_source(name), partition))
            .query_async(&mut conn)
            .await?;
        delete_ordering_sets(&mut conn, &keys.ordering_prefix(name, partition)).await?;
    }
    Ok(())
}

/// Deletes every ordering set whose name starts with `prefix`.
async fn delete_ordering_sets(conn: &mut crate::Conn, prefix: &str) -> Result<()> {
    let pattern = format!("{}*", escape_glob(prefix));
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH);
        // On a cluster, the node of the sets' hash tag: a SCAN sees one node's keys.
        let (next, found): (u64, Vec<String>) = conn.query_at(prefix, scan).await?;
        if !found.is_empty() {
            let _: u64 = redis::cmd("DEL").arg(&found).query_async(conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "*?[]\\{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Moves a subscription: what is after the target is delivered (again), what is before it
/// counts as acknowledged, in every partition. Returns the new position (of the target's
/// partition, for a message; of partition 0 otherwise).
///
/// The ordering sets are filled from the target first, so that keyed messages delivered
/// again keep their order; the position is moved next; then what is still pending before
/// it is acknowledged. A message's id names one partition; the others move to the time it
/// was published, so the seek means "this message and everything published after it".
pub async fn seek(
    broker: &Broker,
    subscription: &Subscription,
    target: &SeekTarget,
) -> Result<String> {
    let (home, in_home, elsewhere) = match target {
        SeekTarget::Message(id) => {
            let (home, stream_id) = partitioned_id::split(id)
                .filter(|(home, _)| *home < broker.partitions())
                .ok_or_else(|| BrokerError::NotFound {
                    kind: "message",
                    name: id.clone(),
                })?;
            let (ms, _) = partitioned_id::time_order(stream_id);
            (
                home,
                SeekTarget::Message(stream_id.to_owned()),
                SeekTarget::Time(ms),
            )
        }
        other => (0, other.clone(), other.clone()),
    };
    let mut home_position = String::new();
    for partition in 0..broker.partitions() {
        let target = if partition == home {
            &in_home
        } else {
            &elsewhere
        };
        let position = seek_partition(broker, subscription, partition, target).await?;
        if partition == home {
            home_position = position;
        }
    }
    Ok(home_position)
}

/// [`seek`] in one partition.
async fn seek_partition(
    broker: &Broker,
    subscription: &Subscription,
    partition: usize,
    target: &SeekTarget,
) -> Result<String> {
    let keys = broker.keys();
    let stream = keys.topic(&subscription.topic, partition);
    let mut conn = broker.redis().conn().await?;
    let newest: Value = redis::cmd("XREVRANGE")
        .arg(&stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let last = parse_entries(newest)
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |e| e.id);
    let position = position_before(target, &last);
    if *target != SeekTarget::End {
        fill_ordering_sets(broker, subscription, partition, &format!("({position}")).await?;
    }
    // What each key ran before the seek is no mark of what runs after it: a message read
    // again starts a new delivery count.
    let _: u64 = redis::cmd("DEL")
        .arg(keys.ordering_running(&subscription.name, partition))
        .query_async(&mut conn)
        .await?;
    let moved: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("SETID")
        .arg(&stream)
        .arg(&subscription.name)
        .arg(&position)
        .query_async(&mut conn)
        .await;
    if let Err(e) = moved {
        if e.code() == Some("NOGROUP") {
            return Err(BrokerError::NotFound {
                kind: "subscription group",
                name: subscription.name.clone(),
            });
        }
        return Err(e.into());
    }
    // What is pending at or before the new position counts as acknowledged.
    loop {
        let pending: Value = redis::cmd("XPENDING")
            .arg(&stream)
            .arg(&subscription.name)
            .arg("-")
            .arg(&position)
            .arg(SCAN_BATCH)
            .query_async(&mut conn)
            .await?;
        let ids: Vec<String> = match &pending {
            Value::Array(items) => items
                .iter()
                .filter_map(|item| match item {
                    Value::Array(fields) => fields.first().and_then(as_string),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if ids.is_empty() {
            return Ok(partitioned_id::qualify(partition, &position));
        }
        let _: u64 = redis::cmd("XACK")
            .arg(&stream)
            .arg(&subscription.name)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
    }
}

/// Adds the keyed messages of the topic's `partition` from `from` (an `XRANGE` bound) to
/// the subscription's ordering sets, in steps.
async fn fill_ordering_sets(
    broker: &Broker,
    subscription: &Subscription,
    partition: usize,
    from: &str,
) -> Result<()> {
    if !is_ordered(subscription) {
        return Ok(());
    }
    let keys = broker.keys();
    let stream = keys.topic(&subscription.topic, partition);
    let prefix = keys.ordering_prefix(&subscription.name, partition);
    let mut conn = broker.redis().conn().await?;
    let mut from = from.to_owned();
    loop {
        let reply: Value = redis::cmd("XRANGE")
            .arg(&stream)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .query_async(&mut conn)
            .await?;
        let entries = parse_entries(reply);
        let Some(last) = entries.last().map(|e| e.id.clone()) else {
            return Ok(());
        };
        let mut pipe = redis::pipe();
        for entry in &entries {
            if entry.field(TARGET_FIELD).is_some() {
                continue;
            }
            if let Some(key) = entry.field(KEY_FIELD) {
                pipe.cmd("ZADD")
                    .arg([prefix.as_bytes(), key].concat())
                    .arg(0)
                    .arg(ordering_member(&entry.id))
                    .ignore();
            }
        }
        let _: () = pipe.query_async(&mut conn).await?;
        if entries.len() < SCAN_BATCH {
            return Ok(());
        }
        from = format!("({last}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_entry::id_cmp;

    #[test]
    fn a_seek_positions_the_group_just_before_its_target() {
        assert_eq!(position_before(&SeekTarget::Start, "9-9"), "0-0");
        assert_eq!(position_before(&SeekTarget::End, "9-9"), "9-9");
        assert_eq!(
            position_before(&SeekTarget::Time(1000), "9-9"),
            format!("999-{}", u64::MAX)
        );
        assert_eq!(
            position_before(&SeekTarget::Message("1000-3".into()), "9-9"),
            "1000-2"
        );
        assert!(
            id_cmp(
                &position_before(&SeekTarget::Message("5-0".into()), ""),
                "5-0"
            )
            .is_lt()
        );
        assert!(is_message_id("1-2") && !is_message_id("x-1") && !is_message_id("12"));
    }
}
