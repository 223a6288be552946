//! `/zato/ping`, `/zato/health`, the OpenAPI document and `/metrics`, without
//! authentication. Health and metrics are the member runtime's, as on every member.

use actix_web::{HttpResponse, web};
use serde_json::json;
use zato_broker::member::{health_response, metrics_response};

use super::AppState;

/// The routes under `/zato` that need no token.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ping", web::get().to(ping))
        .route("/health", web::get().to(health))
        .route("/api/openapi.json", web::get().to(openapi));
}

async fn ping(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({"pong": true, "member": state.dispatcher.broker().member()}))
}

async fn health(state: web::Data<AppState>) -> HttpResponse {
    health_response(&state.health)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    metrics_response(&state.metrics_registry)
}
