//! Dead-letter streams: where messages go that cannot be handled, and how they come back.
//!
//! Each source (`server`, `connector`, `all`) has its own stream, `dlq:<source>`. A dead letter
//! keeps the original bytes, so it can be replayed exactly once its cause is fixed, with the
//! reason, the delivery count and the id it had in its source stream.

use redis::{Cmd, Value};
use serde::Serialize;

use crate::Broker;
use crate::broker::Target;
use crate::error::{BrokerError, Result};
use crate::stream_entry::{ENVELOPE_FIELD, as_string, parse_entries};

/// The sources that have a dead-letter stream.
pub const SOURCES: [&str; 3] = ["server", "connector", "all"];

/// One dead-lettered message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Its id in the dead-letter stream.
    pub id: String,
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
    source: &str,
    group: &str,
    entry_id: &str,
    raw: &str,
    reason: &str,
    deliveries: u64,
) -> Vec<Cmd> {
    let mut add = redis::cmd("XADD");
    add.arg(broker.keys().dlq(source))
        .arg("MAXLEN")
        .arg("~")
        .arg(broker.settings().dlq_retention)
        .arg("*")
        .arg(ENVELOPE_FIELD)
        .arg(raw)
        .arg("reason")
        .arg(reason)
        .arg("source")
        .arg(source)
        .arg("original_id")
        .arg(entry_id)
        .arg("deliveries")
        .arg(deliveries);
    let mut ack = redis::cmd("XACK");
    let stream = match source {
        "all" => broker.stream_of(Target::All),
        "connector" => broker.stream_of(Target::Connector),
        _ => broker.stream_of(Target::Any),
    };
    ack.arg(stream).arg(group).arg(entry_id);
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

fn target_of(source: &str) -> Result<Target> {
    match source {
        "server" => Ok(Target::Any),
        "connector" => Ok(Target::Connector),
        "all" => Ok(Target::All),
        other => Err(BrokerError::NotFound {
            kind: "dead-letter source",
            name: other.to_owned(),
        }),
    }
}

impl DeadLetters {
    /// The dead letters of `broker`'s cluster.
    pub fn new(broker: Broker) -> Self {
        Self { broker }
    }

    /// How many dead letters `source` holds.
    pub async fn len(&self, source: &str) -> Result<u64> {
        target_of(source)?;
        let mut conn = self.broker.redis().conn().await?;
        Ok(redis::cmd("XLEN")
            .arg(self.broker.keys().dlq(source))
            .query_async(&mut *conn)
            .await?)
    }

    /// The oldest `count` dead letters of `source`.
    pub async fn list(&self, source: &str, count: usize) -> Result<Vec<DeadLetter>> {
        target_of(source)?;
        let mut conn = self.broker.redis().conn().await?;
        let reply: Value = redis::cmd("XRANGE")
            .arg(self.broker.keys().dlq(source))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut *conn)
            .await?;
        Ok(parse_entries(reply)
            .into_iter()
            .map(|entry| {
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
                    id: entry.id,
                }
            })
            .collect())
    }

    /// Sends dead letters of `source` back to their stream: the given ids, or all of them.
    pub async fn replay(&self, source: &str, ids: Option<&[String]>) -> Result<ReplayOutcome> {
        let target = target_of(source)?;
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
            let mut del = redis::cmd("XDEL");
            del.arg(self.broker.keys().dlq(source)).arg(&letter.id);
            let replies = self
                .broker
                .writer()
                .send_group(vec![self.broker.xadd(target, &envelope)?, del], true)
                .await?;
            if replies.iter().any(|r| matches!(r, Value::ServerError(_)))
                || replies.first().and_then(as_string).is_none()
            {
                return Err(BrokerError::Corrupt {
                    key: self.broker.keys().dlq(source),
                    message: format!("replay of {} failed: {replies:?}", letter.id),
                });
            }
            outcome.replayed += 1;
        }
        Ok(outcome)
    }

    /// Deletes every dead letter of `source`; how many there were.
    pub async fn purge(&self, source: &str) -> Result<u64> {
        let count = self.len(source).await?;
        let mut conn = self.broker.redis().conn().await?;
        let _: () = redis::cmd("DEL")
            .arg(self.broker.keys().dlq(source))
            .query_async(&mut *conn)
            .await?;
        Ok(count)
    }
}
