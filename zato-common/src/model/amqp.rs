//! AMQP definitions (connections), channels (queue consumers) and outgoing connections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name, check_not_empty};
use super::{ConfigKind, ConfigObject, DataFormat, default_true};
use crate::Secret;

/// A connection to an AMQP broker, shared by the channels and outgoing connections that name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpDefinition {
    pub name: String,
    /// `amqp://user:password@host:port/vhost` or `amqps://...`; it carries credentials, so it
    /// is a secret.
    pub url: Secret,
    /// AMQP heartbeat in seconds.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u16,
    /// How many unacknowledged deliveries one consumer may hold.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_heartbeat() -> u16 {
    30
}

fn default_prefetch() -> u16 {
    10
}

impl ConfigObject for AmqpDefinition {
    const KIND: ConfigKind = ConfigKind::AmqpDefinition;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        let url = self.url.expose();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ValidationError::new(
                "url",
                "must start with amqp:// or amqps://",
            ));
        }
        if self.prefetch == 0 {
            return Err(ValidationError::new("prefetch", "must be at least 1"));
        }
        Ok(())
    }
}

/// Consumes a queue and hands every message to a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpChannel {
    pub name: String,
    /// The [`AmqpDefinition`] to connect through.
    pub definition: String,
    pub queue: String,
    pub service: String,
    #[serde(default)]
    pub data_format: DataFormat,
    /// How many consumers read the queue at once.
    #[serde(default = "default_consumers")]
    pub consumers: u16,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_consumers() -> u16 {
    1
}

/// The most consumers one channel may run.
pub const MAX_CONSUMERS: u16 = 64;

impl ConfigObject for AmqpChannel {
    const KIND: ConfigKind = ConfigKind::AmqpChannel;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_name("definition", &self.definition)?;
        check_not_empty("queue", &self.queue)?;
        check_name("service", &self.service)?;
        if !(1..=MAX_CONSUMERS).contains(&self.consumers) {
            return Err(ValidationError::new(
                "consumers",
                format!("must be between 1 and {MAX_CONSUMERS}"),
            ));
        }
        Ok(())
    }
}

/// Publishes to an exchange on behalf of services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmqpOutgoing {
    pub name: String,
    pub definition: String,
    /// The exchange to publish to; empty for the default exchange.
    #[serde(default)]
    pub exchange: String,
    /// Used when a publish names no routing key.
    #[serde(default)]
    pub routing_key: String,
    /// 1 (transient) or 2 (persistent).
    #[serde(default = "default_delivery_mode")]
    pub delivery_mode: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// 0 to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Per-message TTL in milliseconds, as AMQP carries it (a string of digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Added to every message; a publish may override them one by one.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_delivery_mode() -> u8 {
    2
}

impl ConfigObject for AmqpOutgoing {
    const KIND: ConfigKind = ConfigKind::AmqpOutgoing;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_name("definition", &self.definition)?;
        if !(1..=2).contains(&self.delivery_mode) {
            return Err(ValidationError::new(
                "delivery_mode",
                "must be 1 (transient) or 2 (persistent)",
            ));
        }
        if self.priority.is_some_and(|p| p > 9) {
            return Err(ValidationError::new("priority", "must be between 0 and 9"));
        }
        if let Some(expiration) = &self.expiration
            && (expiration.is_empty() || !expiration.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(ValidationError::new(
                "expiration",
                "must be a number of milliseconds, e.g. \"60000\"",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_need_an_amqp_url_and_hide_it() {
        let def: AmqpDefinition = serde_json::from_value(
            json!({"name": "d", "url": "amqp://guest:guest@127.0.0.1:5672/%2f"}),
        )
        .expect("parses");
        assert!(def.validate().is_ok());
        assert!(!format!("{def:?}").contains("guest"));
        let bad: AmqpDefinition =
            serde_json::from_value(json!({"name": "d", "url": "http://x"})).expect("parses");
        assert_eq!(bad.validate().unwrap_err().field, "url");
    }

    #[test]
    fn channels_and_outgoing_are_checked() {
        let ch: AmqpChannel = serde_json::from_value(
            json!({"name": "c", "definition": "d", "queue": "q", "service": "s", "consumers": 0}),
        )
        .expect("parses");
        assert_eq!(ch.validate().unwrap_err().field, "consumers");
        let out: AmqpOutgoing =
            serde_json::from_value(json!({"name": "o", "definition": "d", "priority": 12}))
                .expect("parses");
        assert_eq!(out.validate().unwrap_err().field, "priority");
        let out: AmqpOutgoing =
            serde_json::from_value(json!({"name": "o", "definition": "d", "expiration": "1s"}))
                .expect("parses");
        assert_eq!(out.validate().unwrap_err().field, "expiration");
    }
}
