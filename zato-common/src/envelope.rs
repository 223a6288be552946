//! The one envelope every broker message travels in.
//!
//! An envelope is JSON in a single stream field. Keeping the whole message in one field (not
//! spread over stream fields) means a dead-lettered message can be stored, shown and replayed
//! byte for byte, and that a malformed entry is detected by one parse, in one place.

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::Action;

/// A broker message: what to do ([`Action`]), who asked, and the data to do it with.
///
/// The payload's type is the sender's or the reader's choice: a sender serialises its own
/// struct straight into the envelope (one serialisation, no `Value` in between), and a
/// consumer reads a [`RawEnvelope`], whose payload stays unparsed text until the handler
/// that owns the action parses it into its own type (one parse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<P = Value> {
    /// Unique id, UUID v7 so that ids sort by creation time.
    pub id: Uuid,
    /// What the receiver is asked to do.
    pub action: Action,
    /// When the envelope was made (RFC 3339 on the wire).
    pub ts: Timestamp,
    /// The member id of the sender.
    pub origin: String,
    /// Where to send the answer: the Redis list of the caller's reply listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// On a reply: the id of the request it answers. Matching replies by a top-level field
    /// keeps the reply listener from having to look inside payloads it does not own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<Uuid>,
    /// The action's own data.
    pub payload: P,
}

/// An envelope as a consumer reads it: the payload is checked to be JSON but not parsed.
pub type RawEnvelope = Envelope<Box<RawValue>>;

/// Why bytes read from Redis are not an envelope.
#[derive(Debug, thiserror::Error)]
#[error("malformed envelope: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

/// Why an envelope could not be written: its payload does not serialise to JSON (a map with
/// keys that are not strings, a type whose `Serialize` fails).
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the {action} envelope: {source}")]
pub struct EncodeError {
    pub action: Action,
    pub source: serde_json::Error,
}

impl<P> Envelope<P> {
    /// A new envelope with a fresh id and the current time.
    pub fn new(action: Action, origin: impl Into<String>, payload: P) -> Self {
        Self {
            id: crate::ids::new_id(),
            action,
            ts: Timestamp::now(),
            origin: origin.into(),
            reply_to: None,
            in_reply_to: None,
            payload,
        }
    }

    /// The answer to `self`, sent by `origin`; `None` when nobody asked for one.
    pub fn reply<R>(&self, origin: impl Into<String>, payload: R) -> Option<(String, Envelope<R>)> {
        let reply_to = self.reply_to.clone()?;
        let mut reply = Envelope::new(Action::ServiceReply, origin, payload);
        reply.in_reply_to = Some(self.id);
        Some((reply_to, reply))
    }
}

impl<P: Serialize> Envelope<P> {
    /// The JSON form stored in Redis.
    pub fn encode(&self) -> Result<String, EncodeError> {
        serde_json::to_string(self).map_err(|source| EncodeError {
            action: self.action.clone(),
            source,
        })
    }
}

impl<P: DeserializeOwned> Envelope<P> {
    /// Parses the JSON form; never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

impl RawEnvelope {
    /// The payload parsed into the type its action carries.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.payload.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_through_json() {
        let mut env = Envelope::new(
            Action::ServiceInvoke,
            "server-1",
            json!({"service": "zato.ping"}),
        );
        env.reply_to = Some("zato:{c}:reply:x".into());
        let back = Envelope::decode(env.encode().expect("encodes").as_bytes()).expect("decodes");
        assert_eq!(back, env);
        assert_eq!(back.id.get_version_num(), 7);
    }

    #[test]
    fn wire_form_has_the_documented_fields() {
        let env = Envelope::new(Action::ChannelHttpDelete, "server-1", json!({"name": "a"}));
        let value: Value = serde_json::from_str(&env.encode().expect("encodes")).expect("json");
        assert_eq!(value["action"], "CHANNEL_HTTP_DELETE");
        assert_eq!(value["origin"], "server-1");
        assert!(value["ts"].as_str().is_some_and(|ts| ts.contains('T')));
        assert_eq!(value["payload"]["name"], "a");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"{", b"null", b"{\"id\": 1}", b"\xff\xfe", b"[]"] {
            assert!(Envelope::<Value>::decode(bytes).is_err());
            assert!(RawEnvelope::decode(bytes).is_err());
        }
    }

    #[test]
    fn a_raw_payload_is_kept_as_sent_and_parsed_on_demand() {
        let env = Envelope::new(Action::ServiceInvoke, "a", json!({"n": [1, 2]}));
        let raw = RawEnvelope::decode(env.encode().expect("encodes").as_bytes()).expect("decodes");
        assert_eq!(raw.payload.get(), r#"{"n":[1,2]}"#);
        assert_eq!(
            raw.payload_as::<Value>().expect("parses"),
            json!({"n": [1, 2]})
        );
        assert!(raw.payload_as::<u64>().is_err());
        let missing = br#"{"id":"0190a5e8-7a2b-7c3d-8e4f-000000000000","action":"SERVICE_INVOKE","ts":"2026-01-01T00:00:00Z","origin":"a"}"#;
        assert!(
            RawEnvelope::decode(missing).is_err(),
            "a payload is required"
        );
    }

    #[test]
    fn reply_points_back_at_the_request() {
        let mut req = Envelope::new(Action::ServiceInvoke, "a", Value::Null);
        assert!(req.reply("b", 1).is_none());
        req.reply_to = Some("list".into());
        let (to, reply) = req.reply("b", json!(1)).expect("reply");
        assert_eq!(to, "list");
        assert_eq!(reply.in_reply_to, Some(req.id));
        assert_eq!(reply.action, Action::ServiceReply);
    }
}
