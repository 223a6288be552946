//! Publishing to a topic: one script, so that the message, its retention and its ordering
//! key for every subscription are one step (a subscription created meanwhile either sees
//! the key or was created after the message).
//!
//! Retention is exact (`MAXLEN n`, `MINID`, not their approximate `~` forms, which trim
//! only whole stream nodes of about a hundred entries): a topic of `max_messages = 10` holds
//! ten messages, not up to a hundred. The cost is small: a publish to a full topic removes
//! one entry from the stream's first node.

use std::sync::LazyLock;

use redis::{Script, Value};
use zato_common::Action;
use zato_common::model::{Topic, WhenFull};
use zato_common::pubsub::TopicMessage;

use super::{KEY_FIELD, LUA_MEMBER, TARGET_FIELD};
use crate::Broker;
use crate::error::{BrokerError, Result};
use crate::stream_entry::{ENVELOPE_FIELD, as_string};

/// KEYS: the topic's stream, the topics' config hash, the topic's subscriptions.
/// ARGV: topic name, envelope, ordering key (or ''), max messages, oldest id to keep,
/// reject when full ('1'), ordering-set prefix of the cluster, target subscription (or '').
/// Returns the message id, -1 when the topic does not exist, -2 when it is full.
static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LUA_MEMBER}
local topic, envelope, key, maxlen, minid, reject, prefix, target =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if redis.call('HEXISTS', KEYS[2], topic) == 0 then return -1 end
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
redis.call('XTRIM', KEYS[1], 'MINID', minid)
if key ~= '' and target == '' then
  for _, sub in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    redis.call('ZADD', prefix .. #sub .. ':' .. sub .. ':' .. key, 0, member(id))
  end
end
return id
"
    ))
});

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
    /// replay, for `target` only.
    pub(crate) async fn append_to_topic(
        &self,
        topic: &Topic,
        envelope: &str,
        ordering_key: Option<&str>,
        target: Option<&str>,
    ) -> Result<String> {
        let keys = self.keys();
        let now_ms = zato_common::clock::unix_ms();
        let oldest_kept = now_ms.saturating_sub(topic.max_age_s.saturating_mul(1000));
        let mut invocation = PUBLISH.prepare_invoke();
        invocation
            .key(keys.topic(&topic.name))
            .key(keys.config(zato_common::ConfigKind::Topic))
            .key(keys.topic_subscriptions(&topic.name))
            .arg(&topic.name)
            .arg(envelope)
            .arg(ordering_key.unwrap_or(""))
            .arg(topic.max_messages)
            .arg(format!("{oldest_kept}-0"))
            .arg(if topic.when_full == WhenFull::Reject {
                "1"
            } else {
                "0"
            })
            .arg(format!("{}order:", keys.prefix()))
            .arg(target.unwrap_or(""));
        let mut conn = self.redis().conn().await?;
        let reply: Value = invocation.invoke_async(&mut *conn).await?;
        match reply {
            Value::Int(-1) => Err(BrokerError::NotFound {
                kind: "topic",
                name: topic.name.clone(),
            }),
            Value::Int(-2) => Err(BrokerError::TopicFull {
                topic: topic.name.clone(),
                max: topic.max_messages,
            }),
            other => as_string(&other).ok_or_else(|| BrokerError::Corrupt {
                key: keys.topic(&topic.name),
                message: format!("unexpected publish reply {other:?}"),
            }),
        }
    }
}
