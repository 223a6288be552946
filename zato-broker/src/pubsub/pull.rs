//! Pull subscriptions: the subscriber asks for messages and acknowledges them by id.
//!
//! Every pull reads as one consumer, [`PULL_CONSUMER`], so a pull may go to any server. A
//! pull first takes back what earlier pulls took and did not acknowledge within the ack
//! deadline (idle that long), then reads new messages, waiting for them up to `wait`
//! (long polling) when it has nothing yet. A message pulled `max_deliveries` times without
//! an acknowledgement goes to the dead letters.

use std::time::Duration;

use redis::Value;
use zato_common::model::{Subscription, SubscriptionDelivery};

use super::{PULL_CONSUMER, TARGET_FIELD};
use crate::Broker;
use crate::dead_letter::{Origin, move_cmds};
use crate::error::Result;
use crate::keys::subscription_source;
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

/// Pulls up to `max` messages of a pull subscription, waiting up to `wait` for the first.
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
    let stream = broker.keys().topic(&subscription.topic);
    let group = subscription.name.as_str();
    let mut pulled = Vec::new();
    let mut conn = broker.redis().conn().await?;
    let expired: Value = redis::cmd("XPENDING")
        .arg(&stream)
        .arg(group)
        .arg("IDLE")
        .arg(ack_deadline_ms)
        .arg("-")
        .arg("+")
        .arg(max)
        .query_async(&mut conn)
        .await?;
    let mut again = Vec::new();
    for (id, deliveries) in pending_items(&expired) {
        if deliveries >= u64::from(subscription.max_deliveries) {
            dead_letter(
                broker,
                subscription,
                &mut conn,
                &stream,
                &id,
                deliveries,
                ack_deadline_ms,
            )
            .await?;
        } else {
            again.push((id, deliveries));
        }
    }
    if !again.is_empty() {
        let ids: Vec<&str> = again.iter().map(|(id, _)| id.as_str()).collect();
        let claimed: Value = redis::cmd("XCLAIM")
            .arg(&stream)
            .arg(group)
            .arg(PULL_CONSUMER)
            .arg(ack_deadline_ms)
            .arg(&ids)
            .query_async(&mut conn)
            .await?;
        for entry in parse_entries(claimed) {
            let before = again
                .iter()
                .find(|(id, _)| *id == entry.id)
                .map_or(0, |(_, n)| *n);
            keep(
                subscription,
                &mut conn,
                &stream,
                entry,
                before + 1,
                &mut pulled,
            )
            .await?;
        }
    }
    drop(conn);
    if pulled.len() < max {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(group)
            .arg(PULL_CONSUMER)
            .arg("COUNT")
            .arg(max - pulled.len());
        // Long polling only when there is nothing to answer yet.
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let reply: Value = if pulled.is_empty() && wait_ms > 0 {
            let mut blocking = broker.redis().dedicated().await?;
            read.arg("BLOCK")
                .arg(wait_ms)
                .arg("STREAMS")
                .arg(&stream)
                .arg(">");
            tokio::select! {
                reply = read.query_async(&mut blocking) => reply?,
                () = broker.cancel_token().cancelled() => Value::Nil,
            }
        } else {
            read.arg("STREAMS").arg(&stream).arg(">");
            let mut conn = broker.redis().conn().await?;
            read.query_async(&mut conn).await?
        };
        let mut conn = broker.redis().conn().await?;
        for entry in parse_read_reply(reply) {
            keep(subscription, &mut conn, &stream, entry, 1, &mut pulled).await?;
        }
    }
    Ok(pulled)
}

/// Adds an entry to what a pull returns, or acknowledges it at once when it is not for
/// this subscription: deleted by retention while pending, or replayed for another one.
async fn keep(
    subscription: &Subscription,
    conn: &mut crate::Conn,
    stream: &str,
    entry: StreamEntry,
    deliveries: u64,
    pulled: &mut Vec<Pulled>,
) -> Result<()> {
    let for_another = entry
        .field(TARGET_FIELD)
        .is_some_and(|target| target != subscription.name.as_bytes());
    match entry.field(ENVELOPE_FIELD) {
        Some(envelope) if !for_another => {
            pulled.push(Pulled {
                envelope: envelope.to_vec(),
                id: entry.id,
                deliveries,
            });
        }
        _ => {
            let _: u64 = redis::cmd("XACK")
                .arg(stream)
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
    subscription: &Subscription,
    conn: &mut crate::Conn,
    stream: &str,
    id: &str,
    deliveries: u64,
    min_idle: u64,
) -> Result<()> {
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
            partition: 0,
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

/// Acknowledges pulled messages; how many were still unacknowledged.
pub async fn ack(broker: &Broker, subscription: &Subscription, ids: &[String]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let mut conn = broker.redis().conn().await?;
    Ok(redis::cmd("XACK")
        .arg(broker.keys().topic(&subscription.topic))
        .arg(&subscription.name)
        .arg(ids)
        .query_async(&mut conn)
        .await?)
}

/// Gives pulled messages back at once, for the next pull, instead of at their ack deadline.
pub async fn nack(broker: &Broker, subscription: &Subscription, ids: &[String]) -> Result<()> {
    let SubscriptionDelivery::Pull {
        ack_deadline_ms, ..
    } = &subscription.delivery
    else {
        return Ok(());
    };
    if ids.is_empty() {
        return Ok(());
    }
    let mut conn = broker.redis().conn().await?;
    let _: Value = redis::cmd("XCLAIM")
        .arg(broker.keys().topic(&subscription.topic))
        .arg(&subscription.name)
        .arg(PULL_CONSUMER)
        .arg(0)
        .arg(ids)
        .arg("IDLE")
        .arg(*ack_deadline_ms)
        .arg("JUSTID")
        .query_async(&mut conn)
        .await?;
    Ok(())
}
