//! Delivering one message of a push subscription: to its service, through the same
//! dispatcher as every channel (channel kind `pubsub`), or POSTed to its outgoing REST
//! connection. Whatever fails is a failed delivery, retried with the subscription's
//! back-off and dead-lettered after its `max_deliveries`.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde_json::{Map, Value, json};
use zato_broker::{Delivery, HandlerError, HandlerResult, Router};
use zato_common::model::{Subscription, SubscriptionDelivery};
use zato_common::pubsub::{DeliveredMessage, TopicMessage};
use zato_common::{Action, ChannelKind};
use zato_outgoing::rest::RestCall;

use crate::dispatcher::{Dispatcher, InvokeError};
use crate::service::request::new_cid;
use crate::service::{Outgoing, Request};

/// The router of one subscription's consumer.
pub fn router(dispatcher: Weak<Dispatcher>, subscription: Arc<Subscription>) -> Router {
    Router::new().route(Action::PubsubMessage, move |delivery: Delivery| {
        let (dispatcher, subscription) = (dispatcher.clone(), subscription.clone());
        async move {
            let Some(dispatcher) = dispatcher.upgrade() else {
                return Err(HandlerError::Unavailable("the server is stopping".into()));
            };
            deliver(&dispatcher, &subscription, delivery).await
        }
    })
}

/// A topic message as its subscriber sees it.
pub fn delivered(
    subscription: &Subscription,
    id: &str,
    message: TopicMessage,
    deliveries: u64,
) -> DeliveredMessage {
    DeliveredMessage {
        id: id.to_owned(),
        topic: subscription.topic.clone(),
        subscription: subscription.name.clone(),
        data: message.data,
        attributes: message.attributes,
        ordering_key: message.ordering_key,
        publisher: message.publisher,
        // The message id is its stream id, `<ms>-<seq>`: the time Redis added it.
        published_at_ms: zato_broker::id_time_ms(id).unwrap_or(0),
        deliveries,
    }
}

/// Whether the message's expiry has passed.
pub fn has_expired(message: &TopicMessage) -> bool {
    message
        .expires_at_ms
        .is_some_and(|at| zato_common::clock::unix_ms() > at)
}

async fn deliver(
    dispatcher: &Dispatcher,
    subscription: &Subscription,
    delivery: Delivery,
) -> HandlerResult {
    let message: TopicMessage = delivery.payload()?;
    if has_expired(&message) {
        let broker = dispatcher.broker();
        if let Err(e) =
            zato_broker::pubsub::figures::count_expired(broker, &subscription.name).await
        {
            tracing::debug!(error = %e, "expired message not counted");
        }
        return Ok(());
    }
    let message = delivered(
        subscription,
        &delivery.stream_id,
        message,
        delivery.deliveries,
    );
    match &subscription.delivery {
        SubscriptionDelivery::Service { service } => {
            to_service(dispatcher, subscription, service, message).await
        }
        SubscriptionDelivery::Rest { connection } => to_rest(dispatcher, connection, message).await,
        // Pull subscriptions have no consumer; a message cannot get here.
        SubscriptionDelivery::Pull { .. } => Ok(()),
    }
}

async fn to_service(
    dispatcher: &Dispatcher,
    subscription: &Subscription,
    service: &str,
    message: DeliveredMessage,
) -> HandlerResult {
    let mut request = Request::new(new_cid(), ChannelKind::PubSub, message.data);
    request.channel_name = Some(subscription.name.clone());
    request.meta = BTreeMap::from([
        ("message_id".to_owned(), json!(message.id)),
        ("topic".to_owned(), json!(message.topic)),
        ("subscription".to_owned(), json!(message.subscription)),
        ("attributes".to_owned(), json!(message.attributes)),
        ("ordering_key".to_owned(), json!(message.ordering_key)),
        ("publisher".to_owned(), json!(message.publisher)),
        ("published_at_ms".to_owned(), json!(message.published_at_ms)),
        ("deliveries".to_owned(), json!(message.deliveries)),
    ]);
    match dispatcher.invoke(service, request).await {
        Ok(_) => Ok(()),
        Err(InvokeError::NoSuchService(name)) => Err(HandlerError::Retry(format!(
            "no service '{name}' on this server"
        ))),
        Err(InvokeError::Service(e)) => Err(HandlerError::Retry(format!(
            "service '{service}' failed: {e}"
        ))),
    }
}

async fn to_rest(
    dispatcher: &Dispatcher,
    connection: &str,
    message: DeliveredMessage,
) -> HandlerResult {
    let outgoing = Outgoing {
        broker: dispatcher.broker(),
        connections: dispatcher.outgoing(),
    };
    let mut call = RestCall::new("POST", Map::new());
    call.headers = BTreeMap::from([
        ("X-Zato-Message-Id".to_owned(), message.id.clone()),
        (
            "X-Zato-Deliveries".to_owned(),
            message.deliveries.to_string(),
        ),
    ]);
    let body = serde_json::to_value(&message).unwrap_or(Value::Null);
    match outgoing.rest(connection).call(call.with_body(body)).await {
        Ok(response) if response.is_success() => Ok(()),
        Ok(response) => Err(HandlerError::Retry(format!(
            "outgoing REST connection '{connection}' answered {}",
            response.status
        ))),
        Err(e) => Err(HandlerError::Retry(e.to_string())),
    }
}
