//! A pub/sub message: as a publisher gives it, as a topic's stream holds it, and as a
//! subscriber receives it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationError;

/// The most attributes a message may carry.
pub const MAX_ATTRIBUTES: usize = 64;

/// The longest ordering key.
pub const MAX_ORDERING_KEY_LEN: usize = 256;

/// What a publisher sends (the admin API's, the publisher endpoint's and `ctx.publish`'s
/// body).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    /// JSON, or a string for text.
    pub data: Value,
    /// String attributes, for subscribers to route on without reading the data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Messages with the same key are delivered in publish order, one at a time per
    /// subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// The message is not delivered after this many milliseconds from its publish (it is
    /// acknowledged and counted as expired instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
}

impl Publication {
    /// A message of `data` without attributes, key or expiry.
    pub fn new(data: Value) -> Self {
        Self {
            data,
            ..Self::default()
        }
    }

    /// Checks the attributes and the ordering key (the topic checks the size).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.attributes.len() > MAX_ATTRIBUTES {
            return Err(ValidationError::new(
                "attributes",
                format!("has more than {MAX_ATTRIBUTES} entries"),
            ));
        }
        if self.attributes.keys().any(String::is_empty) {
            return Err(ValidationError::new("attributes", "a name is empty"));
        }
        if let Some(key) = &self.ordering_key
            && (key.is_empty() || key.len() > MAX_ORDERING_KEY_LEN)
        {
            return Err(ValidationError::new(
                "ordering_key",
                format!("must have 1 to {MAX_ORDERING_KEY_LEN} characters"),
            ));
        }
        Ok(())
    }
}

/// The payload of a topic stream's envelope (action `PUBSUB_MESSAGE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMessage {
    pub data: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Milliseconds since the Unix epoch after which the message is not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// Who published it: a service, `admin`, or the security definition of the publisher
    /// endpoint.
    pub publisher: String,
}

/// What a subscriber receives: the body a `rest` subscription POSTs and an item of what a
/// `pull` returns. A `service` subscription's service gets `data` as its payload and the
/// rest as its request's meta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredMessage {
    /// The message id (its position in the topic); `ack` takes it.
    pub id: String,
    pub topic: String,
    pub subscription: String,
    pub data: Value,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    pub publisher: String,
    pub published_at_ms: u64,
    /// 1 for the first delivery to this subscription, more for each retry or redelivery.
    pub deliveries: u64,
}
