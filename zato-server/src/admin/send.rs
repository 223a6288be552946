//! `zato.outgoing.amqp.publish` and `zato.outgoing.zmq.send`: sending through an outgoing
//! connection from the admin API (or any caller), waiting for the connector's answer.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::service::{AmqpMessage, Context, Request, Response, Service, ServiceError};

pub struct PublishAmqp;

pub struct SendZmq;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishInput {
    name: String,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    routing_key: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendInput {
    name: String,
    #[serde(default)]
    body: Value,
}

fn parse<T: for<'de> Deserialize<'de>>(payload: Value, shape: &str) -> Result<T, ServiceError> {
    serde_json::from_value(payload)
        .map_err(|e| ServiceError::BadRequest(format!("expected {shape}: {e}")))
}

#[async_trait::async_trait]
impl Service for PublishAmqp {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let input: PublishInput = parse(
            request.payload,
            "{\"body\", \"routing_key\", \"headers\", \"properties\"}",
        )?;
        let message = AmqpMessage {
            body: input.body,
            routing_key: input.routing_key,
            headers: input.headers,
            properties: input.properties,
        };
        ctx.outgoing().amqp(&input.name).publish(message).await?;
        Ok(Response::json(json!({"ok": true})))
    }
}

#[async_trait::async_trait]
impl Service for SendZmq {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let input: SendInput = parse(request.payload, "{\"body\"}")?;
        ctx.outgoing().zmq(&input.name).send(input.body).await?;
        Ok(Response::json(json!({"ok": true})))
    }
}
