//! Turning an incoming message into a `SERVICE_INVOKE` for the servers (1:any).
//!
//! The hand-over is the connector's commit point: `Broker::publish` returns only once Redis
//! holds the entry, and only then may the peer's message be acknowledged. Until then the
//! message stays the peer's (AMQP) or in the connector's hands (ZeroMQ), so nothing is lost
//! between the two brokers.

use std::collections::BTreeMap;

use serde_json::Value;
use zato_broker::{Broker, BrokerError, Target};
use zato_common::model::DataFormat;
use zato_common::{Action, ChannelKind, ServiceInvocation};

/// Why a body could not become a payload.
#[derive(Debug, thiserror::Error)]
#[error("body is not valid JSON: {0}")]
pub struct InvalidBody(String);

/// The payload a body becomes: parsed JSON, or the body as a string (bytes that are not
/// UTF-8 are replaced by U+FFFD).
pub fn payload(format: DataFormat, body: &[u8]) -> Result<Value, InvalidBody> {
    match format {
        DataFormat::Json => serde_json::from_slice(body).map_err(|e| InvalidBody(e.to_string())),
        DataFormat::Raw => Ok(Value::String(String::from_utf8_lossy(body).into_owned())),
    }
}

/// What one message asks the servers to run.
pub struct Invocation<'a> {
    pub service: &'a str,
    pub channel: ChannelKind,
    pub channel_name: &'a str,
    pub payload: Value,
    pub meta: BTreeMap<String, Value>,
}

/// Publishes the invocation to 1:any; returns once Redis has it.
pub async fn hand_over(broker: &Broker, invocation: Invocation<'_>) -> Result<String, BrokerError> {
    let cid = zato_common::ids::new_cid();
    let message = ServiceInvocation {
        service: invocation.service.to_owned(),
        cid,
        channel: invocation.channel,
        channel_name: Some(invocation.channel_name.to_owned()),
        payload: invocation.payload,
        meta: invocation.meta,
    };
    let payload = serde_json::to_value(&message).map_err(|e| BrokerError::Corrupt {
        key: "SERVICE_INVOKE".into(),
        message: e.to_string(),
    })?;
    broker
        .publish(
            Target::Any,
            &broker.envelope(Action::ServiceInvoke, payload),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_become_payloads() {
        assert_eq!(
            payload(DataFormat::Json, br#"{"a":1}"#).expect("json"),
            json!({"a": 1})
        );
        assert!(payload(DataFormat::Json, b"{nope").is_err());
        assert_eq!(
            payload(DataFormat::Raw, b"{nope").expect("raw"),
            json!("{nope")
        );
        assert_eq!(
            payload(DataFormat::Raw, &[0xff, b'a']).expect("raw"),
            json!("\u{fffd}a")
        );
    }
}
