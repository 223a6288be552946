//! Reconnection back-off with jitter.

use std::time::Duration;

/// Exponential back-off from `min` to `max`, with up to 25% random jitter so that many
/// members reconnecting to a restarted Redis do not all knock at once.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A back-off starting at `min`, doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            current: min,
        }
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter_ms = (base.as_millis() as u64 / 4).max(1);
        base + Duration::from_millis(fastrand::u64(0..jitter_ms))
    }

    /// Back to the shortest delay, after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(126));
        b.next_delay();
        let third = b.next_delay();
        assert!(third >= Duration::from_millis(400) && third < Duration::from_millis(501));
        assert!(b.next_delay() < Duration::from_millis(501));
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(126));
    }
}
