//! AMQP message properties and headers: read from deliveries into JSON (for the service's
//! `meta`), and built for outgoing publishes from the connection's defaults and the
//! publish's overrides.
//!
//! Everything here takes external data, so nothing may panic: lapin's `ShortString::from`
//! panics on strings over 255 bytes, hence `ShortString::try_new` everywhere.

use std::collections::BTreeMap;

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::{Map, Value, json};
use zato_common::model::AmqpOutgoing;
use zato_common::outgoing::AmqpPublish;

use crate::error::SendError;

/// A header or property value as JSON; byte arrays and long strings that are not UTF-8 are
/// shown with U+FFFD for the bad bytes.
pub fn value_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => {
            json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value_to_json).collect()),
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(t) => table_to_json(t),
        AMQPValue::ByteArray(b) => json!(String::from_utf8_lossy(b.as_slice())),
        AMQPValue::Void => Value::Null,
    }
}

fn table_to_json(table: &FieldTable) -> Value {
    Value::Object(
        table
            .inner()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), value_to_json(v)))
            .collect(),
    )
}

/// `meta["amqp"]` of a delivery: where it came from, its properties and its headers.
pub fn delivery_meta(delivery: &Delivery) -> Value {
    let p = &delivery.properties;
    let mut props = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            props.insert(k.to_owned(), v);
        }
    };
    let text = |s: &Option<ShortString>| s.as_ref().map(|s| json!(s.as_str()));
    put("content_type", text(p.content_type()));
    put("content_encoding", text(p.content_encoding()));
    put("delivery_mode", p.delivery_mode().map(|v| json!(v)));
    put("priority", p.priority().map(|v| json!(v)));
    put("correlation_id", text(p.correlation_id()));
    put("reply_to", text(p.reply_to()));
    put("expiration", text(p.expiration()));
    put("message_id", text(p.message_id()));
    put("timestamp", p.timestamp().map(|v| json!(v)));
    put("type", text(p.kind()));
    put("user_id", text(p.user_id()));
    put("app_id", text(p.app_id()));
    put("cluster_id", text(p.cluster_id()));
    json!({
        "exchange": delivery.exchange.as_str(),
        "routing_key": delivery.routing_key.as_str(),
        "redelivered": delivery.redelivered,
        "properties": Value::Object(props),
        "headers": p.headers().as_ref().map_or_else(|| json!({}), table_to_json),
    })
}

fn short(field: &str, value: &str) -> Result<ShortString, SendError> {
    ShortString::try_new(value)
        .map_err(|_| SendError::Invalid(format!("{field} is longer than 255 bytes")))
}

/// A property override as a string (numbers are accepted and written out).
fn text_prop(name: &str, value: &Value) -> Result<ShortString, SendError> {
    match value {
        Value::String(s) => short(name, s),
        Value::Number(n) => short(name, &n.to_string()),
        _ => Err(SendError::Invalid(format!(
            "properties.{name} must be a string"
        ))),
    }
}

fn byte_prop(
    name: &str,
    value: &Value,
    range: std::ops::RangeInclusive<u8>,
) -> Result<u8, SendError> {
    value
        .as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            SendError::Invalid(format!(
                "properties.{name} must be a number from {} to {}",
                range.start(),
                range.end()
            ))
        })
}

/// The routing key and properties of one publish: the connection's defaults, overridden by
/// what the publish names.
pub fn build(
    outgoing: &AmqpOutgoing,
    request: &AmqpPublish,
) -> Result<(ShortString, BasicProperties), SendError> {
    let routing_key = short(
        "routing_key",
        request
            .routing_key
            .as_deref()
            .unwrap_or(&outgoing.routing_key),
    )?;
    let mut headers: BTreeMap<&str, &str> = outgoing
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.extend(
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let mut table = FieldTable::default();
    for (k, v) in headers {
        table.insert(
            short("header name", k)?,
            AMQPValue::LongString(LongString::from(v)),
        );
    }
    let mut props = BasicProperties::default()
        .with_delivery_mode(outgoing.delivery_mode)
        .with_headers(table);
    if let Some(v) = &outgoing.content_type {
        props = props.with_content_type(short("content_type", v)?);
    }
    if let Some(v) = outgoing.priority {
        props = props.with_priority(v);
    }
    if let Some(v) = &outgoing.expiration {
        props = props.with_expiration(short("expiration", v)?);
    }
    if let Some(v) = &outgoing.app_id {
        props = props.with_app_id(short("app_id", v)?);
    }
    if let Some(v) = &outgoing.user_id {
        props = props.with_user_id(short("user_id", v)?);
    }
    for (name, value) in &request.properties {
        props = match name.as_str() {
            "content_type" => props.with_content_type(text_prop(name, value)?),
            "content_encoding" => props.with_content_encoding(text_prop(name, value)?),
            "delivery_mode" => props.with_delivery_mode(byte_prop(name, value, 1..=2)?),
            "priority" => props.with_priority(byte_prop(name, value, 0..=9)?),
            "expiration" => props.with_expiration(text_prop(name, value)?),
            "app_id" => props.with_app_id(text_prop(name, value)?),
            "user_id" => props.with_user_id(text_prop(name, value)?),
            "correlation_id" => props.with_correlation_id(text_prop(name, value)?),
            "message_id" => props.with_message_id(text_prop(name, value)?),
            "reply_to" => props.with_reply_to(text_prop(name, value)?),
            "type" => props.with_type(text_prop(name, value)?),
            other => {
                return Err(SendError::Invalid(format!("unknown property '{other}'")));
            }
        };
    }
    Ok((routing_key, props))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing() -> AmqpOutgoing {
        serde_json::from_value(json!({
            "name": "o", "definition": "d", "exchange": "x", "routing_key": "default.key",
            "content_type": "application/json", "priority": 3, "headers": {"a": "1", "b": "2"}
        }))
        .expect("outgoing")
    }

    #[test]
    fn defaults_are_overridden_per_message() {
        let request: AmqpPublish = serde_json::from_value(json!({
            "outgoing": "o", "body": "x", "routing_key": "other",
            "headers": {"b": "3"}, "properties": {"priority": 7, "correlation_id": "c-1"}
        }))
        .expect("request");
        let (key, props) = build(&outgoing(), &request).expect("builds");
        assert_eq!(key.as_str(), "other");
        assert_eq!(*props.priority(), Some(7));
        assert_eq!(*props.delivery_mode(), Some(2));
        assert_eq!(
            props.correlation_id().as_ref().map(ShortString::as_str),
            Some("c-1")
        );
        let headers = table_to_json(props.headers().as_ref().expect("headers"));
        assert_eq!(headers, json!({"a": "1", "b": "3"}));
    }

    #[test]
    fn bad_overrides_are_refused_not_panicked_on() {
        for properties in [
            json!({"priority": 12}),
            json!({"priority": "high"}),
            json!({"colour": "red"}),
            json!({"message_id": "x".repeat(300)}),
        ] {
            let request: AmqpPublish = serde_json::from_value(
                json!({"outgoing": "o", "body": "x", "properties": properties}),
            )
            .expect("request");
            assert!(build(&outgoing(), &request).is_err(), "{properties}");
        }
        let long_key: AmqpPublish = serde_json::from_value(
            json!({"outgoing": "o", "body": "x", "routing_key": "k".repeat(256)}),
        )
        .expect("request");
        assert!(build(&outgoing(), &long_key).is_err());
    }
}
