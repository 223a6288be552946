//! The scheduler's own small HTTP listener: `/zato/health` and `/metrics`.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;
use zato_broker::{ConsumerStats, LeaseHandle};

use crate::metrics::SchedulerMetrics;

/// What the handlers read.
pub struct Status {
    pub member: String,
    pub lease: LeaseHandle,
    pub config: Arc<ConsumerStats>,
    pub metrics: Arc<SchedulerMetrics>,
    /// A 1:all loop whose last read is older than this is stalled.
    pub stall_after_ms: u64,
}

impl Status {
    fn healthy(&self) -> bool {
        self.config.health().is_fresh(self.stall_after_ms)
    }
}

async fn health(status: web::Data<Status>) -> HttpResponse {
    let healthy = status.healthy();
    let m = &status.metrics;
    let body = json!({
        "status": if healthy { "ok" } else { "failing" },
        "member": status.member,
        "active": status.lease.is_leader(),
        "epoch": status.lease.epoch(),
        "config": status.config.health(),
        "jobs": SchedulerMetrics::get(&m.jobs),
        "fires": SchedulerMetrics::get(&m.fires),
        "misfires": SchedulerMetrics::get(&m.misfires),
    });
    if healthy {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(status: web::Data<Status>) -> HttpResponse {
    let m = &status.metrics;
    let member = &status.member;
    let mut out = String::new();
    for (name, kind, value) in [
        (
            "zato_scheduler_fires_total",
            "counter",
            SchedulerMetrics::get(&m.fires),
        ),
        (
            "zato_scheduler_duplicates_avoided_total",
            "counter",
            SchedulerMetrics::get(&m.duplicates_avoided),
        ),
        (
            "zato_scheduler_misfires_total",
            "counter",
            SchedulerMetrics::get(&m.misfires),
        ),
        (
            "zato_scheduler_jobs",
            "gauge",
            SchedulerMetrics::get(&m.jobs),
        ),
        (
            "zato_scheduler_active",
            "gauge",
            u64::from(status.lease.is_leader()),
        ),
    ] {
        let _ = writeln!(
            out,
            "# TYPE {name} {kind}\n{name}{{member=\"{member}\"}} {value}"
        );
    }
    let late = m.lateness.snapshot();
    let _ = writeln!(
        out,
        "# TYPE zato_scheduler_fire_lateness_microseconds summary"
    );
    for (quantile, value) in [("0.5", late.p50_us), ("0.99", late.p99_us)] {
        let _ = writeln!(
            out,
            "zato_scheduler_fire_lateness_microseconds{{member=\"{member}\",quantile=\"{quantile}\"}} {value}"
        );
    }
    let _ = writeln!(
        out,
        "zato_scheduler_fire_lateness_microseconds_sum{{member=\"{member}\"}} {}",
        late.mean_us * late.calls
    );
    let _ = writeln!(
        out,
        "zato_scheduler_fire_lateness_microseconds_count{{member=\"{member}\"}} {}",
        late.calls
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out)
}

/// Binds and serves; the handle stops it.
pub fn start(
    bind: &str,
    status: Status,
) -> std::io::Result<(ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let data = web::Data::new(status);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/zato/health", web::get().to(health))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .client_request_timeout(Duration::from_secs(5))
    .bind(bind)?
    .run();
    let handle = server.handle();
    Ok((handle, tokio::spawn(server)))
}
