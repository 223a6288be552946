//! The action codes carried by every broker envelope.
//!
//! Zato 2.x used numeric codes mapped to names through a table; we use the names themselves
//! as the wire format, so that a message in Redis reads on its own and a code can never be
//! renumbered by accident. A code this build does not know parses to [`Action::Unknown`]
//! instead of failing: during a rolling upgrade an older member must acknowledge and skip
//! what a newer member sends, not dead-letter it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! actions {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)+) => {
        /// What an envelope asks its receiver to do.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Action {
            $($(#[$doc])* $variant,)+
            /// A code this build does not know (sent by a newer member).
            Unknown(String),
        }

        impl Action {
            /// Every known action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            /// The stable wire code of this action.
            pub fn code(&self) -> &str {
                match self {
                    $(Action::$variant => $code,)+
                    Action::Unknown(code) => code,
                }
            }
        }

        impl FromStr for Action {
            type Err = std::convert::Infallible;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                Ok(match code {
                    $($code => Action::$variant,)+
                    other => Action::Unknown(other.to_owned()),
                })
            }
        }
    };
}

actions! {
    /// Run a service; the payload is a service invocation.
    ServiceInvoke => "SERVICE_INVOKE",
    /// The answer to a request that carried `reply_to`.
    ServiceReply => "SERVICE_REPLY",
    /// An HTTP channel was created or edited.
    ChannelHttpCreateEdit => "CHANNEL_HTTP_CREATE_EDIT",
    /// An HTTP channel was deleted.
    ChannelHttpDelete => "CHANNEL_HTTP_DELETE",
    /// A security definition (basic auth, API key) was created or edited.
    SecurityCreateEdit => "SECURITY_CREATE_EDIT",
    /// A security definition was deleted.
    SecurityDelete => "SECURITY_DELETE",
    /// A scheduler job was created or edited.
    SchedulerJobCreateEdit => "SCHEDULER_JOB_CREATE_EDIT",
    /// A scheduler job was deleted.
    SchedulerJobDelete => "SCHEDULER_JOB_DELETE",
    /// Run a scheduler job now, out of its schedule.
    SchedulerJobExecute => "SCHEDULER_JOB_EXECUTE",
    /// An AMQP connection definition was created or edited.
    DefinitionAmqpCreateEdit => "DEFINITION_AMQP_CREATE_EDIT",
    /// An AMQP connection definition was deleted.
    DefinitionAmqpDelete => "DEFINITION_AMQP_DELETE",
    /// An AMQP channel (queue consumer) was created or edited.
    ChannelAmqpCreateEdit => "CHANNEL_AMQP_CREATE_EDIT",
    /// An AMQP channel was deleted.
    ChannelAmqpDelete => "CHANNEL_AMQP_DELETE",
    /// An outgoing AMQP connection was created or edited.
    OutgoingAmqpCreateEdit => "OUTGOING_AMQP_CREATE_EDIT",
    /// An outgoing AMQP connection was deleted.
    OutgoingAmqpDelete => "OUTGOING_AMQP_DELETE",
    /// Publish a message through an outgoing AMQP connection (to the connector).
    OutgoingAmqpPublish => "OUTGOING_AMQP_PUBLISH",
    /// A ZeroMQ channel was created or edited.
    ChannelZmqCreateEdit => "CHANNEL_ZMQ_CREATE_EDIT",
    /// A ZeroMQ channel was deleted.
    ChannelZmqDelete => "CHANNEL_ZMQ_DELETE",
    /// An outgoing ZeroMQ connection was created or edited.
    OutgoingZmqCreateEdit => "OUTGOING_ZMQ_CREATE_EDIT",
    /// An outgoing ZeroMQ connection was deleted.
    OutgoingZmqDelete => "OUTGOING_ZMQ_DELETE",
    /// Send a message through an outgoing ZeroMQ connection (to the connector).
    OutgoingZmqSend => "OUTGOING_ZMQ_SEND",
    /// An outgoing REST connection was created or edited.
    OutgoingRestCreateEdit => "OUTGOING_REST_CREATE_EDIT",
    /// An outgoing REST connection was deleted.
    OutgoingRestDelete => "OUTGOING_REST_DELETE",
    /// An outgoing SQL connection was created or edited.
    OutgoingSqlCreateEdit => "OUTGOING_SQL_CREATE_EDIT",
    /// An outgoing SQL connection was deleted.
    OutgoingSqlDelete => "OUTGOING_SQL_DELETE",
    /// A service was deployed (a new version, a rollback or new limits).
    ServiceDeploy => "SERVICE_DEPLOY",
    /// A deployed service was undeployed.
    ServiceUndeploy => "SERVICE_UNDEPLOY",
    /// A pub/sub topic was created or edited.
    TopicCreateEdit => "PUBSUB_TOPIC_CREATE_EDIT",
    /// A pub/sub topic was deleted.
    TopicDelete => "PUBSUB_TOPIC_DELETE",
    /// A pub/sub subscription was created or edited.
    SubscriptionCreateEdit => "PUBSUB_SUBSCRIPTION_CREATE_EDIT",
    /// A pub/sub subscription was deleted.
    SubscriptionDelete => "PUBSUB_SUBSCRIPTION_DELETE",
    /// A message published to a topic (the entries of a topic's stream).
    PubsubMessage => "PUBSUB_MESSAGE",
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(code.parse().unwrap_or_else(|never| match never {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for action in Action::ALL {
            assert!(
                seen.insert(action.code()),
                "duplicate code {}",
                action.code()
            );
            let parsed: Action = action.code().parse().unwrap_or_else(|never| match never {});
            assert_eq!(&parsed, action);
        }
    }

    #[test]
    fn unknown_code_is_kept_not_rejected() {
        let action: Action = serde_json::from_str("\"FROM_THE_FUTURE\"").expect("parses");
        assert_eq!(action, Action::Unknown("FROM_THE_FUTURE".into()));
        assert_eq!(
            serde_json::to_string(&action).expect("serializes"),
            "\"FROM_THE_FUTURE\""
        );
    }
}
