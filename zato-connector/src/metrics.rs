//! Counters of what went through the connector, by channel kind.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one direction and kind (AMQP in, ZeroMQ out, ...).
#[derive(Debug, Default)]
pub struct Flow {
    /// Messages received from a peer (in) or asked to be sent (out).
    pub received: AtomicU64,
    /// Handed over to the servers (in) or accepted by the peer (out).
    pub done: AtomicU64,
    /// Refused for their content (a body that is not JSON, a bad property).
    pub invalid: AtomicU64,
    /// Could not be handed over or sent (and were retried, or reported to the caller).
    pub failed: AtomicU64,
    /// Held when the connector stopped while Redis was unreachable (ZeroMQ in), never sent.
    pub lost: AtomicU64,
}

impl Flow {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Every counter of the connector.
#[derive(Debug, Default)]
pub struct Metrics {
    pub amqp_in: Flow,
    pub amqp_out: Flow,
    pub zmq_in: Flow,
    pub zmq_out: Flow,
}

impl Metrics {
    /// Each flow with its `kind` and `direction` labels.
    pub fn flows(&self) -> [(&'static str, &'static str, &Flow); 4] {
        [
            ("amqp", "in", &self.amqp_in),
            ("amqp", "out", &self.amqp_out),
            ("zmq", "in", &self.zmq_in),
            ("zmq", "out", &self.zmq_out),
        ]
    }
}
