//! `ctx.outgoing().rest(name)`: calls through an outgoing REST connection.

use serde_json::{Map, Value};
use zato_outgoing::rest::{RestCall, RestError, RestResponse};

use super::counted;
use crate::outgoing::OutgoingConnections;
use crate::service::ServiceError;

/// An outgoing REST connection, by name. Calls return the upstream's answer whatever its
/// status (a 404 from the upstream is for the service to judge); they fail only when there
/// is no answer: a timeout (504 unless the service handles it), an upstream that cannot be
/// reached or refused the TLS handshake (502).
pub struct RestOutgoing<'a> {
    connections: &'a OutgoingConnections,
    name: String,
}

impl<'a> RestOutgoing<'a> {
    pub(super) fn new(connections: &'a OutgoingConnections, name: &str) -> Self {
        Self {
            connections,
            name: name.to_owned(),
        }
    }

    /// `GET` with these parameters (path first, the rest as the query string).
    pub async fn get(&self, params: Value) -> Result<RestResponse, ServiceError> {
        self.call(RestCall::new("GET", object(params)?)).await
    }

    /// `POST` of `body` in the connection's data format.
    pub async fn post(&self, params: Value, body: Value) -> Result<RestResponse, ServiceError> {
        self.call(RestCall::new("POST", object(params)?).with_body(body))
            .await
    }

    /// `PUT` of `body`.
    pub async fn put(&self, params: Value, body: Value) -> Result<RestResponse, ServiceError> {
        self.call(RestCall::new("PUT", object(params)?).with_body(body))
            .await
    }

    /// `PATCH` of `body`.
    pub async fn patch(&self, params: Value, body: Value) -> Result<RestResponse, ServiceError> {
        self.call(RestCall::new("PATCH", object(params)?).with_body(body))
            .await
    }

    /// `DELETE`.
    pub async fn delete(&self, params: Value) -> Result<RestResponse, ServiceError> {
        self.call(RestCall::new("DELETE", object(params)?)).await
    }

    /// Calls the connection's ping method and path: any answer, whatever its status, is a
    /// pong.
    pub async fn ping(&self) -> Result<RestResponse, ServiceError> {
        counted(&self.connections.rest, &self.name, |client| async move {
            client.ping().await
        })
        .await?
        .map_err(|e| rest_error(&self.name, e))
    }

    /// Any call: method, parameters, headers and body as given.
    pub async fn call(&self, call: RestCall) -> Result<RestResponse, ServiceError> {
        counted(&self.connections.rest, &self.name, |client| async move {
            client.call(call).await
        })
        .await?
        .map_err(|e| rest_error(&self.name, e))
    }
}

/// Parameters are a JSON object (or nothing).
fn object(params: Value) -> Result<Map<String, Value>, ServiceError> {
    match params {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(ServiceError::BadRequest(
            "the parameters of a REST call are a JSON object".into(),
        )),
    }
}

/// What a caller is told about a call that got no answer.
pub(crate) fn rest_error(name: &str, e: RestError) -> ServiceError {
    let message = format!("outgoing REST connection '{name}': {e}");
    match e {
        RestError::Timeout { .. } => ServiceError::GatewayTimeout(message),
        RestError::Unreachable(_) => ServiceError::BadGateway(message),
        RestError::Call(_) => ServiceError::BadRequest(message),
        RestError::Config(_) => ServiceError::Unavailable(message),
    }
}
