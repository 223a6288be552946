//! Pulling from a `pull` subscription and acknowledging, for the admin API and the
//! subscriber endpoint alike.

use std::time::Duration;

use tracing::warn;
use zato_broker::pubsub::pull;
use zato_broker::pubsub::subscriptions::is_message_id;
use zato_common::Envelope;
use zato_common::model::{MAX_BATCH_SIZE, Subscription, SubscriptionDelivery};
use zato_common::pubsub::{DeliveredMessage, TopicMessage};

use super::PubSub;
use super::delivery::{delivered, has_expired};
use crate::service::ServiceError;

/// The longest a pull waits for a first message (long polling).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The most pulls one server lets wait at once: each waits on a Redis connection of its
/// own, and Redis's clients are a limited resource. A pull beyond it answers at once.
pub const MAX_WAITING_PULLS: usize = 256;

/// The pull subscription `name`, or why it cannot be pulled from.
pub fn pull_subscription(
    pubsub: &PubSub,
    name: &str,
) -> Result<std::sync::Arc<Subscription>, ServiceError> {
    let Some(subscription) = pubsub.subscription(name) else {
        return Err(ServiceError::NotFound(format!("no subscription '{name}'")));
    };
    if !matches!(subscription.delivery, SubscriptionDelivery::Pull { .. }) {
        return Err(ServiceError::Conflict(format!(
            "subscription '{name}' is a {} subscription: its messages are pushed, not pulled",
            subscription.delivery.kind()
        )));
    }
    if !subscription.is_active {
        return Err(ServiceError::Conflict(format!(
            "subscription '{name}' is inactive"
        )));
    }
    Ok(subscription)
}

/// Up to `max` messages (the subscription's batch size by default), waiting up to `wait`
/// for the first one. What is not acknowledged within the ack deadline comes back.
pub async fn pull_messages(
    pubsub: &PubSub,
    name: &str,
    max: Option<usize>,
    wait: Duration,
) -> Result<Vec<DeliveredMessage>, ServiceError> {
    let subscription = pull_subscription(pubsub, name)?;
    let max = max
        .unwrap_or(subscription.batch_size)
        .clamp(1, MAX_BATCH_SIZE);
    let broker = &pubsub.broker;
    let waiting = pubsub.waiting_pulls.try_acquire().ok();
    let wait = match waiting {
        Some(_) => wait.min(MAX_WAIT),
        None => Duration::ZERO,
    };
    let pulled = pull::pull(broker, &subscription, max, wait).await?;
    drop(waiting);
    let mut messages = Vec::with_capacity(pulled.len());
    let mut finished = Vec::new();
    for item in pulled {
        let Ok(envelope) = serde_json::from_slice::<Envelope<TopicMessage>>(&item.envelope) else {
            warn!(subscription = %name, id = %item.id, "not a topic message; acknowledged and skipped");
            finished.push(item.id);
            continue;
        };
        if has_expired(&envelope.payload) {
            if let Err(e) = zato_broker::pubsub::figures::count_expired(broker, name).await {
                tracing::debug!(error = %e, "expired message not counted");
            }
            finished.push(item.id);
            continue;
        }
        messages.push(delivered(
            &subscription,
            &item.id,
            envelope.payload,
            item.deliveries,
        ));
    }
    pull::ack(broker, &subscription, &finished).await?;
    Ok(messages)
}

/// Refuses what is not a message id (`[<partition>/]<ms>-<seq>`), naming it.
fn check_ids(ids: &[String]) -> Result<(), ServiceError> {
    match ids.iter().find(|id| !is_message_id(id)) {
        Some(bad) => Err(ServiceError::BadRequest(format!(
            "ids: '{bad}' is not a message id ([<partition>/]<ms>-<seq>)"
        ))),
        None => Ok(()),
    }
}

/// Acknowledges pulled messages by id; how many were still unacknowledged.
pub async fn ack(pubsub: &PubSub, name: &str, ids: &[String]) -> Result<u64, ServiceError> {
    check_ids(ids)?;
    let subscription = pull_subscription(pubsub, name)?;
    Ok(pull::ack(&pubsub.broker, &subscription, ids).await?)
}

/// Gives pulled messages back for the next pull at once.
pub async fn nack(pubsub: &PubSub, name: &str, ids: &[String]) -> Result<(), ServiceError> {
    check_ids(ids)?;
    let subscription = pull_subscription(pubsub, name)?;
    Ok(pull::nack(&pubsub.broker, &subscription, ids).await?)
}
