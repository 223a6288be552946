//! The connector's small HTTP listener: `/zato/health` and `/metrics`, no authentication.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::health::Health;

async fn health(state: web::Data<Health>) -> HttpResponse {
    let (healthy, report) = state.report();
    if healthy {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

async fn metrics(state: web::Data<Health>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics_text())
}

/// Binds the listener and starts serving; the handle stops it.
pub fn start(
    state: Arc<Health>,
    bind: &str,
) -> std::io::Result<(ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/zato/health", web::get().to(health))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(bind)?
    .run();
    let handle = server.handle();
    Ok((handle, tokio::spawn(server)))
}
