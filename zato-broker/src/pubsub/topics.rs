//! A topic's streams: one in every partition, made with the topic and removed with it.
//!
//! A publish never makes a stream (`XADD NOMKSTREAM`, and the script checks first), so a
//! publish racing the topic's deletion fails with "does not exist" instead of leaving a
//! stream behind that no retention would ever trim. Every server makes the streams of the
//! topics it loads, too: a topic stored before its partitions grew, or before Redis lost its
//! data, gets its missing streams from the first server to start.

use crate::Broker;
use crate::error::Result;
use crate::janitor::create_group;

/// The group made only to make a stream with `MKSTREAM`; destroyed at once.
const MAKER_GROUP: &str = "zato.make-stream";

/// Makes the streams of `topic` that do not exist yet.
pub async fn create_streams(broker: &Broker, topic: &str) -> Result<()> {
    let mut conn = broker.redis().conn().await?;
    for partition in 0..broker.partitions() {
        let stream = broker.keys().topic(topic, partition);
        let exists: bool = redis::cmd("EXISTS")
            .arg(&stream)
            .query_async(&mut conn)
            .await?;
        if exists {
            continue;
        }
        create_group(&mut conn, &stream, MAKER_GROUP, "$").await?;
        let _: u64 = redis::cmd("XGROUP")
            .arg("DESTROY")
            .arg(&stream)
            .arg(MAKER_GROUP)
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}

/// Removes every stream of `topic` (its messages) and its subscription sets.
pub async fn delete_streams(broker: &Broker, topic: &str) -> Result<()> {
    let mut conn = broker.redis().conn().await?;
    for partition in 0..broker.partitions() {
        let keys = broker.keys();
        let _: u64 = redis::cmd("DEL")
            .arg(keys.topic(topic, partition))
            .arg(keys.topic_subscriptions(topic, partition))
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}
