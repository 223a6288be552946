//! Sending through the connector's outgoing AMQP and ZeroMQ connections.
//!
//! Every send is a 1:connector request that the active connector answers once the peer took
//! the message (for AMQP: once RabbitMQ confirmed the publish), so a service learns whether
//! its message left, instead of firing and forgetting (Zato issue 559).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use zato_broker::{Broker, BrokerError, CONNECTOR_LEASE, Target, lease_holder};
use zato_common::Action;
use zato_common::outgoing::{AmqpPublish, SendOutcome, ZmqSend};

use crate::service::ServiceError;

/// How long a send waits for the connector's answer.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// One AMQP message to publish.
#[derive(Debug, Clone, Default)]
pub struct AmqpMessage {
    pub body: Value,
    pub routing_key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub properties: BTreeMap<String, Value>,
}

impl AmqpMessage {
    /// A message with this body (a string is sent as its bytes, other JSON as JSON text).
    pub fn new(body: impl Into<Value>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }
}

/// An outgoing AMQP connection, by name.
pub struct AmqpOutgoing<'a> {
    pub(super) broker: &'a Broker,
    pub(super) name: String,
}

/// An outgoing ZeroMQ connection, by name.
pub struct ZmqOutgoing<'a> {
    pub(super) broker: &'a Broker,
    pub(super) name: String,
}

impl AmqpOutgoing<'_> {
    /// Publishes `message`; returns once RabbitMQ confirmed it.
    pub async fn publish(&self, message: AmqpMessage) -> Result<(), ServiceError> {
        let publish = AmqpPublish {
            outgoing: self.name.clone(),
            body: message.body,
            routing_key: message.routing_key,
            headers: message.headers,
            properties: message.properties,
        };
        send(
            self.broker,
            Action::OutgoingAmqpPublish,
            serde_json::to_value(publish).map_err(ServiceError::internal)?,
        )
        .await
    }
}

impl ZmqOutgoing<'_> {
    /// Sends `body`; returns once the socket took it.
    pub async fn send(&self, body: Value) -> Result<(), ServiceError> {
        let send_request = ZmqSend {
            outgoing: self.name.clone(),
            body,
        };
        send(
            self.broker,
            Action::OutgoingZmqSend,
            serde_json::to_value(send_request).map_err(ServiceError::internal)?,
        )
        .await
    }
}

async fn send(broker: &Broker, action: Action, payload: Value) -> Result<(), ServiceError> {
    // Without a lease holder nobody reads the request: say so now instead of after the
    // timeout.
    if lease_holder(broker, CONNECTOR_LEASE).await?.is_none() {
        return Err(ServiceError::Unavailable(
            "no connector is active: start a zato-connector".into(),
        ));
    }
    let reply = match broker
        .request(
            Target::Connector,
            broker.envelope(action, payload),
            SEND_TIMEOUT,
        )
        .await
    {
        Ok(reply) => reply,
        Err(BrokerError::Timeout(after)) => {
            return Err(ServiceError::GatewayTimeout(format!(
                "no connector answered within {} s (is a zato-connector running?)",
                after.as_secs()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let outcome: SendOutcome = serde_json::from_value(reply.payload).map_err(|e| {
        ServiceError::Internal(format!("the connector's answer is not a send outcome: {e}"))
    })?;
    if outcome.ok {
        Ok(())
    } else {
        Err(ServiceError::BadGateway(
            outcome.error.unwrap_or_else(|| "the send failed".into()),
        ))
    }
}
