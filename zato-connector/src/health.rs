//! `/zato/health` and `/metrics`: the lease, the Redis-side consumers and every AMQP and
//! ZeroMQ connection.
//!
//! Health is 200 while the Redis side works (config loaded, every consumer loop reading):
//! that is what a restart could fix. A peer that is down (RabbitMQ, a ZeroMQ peer) is shown
//! per connection and turns `status` into `degraded`, still 200: restarting the connector
//! would not bring RabbitMQ back, and the connector reconnects by itself.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use zato_broker::{ConsumerStats, LeaseHandle, LeaseState};

use crate::connections::{Connections, LinkState};
use crate::metrics::{Flow, Metrics};

/// Everything health and metrics are judged on.
pub struct Health {
    pub member: String,
    pub lease: LeaseHandle,
    /// Named consumer loops ("1:all", "1:connector").
    pub consumers: Vec<(&'static str, Arc<ConsumerStats>)>,
    pub config_loaded: Arc<AtomicBool>,
    pub draining: AtomicBool,
    /// A loop whose last read is older than this is stalled.
    pub stall_after_ms: u64,
    pub connections: Connections,
    pub metrics: Arc<Metrics>,
}

impl Health {
    /// Whether the Redis side works, and the full report.
    pub fn report(&self) -> (bool, Value) {
        let loaded = self.config_loaded.load(Ordering::Relaxed);
        let mut healthy = loaded;
        let mut consumers = Map::new();
        let leader = self.lease.is_leader();
        for (name, stats) in &self.consumers {
            let h = stats.health();
            let fresh = h.is_fresh(self.stall_after_ms);
            // The 1:connector loop reads only while this instance holds the lease.
            let judged = *name != "1:connector" || leader;
            if judged {
                healthy &= fresh;
            }
            consumers.insert(
                (*name).to_owned(),
                json!({"ok": fresh || !judged, "connected": h.connected, "last_read_ms": h.last_read_ms,
                       "handled": h.handled, "failed": h.failed, "dead_lettered": h.dead_lettered,
                       "reclaimed": h.reclaimed, "unknown_action": h.unknown_action}),
            );
        }
        let links = self.connections.list();
        let all_up = links.iter().all(|l| l.state == LinkState::Connected);
        let lease = match self.lease.state() {
            LeaseState::Leader { epoch, .. } if leader => json!({"role": "active", "epoch": epoch}),
            _ => json!({"role": "standby"}),
        };
        let status = match (healthy, all_up, self.draining.load(Ordering::Relaxed)) {
            (_, _, true) => "draining",
            (false, _, _) => "failing",
            (true, false, _) => "degraded",
            (true, true, _) => "ok",
        };
        (
            healthy && !self.draining.load(Ordering::Relaxed),
            json!({
                "status": status,
                "member": self.member,
                "lease": lease,
                "config_loaded": loaded,
                "consumers": consumers,
                "connections": links,
            }),
        )
    }

    /// Every metric in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        let member = escape(&self.member);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# TYPE zato_connector_active gauge\nzato_connector_active{{member=\"{member}\"}} {}",
            u8::from(self.lease.is_leader())
        );
        for (family, pick) in [
            (
                "received",
                (|f: &Flow| Flow::get(&f.received)) as fn(&Flow) -> u64,
            ),
            ("done", |f| Flow::get(&f.done)),
            ("invalid", |f| Flow::get(&f.invalid)),
            ("failed", |f| Flow::get(&f.failed)),
            ("lost", |f| Flow::get(&f.lost)),
        ] {
            let _ = writeln!(out, "# TYPE zato_connector_messages_{family}_total counter");
            for (kind, direction, flow) in self.metrics.flows() {
                let _ = writeln!(
                    out,
                    "zato_connector_messages_{family}_total{{member=\"{member}\",kind=\"{kind}\",direction=\"{direction}\"}} {}",
                    pick(flow)
                );
            }
        }
        let _ = writeln!(out, "# TYPE zato_connector_connection_up gauge");
        let links = self.connections.list();
        for link in &links {
            let _ = writeln!(
                out,
                "zato_connector_connection_up{{member=\"{member}\",kind=\"{}\",name=\"{}\"}} {}",
                link.kind,
                escape(&link.name),
                u8::from(link.state == LinkState::Connected)
            );
        }
        let _ = writeln!(out, "# TYPE zato_connector_reconnects_total counter");
        for link in &links {
            let _ = writeln!(
                out,
                "zato_connector_reconnects_total{{member=\"{member}\",kind=\"{}\",name=\"{}\"}} {}",
                link.kind,
                escape(&link.name),
                link.reconnects
            );
        }
        let _ = writeln!(out, "# TYPE zato_broker_handled_total counter");
        for (consumer, stats) in &self.consumers {
            let _ = writeln!(
                out,
                "zato_broker_handled_total{{member=\"{member}\",consumer=\"{consumer}\"}} {}",
                stats.health().handled
            );
        }
        let (healthy, _) = self.report();
        let _ = writeln!(
            out,
            "# TYPE zato_healthy gauge\nzato_healthy{{member=\"{member}\"}} {}",
            u8::from(healthy)
        );
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
