//! Pull subscriptions: the subscriber asks for messages and acknowledges them by id.
//!
//! Every pull reads as one consumer, [`PULL_CONSUMER`], so a pull may go to any server. A
//! pull first takes back what earlier pulls took and did not acknowledge within the ack
//! deadline (idle that long), then reads new messages, waiting for them up to `wait`
//! (long polling) when it has nothing yet. A message pulled `max_deliveries` times without
//! an acknowledgement goes to the dead letters.
//!
//! A topic of several partitions is read one partition at a time, in turn, so that one pull
//! never takes more than it asked for; the ids a pull gives carry their partition
//! ([`crate::partitioned_id`]).

use std::time::Duration;

use redis::Value;
use zato_common::model::{Subscription, SubscriptionDelivery};

use super::{PULL_CONSUMER, TARGET_FIELD};
use crate::Broker;
use crate::dead_letter::{Origin, move_cmds};
use crate::error::Result;
use crate::keys::subscription_source;
use crate::partitioned_id;
use crate::stream_entry::{
    ENVELOPE_FIELD, StreamEntry, parse_entries, parse_read_reply, pending_items,
};

/// One pulled message: its id, its envelope as stored, and how often it was pulled.
#[derive(Debug, Clone, PartialEq)]
pub struct Pulled {
    pub id: String,
    pub envelope: Vec<u8>,
    pub deliveries: u64,
}

/// How long a waiting pull blocks on one partition before it looks at the next, when the
/// topic has several (one blocking read at a time, so a pull never takes more than `max`).
const PARTITION_SLICE: Duration = Duration::from_millis(50);

/// Pulls up to `max` messages of a pull subscription, waiting up to `wait` for the first.
/// The partitions are looked at in turn, from a different one each pull.
pub async fn pull(
    broker: &Broker,
    subscription: &Subscription,
    max: usize,
    wait: Duration,
) -> Result<Vec<Pulled>> {
    let ack_deadline_ms = match &subscription.delivery {
        SubscriptionDelivery::Pull {
            ack_deadline_ms, ..
        } => *ack_deadline_ms,
        _ => 0,
    };
    let partitions = broker.partitions();
    let first = broker.next_partition();
    let sides: Vec<Side> = (0..partitions)
        .map(|i| Side::new(broker, subscription, (first + i) % partitions))
        .collect();
    let mut pulled = Vec::new();
    let mut conn = broker.redis().conn().await?;
    for side in &sides {
        if pulled.len() >= max {
            break;
        }
        let left = max - pulled.len();
        take_back(broker, side, &mut conn, left, ack_deadline_ms, &mut pulled).await?;
    }
    for side in &sides {
        if pulled.len() >= max {
            break;
        }
        let reply: Value = read_new(side, max - pulled.len(), None)
            .query_async(&mut conn)
            .await?;
        side.keep_all(&mut conn, reply, &mut pulled).await?;
    }
    drop(conn);
    // Long polling only when there is nothing to answer yet.
    if pulled.is_empty() && !wait.is_zero() {
        let deadline = tokio::time::Instant::now() + wait;
        let mut blocking = broker.redis().dedicated().await?;
        'waiting: loop {
            for side in &sides {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    break 'waiting;
                }
                let block = if partitions == 1 {
                    left
                } else {
                    left.min(PARTITION_SLICE)
                };
                let read = read_new(side, max, Some(block));
                let reply = tokio::select! {
                    reply = blocking.query_blocking::<Value>(&read, block) => reply?,
                    () = broker.cancel_token().cancelled() => break 'waiting,
                };
                let mut conn = broker.redis().conn().await?;
                side.keep_all(&mut conn, reply, &mut pulled).await?;
                if !pulled.is_empty() {
                    break 'waiting;
                }
            }
        }
    }
    Ok(pulled)
}

/// One partition of a subscription's topic, as a pull sees it.
struct Side<'a> {
    subscription: &'a Subscription,
    stream: String,
    partition: usize,
}

impl<'a> Side<'a> {
    fn new(broker: &Broker, subscription: &'a Subscription, partition: usize) -> Self {
        Side {
            subscription,
            stream: broker.keys().topic(&subscription.topic, partition),
            partition,
        }
    }

    /// [`keep`]s every entry of an `XREADGROUP` reply, as first deliveries.
    async fn keep_all(
        &self,
        conn: &mut crate::Conn,
        reply: Value,
        pulled: &mut Vec<Pulled>,
    ) -> Result<()> {
        for entry in parse_read_reply(reply) {
            keep(self, conn, entry, 1, pulled).await?;
        }
        Ok(())
    }
}

/// The `XREADGROUP` of up to `count` new messages of one partition, blocking up to `block`.
fn read_new(side: &Side<'_>, count: usize, block: Option<Duration>) -> redis::Cmd {
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP")
        .arg(&side.subscription.name)
        .arg(PULL_CONSUMER)
        .arg("COUNT")
        .arg(count);
    if let Some(block) = block {
        read.arg("BLOCK")
            .arg(u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1));
    }
    read.arg("STREAMS").arg(&side.stream).arg(">");
    read
}

/// Takes back up to `max` messages of one partition that earlier pulls took and did not
/// acknowledge within the ack deadline; those pulled too often go to the dead letters.
async fn take_back(
    broker: &Broker,
    side: &Side<'_>,
    conn: &mut crate::Conn,
    max: usize,
    ack_deadline_ms: u64,
    pulled: &mut Vec<Pulled>,
) -> Result<()> {
    let subscription = side.subscription;
    let expired: Value = redis::cmd("XPENDING")
        .arg(&side.stream)
        .arg(&subscription.name)
        .arg("IDLE")
        .arg(ack_deadline_ms)
        .arg("-")
        .arg("+")
        .arg(max)
        .query_async(conn)
        .await?;
    let mut again = Vec::new();
    for (id, deliveries) in pending_items(&expired) {
        if deliveries >= u64::from(subscription.max_deliveries) {
            dead_letter(broker, side, conn, &id, deliveries, ack_deadline_ms).await?;
        } else {
            again.push((id, deliveries));
        }
    }
    if again.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = again.iter().map(|(id, _)| id.as_str()).collect();
    let claimed: Value = redis::cmd("XCLAIM")
        .arg(&side.stream)
        .arg(&subscription.name)
        .arg(PULL_CONSUMER)
        .arg(ack_deadline_ms)
        .arg(&ids)
        .query_async(conn)
        .await?;
    for entry in parse_entries(claimed) {
        let before = again
            .iter()
            .find(|(id, _)| *id == entry.id)
            .map_or(0, |(_, n)| *n);
        keep(side, conn, entry, before + 1, pulled).await?;
    }
    Ok(())
}

/// Adds an entry to what a pull returns, or acknowledges it at once when it is not for
/// this subscription: deleted by retention while pending, or replayed for another one.
async fn keep(
    side: &Side<'_>,
    conn: &mut crate::Conn,
    entry: StreamEntry,
    deliveries: u64,
    pulled: &mut Vec<Pulled>,
) -> Result<()> {
    let subscription = side.subscription;
    let for_another = entry
        .field(TARGET_FIELD)
        .is_some_and(|target| target != subscription.name.as_bytes());
    match entry.field(ENVELOPE_FIELD) {
        Some(envelope) if !for_another => {
            pulled.push(Pulled {
                envelope: envelope.to_vec(),
                id: partitioned_id::qualify(side.partition, &entry.id),
                deliveries,
            });
        }
        _ => {
            let _: u64 = redis::cmd("XACK")
                .arg(&side.stream)
                .arg(&subscription.name)
                .arg(&entry.id)
                .query_async(conn)
                .await?;
        }
    }
    Ok(())
}

async fn dead_letter(
    broker: &Broker,
    side: &Side<'_>,
    conn: &mut crate::Conn,
    id: &str,
    deliveries: u64,
    min_idle: u64,
) -> Result<()> {
    let (subscription, stream) = (side.subscription, side.stream.as_str());
    let won: Value = redis::cmd("XCLAIM")
        .arg(stream)
        .arg(&subscription.name)
        .arg(PULL_CONSUMER)
        .arg(min_idle)
        .arg(id)
        .query_async(conn)
        .await?;
    let Some(entry) = parse_entries(won).into_iter().next() else {
        return Ok(()); // another pull got there first
    };
    let reason = format!("not acknowledged after {deliveries} pulls");
    let raw = entry.field(ENVELOPE_FIELD).map_or_else(
        || entry.describe_fields(),
        |e| String::from_utf8_lossy(e).into_owned(),
    );
    let cmds = if subscription.dead_letters {
        let source = subscription_source(&subscription.name);
        let origin = Origin {
            source: &source,
            stream,
            group: &subscription.name,
            partition: side.partition,
        };
        move_cmds(broker, &origin, id, &raw, &reason, deliveries)
    } else {
        let mut ack = redis::cmd("XACK");
        ack.arg(stream).arg(&subscription.name).arg(id);
        vec![ack]
    };
    broker.writer().send_group(cmds, true).await?;
    tracing::warn!(subscription = %subscription.name, id, reason, "message dead-lettered");
    Ok(())
}

/// The ids of pulled messages, by the partition they are in (ids no pull gives are left
/// out: the caller checks them first).
fn by_partition<'a>(broker: &Broker, ids: &'a [String]) -> Vec<(usize, Vec<&'a str>)> {
    let mut by_partition: Vec<(usize, Vec<&str>)> = Vec::new();
    for (partition, id) in ids.iter().filter_map(|id| partitioned_id::split(id)) {
        if partition >= broker.partitions() {
            continue;
        }
        match by_partition.iter_mut().find(|(p, _)| *p == partition) {
            Some((_, ids)) => ids.push(id),
            None => by_partition.push((partition, vec![id])),
        }
    }
    by_partition
}

/// Acknowledges pulled messages; how many were still unacknowledged.
pub async fn ack(broker: &Broker, subscription: &Subscription, ids: &[String]) -> Result<u64> {
    let mut conn = broker.redis().conn().await?;
    let mut acknowledged = 0;
    for (partition, ids) in by_partition(broker, ids) {
        let count: u64 = redis::cmd("XACK")
            .arg(broker.keys().topic(&subscription.topic, partition))
            .arg(&subscription.name)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        acknowledged += count;
    }
    Ok(acknowledged)
}

/// Gives pulled messages back at once, for the next pull, instead of at their ack deadline.
pub async fn nack(broker: &Broker, subscription: &Subscription, ids: &[String]) -> Result<()> {
    let SubscriptionDelivery::Pull {
        ack_deadline_ms, ..
    } = &subscription.delivery
    else {
        return Ok(());
    };
    let mut conn = broker.redis().conn().await?;
    for (partition, ids) in by_partition(broker, ids) {
        let _: Value = redis::cmd("XCLAIM")
            .arg(broker.keys().topic(&subscription.topic, partition))
            .arg(&subscription.name)
            .arg(PULL_CONSUMER)
            .arg(0)
            .arg(&ids)
            .arg("IDLE")
            .arg(*ack_deadline_ms)
            .arg("JUSTID")
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}
