//! Counters a consumer keeps about itself, read by health checks and metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::Serialize;
use zato_common::clock::unix_ms;

/// Live counters of one consumer loop.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    pub handled: AtomicU64,
    pub failed: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub unknown_action: AtomicU64,
    pub reclaimed: AtomicU64,
    pub skipped: AtomicU64,
    connected: AtomicBool,
    last_read_ms: AtomicU64,
}

/// A copy of [`ConsumerStats`] at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerHealth {
    pub handled: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    pub unknown_action: u64,
    pub reclaimed: u64,
    /// Acknowledged without a handler: config changes the snapshot already had, and
    /// actions this member has no handler for.
    pub skipped: u64,
    /// Whether the loop is connected to Redis right now.
    pub connected: bool,
    /// When the last read from Redis succeeded (Unix ms; 0 = never).
    pub last_read_ms: u64,
}

impl ConsumerHealth {
    /// Whether the loop is connected and read from Redis within the last `stall_after_ms`:
    /// connected but not reading (a stalled loop) is as unhealthy as disconnected.
    pub fn is_fresh(&self, stall_after_ms: u64) -> bool {
        self.connected && unix_ms().saturating_sub(self.last_read_ms) <= stall_after_ms
    }
}

impl ConsumerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read_ok(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.last_read_ms.store(unix_ms(), Ordering::Relaxed);
    }

    pub(crate) fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn health(&self) -> ConsumerHealth {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ConsumerHealth {
            handled: get(&self.handled),
            failed: get(&self.failed),
            dead_lettered: get(&self.dead_lettered),
            unknown_action: get(&self.unknown_action),
            reclaimed: get(&self.reclaimed),
            skipped: get(&self.skipped),
            connected: self.connected.load(Ordering::Relaxed),
            last_read_ms: get(&self.last_read_ms),
        }
    }
}
