//! Retention applied outside the publish: by age for every topic, and for `when_full =
//! reject` topics by acknowledgement (they keep only what some subscription has still to
//! acknowledge, so that acknowledged messages make room for new ones, as a work queue's
//! janitor does). Every server runs both every few seconds, on every partition of the topic;
//! each pass is idempotent.

use zato_common::model::{Topic, WhenFull};

use crate::Broker;
use crate::error::Result;
use crate::janitor::trim_handled;

/// Removes the messages every subscription of a `reject` topic acknowledged; how many.
/// Other topics keep theirs until their retention removes them, for replays and seeks.
pub async fn trim_acknowledged(broker: &Broker, topic: &Topic) -> Result<u64> {
    if topic.when_full != WhenFull::Reject {
        return Ok(0);
    }
    let mut removed = 0;
    for partition in 0..broker.partitions() {
        let stream = broker.keys().topic(&topic.name, partition);
        removed += trim_handled(broker, &stream, None).await?;
    }
    Ok(removed)
}

/// Removes the messages of `topic` older than its `max_age_s`, acknowledged or not; how
/// many.
pub async fn trim_by_age(broker: &Broker, topic: &Topic) -> Result<u64> {
    let oldest_kept =
        zato_common::clock::unix_ms().saturating_sub(topic.max_age_s.saturating_mul(1000));
    let mut conn = broker.redis().conn().await?;
    let mut removed = 0;
    for partition in 0..broker.partitions() {
        let trimmed: u64 = redis::cmd("XTRIM")
            .arg(broker.keys().topic(&topic.name, partition))
            .arg("MINID")
            .arg(format!("{oldest_kept}-0"))
            .query_async(&mut conn)
            .await?;
        removed += trimmed;
    }
    Ok(removed)
}
