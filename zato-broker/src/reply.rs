//! Request/reply: one listener per process completes every waiting request by id.
//!
//! A request carries `reply_to`, the list this process listens on; the responder pushes the
//! reply there. One task per process pops replies (on a dedicated connection, since `BLPOP`
//! blocks) and hands each to the waiter registered under the request's id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::Value;
use tokio::sync::oneshot;
use tracing::{debug, warn};
use uuid::Uuid;
use zato_common::Envelope;

use crate::Broker;
use crate::backoff::Backoff;
use crate::error::{BrokerError, Result};
use crate::sync::lock;

type Waiters = Arc<Mutex<HashMap<Uuid, oneshot::Sender<Envelope>>>>;

/// The per-process reply listener.
pub(crate) struct ReplyListener {
    key: String,
    waiters: Waiters,
}

/// One request waiting for its reply; forgets itself when dropped.
pub(crate) struct ReplyWaiter {
    id: Uuid,
    rx: oneshot::Receiver<Envelope>,
    waiters: Waiters,
}

impl ReplyListener {
    pub(crate) fn spawn(broker: Broker) -> Self {
        let key = broker.keys().reply(broker.consumer_id());
        let waiters: Waiters = Arc::default();
        tokio::spawn(listen(broker, key.clone(), waiters.clone()));
        Self { key, waiters }
    }

    /// The list replies to this process go to.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Registers interest in the reply to request `id`.
    pub(crate) fn register(&self, id: Uuid) -> ReplyWaiter {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(id, tx);
        ReplyWaiter {
            id,
            rx,
            waiters: self.waiters.clone(),
        }
    }
}

impl ReplyWaiter {
    /// The reply, or [`BrokerError::Timeout`].
    pub(crate) async fn wait(mut self, timeout: Duration) -> Result<Envelope> {
        match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BrokerError::Closed),
            Err(_) => Err(BrokerError::Timeout(timeout)),
        }
    }
}

impl Drop for ReplyWaiter {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.id);
    }
}

async fn listen(broker: Broker, key: String, waiters: Waiters) {
    let cancel = broker.cancel_token().clone();
    let mut backoff = Backoff::default();
    let block = Duration::from_millis(broker.settings().block_ms);
    let block_secs = block.as_secs_f64();
    while !cancel.is_cancelled() {
        let mut conn = match broker.redis().dedicated().await {
            Ok(conn) => conn,
            Err(e) => {
                warn!(error = %e, "reply listener cannot reach redis");
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => continue,
                    () = cancel.cancelled() => return,
                }
            }
        };
        loop {
            let mut pop = redis::cmd("BLPOP");
            pop.arg(&key).arg(block_secs);
            let reply = tokio::select! {
                reply = conn.query_blocking::<Value>(&pop, block) => reply,
                () = cancel.cancelled() => return,
            };
            match reply {
                Ok(Value::Nil) => backoff.reset(),
                Ok(Value::Array(items)) => {
                    backoff.reset();
                    if let Some(Value::BulkString(bytes)) = items.get(1) {
                        deliver(&waiters, bytes);
                    }
                }
                Ok(other) => warn!(reply = ?other, "unexpected BLPOP reply"),
                Err(e) => {
                    warn!(error = %e, "reply listener lost redis; reconnecting");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff.next_delay()) => {}
            () = cancel.cancelled() => return,
        }
    }
}

fn deliver(waiters: &Waiters, bytes: &[u8]) {
    let reply = match Envelope::decode(bytes) {
        Ok(reply) => reply,
        Err(e) => {
            warn!(error = %e, "dropping a reply that is not an envelope");
            return;
        }
    };
    let Some(request_id) = reply.in_reply_to else {
        warn!(id = %reply.id, "dropping a reply that names no request");
        return;
    };
    match lock(waiters).remove(&request_id) {
        Some(tx) => {
            let _ = tx.send(reply);
        }
        None => debug!(%request_id, "reply came after its request gave up"),
    }
}
