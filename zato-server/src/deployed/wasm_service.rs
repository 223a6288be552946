//! A deployed version as a [`Service`]: the same dispatcher, statistics and error handling as
//! a compiled service, for every channel.

use std::sync::Arc;

use serde_json::Value;
use zato_wasm::{Body as GuestBody, CallError, ErrorKind, GuestError, Limits, LoadedService};

use super::host::ServerHost;
use crate::service::{Body, Context, Request, Response, Service, ServiceError};

/// One version of a deployed service with the limits of its record.
pub struct WasmService {
    pub(super) name: String,
    pub(super) version: u64,
    pub(super) loaded: Arc<LoadedService>,
    pub(super) limits: Limits,
}

#[async_trait::async_trait]
impl Service for WasmService {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let guest_request = to_guest(&request);
        let host = ServerHost::new(ctx, &self.name, &request.cid)?;
        let outcome = self
            .loaded
            .call(&self.name, &guest_request, Box::new(host), self.limits)
            .await;
        let name = &self.name;
        let version = self.version;
        match outcome {
            Ok(Ok(response)) => from_guest(response).map_err(|e| {
                ServiceError::Internal(format!("service {name} (version {version}) {e}"))
            }),
            Ok(Err(error)) => Err(service_error(error)),
            Err(e @ CallError::Deadline(_)) => {
                Err(ServiceError::GatewayTimeout(format!("service {name} {e}")))
            }
            Err(e @ CallError::Busy(_)) => {
                Err(ServiceError::Unavailable(format!("service {name}: {e}")))
            }
            Err(e @ (CallError::MemoryLimit(_) | CallError::Trap(_))) => Err(
                ServiceError::Internal(format!("service {name} (version {version}) {e}")),
            ),
        }
    }
}

/// A request as the guest sees it.
fn to_guest(request: &Request) -> zato_wasm::Request {
    let pairs = |map: &std::collections::BTreeMap<String, String>| {
        map.iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    zato_wasm::Request {
        cid: request.cid.clone(),
        channel: request.channel.as_str().to_owned(),
        channel_name: request.channel_name.clone(),
        payload: request.payload.to_string(),
        headers: request
            .headers
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        path_params: pairs(&request.path_params),
        query: pairs(&request.query),
        meta: serde_json::to_string(&request.meta).unwrap_or_else(|_| "{}".into()),
    }
}

/// The guest's answer as a service's; a JSON body that does not parse is the service's bug.
pub(super) fn from_guest(response: zato_wasm::Response) -> Result<Response, String> {
    let body = match response.body {
        GuestBody::Json(text) => Body::Json(
            serde_json::from_str::<Value>(&text)
                .map_err(|e| format!("answered a JSON body that is not JSON: {e}"))?,
        ),
        GuestBody::Text(text) => Body::Text(text),
    };
    Ok(Response {
        body,
        status: response.status,
        content_type: response.content_type,
        headers: response.headers,
    })
}

/// A guest's own error as the service's.
fn service_error(error: GuestError) -> ServiceError {
    let message = error.message;
    match error.kind {
        ErrorKind::BadRequest => ServiceError::BadRequest(message),
        ErrorKind::NotFound => ServiceError::NotFound(message),
        ErrorKind::Conflict => ServiceError::Conflict(message),
        ErrorKind::Unavailable => ServiceError::Unavailable(message),
        ErrorKind::BadGateway => ServiceError::BadGateway(message),
        ErrorKind::GatewayTimeout => ServiceError::GatewayTimeout(message),
        ErrorKind::Internal => ServiceError::Internal(message),
    }
}

/// A service's error as the guest sees it (from a host call).
pub(super) fn guest_error(error: ServiceError) -> GuestError {
    let kind = match &error {
        ServiceError::BadRequest(_) | ServiceError::TooLarge(_) => ErrorKind::BadRequest,
        ServiceError::NotFound(_) => ErrorKind::NotFound,
        ServiceError::Conflict(_) => ErrorKind::Conflict,
        ServiceError::Unavailable(_) => ErrorKind::Unavailable,
        ServiceError::BadGateway(_) => ErrorKind::BadGateway,
        ServiceError::GatewayTimeout(_) => ErrorKind::GatewayTimeout,
        ServiceError::Internal(_) => ErrorKind::Internal,
    };
    GuestError {
        kind,
        // What a caller over HTTP would be told: an internal error's details stay in the log.
        message: error.public_message().to_owned(),
    }
}
