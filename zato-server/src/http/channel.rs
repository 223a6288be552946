//! Serving HTTP channels: match, authenticate, parse, run the service, answer.

use std::collections::BTreeMap;

use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::web;
use actix_web::{HttpMessage, HttpResponse};
use serde_json::Value;
use tracing::error;
use zato_common::ChannelKind;
use zato_common::model::{DataFormat, SecurityDefinition};

use super::AppState;
use super::body;
use super::error::{builder, builder_with, cid_header, error};
use crate::service::request::new_cid;
use crate::service::{Body, Headers, RegisteredService, Request, Response};
use crate::worker_store::http_router::{Match, percent_decode};
use crate::worker_store::security::{self, AuthFailure};

/// Every request for a channel comes here: straight from the `wrap_fn` in front of actix's
/// router for any path outside the server's own, and as the app's default service for a
/// `/zato/...` path that no admin route took. It takes the request whole, so that the
/// headers can be moved to the service rather than copied.
pub async fn handle(mut req: ServiceRequest) -> Result<ServiceResponse, actix_web::Error> {
    // Made once, straight into the header it is answered in; every answer carries it.
    let cid = cid_header(new_cid());
    let headers = std::mem::take(req.headers_mut());
    let payload = req.take_payload();
    // Borrowed from the request rather than extracted: the `Data` extractor would clone an
    // `Arc` that every worker shares, on every request.
    let response = match req.app_data::<web::Data<AppState>>() {
        Some(state) => {
            let response = serve(&req, headers, payload, state, &cid).await;
            state.metrics.count(response.status().as_u16());
            response
        }
        None => error(500, "the server is not set up", cid_text(&cid)),
    };
    Ok(req.into_response(response))
}

/// The cid in a header value made from it (checked a word at a time, where `to_str` would
/// check byte by byte).
fn cid_text(cid: &HeaderValue) -> &str {
    std::str::from_utf8(cid.as_bytes()).unwrap_or("-")
}

/// What a request needs of its channel once the router is let go.
struct Route<'a> {
    channel_name: String,
    /// Looked up while the route is found: the registry outlives the router snapshot; a
    /// deployed service's current version is held for the length of the request.
    service: std::borrow::Cow<'a, RegisteredService>,
    data_format: DataFormat,
    path_params: BTreeMap<String, String>,
    /// The header that carried the caller's credentials, kept from the service.
    hidden_header: Option<HeaderName>,
}

async fn serve(
    req: &ServiceRequest,
    headers: HeaderMap,
    payload: Payload,
    state: &AppState,
    cid_header: &HeaderValue,
) -> HttpResponse {
    let cid = cid_text(cid_header);
    if state.is_draining() {
        return error(503, "the server is shutting down", cid);
    }
    let route = match route(req, &headers, state, cid) {
        Ok(route) => route,
        Err(refusal) => return *refusal,
    };
    let body = match body::read(
        &headers,
        payload,
        state.settings.max_body_bytes,
        state.body_timeout(),
    )
    .await
    {
        Ok(body) => body,
        Err(e) => return e.respond(cid),
    };
    let payload = match route.data_format {
        DataFormat::Json if body.iter().all(u8::is_ascii_whitespace) => Value::Null,
        DataFormat::Json => match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(e) => return error(400, &format!("malformed JSON: {e}"), cid),
        },
        DataFormat::Raw => match String::from_utf8(body) {
            Ok(text) => Value::String(text),
            Err(_) => return error(400, "the body of a raw channel must be UTF-8 text", cid),
        },
    };
    let mut request = Request::new(cid, ChannelKind::Http, payload);
    request.path_params = route.path_params;
    request.query = query_params(req.query_string());
    request.headers = Headers::from_http(headers, route.hidden_header.as_ref());
    request.channel_name = Some(route.channel_name);
    match state
        .dispatcher
        .invoke_registered(&route.service, request)
        .await
    {
        Ok(response) => respond_with(response, cid_header.clone()),
        Err(e) => error(e.status(), e.public_message(), cid),
    }
}

/// Finds the channel and checks the caller's credentials: all that can be decided before
/// the body is read, while the router snapshot is held.
fn route<'a>(
    req: &ServiceRequest,
    headers: &HeaderMap,
    state: &'a AppState,
    cid: &str,
) -> Result<Route<'a>, Box<HttpResponse>> {
    let router = state.store.router();
    let (endpoint, path_params) = match router.find(req.method().as_str(), req.path()) {
        Match::Found { endpoint, params } => (endpoint, params),
        Match::MethodNotAllowed(allowed) => {
            let mut response = error(
                405,
                &format!("method {} is not allowed here", req.method()),
                cid,
            );
            if let Ok(value) = header::HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Err(Box::new(response));
        }
        Match::NotFound => {
            return Err(Box::new(error(
                404,
                &format!("no channel at {}", req.path()),
                cid,
            )));
        }
    };
    let channel = &endpoint.channel;
    let mut hidden_header = None;
    if let Some(name) = &channel.security {
        let Some(definition) = state.store.security(name) else {
            error!(channel = %channel.name, security = %name, %cid, "channel refers to a missing security definition; refusing");
            return Err(Box::new(error(403, "forbidden", cid)));
        };
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match security::check(&definition, lookup) {
            Ok(()) => {}
            Err(AuthFailure::Missing { challenge }) => {
                return Err(Box::new(
                    builder(401, cid)
                        .insert_header((header::WWW_AUTHENTICATE, challenge))
                        .json(serde_json::json!({"error": "credentials required", "cid": cid})),
                ));
            }
            Err(AuthFailure::Wrong) => {
                return Err(Box::new(error(403, "invalid credentials", cid)));
            }
        }
        // The service has no business with the caller's secret.
        hidden_header = match definition {
            SecurityDefinition::BasicAuth { .. } => Some(header::AUTHORIZATION),
            SecurityDefinition::Apikey { header, .. } => HeaderName::try_from(header).ok(),
        };
    }
    let Some(service) = state.dispatcher.find(&channel.service) else {
        if state.dispatcher.deployed().is_deployed(&channel.service) {
            return Err(Box::new(error(
                503,
                "the channel's service is still loading on this server; try again shortly",
                cid,
            )));
        }
        error!(path = %req.path(), service = %channel.service, %cid, "channel's service is not deployed on this server");
        return Err(Box::new(error(
            503,
            "the channel's service is not available on this server",
            cid,
        )));
    };
    Ok(Route {
        channel_name: channel.name.clone(),
        service,
        data_format: channel.data_format,
        path_params,
        hidden_header,
    })
}

/// A service's response as HTTP.
pub fn respond(response: Response, cid: &str) -> HttpResponse {
    respond_with(response, cid_header(cid.to_owned()))
}

/// A service's response as HTTP, with `cid` as its `X-Zato-CID`.
fn respond_with(response: Response, cid: HeaderValue) -> HttpResponse {
    let mut http = builder_with(response.status, cid);
    for (name, value) in &response.headers {
        http.append_header((name.as_str(), value.as_str()));
    }
    match response.body {
        Body::Json(value) => {
            if let Some(content_type) = &response.content_type {
                http.content_type(content_type.as_str());
            }
            http.json(value)
        }
        Body::Text(text) => {
            http.content_type(
                response
                    .content_type
                    .as_deref()
                    .unwrap_or("text/plain; charset=utf-8"),
            );
            http.body(text)
        }
    }
}

fn query_params(query: &str) -> BTreeMap<String, String> {
    if query.is_empty() {
        return BTreeMap::new();
    }
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_decoded() {
        let q = query_params("a=1&b=x%20y&c=p+q&flag&d=%zz");
        assert_eq!(q["a"], "1");
        assert_eq!(q["b"], "x y");
        assert_eq!(q["c"], "p q");
        assert_eq!(q["flag"], "");
        assert_eq!(q["d"], "%zz");
    }
}
