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

/// The bucket bounds, in seconds, that [`Histogram::cumulative`] reports: the latencies of a
/// service (100 µs to a minute), in the steps Prometheus client libraries use by default.
pub const PROMETHEUS_BOUNDS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 60.0,
];

/// A histogram in the form Prometheus takes: cumulative counts per upper bound.
#[derive(Debug, Clone, PartialEq)]
pub struct Cumulative {
    /// The sum of every recorded duration, in seconds.
    pub sum_seconds: f64,
    pub count: u64,
    /// `(upper bound in seconds, events at or below it)` for each of [`PROMETHEUS_BOUNDS`].
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// The counts per Prometheus bound. Each fine bucket counts under the first bound at or
    /// above its upper limit, so a count is never reported under a bound below its value;
    /// an event may show one bound later than its exact value would (the fine buckets are
    /// 19% wide), which is the precision the percentiles have too.
    pub fn cumulative(&self) -> Cumulative {
        let mut per_bound = [0u64; PROMETHEUS_BOUNDS.len()];
        let mut count = 0;
        let mut total_us = 0;
        for stripe in self.counts.iter() {
            count += stripe.calls.load(Ordering::Relaxed);
            total_us += stripe.total_us.load(Ordering::Relaxed);
            for (index, bucket) in stripe.buckets.iter().enumerate() {
                let n = bucket.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let limit = bucket_limit(index) as f64 / 1e6;
                if let Some(bound) = PROMETHEUS_BOUNDS.iter().position(|b| *b >= limit) {
                    per_bound[bound] += n;
                }
            }
        }
        let mut seen = 0;
        let buckets = PROMETHEUS_BOUNDS
            .iter()
            .zip(per_bound)
            .map(|(bound, n)| {
                seen += n;
                (*bound, seen)
            })
            .collect();
        Cumulative {
            sum_seconds: total_us as f64 / 1e6,
            count,
            buckets,
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
    fn cumulative_counts_never_sit_below_their_value() {
        let stats = Histogram::default();
        for us in [50u64, 90, 400, 3_000, 3_000, 2_000_000, 120_000_000] {
            stats.record(Duration::from_micros(us), false);
        }
        let c = stats.cumulative();
        assert_eq!(c.count, 7);
        assert!(
            (c.sum_seconds - 122.00654).abs() < 1e-9,
            "{}",
            c.sum_seconds
        );
        let at = |bound: f64| c.buckets.iter().find(|(b, _)| *b == bound).map(|(_, n)| *n);
        assert_eq!(at(0.0001), Some(2), "50 and 90 µs");
        assert_eq!(at(0.0005), Some(3));
        assert_eq!(at(0.005), Some(5), "the two 3 ms");
        assert_eq!(at(2.5), Some(6));
        // Above the last bound: only in the count (the +Inf bucket).
        assert_eq!(at(60.0), Some(6));
        assert!(c.buckets.windows(2).all(|w| w[0].1 <= w[1].1));
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
