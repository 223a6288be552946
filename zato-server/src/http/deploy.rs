//! `POST /zato/api/services/{name}`: deploys a WebAssembly component, sent as the body
//! (`Content-Type: application/wasm`), as a new version of the service `name`.
//!
//! Its own route rather than an admin service with a JSON payload: the body is binary and
//! tens of megabytes, which JSON would have to carry as base64.
//!
//! Query parameters `deadline_ms` and `memory_mb` set the limits; the `X-Zato-Actor` header
//! says who deploys (the CLI sends the user and host).

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::admin::refusal;
use super::body;
use super::error::{builder, error};
use crate::admin::deployed::UNKNOWN_ACTOR;
use crate::deployed::deploy::{Deployment, deploy};
use crate::service::Context;
use crate::service::request::new_cid;

/// How long an upload may take to arrive: a component is tens of megabytes.
const UPLOAD_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The header naming who deploys.
pub const ACTOR_HEADER: &str = "x-zato-actor";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    deadline_ms: Option<u64>,
    memory_mb: Option<u32>,
}

/// Who the caller says they are (for the record), or [`UNKNOWN_ACTOR`].
pub fn actor(req: &HttpRequest) -> String {
    req.headers()
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.chars()
                .filter(|c| !c.is_control())
                .take(128)
                .collect::<String>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| UNKNOWN_ACTOR.to_owned())
}

pub async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let cid = new_cid();
    if let Some(refusal) = refusal(&req, &state, &cid) {
        return refusal;
    }
    let limits = match web::Query::<Limits>::from_query(req.query_string()) {
        Ok(limits) => limits.into_inner(),
        Err(e) => return error(400, &format!("query: {e}"), &cid),
    };
    let bytes = match body::read(
        req.headers(),
        payload,
        state.settings.max_component_bytes,
        UPLOAD_TIME_LIMIT,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(e) => return e.respond(&cid),
    };
    let deployment = Deployment {
        name: req.match_info().get("name").unwrap_or_default().to_owned(),
        bytes,
        deadline_ms: limits.deadline_ms,
        memory_mb: limits.memory_mb,
        actor: actor(&req),
    };
    let ctx = Context::new(&state.dispatcher, &cid);
    match deploy(&ctx, state.dispatcher.deployed(), deployment).await {
        Ok(done) => {
            let status = if done.created { 201 } else { 200 };
            builder(status, &cid).json(done.to_json())
        }
        Err(e) => error(e.status(), e.public_message(), &cid),
    }
}
