//! Reading stream entries out of raw Redis replies.
//!
//! The replies are parsed by hand rather than through typed helpers so that nothing read from
//! Redis can make a consumer fail as a whole: an entry whose fields are missing (deleted
//! while pending) or odd is reported as such and dealt with one entry at a time.

use redis::Value;

/// The stream field that holds the envelope JSON.
pub const ENVELOPE_FIELD: &str = "e";

/// One stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// The stream id, `<ms>-<seq>`.
    pub id: String,
    /// The field/value pairs; `None` when the entry was deleted while still pending.
    pub fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl StreamEntry {
    /// The value of `name`, if the entry has that field.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// The fields as text, for a dead letter of an entry that is not an envelope.
    pub fn describe_fields(&self) -> String {
        match &self.fields {
            None => "(deleted)".to_owned(),
            Some(fields) => fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The text of a bulk or simple string.
pub fn as_string(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// An integer, also from its text form.
pub fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => as_string(other)?.parse().ok(),
    }
}

/// The bytes of a bulk or simple string, taken out of the reply (not copied).
fn into_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// The items of an array (or set) reply, taken out of it.
fn into_items(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// One `[id, [field, value, ...]]` entry. Replies are taken by value: an entry's bytes move
/// out of the reply into the entry instead of being copied (two copies per message saved on
/// the 1:any path).
fn parse_entry(value: Value) -> Option<StreamEntry> {
    let mut parts = into_items(value)?.into_iter();
    let id = String::from_utf8(into_bytes(parts.next()?)?).ok()?;
    let fields = match parts.next() {
        None | Some(Value::Nil) => None,
        Some(Value::Map(pairs)) => Some(
            pairs
                .into_iter()
                .filter_map(|(k, v)| Some((into_bytes(k)?, into_bytes(v)?)))
                .collect(),
        ),
        Some(list) => {
            let mut flat = into_items(list)?.into_iter();
            let mut pairs = Vec::with_capacity(1);
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                if let (Some(k), Some(v)) = (into_bytes(k), into_bytes(v)) {
                    pairs.push((k, v));
                }
            }
            Some(pairs)
        }
    };
    Some(StreamEntry { id, fields })
}

/// The entries of an `XRANGE` / `XCLAIM` reply (a list of entries). Entries that are not
/// even `[id, ...]` are skipped: they cannot be acknowledged or dead-lettered without an id.
pub fn parse_entries(value: Value) -> Vec<StreamEntry> {
    match into_items(value) {
        Some(list) => list.into_iter().filter_map(parse_entry).collect(),
        None => Vec::new(),
    }
}

/// The entries of an `XREADGROUP` reply for a single stream (nil when the block timed out).
pub fn parse_read_reply(value: Value) -> Vec<StreamEntry> {
    match value {
        Value::Map(streams) => streams
            .into_iter()
            .flat_map(|(_, entries)| parse_entries(entries))
            .collect(),
        other => into_items(other)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|stream| into_items(stream)?.into_iter().nth(1))
            .flat_map(parse_entries)
            .collect(),
    }
}

/// A flat `[name, value, name, value, ...]` (or RESP3 map) reply as pairs, e.g. `XINFO`.
pub fn parse_flat_map(value: &Value) -> Vec<(String, Value)> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((as_string(k)?, v.clone())))
            .collect(),
        other => items(other)
            .unwrap_or_default()
            .chunks(2)
            .filter_map(|pair| Some((as_string(pair.first()?)?, pair.get(1)?.clone())))
            .collect(),
    }
}

/// When the entry `id` was added (the id's first part, ms since the Unix epoch).
pub fn id_time_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

/// `(id, delivery count)` of each item of an extended `XPENDING` reply.
pub fn pending_items(reply: &Value) -> Vec<(String, u64)> {
    items(reply)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| {
            let fields = items(item)?;
            Some((as_string(fields.first()?)?, as_u64(fields.get(3)?)?))
        })
        .collect()
}

/// Compares two stream ids (`<ms>-<seq>`) numerically; an id that does not parse sorts
/// first, so it is never mistaken for a newer one.
pub fn id_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(id: &str) -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_a_read_reply() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("stream"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("e"), bulk("{}")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
                Value::Int(3),
            ]),
        ])]);
        let entries = parse_read_reply(reply);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].field("e"), Some(&b"{}"[..]));
        assert_eq!(entries[1].fields, None);
        assert!(parse_read_reply(Value::Nil).is_empty());
        assert!(parse_read_reply(Value::Int(1)).is_empty());
    }

    #[test]
    fn orders_ids_numerically() {
        use std::cmp::Ordering::*;
        assert_eq!(id_cmp("10-0", "9-5"), Greater);
        assert_eq!(id_cmp("5-10", "5-9"), Greater);
        assert_eq!(id_cmp("5-1", "5-1"), Equal);
        assert_eq!(id_cmp("junk", "0-1"), Less);
    }
}
