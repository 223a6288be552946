//! Serving HTTP channels: match, authenticate, parse, run the service, answer.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use tracing::error;
use zato_common::ChannelKind;
use zato_common::model::DataFormat;

use super::AppState;
use super::body;
use super::error::{builder, error};
use crate::dispatcher::InvokeError;
use crate::service::request::new_cid;
use crate::service::{Body, Headers, Request, Response};
use crate::worker_store::http_router::{Match, percent_decode};
use crate::worker_store::security::{self, AuthFailure};

/// Every request that is not for `/zato/...` comes here.
pub async fn handle(req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let cid = new_cid();
    // Borrowed from the request rather than extracted: the `Data` extractor would clone an
    // `Arc` that every worker shares, on every request.
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return error(500, "the server is not set up", &cid);
    };
    let response = serve(&req, payload, state, &cid).await;
    state.metrics.count(response.status().as_u16());
    response
}

/// What a request needs of its channel once the router is let go.
struct Route {
    channel_name: String,
    service: String,
    data_format: DataFormat,
    path_params: BTreeMap<String, String>,
    /// The header that carried the caller's credentials, kept from the service.
    hidden_header: Option<String>,
}

async fn serve(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    cid: &str,
) -> HttpResponse {
    if state.is_draining() {
        return error(503, "the server is shutting down", cid);
    }
    let route = match route(req, state, cid) {
        Ok(route) => route,
        Err(refusal) => return *refusal,
    };
    let body = match body::read(
        req,
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
    request.headers = Headers::from_http(req.headers(), route.hidden_header.as_deref());
    request.channel_name = Some(route.channel_name);
    match state.dispatcher.invoke(&route.service, request).await {
        Ok(response) => respond(response, cid),
        Err(InvokeError::NoSuchService(name)) => {
            error!(path = %req.path(), service = %name, %cid, "channel's service is not deployed on this server");
            error(
                503,
                "the channel's service is not available on this server",
                cid,
            )
        }
        Err(InvokeError::Service(e)) => error(e.status(), e.public_message(), cid),
    }
}

/// Finds the channel and checks the caller's credentials: all that can be decided before
/// the body is read, while the router snapshot is held.
fn route(req: &HttpRequest, state: &AppState, cid: &str) -> Result<Route, Box<HttpResponse>> {
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
        let lookup = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
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
        hidden_header = Some(match definition {
            zato_common::model::SecurityDefinition::BasicAuth { .. } => "authorization".to_owned(),
            zato_common::model::SecurityDefinition::Apikey { header, .. } => {
                header.to_ascii_lowercase()
            }
        });
    }
    Ok(Route {
        channel_name: channel.name.clone(),
        service: channel.service.clone(),
        data_format: channel.data_format,
        path_params,
        hidden_header,
    })
}

/// A service's response as HTTP.
pub fn respond(response: Response, cid: &str) -> HttpResponse {
    let mut http = builder(response.status, cid);
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
