//! Turning an incoming message's body into the payload of a `SERVICE_INVOKE` for the
//! servers (1:any), which `Broker::invoke_async` sends.
//!
//! The hand-over is the connector's commit point: `Broker::invoke_async` returns only once Redis
//! holds the entry, and only then may the peer's message be acknowledged. Until then the
//! message stays the peer's (AMQP) or in the connector's hands (ZeroMQ), so nothing is lost
//! between the two brokers.

use serde_json::value::RawValue;
use zato_common::model::DataFormat;

/// Why a body could not become a payload.
#[derive(Debug, thiserror::Error)]
#[error("body is not valid JSON: {0}")]
pub struct InvalidBody(String);

/// The payload a body becomes, as JSON text that is checked but never parsed into a tree
/// here (the server parses it once, for the service): the body itself, or the body as a
/// JSON string (bytes that are not UTF-8 are replaced by U+FFFD).
pub fn payload(format: DataFormat, body: &[u8]) -> Result<Box<RawValue>, InvalidBody> {
    match format {
        DataFormat::Json => serde_json::from_slice(body).map_err(|e| InvalidBody(e.to_string())),
        DataFormat::Raw => serde_json::value::to_raw_value(&String::from_utf8_lossy(body))
            .map_err(|e| InvalidBody(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn bodies_become_payloads() {
        let parsed =
            |raw: Box<RawValue>| -> Value { serde_json::from_str(raw.get()).expect("JSON") };
        assert_eq!(
            parsed(payload(DataFormat::Json, br#"{"a":1}"#).expect("json")),
            json!({"a": 1})
        );
        assert!(payload(DataFormat::Json, b"{nope").is_err());
        assert!(payload(DataFormat::Json, b"{} trailing").is_err());
        assert_eq!(
            parsed(payload(DataFormat::Raw, b"{nope").expect("raw")),
            json!("{nope")
        );
        assert_eq!(
            parsed(payload(DataFormat::Raw, &[0xff, b'a']).expect("raw")),
            json!("\u{fffd}a")
        );
    }
}
