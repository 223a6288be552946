//! Dead-letter streams: where messages go that cannot be handled, and how they come back.
//!
//! Each source (`server`, `connector`, `all`, and `sub:<name>` for each pub/sub
//! subscription) has its own stream, `dlq:<source>`, in each partition of its source (the
//! work queues and topics have `broker.partitions`, 1:all one): a message is moved to the dead
//! letters of its own partition, and replayed back to it, in one transaction. A dead letter
//! keeps the original bytes, so it can be replayed exactly once its cause is fixed, with the
//! reason, the delivery count and the id it had in its source stream.
//!
//! A dead letter's id is its stream id, prefixed with its partition past the first
//! (`3/1700000000000-0`, see [`partitioned_id`]).

use redis::{Cmd, Value};
use serde::Serialize;

use zato_common::model::{Subscription, Topic};

use crate::broker::Target;
use crate::error::{BrokerError, Result};
use crate::partitioned_id;
use crate::stream_entry::{ENVELOPE_FIELD, as_string, parse_entries};
use crate::{Broker, ConfigStore};

/// The sources that have a dead-letter stream, besides each subscription's `sub:<name>`.
pub const SOURCES: [&str; 3] = ["server", "connector", "all"];

/// Where a dead letter was taken from: its source, and the stream and group it was pending
/// in.
pub(crate) struct Origin<'a> {
    pub source: &'a str,
    pub stream: &'a str,
    pub group: &'a str,
    pub partition: usize,
}

/// One dead-lettered message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Its id: `<partition>/<id in the dead-letter stream>`, or only the latter in
    /// partition 0.
    pub id: String,
    /// The partition of its source it was taken from (and is replayed to).
    pub partition: usize,
    /// The stream it came from.
    pub source: String,
    /// Its id in that stream.
    pub original_id: String,
    pub reason: String,
    pub deliveries: u64,
    /// The envelope JSON, or a description of the entry when it had none.
    pub raw: String,
}

/// The commands that move one entry from its stream to the dead-letter stream: added there,
/// acknowledged here. Sent as one transaction, so a crash cannot leave it in both or neither.
pub(crate) fn move_cmds(
    broker: &Broker,
    origin: &Origin<'_>,
    entry_id: &str,
    raw: &str,
    reason: &str,
    deliveries: u64,
) -> Vec<Cmd> {
    let mut add = redis::cmd("XADD");
    add.arg(broker.keys().dlq(origin.source, origin.partition))
        .arg("MAXLEN")
        .arg("~")
        .arg(broker.settings().dlq_retention)
        .arg("*")
        .arg(ENVELOPE_FIELD)
        .arg(raw)
        .arg("reason")
        .arg(reason)
        .arg("source")
        .arg(origin.source)
        .arg("original_id")
        .arg(entry_id)
        .arg("deliveries")
        .arg(deliveries);
    let mut ack = redis::cmd("XACK");
    ack.arg(origin.stream).arg(origin.group).arg(entry_id);
    vec![add, ack]
}

/// What a replay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ReplayOutcome {
    /// Sent back to their source stream (and removed from the dead-letter stream).
    pub replayed: usize,
    /// Left where they are: not envelopes, so replaying them would only dead-letter them again.
    pub skipped: usize,
}

/// Reads and manages the dead-letter streams.
#[derive(Clone)]
pub struct DeadLetters {
    broker: Broker,
}

/// Where a source's dead letters are replayed to.
enum Destination {
    Queue(Target),
    /// A subscription's topic, for that subscription only.
    Subscription(String),
}

fn destination_of(source: &str) -> Result<Destination> {
    match source {
        "server" => Ok(Destination::Queue(Target::Any)),
        "connector" => Ok(Destination::Queue(Target::Connector)),
        "all" => Ok(Destination::Queue(Target::All)),
        other => match other.strip_prefix("sub:") {
            Some(name) if !name.is_empty() => Ok(Destination::Subscription(name.to_owned())),
            _ => Err(BrokerError::NotFound {
                kind: "dead-letter source",
                name: other.to_owned(),
            }),
        },
    }
}

impl DeadLetters {
    /// The dead letters of `broker`'s cluster.
    pub fn new(broker: Broker) -> Self {
        Self { broker }
    }

    /// The partitions of `source` that may hold dead letters.
    fn partitions_of(&self, source: &str) -> Result<std::ops::Range<usize>> {
        Ok(match destination_of(source)? {
            Destination::Queue(Target::All) => 0..1,
            Destination::Queue(_) | Destination::Subscription(_) => 0..self.broker.partitions(),
        })
    }

    /// How many dead letters `source` holds.
    pub async fn len(&self, source: &str) -> Result<u64> {
        let mut conn = self.broker.redis().conn().await?;
        let mut total = 0;
        for partition in self.partitions_of(source)? {
            let length: u64 = redis::cmd("XLEN")
                .arg(self.broker.keys().dlq(source, partition))
                .query_async(&mut conn)
                .await?;
            total += length;
        }
        Ok(total)
    }

    /// The oldest `count` dead letters of `source`, over all its partitions.
    pub async fn list(&self, source: &str, count: usize) -> Result<Vec<DeadLetter>> {
        let mut conn = self.broker.redis().conn().await?;
        let mut letters = Vec::new();
        for partition in self.partitions_of(source)? {
            let reply: Value = redis::cmd("XRANGE")
                .arg(self.broker.keys().dlq(source, partition))
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut conn)
                .await?;
            letters.extend(parse_entries(reply).into_iter().map(|entry| {
                let text = |name: &str| {
                    entry
                        .field(name)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                DeadLetter {
                    source: text("source"),
                    original_id: text("original_id"),
                    reason: text("reason"),
                    deliveries: text("deliveries").parse().unwrap_or(0),
                    raw: text(ENVELOPE_FIELD),
                    id: partitioned_id::qualify(partition, &entry.id),
                    partition,
                }
            }));
        }
        // Oldest first across partitions, as one stream would list them.
        letters.sort_by_key(|l| partitioned_id::time_order(&l.id));
        letters.truncate(count);
        Ok(letters)
    }

    /// Sends dead letters of `source` back to their stream: the given ids, or all of them.
    pub async fn replay(&self, source: &str, ids: Option<&[String]>) -> Result<ReplayOutcome> {
        let destination = destination_of(source)?;
        let topic = match &destination {
            Destination::Subscription(name) => Some(self.topic_of(name).await?),
            Destination::Queue(_) => None,
        };
        let mut outcome = ReplayOutcome::default();
        let letters = self.list(source, usize::MAX >> 1).await?;
        for letter in letters {
            if ids.is_some_and(|ids| !ids.contains(&letter.id)) {
                continue;
            }
            let Ok(envelope) = zato_common::RawEnvelope::decode(letter.raw.as_bytes()) else {
                outcome.skipped += 1;
                continue;
            };
            let Some((partition, id)) = partitioned_id::split(&letter.id) else {
                continue;
            };
            let dlq = self.broker.keys().dlq(source, partition);
            let mut del = redis::cmd("XDEL");
            del.arg(&dlq).arg(id);
            match (&destination, &topic) {
                (Destination::Subscription(name), Some(topic)) => {
                    // Back to the topic for this subscription only; without its ordering
                    // key, as its place in its key's order has passed.
                    self.broker
                        .append_to_topic(topic, &letter.raw, None, Some((name, partition)))
                        .await?;
                    self.broker.writer().send(del).await?;
                }
                (Destination::Queue(target), _) => {
                    let replies = self
                        .broker
                        .writer()
                        .send_group(
                            vec![self.xadd_to(*target, partition, &envelope)?, del],
                            true,
                        )
                        .await?;
                    if replies.iter().any(|r| matches!(r, Value::ServerError(_)))
                        || replies.first().and_then(as_string).is_none()
                    {
                        return Err(BrokerError::Corrupt {
                            key: dlq,
                            message: format!("replay of {} failed: {replies:?}", letter.id),
                        });
                    }
                }
                (Destination::Subscription(_), None) => {}
            }
            outcome.replayed += 1;
        }
        Ok(outcome)
    }

    /// The topic of the subscription `name`, to replay its dead letters to.
    async fn topic_of(&self, name: &str) -> Result<Topic> {
        let store = ConfigStore::new(self.broker.clone());
        let not_found = |kind, name: &str| BrokerError::NotFound {
            kind,
            name: name.to_owned(),
        };
        let subscription = store
            .get::<Subscription>(name)
            .await?
            .ok_or_else(|| not_found("subscription", name))?;
        store
            .get::<Topic>(&subscription.topic)
            .await?
            .ok_or_else(|| not_found("topic", &subscription.topic))
    }

    /// The `XADD` that sends a replayed envelope back to `partition` of `target` (the one
    /// its dead letter is in, so that both happen in one transaction).
    fn xadd_to(
        &self,
        target: Target,
        partition: usize,
        envelope: &zato_common::RawEnvelope,
    ) -> Result<Cmd> {
        Ok(self
            .broker
            .xadd_encoded(target, partition, &envelope.encode()?))
    }

    /// Deletes every dead letter of `source`; how many there were.
    pub async fn purge(&self, source: &str) -> Result<u64> {
        let count = self.len(source).await?;
        let mut conn = self.broker.redis().conn().await?;
        for partition in self.partitions_of(source)? {
            let _: () = redis::cmd("DEL")
                .arg(self.broker.keys().dlq(source, partition))
                .query_async(&mut conn)
                .await?;
        }
        Ok(count)
    }
}
