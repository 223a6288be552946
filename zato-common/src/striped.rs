//! Counters kept per thread, summed when read.
//!
//! A counter that every worker bumps on every request is one cache line that the cores pass
//! back and forth: each increment waits for the line to come over from the core that made
//! the last one. With one stripe per thread (as many stripes as cores, each on its own cache
//! lines) a thread only ever writes its own, and readers, who are rare (`/metrics`, the admin
//! API), add the stripes up.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One value per stripe.
#[derive(Debug)]
pub struct Striped<T> {
    stripes: Box<[CacheLines<T>]>,
}

/// A stripe, aligned so that no two stripes share a cache line (128 bytes: adjacent-line
/// prefetching pairs 64-byte lines on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
struct CacheLines<T>(T);

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Self {
            stripes: (0..stripe_count())
                .map(|_| CacheLines(T::default()))
                .collect(),
        }
    }
}

impl<T> Striped<T> {
    /// The calling thread's stripe.
    pub fn local(&self) -> &T {
        &self.stripes[thread_stripe() % self.stripes.len()].0
    }

    /// Every stripe, for readers to add up.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.stripes.iter().map(|stripe| &stripe.0)
    }
}

/// As many stripes as cores (at most 16: beyond that a stripe per thread buys little).
fn stripe_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, 16)
    })
}

/// The calling thread's stripe number: threads are numbered in the order they first count
/// something, so the first threads (the workers) get stripes of their own.
fn thread_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    STRIPE.with(|stripe| *stripe)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[test]
    fn every_thread_counts_and_the_sum_is_exact() {
        let counter: std::sync::Arc<Striped<AtomicU64>> = Default::default();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.local().fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("counting thread");
        }
        let total: u64 = counter.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 80_000);
    }

    #[test]
    fn stripes_do_not_share_cache_lines() {
        let counter: Striped<AtomicU64> = Default::default();
        let addresses: Vec<usize> = counter
            .iter()
            .map(|c| std::ptr::from_ref(c) as usize)
            .collect();
        for pair in addresses.windows(2) {
            assert!(pair[1] - pair[0] >= 128);
        }
    }
}
