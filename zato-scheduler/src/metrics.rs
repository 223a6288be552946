//! What the scheduler counts: fires, misfires, and how late fires are.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
