//! The small HTTP listener of the members without one of their own (scheduler, connector):
//! `/zato/health` and `/metrics`, without authentication. The server answers the same two
//! routes on its channels' listener with the same two responses.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::task::JoinHandle;

use super::health::Health;
use super::metrics::{CONTENT_TYPE, Metrics};

/// `/zato/health`: 200 with the report while healthy, 503 with it otherwise.
pub fn health_response(health: &Health) -> HttpResponse {
    let (healthy, report) = health.report();
    if healthy {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

/// `/metrics`: every family in the Prometheus text format.
pub fn metrics_response(metrics: &Metrics) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(metrics.encode())
}

/// The running listener.
pub(crate) struct Listener {
    pub handle: ServerHandle,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Binds `bind` and serves both routes with one worker.
pub(crate) fn start(
    bind: &str,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
) -> std::io::Result<Listener> {
    let (health, metrics) = (web::Data::from(health), web::Data::from(metrics));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(health.clone())
            .app_data(metrics.clone())
            .route(
                "/zato/health",
                web::get().to(|h: web::Data<Health>| async move { health_response(&h) }),
            )
            .route(
                "/metrics",
                web::get().to(|m: web::Data<Metrics>| async move { metrics_response(&m) }),
            )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .client_request_timeout(Duration::from_secs(5))
    .bind(bind)?
    .run();
    Ok(Listener {
        handle: server.handle(),
        task: tokio::spawn(server),
    })
}
