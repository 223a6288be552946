//! `zato.record`: appends what it was given to a Redis list, for diagnostics and for
//! end-to-end checks from outside the cluster.
//!
//! Each call appends `{"cid", "channel", "channel_name", "payload", "member", "ts"}` (JSON) to
//! `zato:{<cluster>}:record:<key>`, where `key` is the payload's `key` field when it is a
//! string of letters, digits, `.`, `_`, `:` and `-`, else `default`.

use serde_json::{Value, json};

use crate::service::{Context, Request, Response, Service, ServiceError};

pub struct Record;

/// The list key part named by a payload.
fn list_name(payload: &Value) -> &str {
    payload
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| {
            !k.is_empty()
                && k.len() <= 128
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
        })
        .unwrap_or("default")
}

#[async_trait::async_trait]
impl Service for Record {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let key = ctx.key(&format!("record:{}", list_name(&request.payload)));
        let entry = json!({
            "cid": request.cid,
            "channel": request.channel,
            "channel_name": request.channel_name,
            "payload": request.payload,
            "meta": request.meta,
            "member": ctx.member(),
            "ts": jiff::Timestamp::now().to_string(),
        });
        let mut conn = ctx
            .redis()
            .conn()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let length: u64 = redis::cmd("RPUSH")
            .arg(&key)
            .arg(entry.to_string())
            .query_async(&mut conn)
            .await
            .map_err(|e| ServiceError::Unavailable(format!("redis: {e}")))?;
        Ok(Response::json(
            json!({"recorded": true, "key": key, "length": length}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_names_are_safe() {
        assert_eq!(list_name(&json!({"key": "run-1"})), "run-1");
        assert_eq!(list_name(&json!({"key": "a b"})), "default");
        assert_eq!(list_name(&json!({"key": 5})), "default");
        assert_eq!(list_name(&json!("x")), "default");
    }
}
