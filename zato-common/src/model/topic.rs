//! Pub/sub topics: named streams that publishers write to and subscriptions read from.
//!
//! A topic keeps its messages for its retention (an age and a length), whoever has read
//! them; each subscription keeps its own position and its own unacknowledged messages.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, default_true};

/// The largest message a topic may be set to accept: 8 MiB (Redis keeps every message in
/// memory until retention removes it).
pub const MAX_MESSAGE_BYTES: usize = 8 << 20;

/// What a publish to a topic that holds `max_messages` does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// The oldest messages make room, acknowledged or not (retention, as in Kafka or Google
    /// Pub/Sub).
    #[default]
    DropOldest,
    /// The publish is refused (409) until every subscription acknowledged enough messages
    /// (back-pressure, as RabbitMQ's `reject-publish`): nothing is lost unread.
    Reject,
}

/// A topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub name: String,
    /// Messages older than this are removed, acknowledged or not (seconds; 7 days by default).
    #[serde(default = "default_max_age_s")]
    pub max_age_s: u64,
    /// At most this many messages are kept (see `when_full`).
    #[serde(default = "default_max_messages")]
    pub max_messages: u64,
    /// A larger message is refused (413).
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    #[serde(default)]
    pub when_full: WhenFull,
    /// The security definitions whose credentials may publish through the publisher
    /// endpoint, `POST /zato/pubsub/topics/{name}`.
    #[serde(default)]
    pub publishers: Vec<String>,
    /// An inactive topic refuses publishes (409); its subscriptions still deliver what it has.
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_max_age_s() -> u64 {
    7 * 24 * 3600
}

fn default_max_messages() -> u64 {
    1_000_000
}

fn default_max_message_bytes() -> usize {
    256 << 10
}

impl ConfigObject for Topic {
    const KIND: ConfigKind = ConfigKind::Topic;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        if self.max_age_s == 0 {
            return Err(ValidationError::new("max_age_s", "must be at least 1"));
        }
        if self.max_messages == 0 {
            return Err(ValidationError::new("max_messages", "must be at least 1"));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > MAX_MESSAGE_BYTES {
            return Err(ValidationError::new(
                "max_message_bytes",
                format!("must be between 1 and {MAX_MESSAGE_BYTES}"),
            ));
        }
        for (i, publisher) in self.publishers.iter().enumerate() {
            check_name(&format!("publishers[{i}]"), publisher)?;
        }
        Ok(())
    }
}

impl Topic {
    /// A topic with the default retention, for tests and examples.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            max_age_s: default_max_age_s(),
            max_messages: default_max_messages(),
            max_message_bytes: default_max_message_bytes(),
            when_full: WhenFull::default(),
            publishers: Vec::new(),
            is_active: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_bad_limits_name_their_field() {
        let topic: Topic = serde_json::from_str(r#"{"name": "orders"}"#).unwrap();
        assert_eq!(topic, Topic::named("orders"));
        assert!(topic.validate().is_ok());
        let mut big = topic.clone();
        big.max_message_bytes = MAX_MESSAGE_BYTES + 1;
        assert_eq!(big.validate().unwrap_err().field, "max_message_bytes");
        let mut bad = topic;
        bad.publishers = vec!["a b".into()];
        assert_eq!(bad.validate().unwrap_err().field, "publishers[0]");
    }
}
