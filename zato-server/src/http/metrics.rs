//! The server's metric families: HTTP answers by status, and per service its calls, errors
//! and durations (a histogram in seconds, so that it adds up across servers). Counted in
//! striped counters on the request path and read at scrape time by [`ServerCollector`],
//! through the member runtime's registry.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use zato_broker::member::metrics::{counters, histograms};
use zato_common::striped::Striped;

use crate::dispatcher::Dispatcher;

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

/// Reads the server's counters at scrape time.
pub struct ServerCollector {
    pub dispatcher: Arc<Dispatcher>,
    pub http: Arc<HttpMetrics>,
}

impl fmt::Debug for ServerCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerCollector")
    }
}

impl Collector for ServerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        counters(
            &mut encoder,
            "http_responses",
            "HTTP answers of this server, by status code.",
            self.http
                .totals()
                .filter(|(_, n)| *n > 0)
                .map(|(status, n)| ([("status", status.to_string())], n)),
        )?;
        // Compiled-in and deployed services alike.
        let deployed = self.dispatcher.deployed().stats();
        let services: Vec<_> = self
            .dispatcher
            .registry()
            .services()
            .map(|s| (s.name.as_str(), &s.stats))
            .chain(deployed.iter().map(|(name, stats)| (name.as_str(), stats)))
            .map(|(name, stats)| (name, stats.snapshot(), stats.cumulative()))
            .collect();
        counters(
            &mut encoder,
            "service_calls",
            "Calls of a service, from every channel.",
            services
                .iter()
                .map(|(name, snapshot, _)| ([("service", *name)], snapshot.calls)),
        )?;
        counters(
            &mut encoder,
            "service_errors",
            "Calls of a service that ended in an error.",
            services
                .iter()
                .map(|(name, snapshot, _)| ([("service", *name)], snapshot.errors)),
        )?;
        histograms(
            &mut encoder,
            "service_duration_seconds",
            "How long calls of a service took.",
            services
                .into_iter()
                .filter(|(_, snapshot, _)| snapshot.calls > 0)
                .map(|(name, _, cumulative)| ([("service", name)], cumulative)),
        )
    }
}
