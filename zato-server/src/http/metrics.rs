//! Prometheus metrics in the text exposition format, written by hand: a dozen families do
//! not need a metrics library.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use zato_common::striped::Striped;

use super::AppState;

/// HTTP answers by status code, counted per worker thread (every request counts one).
#[derive(Default)]
pub struct HttpMetrics {
    by_status: Striped<StatusCounts>,
}

/// One counter per status code, 100 to 599.
struct StatusCounts([AtomicU64; 500]);

impl Default for StatusCounts {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl HttpMetrics {
    /// Counts one answer.
    pub fn count(&self, status: u16) {
        let index = usize::from(status).wrapping_sub(100);
        if let Some(counter) = self.by_status.local().0.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers so far, by status code.
    fn totals(&self) -> impl Iterator<Item = (usize, u64)> {
        (0..500).map(|index| {
            let n = self
                .by_status
                .iter()
                .map(|counts| counts.0[index].load(Ordering::Relaxed))
                .sum();
            (index + 100, n)
        })
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
    for (status, n) in state.metrics.totals() {
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
