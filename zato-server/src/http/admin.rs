//! The admin API: JSON over HTTP, every route behind `Authorization: Bearer <admin token>`.
//!
//! Each route names an admin service and the payload to give it; the service does the work
//! (so `POST /zato/api/invoke/zato.channel.http.list` does what `GET
//! /zato/api/channels/http` does).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tracing::warn;
use zato_common::ChannelKind;

use super::AppState;
use super::auth_limiter::Verdict;
use super::body;
use super::channel::respond;
use super::error::{builder, error};
use crate::dispatcher::InvokeError;
use crate::service::Request;
use crate::service::request::new_cid;
use crate::worker_store::security::constant_time_eq;

/// Config collections: URL path under `/zato/api` and the prefix of their admin services.
pub const COLLECTIONS: [(&str, &str); 12] = [
    ("/jobs", "zato.scheduler.job"),
    ("/channels/http", "zato.channel.http"),
    ("/security", "zato.security"),
    ("/amqp/definitions", "zato.definition.amqp"),
    ("/channels/amqp", "zato.channel.amqp"),
    ("/outgoing/amqp", "zato.outgoing.amqp"),
    ("/channels/zmq", "zato.channel.zmq"),
    ("/outgoing/zmq", "zato.outgoing.zmq"),
    ("/outgoing/rest", "zato.outgoing.rest"),
    ("/outgoing/sql", "zato.outgoing.sql"),
    ("/topics", "zato.pubsub.topic"),
    ("/subscriptions", "zato.pubsub.subscription"),
];

/// Actions on one object (send through an outgoing connection, run a job now): URL path
/// under `/zato/api` and the service.
pub const SENDS: [(&str, &str); 10] = [
    (
        "/outgoing/amqp/{name}/publish",
        "zato.outgoing.amqp.publish",
    ),
    ("/outgoing/zmq/{name}/send", "zato.outgoing.zmq.send"),
    ("/jobs/{name}/execute", "zato.scheduler.job.execute"),
    ("/outgoing/rest/{name}/ping", "zato.outgoing.rest.ping"),
    ("/outgoing/sql/{name}/ping", "zato.outgoing.sql.ping"),
    ("/topics/{name}/publish", "zato.pubsub.publish"),
    (
        "/subscriptions/{name}/seek",
        "zato.pubsub.subscription.seek",
    ),
    (
        "/subscriptions/{name}/pull",
        "zato.pubsub.subscription.pull",
    ),
    ("/subscriptions/{name}/ack", "zato.pubsub.subscription.ack"),
    (
        "/subscriptions/{name}/nack",
        "zato.pubsub.subscription.nack",
    ),
];

pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut scope = web::scope("/api")
        .service(
            web::resource("/invoke/{service}")
                .route(web::post().to(invoke))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/invoke-async/{service}")
                .route(web::post().to(invoke_async))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/services")
                .route(
                    web::get()
                        .to(|r, p, s| call(r, p, s, "zato.service.list".into(), Shape::Empty)),
                )
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/services/{name}")
                .route(web::post().to(super::deploy::upload))
                .route(
                    web::get().to(|r, p, s| call(r, p, s, "zato.service.get".into(), Shape::Name)),
                )
                .route(
                    web::delete()
                        .to(|r, p, s| call(r, p, s, "zato.service.undeploy".into(), Shape::Name)),
                )
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/services/{name}/rollback")
                .route(web::post().to(rollback))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/outgoing/reseal")
                .route(
                    web::post()
                        .to(|r, p, s| call(r, p, s, "zato.outgoing.reseal".into(), Shape::Empty)),
                )
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/dead-letters/{source}")
                .route(web::get().to(|r: HttpRequest, p, s| {
                    let limit = web::Query::<std::collections::BTreeMap<String, String>>::from_query(r.query_string())
                        .ok()
                        .and_then(|q| q.get("limit").and_then(|l| l.parse::<usize>().ok()));
                    let payload = json!({"source": r.match_info().get("source").unwrap_or_default(), "limit": limit});
                    call(r, p, s, "zato.dlq.list".into(), Shape::Fixed(payload))
                }))
                .route(web::delete().to(|r: HttpRequest, p, s| {
                    let payload = json!({"source": r.match_info().get("source").unwrap_or_default()});
                    call(r, p, s, "zato.dlq.purge".into(), Shape::Fixed(payload))
                }))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/dead-letters/{source}/replay")
                .route(web::post().to(|r: HttpRequest, p, s| {
                    let source = r.match_info().get("source").unwrap_or_default().to_owned();
                    call(r, p, s, "zato.dlq.replay".into(), Shape::BodyWith("source", source))
                }))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/cluster")
                .route(
                    web::get()
                        .to(|r, p, s| call(r, p, s, "zato.cluster.status".into(), Shape::Empty)),
                )
                .default_service(web::to(method_not_allowed)),
        );
    for (path, services) in COLLECTIONS {
        scope =
            scope
                .service(
                    web::resource(path)
                        .route(web::get().to(move |r, p, s| {
                            call(r, p, s, format!("{services}.list"), Shape::Empty)
                        }))
                        .route(web::post().to(move |r, p, s| {
                            call(r, p, s, format!("{services}.create"), Shape::Body)
                        }))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource(format!("{path}/{{name}}"))
                        .route(web::get().to(move |r, p, s| {
                            call(r, p, s, format!("{services}.get"), Shape::Name)
                        }))
                        .route(web::put().to(move |r, p, s| {
                            call(r, p, s, format!("{services}.edit"), Shape::NameAndBody)
                        }))
                        .route(web::delete().to(move |r, p, s| {
                            call(r, p, s, format!("{services}.delete"), Shape::Name)
                        }))
                        .default_service(web::to(method_not_allowed)),
                );
    }
    for (path, service) in SENDS {
        scope = scope.service(
            web::resource(path)
                .route(
                    web::post()
                        .to(move |r, p, s| call(r, p, s, service.to_owned(), Shape::NameInBody)),
                )
                .default_service(web::to(method_not_allowed)),
        );
    }
    cfg.service(scope);
}

/// How a route turns a request into an admin service's payload.
enum Shape {
    /// `{}`
    Empty,
    /// The JSON body.
    Body,
    /// `{"name": <from the path>}`
    Name,
    /// `{"name": <from the path>, "object": <the JSON body>}`
    NameAndBody,
    /// The JSON body (an object, or nothing) with `"name": <from the path>` added.
    NameInBody,
    /// This payload, whatever the body.
    Fixed(Value),
    /// The JSON body (an object, or nothing) with this field added.
    BodyWith(&'static str, String),
}

/// `POST /zato/api/services/{name}/rollback {"version": N}`: the caller's `X-Zato-Actor`
/// goes into the record with the rest of the body.
async fn rollback(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let cid = new_cid();
    if let Some(refusal) = refusal(&req, &state, &cid) {
        return refusal;
    }
    let mut body = match json_body(&req, payload, &state, &cid).await {
        Ok(Value::Object(fields)) => fields,
        Ok(Value::Null) => serde_json::Map::new(),
        Ok(_) => return error(400, "expected a JSON object", &cid),
        Err(refusal) => return refusal,
    };
    let name = req.match_info().get("name").unwrap_or_default();
    body.insert("name".into(), json!(name));
    body.insert("actor".into(), json!(super::deploy::actor(&req)));
    run(&state, "zato.service.rollback", Value::Object(body), &cid).await
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    error(
        405,
        &format!("method {} is not allowed on {}", req.method(), req.path()),
        &new_cid(),
    )
}

/// Checks the bearer token; the refusal to send when it is missing or wrong.
pub(super) fn refusal(req: &HttpRequest, state: &AppState, cid: &str) -> Option<HttpResponse> {
    let expected = state.settings.admin_token.expose();
    let refuse = |message: &str| {
        builder(401, cid)
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"zato-admin\""))
            .json(json!({"error": message, "cid": cid}))
    };
    if expected.is_empty() {
        return Some(refuse(
            "the admin API is disabled: no admin token is configured (ZATO_ADMIN_TOKEN)",
        ));
    }
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(retry_after) = peer.and_then(|p| state.auth_limiter.throttled(p)) {
        return Some(throttle(retry_after, cid));
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let message = match given {
        Some(token) if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => {
            return None;
        }
        Some(_) => "invalid admin token",
        None => "admin token required: Authorization: Bearer <token>",
    };
    let Some(peer) = peer else {
        return Some(refuse(message));
    };
    match state.auth_limiter.failed(peer) {
        Verdict::Refuse { log } => {
            if log {
                warn!(%peer, path = %req.path(), "admin API call without a valid token (further failures from this address in the next minute are not logged)");
            }
            Some(refuse(message))
        }
        Verdict::Throttle { retry_after } => Some(throttle(retry_after, cid)),
    }
}

/// 429 with `Retry-After`.
fn throttle(retry_after: std::time::Duration, cid: &str) -> HttpResponse {
    builder(429, cid)
        .insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1).to_string()))
        .json(json!({"error": "too many failed admin logins from this address; retry later", "cid": cid}))
}

/// Reads an optional JSON body: nothing is `null`.
pub(super) async fn json_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    cid: &str,
) -> Result<Value, HttpResponse> {
    let bytes = body::read(
        req.headers(),
        payload,
        state.settings.max_body_bytes,
        state.body_timeout(),
    )
    .await
    .map_err(|e| e.respond(cid))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| error(400, &format!("malformed JSON: {e}"), cid))
}

/// The JSON body (an object, or nothing) with the `extra` fields set, over what the body
/// says (the path's name, the authenticated publisher).
pub(super) async fn object_with(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    cid: &str,
    extra: Vec<(&str, Value)>,
) -> Result<Value, HttpResponse> {
    let mut fields = match json_body(req, payload, state, cid).await? {
        Value::Object(fields) => fields,
        Value::Null => serde_json::Map::new(),
        _ => return Err(error(400, "expected a JSON object", cid)),
    };
    for (field, value) in extra {
        fields.insert(field.to_owned(), value);
    }
    Ok(Value::Object(fields))
}

/// Runs one admin service for a route.
async fn call(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    service: String,
    shape: Shape,
) -> HttpResponse {
    let cid = new_cid();
    if let Some(refusal) = refusal(&req, &state, &cid) {
        return refusal;
    }
    let name = || Value::String(req.match_info().get("name").unwrap_or_default().to_owned());
    let payload = match shape {
        Shape::Empty => json!({}),
        Shape::Name => json!({"name": name()}),
        Shape::Body => match json_body(&req, payload, &state, &cid).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        },
        Shape::NameAndBody => match json_body(&req, payload, &state, &cid).await {
            Ok(body) => json!({"name": name(), "object": body}),
            Err(refusal) => return refusal,
        },
        Shape::NameInBody => {
            match object_with(&req, payload, &state, &cid, vec![("name", name())]).await {
                Ok(body) => body,
                Err(refusal) => return refusal,
            }
        }
        Shape::Fixed(payload) => payload,
        Shape::BodyWith(field, value) => {
            match object_with(
                &req,
                payload,
                &state,
                &cid,
                vec![(field, Value::String(value))],
            )
            .await
            {
                Ok(body) => body,
                Err(refusal) => return refusal,
            }
        }
    };
    run(&state, &service, payload, &cid).await
}

pub(super) async fn run(
    state: &AppState,
    service: &str,
    payload: Value,
    cid: &str,
) -> HttpResponse {
    let request = Request::new(cid, ChannelKind::Internal, payload);
    match state.dispatcher.invoke(service, request).await {
        Ok(response) => respond(response, cid),
        Err(InvokeError::NoSuchService(name)) => {
            error(404, &format!("no such service: {name}"), cid)
        }
        Err(InvokeError::Service(e)) => error(e.status(), e.public_message(), cid),
    }
}

/// What both invoke routes read: the token checked, the service named in the path, the JSON
/// body.
async fn invocation(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    cid: &str,
) -> Result<(String, Value), HttpResponse> {
    if let Some(refusal) = refusal(req, state, cid) {
        return Err(refusal);
    }
    let body = json_body(req, payload, state, cid).await?;
    let service = req
        .match_info()
        .get("service")
        .unwrap_or_default()
        .to_owned();
    Ok((service, body))
}

/// `POST /zato/api/invoke/{service}`: runs the service on this server, answers its response.
async fn invoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let cid = new_cid();
    match invocation(&req, payload, &state, &cid).await {
        Ok((service, body)) => run(&state, &service, body, &cid).await,
        Err(refusal) => refusal,
    }
}

/// `POST /zato/api/invoke-async/{service}`: any server runs it, at least once; 202 with its cid.
async fn invoke_async(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let cid = new_cid();
    let (service, body) = match invocation(&req, payload, &state, &cid).await {
        Ok(invocation) => invocation,
        Err(refusal) => return refusal,
    };
    if !state.dispatcher.has(&service) {
        return error(404, &format!("no such service: {service}"), &cid);
    }
    // A queued request rests in Redis (and in its dead letters if it fails) as it was sent:
    // config changes carry secrets in clear, so they are made synchronously, never queued.
    if COLLECTIONS.iter().any(|(_, prefix)| {
        service
            .strip_prefix(prefix)
            .is_some_and(|op| op.starts_with('.'))
    }) {
        return error(
            400,
            &format!(
                "{service} changes configuration: call it with /zato/api/invoke or its own route, not queued"
            ),
            &cid,
        );
    }
    match crate::service::invoke_async(state.dispatcher.broker(), &service, body).await {
        Ok(async_cid) => builder(202, &cid).json(json!({"cid": async_cid})),
        Err(e) => error(e.status(), e.public_message(), &cid),
    }
}
