//! Slowing down token guessing: failed admin logins are counted per client address, and an
//! address with too many failures in a window is refused (429) until the window ends. Each
//! address's failures are logged once per window, not once per attempt, so a guessing client
//! cannot flood the log either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed per address and window.
pub const MAX_FAILURES: u32 = 10;

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The most addresses tracked; beyond that the oldest windows are forgotten first.
const MAX_TRACKED: usize = 10_000;

struct Window {
    started: Instant,
    failures: u32,
}

/// Failed admin logins by client address.
#[derive(Default)]
pub struct AuthLimiter {
    windows: Mutex<HashMap<IpAddr, Window>>,
}

/// What to do about one failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Refuse as unauthorized; `log` is true for the first failure of the window.
    Refuse { log: bool },
    /// Too many failures: refuse with 429 until the window ends.
    Throttle { retry_after: Duration },
}

impl AuthLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Window>> {
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `peer` is throttled now (checked before the token, so a throttled client
    /// learns nothing about its guesses).
    pub fn throttled(&self, peer: IpAddr) -> Option<Duration> {
        let windows = self.lock();
        let window = windows.get(&peer)?;
        let elapsed = window.started.elapsed();
        (window.failures >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    /// Records a failure of `peer`.
    pub fn failed(&self, peer: IpAddr) -> Verdict {
        let mut windows = self.lock();
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| w.started.elapsed() < WINDOW);
        }
        let window = windows.entry(peer).or_insert(Window {
            started: Instant::now(),
            failures: 0,
        });
        if window.started.elapsed() >= WINDOW {
            *window = Window {
                started: Instant::now(),
                failures: 0,
            };
        }
        window.failures += 1;
        if window.failures > MAX_FAILURES {
            Verdict::Throttle {
                retry_after: WINDOW.saturating_sub(window.started.elapsed()),
            }
        } else {
            Verdict::Refuse {
                log: window.failures == 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_after_too_many_failures_and_logs_once() {
        let limiter = AuthLimiter::default();
        let peer: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(limiter.failed(peer), Verdict::Refuse { log: true });
        for _ in 1..MAX_FAILURES {
            assert_eq!(limiter.failed(peer), Verdict::Refuse { log: false });
        }
        assert!(limiter.throttled(peer).is_some());
        assert!(matches!(limiter.failed(peer), Verdict::Throttle { .. }));
        assert!(
            limiter.throttled(other).is_none(),
            "other clients are not affected"
        );
    }
}
