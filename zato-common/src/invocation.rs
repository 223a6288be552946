//! The payload of `SERVICE_INVOKE`: which service to run, for which channel, with what.
//!
//! Every channel that is not served in-process (invoke_async, the scheduler, AMQP and ZeroMQ
//! through the connector) reaches the servers as one of these over 1:any, so the scheduler and
//! the connector build exactly what the servers read.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of channel a request can come through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// An HTTP channel.
    Http,
    /// `invoke_async` from a service or the admin API.
    InvokeAsync,
    /// A scheduler job's fire.
    Scheduler,
    /// An AMQP channel, through the connector.
    Amqp,
    /// A ZeroMQ channel, through the connector.
    Zmq,
    /// `ctx.invoke` from another service, or the admin API's synchronous invoke.
    Internal,
}

impl ChannelKind {
    /// The name used in JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Http => "http",
            ChannelKind::InvokeAsync => "invoke_async",
            ChannelKind::Scheduler => "scheduler",
            ChannelKind::Amqp => "amqp",
            ChannelKind::Zmq => "zmq",
            ChannelKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to run a service on any server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInvocation {
    pub service: String,
    /// Correlation id, carried through every log line and the service's own calls.
    pub cid: String,
    pub channel: ChannelKind,
    /// The channel's (or job's) name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
    #[serde(default)]
    pub payload: Value,
    /// What the channel knows besides the payload: a job's scheduled instant, AMQP
    /// properties and headers, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_a_minimal_sender_writes() {
        let inv: ServiceInvocation = serde_json::from_value(
            json!({"service": "zato.ping", "cid": "c1", "channel": "scheduler"}),
        )
        .expect("parses");
        assert_eq!(inv.channel, ChannelKind::Scheduler);
        assert_eq!(inv.payload, Value::Null);
        assert!(inv.meta.is_empty());
        assert!(
            serde_json::from_value::<ServiceInvocation>(
                json!({"service": "s", "cid": "c", "channel": "smtp"})
            )
            .is_err()
        );
    }
}
