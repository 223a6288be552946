//! Ordering keys: per subscription, the messages with one key are delivered one at a time,
//! in publish order, whichever servers read them.
//!
//! Each (subscription, key) has a sorted set of the ids still to deliver (`order:...`),
//! filled by the publish script in stream order. A consumer that read a keyed message asks
//! [`Ordering::may_deliver`]: only the set's first id, and only by the consumer that holds it,
//! may run; any other is *parked* (left pending, its delivery given back). Finishing a message
//! ([`Ordering::finish`]) acknowledges it, removes it and claims the key's next message if
//! someone parked it, so the key moves on at once, on the finisher. A parked message whose
//! hand-over was lost (the finisher crashed in between) is claimed after the visibility
//! timeout like any other, and asks again.
//!
//! Ids that can never be delivered (trimmed by retention, acknowledged by a seek) are
//! dropped from the sets when they come first.
//!
//! One consumer may hold a key's next message twice: from its own read, parked, and handed
//! over by the finish of the message before. The message each key runs is therefore noted
//! with the consumer loop that runs it (`order-running`, `<id>:<runner>`): a second approval
//! for the same loop is the same run and leaves it be (retries in place included), while a
//! take-over by another loop (another server, a restarted member, or this server's loop
//! started again after an edit) runs it again.

use std::sync::LazyLock;

use redis::{Script, Value};

use super::LUA_MEMBER;
use crate::Broker;
use crate::error::Result;
use crate::stream_entry::{StreamEntry, as_u64, parse_entries};

/// The Lua shared by both scripts: the key's first id still to deliver, and its pending
/// entry (`[id, consumer, idle, deliveries]`) when someone has read it.
const LUA_HEAD: &str = r"
local function id_of(m)
  local ms, seq = string.match(m, '^0*(%d+)-0*(%d+)$')
  return ms .. '-' .. seq
end
local function last_delivered(stream, group)
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local name, last
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name == group then return last end
  end
  return '0-0'
end
local function head(set, stream, group)
  local last
  while true do
    local first = redis.call('ZRANGE', set, 0, 0)[1]
    if not first then return nil end
    local id = id_of(first)
    local exists = #redis.call('XRANGE', stream, id, id) > 0
    local pending = redis.call('XPENDING', stream, group, id, id, 1)[1]
    if exists and pending then return id, pending end
    if pending then redis.call('XACK', stream, group, id) end
    if exists then
      last = last or member(last_delivered(stream, group))
      if first > last then return id, nil end
    end
    redis.call('ZREM', set, first)
  end
end
";

/// KEYS: the ordering set, the stream, the running hash. ARGV: group, consumer, id, key,
/// (unused), runner. 1 when the message may run now; 0 when it is parked (its delivery count given back, as
/// it did not run); 2 when it runs already, handed over to this consumer.
static MAY_DELIVER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LUA_MEMBER}{LUA_HEAD}
redis.call('ZADD', KEYS[1], 'NX', 0, member(ARGV[3]))
local id, pending = head(KEYS[1], KEYS[2], ARGV[1])
if id == ARGV[3] and pending and pending[2] == ARGV[2] then
  local running = id .. ':' .. ARGV[6]
  if redis.call('HGET', KEYS[3], ARGV[4]) == running then return 2 end
  redis.call('HSET', KEYS[3], ARGV[4], running)
  return 1
end
local own = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if own and own[2] == ARGV[2] then
  local count = math.max(tonumber(own[4]) - 1, 0)
  redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, ARGV[3], 'RETRYCOUNT', count, 'JUSTID')
end
return 0
"
    ))
});

/// KEYS: the ordering set, the stream, the running hash. ARGV: group, consumer, id, key,
/// whether to take the next message ('1'), runner. Acknowledges the id and returns `[deliveries,
/// entries]` of the key's next message when it was read by someone (now claimed by this
/// consumer, and noted as running), or nothing. A consumer that lost the message to a
/// take-over (it stopped renewing its claim) only acknowledges it: the key is the new
/// holder's to move on.
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"{LUA_MEMBER}{LUA_HEAD}
local own = redis.call('XPENDING', KEYS[2], ARGV[1], ARGV[3], ARGV[3], 1)[1]
redis.call('XACK', KEYS[2], ARGV[1], ARGV[3])
if not own or own[2] ~= ARGV[2] then return {{}} end
redis.call('ZREM', KEYS[1], member(ARGV[3]))
if redis.call('HGET', KEYS[3], ARGV[4]) == ARGV[3] .. ':' .. ARGV[6] then
  redis.call('HDEL', KEYS[3], ARGV[4])
end
if ARGV[5] ~= '1' then return {{}} end
local id, pending = head(KEYS[1], KEYS[2], ARGV[1])
if not (id and pending) then return {{}} end
local claimed = redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, id)
local deliveries = tonumber(pending[4]) + 1
redis.call('HSET', KEYS[3], ARGV[4], id .. ':' .. ARGV[6])
return {{deliveries, claimed}}
"
    ))
});

/// Whether a keyed message may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Its key's turn, on this consumer: run it.
    Run,
    /// An earlier message of its key comes first: parked.
    Wait,
    /// It runs already on this consumer (handed over by the message before): this copy
    /// leaves it to that run.
    RunningHere,
}

/// The ordering of one subscription's keyed messages, as one consumer sees it.
pub(crate) struct Ordering {
    pub stream: String,
    pub group: String,
    pub consumer: String,
    /// `order:<len>:<subscription>:` with the cluster's prefix.
    pub prefix: String,
    /// The subscription's `order-running` hash.
    pub running: String,
    /// This consumer loop, in the running marks: the consumer id of the process and a
    /// token of the loop, so that a loop started again in the same process (after an
    /// edit of the subscription) runs what the stopped one left.
    pub runner: String,
}

impl Ordering {
    fn set(&self, key: &[u8]) -> Vec<u8> {
        [self.prefix.as_bytes(), key].concat()
    }

    /// Runs one of the scripts for the keyed message `id`.
    async fn run(
        &self,
        script: &Script,
        broker: &Broker,
        id: &str,
        key: &[u8],
        take_next: bool,
    ) -> Result<Value> {
        let mut conn = broker.redis().conn().await?;
        Ok(script
            .key(self.set(key))
            .key(&self.stream)
            .key(&self.running)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(id)
            .arg(key)
            .arg(if take_next { "1" } else { "0" })
            .arg(&self.runner)
            .invoke_async(&mut conn)
            .await?)
    }

    /// Whether the keyed message `id`, which this consumer holds, may run now.
    pub async fn may_deliver(&self, broker: &Broker, id: &str, key: &[u8]) -> Result<Turn> {
        Ok(
            match self.run(&MAY_DELIVER, broker, id, key, false).await? {
                Value::Int(1) => Turn::Run,
                Value::Int(2) => Turn::RunningHere,
                _ => Turn::Wait,
            },
        )
    }

    /// Acknowledges the keyed message `id` and, with `take_next`, takes the key's next one,
    /// if someone read it, with its delivery count.
    pub async fn finish(
        &self,
        broker: &Broker,
        id: &str,
        key: &[u8],
        take_next: bool,
    ) -> Result<Option<(StreamEntry, u64)>> {
        let reply = self.run(&FINISH, broker, id, key, take_next).await?;
        let Value::Array(mut parts) = reply else {
            return Ok(None);
        };
        if parts.len() != 2 {
            return Ok(None);
        }
        let entries = parts.pop().map(parse_entries).unwrap_or_default();
        let deliveries = parts.first().and_then(as_u64).unwrap_or(1);
        Ok(entries.into_iter().next().map(|entry| (entry, deliveries)))
    }
}
