//! A latency histogram: count, errors, mean, p50 and p99 of durations (service times, fire
//! lateness).
//!
//! Times go into a fixed log-scale histogram of atomic counters (four buckets per power of two,
//! from 1 µs to ~70 min), so recording is lock-free and memory is constant; percentiles are
//! exact to within one bucket (±10%). The counters are [`Striped`]: the workers recording
//! calls of one service at once do not write the same cache lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::striped::Striped;

const SUB_BUCKETS: usize = 4;
const POWERS: usize = 32;
const BUCKETS: usize = SUB_BUCKETS * POWERS;

/// Live counters of one kind of timed event.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: Striped<Counts>,
}

/// One stripe's counters.
#[derive(Debug)]
struct Counts {
    calls: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    buckets: [AtomicU64; BUCKETS],
}

impl Default for Counts {
    fn default() -> Self {
        Self {
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// A copy of a histogram's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsSnapshot {
    pub calls: u64,
    pub errors: u64,
    pub mean_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

fn bucket_of(us: u64) -> usize {
    let us = us.max(1);
    let power = 63 - us.leading_zeros() as usize;
    let fraction = if power >= 2 {
        ((us >> (power - 2)) & 0b11) as usize
    } else {
        0
    };
    (power * SUB_BUCKETS + fraction).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in µs.
fn bucket_limit(index: usize) -> u64 {
    let power = index / SUB_BUCKETS;
    let fraction = (index % SUB_BUCKETS) as u64;
    if power < 2 {
        return (1 << (power + 1)) - 1;
    }
    (1u64 << power) + ((fraction + 1) << (power - 2)) - 1
}

impl Histogram {
    /// Records one event that took `took`; `failed` counts it as an error too.
    pub fn record(&self, took: Duration, failed: bool) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let counts = self.counts.local();
        counts.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        counts.total_us.fetch_add(us, Ordering::Relaxed);
        counts.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let sum = |field: fn(&Counts) -> &AtomicU64| -> u64 {
            self.counts
                .iter()
                .map(|c| field(c).load(Ordering::Relaxed))
                .sum()
        };
        let mut counts = [0u64; BUCKETS];
        for stripe in self.counts.iter() {
            for (total, bucket) in counts.iter_mut().zip(&stripe.buckets) {
                *total += bucket.load(Ordering::Relaxed);
            }
        }
        let recorded: u64 = counts.iter().sum();
        let percentile = |p: f64| -> u64 {
            if recorded == 0 {
                return 0;
            }
            let rank = ((recorded as f64) * p).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (index, count) in counts.iter().enumerate() {
                seen += count;
                if seen >= rank {
                    return bucket_limit(index);
                }
            }
            bucket_limit(BUCKETS - 1)
        };
        let calls = sum(|c| &c.calls);
        StatsSnapshot {
            calls,
            errors: sum(|c| &c.errors),
            mean_us: sum(|c| &c.total_us).checked_div(calls).unwrap_or(0),
            p50_us: percentile(0.5),
            p99_us: percentile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_their_values() {
        for us in [1u64, 2, 3, 4, 5, 7, 8, 100, 1_000, 12_345, 1_000_000] {
            let b = bucket_of(us);
            assert!(
                bucket_limit(b) >= us,
                "{us} above its bucket limit {}",
                bucket_limit(b)
            );
            assert!(
                bucket_limit(b) as f64 <= us as f64 * 1.26 + 1.0,
                "{us} bucket too coarse: {}",
                bucket_limit(b)
            );
        }
    }

    #[test]
    fn percentiles_and_mean() {
        let stats = Histogram::default();
        for i in 1..=100u64 {
            stats.record(Duration::from_micros(i * 100), i > 98);
        }
        let s = stats.snapshot();
        assert_eq!((s.calls, s.errors), (100, 2));
        assert_eq!(s.mean_us, 5_050);
        assert!((5_000..=6_300).contains(&s.p50_us), "{}", s.p50_us);
        assert!((9_900..=12_300).contains(&s.p99_us), "{}", s.p99_us);
    }
}
