//! The HTTP side: channels, the admin API, ping, health and metrics, on one actix-web server.

mod admin;
mod auth_limiter;
mod body;
mod channel;
mod deploy;
mod error;
mod health;
mod metrics;
mod openapi;
mod pubsub;

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{ServerHandle, Service, fn_service};
use actix_web::{App, HttpServer, web};
use futures_util::future::Either;
use zato_common::model::is_server_path;

pub use metrics::{HttpMetrics, ServerCollector};

use zato_broker::member::{Health, Metrics};
use zato_common::settings::ServerSettings;

use crate::dispatcher::Dispatcher;
use crate::worker_store::WorkerStore;

/// What every request handler shares.
pub struct AppState {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Arc<WorkerStore>,
    pub settings: ServerSettings,
    /// The member's health; draining from SIGTERM on (channels answer 503).
    pub health: Arc<Health>,
    /// The member's metrics registry (`/metrics`).
    pub metrics_registry: Arc<Metrics>,
    /// HTTP answers by status, counted on the request path.
    pub metrics: Arc<HttpMetrics>,
    /// Failed admin logins per client address.
    pub auth_limiter: auth_limiter::AuthLimiter,
}

impl AppState {
    pub fn is_draining(&self) -> bool {
        self.health.is_draining()
    }

    /// How long a client may take to send a request body.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.client_request_timeout_ms)
    }
}

/// Binds the listener and starts serving; the handle stops it. With a TLS config the
/// listener speaks HTTPS only: a plain-HTTP request to it fails the handshake.
pub fn start(
    state: Arc<AppState>,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<(ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let settings = state.settings.clone();
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes)
            .default_service(fn_service(channel::handle))
            // A channel's request goes straight to the channel router: it is not first tried
            // against the server's own routes, which costs more than the whole channel match.
            .wrap_fn(|req, own_routes| {
                if is_server_path(req.path()) {
                    Either::Right(own_routes.call(req))
                } else {
                    Either::Left(channel::handle(req))
                }
            })
    })
    .workers(settings.workers)
    .disable_signals()
    .client_request_timeout(Duration::from_millis(settings.client_request_timeout_ms))
    .shutdown_timeout(settings.shutdown_timeout_ms.div_ceil(1000));
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(&settings.bind, config)?,
        None => server.bind(&settings.bind)?,
    }
    .run();
    let handle = server.handle();
    Ok((handle, tokio::spawn(server)))
}

/// The server's own routes: everything under one `/zato` scope (health, the admin API) and
/// `/metrics` (see [`is_server_path`]).
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/zato")
            .configure(health::routes)
            .configure(admin::routes)
            .configure(pubsub::routes),
    )
    .route("/metrics", web::get().to(health::metrics));
}
