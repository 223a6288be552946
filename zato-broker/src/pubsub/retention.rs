//! Retention of `when_full = reject` topics: besides their age limit, they keep only what
//! some subscription has still to acknowledge, so that acknowledged messages make room for
//! new ones (as a work queue's janitor does).

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
    trim_handled(broker, &broker.keys().topic(&topic.name), None).await
}
