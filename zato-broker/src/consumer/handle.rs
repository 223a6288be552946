//! The handle a started consumer loop is controlled through.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::{ConsumerHealth, ConsumerStats};

/// A running consumer loop.
pub struct ConsumerHandle {
    pub(crate) stats: Arc<ConsumerStats>,
    pub(crate) cancel: CancellationToken,
    pub(crate) join: JoinHandle<()>,
}

impl ConsumerHandle {
    /// The loop's counters now.
    pub fn health(&self) -> ConsumerHealth {
        self.stats.health()
    }

    /// The live counters, to keep for health checks after the handle is gone.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        self.stats.clone()
    }

    /// Graceful stop: no new reads, in-flight work finishes (up to `drain`), what finished is
    /// acknowledged, what did not stays pending for another consumer.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }

    /// Whether the loop has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Stops at once, as a crash would: nothing in flight is acknowledged.
    pub fn abort(self) {
        self.join.abort();
    }
}

/// The longest a graceful stop waits for in-flight handlers.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
