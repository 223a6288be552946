//! The `host` interface of a deployed service, implemented on this server: every import goes
//! through the same [`Context`] a compiled service gets, so a deployed service's `invoke`,
//! REST, SQL, AMQP and ZeroMQ calls are counted, limited and worded the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use redis::AsyncCommands;
use serde_json::{Map, Value};
use tracing::{debug, error, info, warn};
use zato_common::pubsub::Publication;
use zato_outgoing::rest::RestCall;
use zato_wasm::{GuestError, Level, RestRequest, RestResponse, ServiceHost};

use super::wasm_service::guest_error;
use crate::dispatcher::Dispatcher;
use crate::service::{AmqpMessage, Body, Context, ServiceError};

/// The longest key of a deployed service's key-value store.
const MAX_KV_KEY_BYTES: usize = 512;

/// The cluster as one call of one deployed service sees it.
pub struct ServerHost {
    dispatcher: Arc<Dispatcher>,
    service: String,
    cid: String,
}

impl ServerHost {
    pub fn new(ctx: &Context<'_>, service: &str, cid: &str) -> Result<Self, ServiceError> {
        Ok(Self {
            dispatcher: ctx.dispatcher_handle()?,
            service: service.to_owned(),
            cid: cid.to_owned(),
        })
    }

    fn ctx(&self) -> Context<'_> {
        Context::new(&self.dispatcher, &self.cid)
    }

    fn kv_key(&self, key: &str) -> Result<String, GuestError> {
        if key.is_empty() || key.len() > MAX_KV_KEY_BYTES {
            return Err(bad_request(format!(
                "a key must have 1 to {MAX_KV_KEY_BYTES} bytes"
            )));
        }
        Ok(self
            .dispatcher
            .broker()
            .keys()
            .service_kv(&self.service, key))
    }

    async fn redis(&self) -> Result<zato_broker::Conn, GuestError> {
        self.dispatcher
            .broker()
            .redis()
            .conn()
            .await
            .map_err(|e| guest_error(ServiceError::from(e)))
    }
}

fn bad_request(message: String) -> GuestError {
    guest_error(ServiceError::BadRequest(message))
}

/// JSON text from the guest.
fn parse(field: &str, text: &str) -> Result<Value, GuestError> {
    serde_json::from_str(text).map_err(|e| bad_request(format!("{field} is not JSON: {e}")))
}

fn unavailable(e: redis::RedisError) -> GuestError {
    guest_error(ServiceError::Unavailable(format!("redis: {e}")))
}

#[async_trait::async_trait]
impl ServiceHost for ServerHost {
    async fn invoke(
        &self,
        service: String,
        payload: String,
    ) -> Result<zato_wasm::Response, GuestError> {
        let payload = parse("payload", &payload)?;
        let response = self
            .ctx()
            .invoke(&service, payload)
            .await
            .map_err(guest_error)?;
        let body = match response.body {
            Body::Json(value) => zato_wasm::Body::Json(value.to_string()),
            Body::Text(text) => zato_wasm::Body::Text(text),
        };
        Ok(zato_wasm::Response {
            status: response.status,
            content_type: response.content_type,
            headers: response.headers,
            body,
        })
    }

    async fn invoke_async(&self, service: String, payload: String) -> Result<String, GuestError> {
        let payload = parse("payload", &payload)?;
        self.ctx()
            .invoke_async(&service, payload)
            .await
            .map_err(guest_error)
    }

    async fn rest_call(
        &self,
        connection: String,
        request: RestRequest,
    ) -> Result<RestResponse, GuestError> {
        let params = match parse("params", &request.params)? {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(bad_request("params must be a JSON object".into())),
        };
        let body = request
            .body
            .as_deref()
            .map(|body| parse("body", body))
            .transpose()?;
        let call = RestCall {
            method: request.method,
            params,
            headers: request.headers.into_iter().collect(),
            body,
        };
        let response = self
            .ctx()
            .outgoing()
            .rest(&connection)
            .call(call)
            .await
            .map_err(guest_error)?;
        Ok(RestResponse {
            status: response.status,
            headers: response.headers.into_iter().collect(),
            body: response.body.to_string(),
        })
    }

    async fn sql_query(
        &self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<String, GuestError> {
        let params = sql_params(&params)?;
        let rows = self
            .ctx()
            .outgoing()
            .sql(&connection)
            .query(&statement, &params)
            .await
            .map_err(guest_error)?;
        serde_json::to_string(&rows).map_err(|e| guest_error(ServiceError::internal(e)))
    }

    async fn sql_execute(
        &self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<u64, GuestError> {
        let params = sql_params(&params)?;
        self.ctx()
            .outgoing()
            .sql(&connection)
            .execute(&statement, &params)
            .await
            .map_err(guest_error)
    }

    async fn amqp_publish(
        &self,
        connection: String,
        body: String,
        routing_key: Option<String>,
        headers: Vec<(String, String)>,
    ) -> Result<(), GuestError> {
        let message = AmqpMessage {
            body: parse("body", &body)?,
            routing_key,
            headers: headers.into_iter().collect::<BTreeMap<_, _>>(),
            properties: BTreeMap::new(),
        };
        self.ctx()
            .outgoing()
            .amqp(&connection)
            .publish(message)
            .await
            .map_err(guest_error)
    }

    async fn zmq_send(&self, connection: String, body: String) -> Result<(), GuestError> {
        let body = parse("body", &body)?;
        self.ctx()
            .outgoing()
            .zmq(&connection)
            .send(body)
            .await
            .map_err(guest_error)
    }

    async fn publish(
        &self,
        topic: String,
        data: String,
        attributes: Vec<(String, String)>,
        ordering_key: Option<String>,
    ) -> Result<String, GuestError> {
        let mut publication = Publication::new(parse("data", &data)?);
        publication.attributes = attributes.into_iter().collect();
        publication.ordering_key = ordering_key;
        self.ctx()
            .publish(&topic, publication)
            .await
            .map_err(guest_error)
    }

    async fn kv_get(&self, key: String) -> Result<Option<String>, GuestError> {
        let key = self.kv_key(&key)?;
        self.redis().await?.get(key).await.map_err(unavailable)
    }

    async fn kv_set(
        &self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<(), GuestError> {
        let key = self.kv_key(&key)?;
        let mut conn = self.redis().await?;
        let () = match ttl_ms {
            Some(0) => return Err(bad_request("ttl_ms must be at least 1".into())),
            Some(ttl) => conn.pset_ex(key, value, ttl).await,
            None => conn.set(key, value).await,
        }
        .map_err(unavailable)?;
        Ok(())
    }

    async fn kv_delete(&self, key: String) -> Result<bool, GuestError> {
        let key = self.kv_key(&key)?;
        let deleted: u64 = self.redis().await?.del(key).await.map_err(unavailable)?;
        Ok(deleted > 0)
    }

    fn log(&self, level: Level, message: &str) {
        let (service, cid) = (&self.service, &self.cid);
        match level {
            Level::Debug => debug!(%service, %cid, "{message}"),
            Level::Info => info!(%service, %cid, "{message}"),
            Level::Warn => warn!(%service, %cid, "{message}"),
            Level::Error => error!(%service, %cid, "{message}"),
        }
    }
}

/// SQL parameters: a JSON array (or nothing).
fn sql_params(text: &str) -> Result<Vec<Value>, GuestError> {
    match parse("params", text)? {
        Value::Array(params) => Ok(params),
        Value::Null => Ok(Vec::new()),
        _ => Err(bad_request("params must be a JSON array".into())),
    }
}
