//! What every channel and outgoing worker shares: the broker to hand messages over to, the
//! connection registry it reports its state in, and the counters.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zato_broker::Broker;

use crate::connections::Connections;
use crate::metrics::Metrics;

/// The context of every worker.
#[derive(Clone)]
pub struct Ctx {
    pub broker: Broker,
    pub connections: Connections,
    pub metrics: Arc<Metrics>,
}

impl Ctx {
    /// This connector's member name.
    pub fn member(&self) -> &str {
        self.broker.member()
    }
}

/// The longest a stopping worker may take to finish what it holds (hand-overs in flight)
/// before it is aborted.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A started worker task and the token that stops it.
pub struct Task {
    pub cancel: CancellationToken,
    pub join: JoinHandle<()>,
}

impl Task {
    /// Starts `work`, which must return soon after `cancel` fires.
    pub fn spawn<F, Fut>(work: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let join = tokio::spawn(work(cancel.clone()));
        Self { cancel, join }
    }

    /// Asks the worker to stop and waits for it (at most [`STOP_TIMEOUT`], then aborts it).
    pub async fn stop(self) {
        self.cancel.cancel();
        let abort = self.join.abort_handle();
        if tokio::time::timeout(STOP_TIMEOUT, self.join).await.is_err() {
            tracing::warn!("worker did not stop in time; aborted");
            abort.abort();
        }
    }
}
