//! The only clocks a deployed service sees: wall and monotonic time to the millisecond.
//!
//! Finer clocks are what timing side channels are measured with; a service has no use for
//! them that milliseconds do not serve.

use std::time::{Duration, Instant, SystemTime};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

const MILLISECOND: Duration = Duration::from_millis(1);

/// Wall-clock time, truncated to the millisecond.
pub struct MillisecondWallClock;

impl HostWallClock for MillisecondWallClock {
    fn resolution(&self) -> Duration {
        MILLISECOND
    }

    fn now(&self) -> Duration {
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_millis(since_epoch.as_millis() as u64)
    }
}

/// Monotonic time in nanoseconds since the instance started, truncated to the millisecond.
pub struct MillisecondMonotonicClock {
    started: Instant,
}

impl MillisecondMonotonicClock {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
        }
    }
}

impl HostMonotonicClock for MillisecondMonotonicClock {
    fn resolution(&self) -> u64 {
        MILLISECOND.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        let millis = self.started.elapsed().as_millis() as u64;
        millis * 1_000_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_clocks_tick_in_whole_milliseconds() {
        assert_eq!(MillisecondWallClock.now().subsec_nanos() % 1_000_000, 0);
        let monotonic = MillisecondMonotonicClock::new();
        std::thread::sleep(Duration::from_millis(3));
        let now = monotonic.now();
        assert_eq!(now % 1_000_000, 0);
        assert!(now >= 3_000_000, "{now}");
    }
}
