//! The endpoints publishers and pull subscribers call with their own credentials (a
//! security definition's basic auth or API key), not the admin token:
//!
//! - `POST /zato/pubsub/topics/{topic}`: publish (`{"data", "attributes"?,
//!   "ordering_key"?, "expires_in_ms"?}`), allowed to the definitions the topic names in
//!   `publishers`;
//! - `POST /zato/pubsub/subscriptions/{name}/pull` (`{"max"?, "wait_ms"?}`), `.../ack` and
//!   `.../nack` (`{"ids": [...]}`), allowed to the definition the subscription names.
//!
//! Each runs the admin service of the same name, so it is counted like every call.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::AppState;
use super::admin::{object_with, run};
use super::error::{builder, error};
use crate::service::request::new_cid;
use crate::worker_store::security::{self, AuthFailure};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/pubsub")
            .route("/topics/{name}", web::post().to(publish))
            .route(
                "/subscriptions/{name}/pull",
                web::post().to(|r, p, s| subscriber(r, p, s, "zato.pubsub.subscription.pull")),
            )
            .route(
                "/subscriptions/{name}/ack",
                web::post().to(|r, p, s| subscriber(r, p, s, "zato.pubsub.subscription.ack")),
            )
            .route(
                "/subscriptions/{name}/nack",
                web::post().to(|r, p, s| subscriber(r, p, s, "zato.pubsub.subscription.nack")),
            ),
    );
}

/// Checks the request's credentials against each of the named definitions; the name of
/// the one they match. No credentials at all: 401 with the first definition's challenge;
/// wrong ones: 403.
fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    allowed: &[String],
    cid: &str,
) -> Result<String, Box<HttpResponse>> {
    let lookup = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let mut challenge = None;
    let mut wrong = false;
    for name in allowed {
        let Some(definition) = state.store.security(name) else {
            continue;
        };
        match security::check(&definition, lookup) {
            Ok(()) => return Ok(name.clone()),
            Err(AuthFailure::Missing { challenge: c }) => {
                challenge.get_or_insert(c);
            }
            Err(AuthFailure::Wrong) => wrong = true,
        }
    }
    if wrong || allowed.is_empty() {
        return Err(Box::new(error(
            403,
            "these credentials may not do this",
            cid,
        )));
    }
    let challenge = challenge.unwrap_or_else(|| "Basic realm=\"zato\"".into());
    Err(Box::new(
        builder(401, cid)
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .json(json!({"error": "credentials required", "cid": cid})),
    ))
}

fn name(req: &HttpRequest) -> String {
    req.match_info().get("name").unwrap_or_default().to_owned()
}

/// `POST /zato/pubsub/topics/{topic}`.
async fn publish(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let cid = new_cid();
    let topic = name(&req);
    let Some(found) = state.dispatcher.pubsub().topic(&topic) else {
        return error(404, &format!("no topic '{topic}'"), &cid);
    };
    let publisher = match authenticate(&req, &state, &found.publishers, &cid) {
        Ok(publisher) => publisher,
        Err(refusal) => return *refusal,
    };
    let extra = vec![("name", json!(topic)), ("publisher", json!(publisher))];
    match object_with(&req, payload, &state, &cid, extra).await {
        Ok(body) => run(&state, "zato.pubsub.publish", body, &cid).await,
        Err(refusal) => refusal,
    }
}

/// `POST /zato/pubsub/subscriptions/{name}/{pull,ack,nack}`.
async fn subscriber(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    service: &'static str,
) -> HttpResponse {
    let cid = new_cid();
    let subscription = name(&req);
    let allowed = match state.dispatcher.pubsub().subscription(&subscription) {
        Some(found) => match &found.delivery {
            zato_common::model::SubscriptionDelivery::Pull { security, .. } => {
                vec![security.clone()]
            }
            _ => Vec::new(),
        },
        None => return error(404, &format!("no subscription '{subscription}'"), &cid),
    };
    if let Err(refusal) = authenticate(&req, &state, &allowed, &cid) {
        return *refusal;
    }
    match object_with(
        &req,
        payload,
        &state,
        &cid,
        vec![("name", json!(subscription))],
    )
    .await
    {
        Ok(body) => run(&state, service, body, &cid).await,
        Err(refusal) => refusal,
    }
}
