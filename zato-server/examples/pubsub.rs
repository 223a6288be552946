//! A server whose services publish to topics and take their messages.
//!
//! ```sh
//! ZATO_ADMIN_TOKEN=secret cargo run -p zato-server --example pubsub
//! zato --token secret topic create --data '{"name": "orders"}'
//! zato --token secret subscription create --data \
//!     '{"name": "audit", "topic": "orders",
//!       "delivery": {"kind": "service", "service": "demo.subscriber"}}'
//! zato --token secret invoke demo.publish --payload '{"topic": "orders", "data": {"key": "audit", "seq": 1}}'
//! ```
//!
//! `demo.publish` publishes what it is given with `ctx.publish`. `demo.subscriber` records
//! each delivery it gets (in the Redis list `record:<data.key>`, as `zato.record` does) and
//! then fails on purpose while its data asks it to (`fail_first`: the first n deliveries of
//! each message) or while the key `fail:<data.key>` exists, so the end-to-end tests can
//! watch retries, dead letters and ordering.

use std::time::Duration;

use serde_json::{Value, json};
use zato_common::pubsub::Publication;
use zato_server::{Context, Request, Response, Server, ServerSettings, Service, ServiceError};

/// `{"topic", "data", "ordering_key"?, "attributes"?, "count"?}`: publishes one message, or
/// `count` of them (each with `"seq": i` added to an object `data`, from 1); answers the
/// ids.
struct Publish;

#[zato_server::async_trait]
impl Service for Publish {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let p = request.payload;
        let topic = p["topic"]
            .as_str()
            .ok_or_else(|| ServiceError::BadRequest("expected {\"topic\": ...}".into()))?;
        let mut publication = Publication::new(p["data"].clone());
        publication.ordering_key = p["ordering_key"].as_str().map(str::to_owned);
        if let Some(attributes) = p["attributes"].as_object() {
            publication.attributes = attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
        }
        let count = p["count"].as_u64().unwrap_or(1);
        let mut ids = Vec::new();
        for seq in 1..=count {
            let mut message = publication.clone();
            if p.get("count").is_some()
                && let Value::Object(fields) = &mut message.data
            {
                fields.insert("seq".into(), json!(seq));
            }
            ids.push(ctx.publish(topic, message).await?);
        }
        Ok(Response::json(json!({"ids": ids})))
    }
}

/// Records a delivery, then fails if asked to.
struct Subscriber;

#[zato_server::async_trait]
impl Service for Subscriber {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let data = &request.payload;
        let key = data["key"].as_str().unwrap_or("default").to_owned();
        let deliveries = request
            .meta
            .get("deliveries")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let entry = |started_ms: u64| {
            json!({
                "id": request.meta.get("message_id"),
                "seq": data.get("seq"),
                "ordering_key": request.meta.get("ordering_key"),
                "deliveries": deliveries,
                "channel": request.channel,
                "channel_name": request.channel_name,
                "member": ctx.member(),
                "started_ms": started_ms,
                "ts_ms": zato_common::clock::unix_ms(),
            })
        };
        let mut conn = ctx
            .redis()
            .conn()
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let redis = |e: redis::RedisError| ServiceError::Unavailable(format!("redis: {e}"));
        let started_ms = zato_common::clock::unix_ms();
        if let Some(ms) = data["sleep_ms"].as_u64() {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let _: u64 = redis::cmd("RPUSH")
            .arg(ctx.key(&format!("record:{key}")))
            .arg(entry(started_ms).to_string())
            .query_async(&mut conn)
            .await
            .map_err(redis)?;
        let failing: bool = redis::cmd("EXISTS")
            .arg(ctx.key(&format!("fail:{key}")))
            .query_async(&mut conn)
            .await
            .map_err(redis)?;
        let fail_first = data["fail_first"].as_u64().unwrap_or(0);
        if failing || deliveries <= fail_first {
            return Err(ServiceError::BadGateway(format!(
                "failing on purpose (delivery {deliveries})"
            )));
        }
        Ok(Response::json(json!({"recorded": true})))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    zato_common::logging::init("info");
    let settings = ServerSettings::load(None)?;
    Server::new(settings)
        .service("demo.publish", Publish)
        .service("demo.subscriber", Subscriber)
        .run()
        .await?;
    Ok(())
}
