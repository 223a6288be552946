//! Prometheus metrics in the text exposition format, written by hand: a dozen families do
//! not need a metrics library.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::AppState;

/// HTTP answers by status code.
pub struct HttpMetrics {
    by_status: Box<[AtomicU64]>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            by_status: (0..600).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl HttpMetrics {
    /// Counts one answer.
    pub fn count(&self, status: u16) {
        if let Some(counter) = self.by_status.get(usize::from(status)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every metric, as text.
pub fn render(state: &AppState) -> String {
    let mut out = String::new();
    let member = escape(state.dispatcher.broker().member());
    let _ = writeln!(out, "# TYPE zato_http_responses_total counter");
    for (status, counter) in state.metrics.by_status.iter().enumerate() {
        let n = counter.load(Ordering::Relaxed);
        if n > 0 {
            let _ = writeln!(
                out,
                "zato_http_responses_total{{member=\"{member}\",status=\"{status}\"}} {n}"
            );
        }
    }
    let stats = state.dispatcher.registry().stats();
    let _ = writeln!(out, "# TYPE zato_service_calls_total counter");
    for (name, s) in &stats {
        let _ = writeln!(
            out,
            "zato_service_calls_total{{member=\"{member}\",service=\"{}\"}} {}",
            escape(name),
            s.calls
        );
    }
    let _ = writeln!(out, "# TYPE zato_service_errors_total counter");
    for (name, s) in &stats {
        let _ = writeln!(
            out,
            "zato_service_errors_total{{member=\"{member}\",service=\"{}\"}} {}",
            escape(name),
            s.errors
        );
    }
    let _ = writeln!(out, "# TYPE zato_service_duration_microseconds summary");
    for (name, s) in stats.iter().filter(|(_, s)| s.calls > 0) {
        let name = escape(name);
        for (quantile, value) in [("0.5", s.p50_us), ("0.99", s.p99_us)] {
            let _ = writeln!(
                out,
                "zato_service_duration_microseconds{{member=\"{member}\",service=\"{name}\",quantile=\"{quantile}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "zato_service_duration_microseconds_sum{{member=\"{member}\",service=\"{name}\"}} {}",
            s.mean_us * s.calls
        );
        let _ = writeln!(
            out,
            "zato_service_duration_microseconds_count{{member=\"{member}\",service=\"{name}\"}} {}",
            s.calls
        );
    }
    for (family, pick) in [
        (
            "handled",
            (|h: &zato_broker::ConsumerHealth| h.handled)
                as fn(&zato_broker::ConsumerHealth) -> u64,
        ),
        ("failed", |h| h.failed),
        ("dead_lettered", |h| h.dead_lettered),
        ("reclaimed", |h| h.reclaimed),
        ("unknown_action", |h| h.unknown_action),
    ] {
        let _ = writeln!(out, "# TYPE zato_broker_{family}_total counter");
        for (consumer, stats) in &state.health.consumers {
            let _ = writeln!(
                out,
                "zato_broker_{family}_total{{member=\"{member}\",consumer=\"{consumer}\"}} {}",
                pick(&stats.health())
            );
        }
    }
    let (healthy, _) = state.health.report();
    let _ = writeln!(
        out,
        "# TYPE zato_healthy gauge\nzato_healthy{{member=\"{member}\"}} {}",
        u8::from(healthy)
    );
    out
}
