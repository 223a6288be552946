//! Pub/sub subscriptions: each one gets every message of its topic, at least once, and
//! acknowledges it by itself, whatever the other subscriptions do.

use serde::{Deserialize, Serialize};

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, default_true};

/// The longest ack deadline and retry delay: an hour.
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// The most messages one delivery batch or one pull may take.
pub const MAX_BATCH_SIZE: usize = 1000;

/// Where a subscription's messages go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SubscriptionDelivery {
    /// Each message invokes a service (channel kind `pubsub`); the service returning
    /// acknowledges it, a failure has it retried.
    Service { service: String },
    /// Each message is POSTed to an outgoing REST connection; a 2xx answer acknowledges it.
    Rest { connection: String },
    /// The subscriber fetches messages (`POST /zato/pubsub/subscriptions/{name}/pull`) and
    /// acknowledges them by id within `ack_deadline_ms`, or gets them again.
    Pull {
        /// The security definition whose credentials may pull and acknowledge.
        security: String,
        #[serde(default = "default_ack_deadline_ms")]
        ack_deadline_ms: u64,
    },
}

impl SubscriptionDelivery {
    /// `service`, `rest` or `pull`.
    pub fn kind(&self) -> &'static str {
        match self {
            SubscriptionDelivery::Service { .. } => "service",
            SubscriptionDelivery::Rest { .. } => "rest",
            SubscriptionDelivery::Pull { .. } => "pull",
        }
    }
}

fn default_ack_deadline_ms() -> u64 {
    30_000
}

/// Where a new subscription starts reading its topic.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StartPosition {
    /// Only messages published after the subscription was created.
    #[default]
    New,
    /// Everything the topic still retains.
    Earliest,
}

/// How a failed delivery is retried: after `initial_ms`, then each delay `multiplier`
/// times the previous one, at most `max_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub initial_ms: u64,
    pub max_ms: u64,
    pub multiplier: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_ms: 1_000,
            max_ms: 60_000,
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// The delay before delivery number `delivery + 1`, after `delivery` failed ones (1 or
    /// more).
    pub fn delay_ms(&self, delivery: u64) -> u64 {
        let exponent = i32::try_from(delivery.saturating_sub(1)).unwrap_or(i32::MAX);
        let delay = self.initial_ms as f64 * self.multiplier.powi(exponent);
        if delay.is_finite() {
            (delay as u64).min(self.max_ms)
        } else {
            self.max_ms
        }
    }
}

/// A subscription to a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub name: String,
    pub topic: String,
    pub delivery: SubscriptionDelivery,
    #[serde(default)]
    pub start: StartPosition,
    /// Push kinds: how many messages each server delivers at once. Pull: the most one pull
    /// returns.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// After this many failed deliveries a message goes to the dead letters (or is dropped,
    /// without `dead_letters`).
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: u32,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default = "default_true")]
    pub dead_letters: bool,
    /// An inactive subscription keeps its position and its messages, and delivers nothing.
    #[serde(default = "default_true")]
    pub is_active: bool,
}

fn default_batch_size() -> usize {
    64
}

fn default_max_deliveries() -> u32 {
    5
}

impl ConfigObject for Subscription {
    const KIND: ConfigKind = ConfigKind::Subscription;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_name("topic", &self.topic)?;
        match &self.delivery {
            SubscriptionDelivery::Service { service } => check_name("delivery.service", service)?,
            SubscriptionDelivery::Rest { connection } => {
                check_name("delivery.connection", connection)?
            }
            SubscriptionDelivery::Pull {
                security,
                ack_deadline_ms,
            } => {
                check_name("delivery.security", security)?;
                if !(100..=MAX_DELAY_MS).contains(ack_deadline_ms) {
                    return Err(ValidationError::new(
                        "delivery.ack_deadline_ms",
                        format!("must be between 100 and {MAX_DELAY_MS}"),
                    ));
                }
            }
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(ValidationError::new(
                "batch_size",
                format!("must be between 1 and {MAX_BATCH_SIZE}"),
            ));
        }
        if self.max_deliveries == 0 {
            return Err(ValidationError::new("max_deliveries", "must be at least 1"));
        }
        let retry = &self.retry;
        if retry.initial_ms == 0 || retry.initial_ms > MAX_DELAY_MS {
            return Err(ValidationError::new(
                "retry.initial_ms",
                format!("must be between 1 and {MAX_DELAY_MS}"),
            ));
        }
        if retry.max_ms < retry.initial_ms || retry.max_ms > MAX_DELAY_MS {
            return Err(ValidationError::new(
                "retry.max_ms",
                format!("must be between retry.initial_ms and {MAX_DELAY_MS}"),
            ));
        }
        if !(1.0..=10.0).contains(&retry.multiplier) {
            return Err(ValidationError::new(
                "retry.multiplier",
                "must be between 1 and 10",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_grows_by_its_multiplier_up_to_its_cap() {
        let retry = RetryPolicy {
            initial_ms: 100,
            max_ms: 1_000,
            multiplier: 3.0,
        };
        assert_eq!(
            [1, 2, 3, 4, 50].map(|n| retry.delay_ms(n)),
            [100, 300, 900, 1000, 1000]
        );
    }

    #[test]
    fn a_subscription_parses_with_defaults_and_names_a_bad_field() {
        let sub: Subscription = serde_json::from_str(
            r#"{"name": "billing", "topic": "orders",
                "delivery": {"kind": "pull", "security": "billing-key"}}"#,
        )
        .unwrap();
        assert_eq!(sub.batch_size, 64);
        assert!(sub.validate().is_ok());
        let mut bad = sub.clone();
        bad.retry.multiplier = 0.5;
        assert_eq!(bad.validate().unwrap_err().field, "retry.multiplier");
        let mut bad = sub;
        bad.delivery = SubscriptionDelivery::Pull {
            security: "k".into(),
            ack_deadline_ms: 5,
        };
        assert_eq!(
            bad.validate().unwrap_err().field,
            "delivery.ack_deadline_ms"
        );
    }
}
