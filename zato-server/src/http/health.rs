//! `/zato/ping`, `/zato/health` and `/metrics`, without authentication.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use zato_broker::ConsumerStats;

use super::AppState;

/// What health is judged on: Redis answering and every consumer loop reading.
pub struct HealthState {
    /// Named consumer loops ("1:any", "1:all").
    pub consumers: Vec<(&'static str, Arc<ConsumerStats>)>,
    /// Set by the Redis prober.
    pub redis_ok: AtomicBool,
    /// When the prober last heard from Redis (Unix ms).
    pub redis_last_ok_ms: AtomicU64,
    /// A loop whose last read is older than this is stalled.
    pub stall_after_ms: u64,
    /// Set once the first config snapshot is applied: until then channels are unknown.
    pub config_loaded: Arc<AtomicBool>,
}

impl HealthState {
    /// Every check, and whether all pass.
    pub fn report(&self) -> (bool, Value) {
        let redis = self.redis_ok.load(Ordering::Relaxed);
        let loaded = self.config_loaded.load(Ordering::Relaxed);
        let mut healthy = redis && loaded;
        let mut consumers = Map::new();
        for (name, stats) in &self.consumers {
            let h = stats.health();
            let fresh = h.is_fresh(self.stall_after_ms);
            healthy &= fresh;
            consumers.insert(
                (*name).to_owned(),
                json!({"ok": fresh, "connected": h.connected, "last_read_ms": h.last_read_ms, "handled": h.handled,
                       "failed": h.failed, "dead_lettered": h.dead_lettered, "reclaimed": h.reclaimed,
                       "unknown_action": h.unknown_action}),
            );
        }
        (
            healthy,
            json!({
                "status": if healthy { "ok" } else { "failing" },
                "redis": {"ok": redis, "last_ok_ms": self.redis_last_ok_ms.load(Ordering::Relaxed)},
                "config_loaded": loaded,
                "consumers": consumers,
            }),
        )
    }
}

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
    let (healthy, mut report) = state.health.report();
    if state.is_draining()
        && let Some(object) = report.as_object_mut()
    {
        object.insert("status".into(), json!("draining"));
    }
    report["member"] = json!(state.dispatcher.broker().member());
    if healthy && !state.is_draining() {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document())
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(super::metrics::render(&state))
}
