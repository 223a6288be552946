//! Pub/sub on the broker's streams: a topic is a stream, each subscription a consumer group
//! on it, so every subscription gets every message with the same claims, take-over and dead
//! letters as 1:any ([`crate::QueueConsumer::subscription`]).
//!
//! - [`publish`]: one script appends the message, applies retention and records its ordering
//!   key for every subscription;
//! - [`ordering`]: messages with the same key go one at a time, in order, per subscription;
//! - [`subscriptions`]: creating a subscription's group, seeking it, removing it;
//! - [`pull`]: the subscriber-driven kind, with ack deadlines;
//! - [`figures`]: depth, backlog, oldest unacknowledged message, counters;
//! - [`retention`]: what `reject` topics drop once every subscription acknowledged it;
//! - [`topics`]: a topic's streams, one per partition, made and removed with it.
//!
//! Everything of a topic that a script or a transaction touches together (its stream, its
//! set of subscriptions, their ordering sets and running marks, their dead letters) is in
//! one partition; each partition is delivered, trimmed and counted on its own, and the
//! figures add them up.

pub mod figures;
pub(crate) mod ordering;
pub mod publish;
pub mod pull;
pub mod retention;
pub mod subscriptions;
pub mod topics;

/// The stream field holding a message's ordering key, read without parsing the envelope.
pub(crate) const KEY_FIELD: &str = "k";

/// The stream field of a message replayed from one subscription's dead letters: only that
/// subscription delivers it, the others acknowledge it unread.
pub(crate) const TARGET_FIELD: &str = "s";

/// The consumer every pull of a subscription reads as: pulls may come to any server, and
/// what one of them took and did not acknowledge in time is given to the next.
pub(crate) const PULL_CONSUMER: &str = "pull";

/// A stream id as a member of an ordering set (score 0): both parts zero-padded to 20
/// digits, so that the set's lexical order is the stream's order.
pub(crate) fn ordering_member(id: &str) -> String {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    format!("{ms:0>20}-{seq:0>20}")
}

/// The same padding in Lua, and its inverse, for the scripts.
pub(crate) const LUA_MEMBER: &str = r"
local function member(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end
";

#[cfg(test)]
mod tests {
    use super::ordering_member;

    #[test]
    fn ordering_members_sort_as_stream_ids() {
        let mut ids = ["10-0", "9-15", "9-2", "100-0"].map(ordering_member);
        ids.sort();
        assert_eq!(
            ids.map(|m| m.trim_start_matches('0').to_owned())[0],
            "9-00000000000000000002"
        );
        assert!(ordering_member("9-15") < ordering_member("10-0"));
    }
}
