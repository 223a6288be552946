//! What the scheduler counts: fires, misfires, and how late fires are; exposed at scrape
//! time through the member runtime's registry.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use zato_broker::member::metrics::{NO_LABELS, counters, gauges, histograms};
use zato_common::histogram::Histogram;

/// Counters of the active scheduler.
#[derive(Debug, Default)]
pub struct SchedulerMetrics {
    /// Instants fired by this process.
    pub fires: AtomicU64,
    /// Instants found already fired by another scheduler (idempotency marks at work).
    pub duplicates_avoided: AtomicU64,
    /// Missed instants handled by a misfire policy (run once, or skipped).
    pub misfires: AtomicU64,
    /// How long after its scheduled instant each fire reached Redis.
    pub lateness: Histogram,
    /// Jobs planned now.
    pub jobs: AtomicU64,
}

impl SchedulerMetrics {
    pub fn fired(&self, late: Duration) {
        self.fires.fetch_add(1, Ordering::Relaxed);
        self.lateness.record(late, false);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl Collector for SchedulerMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let get = Self::get;
        counters(
            &mut encoder,
            "scheduler_fires",
            "Scheduled instants this scheduler fired.",
            [(NO_LABELS, get(&self.fires))],
        )?;
        counters(
            &mut encoder,
            "scheduler_duplicates_avoided",
            "Instants found fired already by another scheduler.",
            [(NO_LABELS, get(&self.duplicates_avoided))],
        )?;
        counters(
            &mut encoder,
            "scheduler_misfires",
            "Missed instants handled by a job's misfire policy.",
            [(NO_LABELS, get(&self.misfires))],
        )?;
        gauges(
            &mut encoder,
            "scheduler_jobs",
            "Jobs planned by the active scheduler.",
            [(NO_LABELS, get(&self.jobs) as i64)],
        )?;
        histograms(
            &mut encoder,
            "scheduler_fire_lateness_seconds",
            "How long after its scheduled instant each fire reached Redis.",
            [(NO_LABELS, self.lateness.cumulative())],
        )
    }
}
