//! Publishing to a topic.
//!
//! A message without an ordering key, to a `drop_oldest` topic, is one `XADD NOMKSTREAM
//! MAXLEN n` through the batching writer, as cheap as a 1:any publish (a stream that is not
//! there, because the topic is new or was deleted, takes the script path, which tells the
//! two apart). Everything else is one script, so that the message, the `reject` check and
//! its ordering key for every subscription are one step (a subscription created meanwhile
//! either sees the key or was created after the message).
//!
//! A topic has a stream in every partition (`broker.partitions`): a message with an ordering
//! key goes to the key's partition (always the same one, so the key's messages stay in
//! order in one stream), one without to the partitions in turn. `max_messages` is shared out
//! evenly: each partition holds at most its share, rounded up.
//!
//! Retention by length is exact (`MAXLEN n`, not its approximate `~` form, which trims only
//! whole stream nodes of about a hundred entries): a topic of `max_messages = 10` holds ten
//! messages, not up to a hundred. The cost is small: a publish to a full topic removes one
//! entry from the stream's first node. Retention by age is applied by every server every
//! few seconds (`retention::trim_by_age`).

use std::sync::LazyLock;

use redis::{Script, Value};
use zato_common::Action;
use zato_common::model::{Topic, WhenFull};
use zato_common::pubsub::TopicMessage;

use super::{KEY_FIELD, LUA_MEMBER, TARGET_FIELD};
use crate::Broker;
use crate::error::{BrokerError, Result};
use crate::stream_entry::{ENVELOPE_FIELD, as_string};

/// KEYS: the topic's stream and its subscriptions, in one partition.
/// ARGV: envelope, ordering key (or ''), max messages of the partition, reject when full
/// ('1'), the partition's ordering-set prefix, target subscription (or '').
/// Returns the message id, -1 when the topic does not exist (its stream is made with the
/// topic and removed with it), -2 when it is full.
static PUBLISH_SOURCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r"{LUA_MEMBER}
local envelope, key, maxlen, reject, prefix, target =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if reject == '1' and redis.call('XLEN', KEYS[1]) >= tonumber(maxlen) then return -2 end
local fields = {{'{ENVELOPE_FIELD}', envelope}}
if key ~= '' and target == '' then
  fields[#fields + 1] = '{KEY_FIELD}'
  fields[#fields + 1] = key
end
if target ~= '' then
  fields[#fields + 1] = '{TARGET_FIELD}'
  fields[#fields + 1] = target
end
local id
if reject == '1' then
  id = redis.call('XADD', KEYS[1], '*', unpack(fields))
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', maxlen, '*', unpack(fields))
end
if key ~= '' and target == '' then
  for _, sub in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    redis.call('ZADD', prefix .. #sub .. ':' .. sub .. ':' .. key, 0, member(id))
  end
end
return id
"
    )
});

static PUBLISH: LazyLock<Script> = LazyLock::new(|| Script::new(&PUBLISH_SOURCE));

impl Broker {
    /// Publishes `message` to `topic`; its id (its position in the topic) once Redis has it.
    /// A message larger than the topic's `max_message_bytes` (as stored: its data,
    /// attributes and key as JSON) is `TooLarge`, a topic deleted meanwhile `NotFound`, a
    /// full one with `when_full = reject` `TopicFull`. The caller checks `is_active` against
    /// its cached topic.
    pub async fn publish_to_topic(&self, topic: &Topic, message: &TopicMessage) -> Result<String> {
        let envelope = self.envelope(Action::PubsubMessage, message).encode()?;
        if envelope.len() > topic.max_message_bytes {
            return Err(BrokerError::TooLarge {
                topic: topic.name.clone(),
                size: envelope.len(),
                max: topic.max_message_bytes,
            });
        }
        self.append_to_topic(topic, &envelope, message.ordering_key.as_deref(), None)
            .await
    }

    /// Appends an encoded envelope to `topic`, for every subscription or, from a dead-letter
    /// replay, for the `target` subscription only, in the partition its dead letter was in.
    /// The message's id, qualified with its partition ([`crate::partitioned_id`]).
    pub(crate) async fn append_to_topic(
        &self,
        topic: &Topic,
        envelope: &str,
        ordering_key: Option<&str>,
        target: Option<(&str, usize)>,
    ) -> Result<String> {
        let keys = self.keys();
        let partition = match (target, ordering_key) {
            (Some((_, partition)), _) => partition % keys.partitions(),
            (None, Some(key)) => keys.partition_of_key(key),
            (None, None) => self.next_partition() % keys.partitions(),
        };
        let target = target.map(|(name, _)| name);
        let stream = keys.topic(&topic.name, partition);
        let max_messages = topic.max_messages.div_ceil(keys.partitions() as u64);
        let qualified = |id: String| crate::partitioned_id::qualify(partition, &id);
        if ordering_key.is_none() && target.is_none() && topic.when_full == WhenFull::DropOldest {
            let mut add = redis::cmd("XADD");
            add.arg(&stream)
                .arg("NOMKSTREAM")
                .arg("MAXLEN")
                .arg(max_messages)
                .arg("*")
                .arg(ENVELOPE_FIELD)
                .arg(envelope);
            if let Some(id) = as_string(&self.writer().send(add).await?) {
                return Ok(qualified(id));
            }
        }
        // Sent through the batching writer as `EVALSHA` too, so that concurrent publishes
        // share round trips (one script call per round trip through the pool ran at a
        // seventh of 1:any). A Redis without the script (restarted, flushed, or a cluster
        // node that never ran it) gets it whole once, as `EVAL` on the same key, which also
        // caches it there: a separate `SCRIPT LOAD` has no key and could reach another node.
        let call = |command: &str, script: &str| {
            let mut call = redis::cmd(command);
            call.arg(script)
                .arg(2)
                .arg(&stream)
                .arg(keys.topic_subscriptions(&topic.name, partition))
                .arg(envelope)
                .arg(ordering_key.unwrap_or(""))
                .arg(max_messages)
                .arg(if topic.when_full == WhenFull::Reject {
                    "1"
                } else {
                    "0"
                })
                .arg(keys.ordering_sets(partition))
                .arg(target.unwrap_or(""));
            call
        };
        let mut reply = self
            .writer()
            .send(call("EVALSHA", PUBLISH.get_hash()))
            .await;
        if is_noscript(&reply) {
            reply = self.writer().send(call("EVAL", &PUBLISH_SOURCE)).await;
        }
        let reply = reply?;
        match reply {
            Value::Int(-1) => Err(BrokerError::NotFound {
                kind: "topic",
                name: topic.name.clone(),
            }),
            Value::Int(-2) => Err(BrokerError::TopicFull {
                topic: topic.name.clone(),
                max: topic.max_messages,
            }),
            other => as_string(&other)
                .map(qualified)
                .ok_or_else(|| BrokerError::Corrupt {
                    key: stream,
                    message: format!("unexpected publish reply {other:?}"),
                }),
        }
    }
}

/// Whether a script call failed because Redis does not have the script (after a restart, or
/// a `SCRIPT FLUSH`): it is then loaded and called again.
fn is_noscript(reply: &Result<Value>) -> bool {
    matches!(reply, Err(BrokerError::Redis(e)) if e.code() == Some("NOSCRIPT"))
}
