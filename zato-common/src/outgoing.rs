//! The payloads of 1:connector messages: what services ask the connector to send out.
//!
//! Both travel as requests (`reply_to` set) when the caller waits for the outcome; the
//! connector answers every one with a [`SendOutcome`], so a failed publish is reported to
//! whoever asked, never dropped silently (Zato issue 559).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `OUTGOING_AMQP_PUBLISH`: publish one message through an outgoing AMQP connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AmqpPublish {
    /// The outgoing connection's name.
    pub outgoing: String,
    /// A string is sent as its UTF-8 bytes; any other JSON value as its JSON text.
    pub body: Value,
    /// Overrides the connection's default routing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Added to (and overriding) the connection's default headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Overrides of the connection's properties: `content_type`, `delivery_mode`, `priority`,
    /// `expiration`, `app_id`, `user_id`, `correlation_id`, `message_id`, `reply_to`, `type`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Value>,
}

/// `OUTGOING_ZMQ_SEND`: send one message through an outgoing ZeroMQ connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZmqSend {
    pub outgoing: String,
    /// A string is sent as its UTF-8 bytes; any other JSON value as its JSON text.
    pub body: Value,
}

/// The connector's answer to a publish or send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendOutcome {
    /// True once the peer accepted it (for AMQP: the broker confirmed the publish).
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The bytes a body is sent as.
pub fn body_bytes(body: &Value) -> Vec<u8> {
    match body {
        Value::String(text) => text.as_bytes().to_vec(),
        other => other.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_become_bytes() {
        assert_eq!(body_bytes(&json!("plain")), b"plain");
        assert_eq!(body_bytes(&json!({"a": 1})), br#"{"a":1}"#);
    }
}
