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
    /// A message of a pub/sub topic, for a `service` subscription.
    #[serde(rename = "pubsub")]
    PubSub,
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
            ChannelKind::PubSub => "pubsub",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to run a service on any server.
///
/// Senders build it with [`ServiceInvocation::new`] and hand it to the broker's one
/// `invoke_async`; the payload type is theirs: a `Value` they built, or a `Box<RawValue>`
/// when they only pass a JSON body on (the connector), which is then never parsed on the
/// way. The servers read it with a `Value` payload, the service's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceInvocation<P = Value> {
    pub service: String,
    /// Correlation id, carried through every log line and the service's own calls.
    pub cid: String,
    pub channel: ChannelKind,
    /// The channel's (or job's) name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
    /// Absent means `null` (a minimal sender may leave it out).
    #[serde(default, bound(deserialize = "P: Deserialize<'de> + Default"))]
    pub payload: P,
    /// What the channel knows besides the payload: a job's scheduled instant, AMQP
    /// properties and headers, ...
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, Value>,
}

impl<P> ServiceInvocation<P> {
    /// An invocation of `service` from a `channel`, with a fresh cid.
    pub fn new(service: impl Into<String>, channel: ChannelKind, payload: P) -> Self {
        Self {
            service: service.into(),
            cid: crate::ids::new_cid(),
            channel,
            channel_name: None,
            payload,
            meta: BTreeMap::new(),
        }
    }

    /// Names the channel (or job) it came through.
    pub fn with_channel_name(mut self, name: impl Into<String>) -> Self {
        self.channel_name = Some(name.into());
        self
    }

    /// Adds what the channel knows besides the payload.
    pub fn with_meta(mut self, key: impl Into<String>, value: Value) -> Self {
        self.meta.insert(key.into(), value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raw_payload_is_written_as_it_came() {
        let body = serde_json::value::RawValue::from_string(r#"{"a": [1, 2]}"#.into())
            .expect("valid JSON");
        let inv = ServiceInvocation::new("s", ChannelKind::Amqp, body)
            .with_channel_name("orders")
            .with_meta("k", json!(1));
        let written = serde_json::to_string(&inv).expect("serialises");
        assert!(written.contains(r#""payload":{"a": [1, 2]}"#), "{written}");
        let read: ServiceInvocation = serde_json::from_str(&written).expect("parses");
        assert_eq!(read.payload, json!({"a": [1, 2]}));
        assert_eq!(read.channel_name.as_deref(), Some("orders"));
        assert_eq!(read.meta["k"], json!(1));
        assert_eq!(read.cid, inv.cid);
    }

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
