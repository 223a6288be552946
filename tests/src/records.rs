//! What the built-in `zato.record` service wrote, read from the outside: the tests' way of
//! seeing which messages were handled, how often, where and when.

use crate::RedisAccess;
use serde_json::Value;
use zato_broker::Keys;

/// The list `zato.record` appends to for the payload key `key`: `zato:{<cluster>}:record:<key>`.
///
/// [`Keys`] has no method for it (the service forms it from the cluster prefix, as any
/// service's own key), so this is the one place the tests spell it out.
pub fn record_key(cluster: &str, key: &str) -> String {
    format!("{}record:{key}", Keys::new(cluster).prefix())
}

/// The JSON entries `zato.record` appended to `record:<key>`, oldest first; empty while Redis
/// does not answer.
pub fn recorded(redis: &dyn RedisAccess, cluster: &str, key: &str) -> Vec<Value> {
    recorded_from(redis, cluster, key, 0)
}

/// The entries of `record:<key>` from index `from` on (negative: counted from the end, so
/// `-300` is the last 300); empty while Redis does not answer.
pub fn recorded_from(redis: &dyn RedisAccess, cluster: &str, key: &str, from: isize) -> Vec<Value> {
    let Ok(mut conn) = redis.connection_for(&record_key(cluster, key)) else {
        return Vec::new();
    };
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(record_key(cluster, key))
        .arg(from)
        .arg(-1)
        .query(&mut conn)
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect()
}
