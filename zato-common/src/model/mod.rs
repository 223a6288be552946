//! The configuration objects of a cluster, one file per kind.
//!
//! Every object is stored in the config store under its [`ConfigKind`] and name, validated
//! before it is stored, and travels to every member over 1:all when it changes.

mod amqp;
mod deployed_service;
mod http_channel;
mod job;
mod outgoing_rest;
mod outgoing_sql;
mod security;
mod subscription;
mod topic;
mod validation;
mod zmq;

pub use amqp::{AmqpChannel, AmqpDefinition, AmqpOutgoing};
pub use deployed_service::{
    DeployedService, KEPT_REVISIONS, MAX_DEADLINE_MS, MAX_MEMORY_MB, ServiceRevision,
    is_component_hash,
};
pub use http_channel::{HttpChannel, is_server_path};
pub use job::{Interval, Job, JobKind, MisfirePolicy};
pub use outgoing_rest::{
    OutgoingRest, REST_METHODS, RestDataFormat, RestPing, RestSecurity, RestTls, is_idempotent,
};
pub use outgoing_sql::{OutgoingSql, SqlEngine, SqlTlsMode};
pub use security::SecurityDefinition;
pub use subscription::{
    MAX_BATCH_SIZE, MAX_DELAY_MS, RetryPolicy, StartPosition, Subscription, SubscriptionDelivery,
};
pub use topic::{MAX_MESSAGE_BYTES, Topic, WhenFull};
pub use validation::ValidationError;
pub use zmq::{ZmqChannel, ZmqInSocket, ZmqOutSocket, ZmqOutgoing};

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Action;

/// How a channel hands its payload to a service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// The body is parsed as JSON; malformed JSON is refused before any service runs.
    #[default]
    Json,
    /// The body is handed over as it came, as a string.
    Raw,
}

/// The kinds of objects the config store holds, one Redis hash each.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    HttpChannel,
    Security,
    Job,
    AmqpDefinition,
    AmqpChannel,
    AmqpOutgoing,
    ZmqChannel,
    ZmqOutgoing,
    OutgoingRest,
    OutgoingSql,
    Service,
    Topic,
    Subscription,
}

impl ConfigKind {
    /// Every kind, in the order a member should apply them on start-up (definitions before
    /// the channels that name them).
    pub const ALL: [ConfigKind; 13] = [
        ConfigKind::Security,
        ConfigKind::HttpChannel,
        ConfigKind::Job,
        ConfigKind::AmqpDefinition,
        ConfigKind::AmqpChannel,
        ConfigKind::AmqpOutgoing,
        ConfigKind::ZmqChannel,
        ConfigKind::ZmqOutgoing,
        ConfigKind::OutgoingRest,
        ConfigKind::OutgoingSql,
        ConfigKind::Service,
        ConfigKind::Topic,
        ConfigKind::Subscription,
    ];

    /// The name used in Redis keys and in change messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::HttpChannel => "http_channel",
            ConfigKind::Security => "security",
            ConfigKind::Job => "job",
            ConfigKind::AmqpDefinition => "amqp_definition",
            ConfigKind::AmqpChannel => "amqp_channel",
            ConfigKind::AmqpOutgoing => "amqp_outgoing",
            ConfigKind::ZmqChannel => "zmq_channel",
            ConfigKind::ZmqOutgoing => "zmq_outgoing",
            ConfigKind::OutgoingRest => "outgoing_rest",
            ConfigKind::OutgoingSql => "outgoing_sql",
            ConfigKind::Service => "service",
            ConfigKind::Topic => "topic",
            ConfigKind::Subscription => "subscription",
        }
    }

    /// The 1:all action announcing that an object of this kind was created or edited.
    pub fn create_edit_action(self) -> Action {
        match self {
            ConfigKind::HttpChannel => Action::ChannelHttpCreateEdit,
            ConfigKind::Security => Action::SecurityCreateEdit,
            ConfigKind::Job => Action::SchedulerJobCreateEdit,
            ConfigKind::AmqpDefinition => Action::DefinitionAmqpCreateEdit,
            ConfigKind::AmqpChannel => Action::ChannelAmqpCreateEdit,
            ConfigKind::AmqpOutgoing => Action::OutgoingAmqpCreateEdit,
            ConfigKind::ZmqChannel => Action::ChannelZmqCreateEdit,
            ConfigKind::ZmqOutgoing => Action::OutgoingZmqCreateEdit,
            ConfigKind::OutgoingRest => Action::OutgoingRestCreateEdit,
            ConfigKind::OutgoingSql => Action::OutgoingSqlCreateEdit,
            ConfigKind::Service => Action::ServiceDeploy,
            ConfigKind::Topic => Action::TopicCreateEdit,
            ConfigKind::Subscription => Action::SubscriptionCreateEdit,
        }
    }

    /// The kind's name in messages for people: `security definition`, `AMQP channel`, ...
    pub fn label(self) -> &'static str {
        match self {
            ConfigKind::HttpChannel => "HTTP channel",
            ConfigKind::Security => "security definition",
            ConfigKind::Job => "job",
            ConfigKind::AmqpDefinition => "AMQP definition",
            ConfigKind::AmqpChannel => "AMQP channel",
            ConfigKind::AmqpOutgoing => "outgoing AMQP connection",
            ConfigKind::ZmqChannel => "ZeroMQ channel",
            ConfigKind::ZmqOutgoing => "outgoing ZeroMQ connection",
            ConfigKind::OutgoingRest => "outgoing REST connection",
            ConfigKind::OutgoingSql => "outgoing SQL connection",
            ConfigKind::Service => "deployed service",
            ConfigKind::Topic => "topic",
            ConfigKind::Subscription => "subscription",
        }
    }

    /// The kind whose change `action` announces, if it announces one.
    pub fn of_action(action: &Action) -> Option<ConfigKind> {
        ConfigKind::ALL
            .into_iter()
            .find(|kind| &kind.create_edit_action() == action || &kind.delete_action() == action)
    }

    /// The 1:all action announcing that an object of this kind was deleted.
    pub fn delete_action(self) -> Action {
        match self {
            ConfigKind::HttpChannel => Action::ChannelHttpDelete,
            ConfigKind::Security => Action::SecurityDelete,
            ConfigKind::Job => Action::SchedulerJobDelete,
            ConfigKind::AmqpDefinition => Action::DefinitionAmqpDelete,
            ConfigKind::AmqpChannel => Action::ChannelAmqpDelete,
            ConfigKind::AmqpOutgoing => Action::OutgoingAmqpDelete,
            ConfigKind::ZmqChannel => Action::ChannelZmqDelete,
            ConfigKind::ZmqOutgoing => Action::OutgoingZmqDelete,
            ConfigKind::OutgoingRest => Action::OutgoingRestDelete,
            ConfigKind::OutgoingSql => Action::OutgoingSqlDelete,
            ConfigKind::Service => Action::ServiceUndeploy,
            ConfigKind::Topic => Action::TopicDelete,
            ConfigKind::Subscription => Action::SubscriptionDelete,
        }
    }
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConfigKind {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConfigKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ValidationError::new("kind", format!("unknown config kind '{s}'")))
    }
}

/// A configuration object that the config store can hold.
pub trait ConfigObject: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The kind (and so the Redis hash) objects of this type live in.
    const KIND: ConfigKind;

    /// The object's unique name within its kind.
    fn name(&self) -> &str;

    /// Checks every field; the error names the field and says what is wrong with it.
    fn validate(&self) -> Result<(), ValidationError>;
}

fn default_true() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_actions_and_back() {
        for kind in ConfigKind::ALL {
            assert_eq!(kind.as_str().parse::<ConfigKind>().ok(), Some(kind));
            assert_eq!(
                ConfigKind::of_action(&kind.create_edit_action()),
                Some(kind)
            );
            assert_eq!(ConfigKind::of_action(&kind.delete_action()), Some(kind));
        }
        assert_eq!(ConfigKind::of_action(&Action::ServiceInvoke), None);
        assert!("channel".parse::<ConfigKind>().is_err());
    }
}
