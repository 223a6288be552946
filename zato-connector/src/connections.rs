//! The state of every AMQP and ZeroMQ connection the connector holds, for `/zato/health`
//! and `/metrics`.
//!
//! Each worker (a channel's consumers, an outgoing connection) owns one entry and updates it
//! as it connects, loses its peer and reconnects; the entry is removed when the worker stops.
//! Targets are shown as host and vhost (AMQP) or the ZeroMQ address, never with credentials.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use zato_common::clock::unix_ms;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Trying to connect (first time, or again after a failure).
    Connecting,
    /// Connected (AMQP) or bound/connected (ZeroMQ) and working.
    Connected,
    /// Lost; waiting before the next attempt.
    Reconnecting,
}

/// One connection's entry.
#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    /// `amqp_channel`, `amqp_outgoing`, `zmq_channel`, `zmq_outgoing`.
    pub kind: &'static str,
    pub name: String,
    /// `host:port/vhost` or the ZeroMQ address.
    pub target: String,
    pub state: LinkState,
    /// Unix ms of the last change of state.
    pub since_ms: u64,
    /// How many times it was lost and established again.
    pub reconnects: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Whether it was ever up: the next time it comes up counts as a reconnection.
    #[serde(skip)]
    was_up: bool,
}

/// Every connection's entry, by `<kind>/<name>`.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<Mutex<BTreeMap<String, LinkInfo>>>,
}

/// A worker's handle on its own entry; dropping it removes the entry.
pub struct Link {
    key: String,
    connections: Connections,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LinkInfo>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a connection, in state `Connecting`.
    pub fn register(&self, kind: &'static str, name: &str, target: String) -> Link {
        let key = format!("{kind}/{name}");
        self.lock().insert(
            key.clone(),
            LinkInfo {
                kind,
                name: name.to_owned(),
                target,
                state: LinkState::Connecting,
                since_ms: unix_ms(),
                reconnects: 0,
                last_error: None,
                was_up: false,
            },
        );
        Link {
            key,
            connections: self.clone(),
        }
    }

    /// A copy of every entry.
    pub fn list(&self) -> Vec<LinkInfo> {
        self.lock().values().cloned().collect()
    }
}

impl Link {
    fn update(&self, change: impl FnOnce(&mut LinkInfo)) {
        if let Some(info) = self.connections.lock().get_mut(&self.key) {
            change(info);
        }
    }

    /// Trying to connect.
    pub fn connecting(&self) {
        self.update(|i| {
            if i.state != LinkState::Connecting {
                i.state = LinkState::Connecting;
                i.since_ms = unix_ms();
            }
        });
    }

    /// Connected; a connection that was up before counts as a reconnection.
    pub fn connected(&self) {
        self.update(|i| {
            if i.state == LinkState::Connected {
                return;
            }
            if i.was_up {
                i.reconnects += 1;
            }
            i.was_up = true;
            i.state = LinkState::Connected;
            i.since_ms = unix_ms();
        });
    }

    /// Lost or failed to connect, with why.
    pub fn failed(&self, error: &str) {
        self.update(|i| {
            if i.state != LinkState::Reconnecting {
                i.state = LinkState::Reconnecting;
                i.since_ms = unix_ms();
            }
            i.last_error = Some(error.to_owned());
        });
    }

    /// `<kind>/<name>`: what logs name the connection by.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether it is connected right now.
    pub fn is_connected(&self) -> bool {
        self.connections
            .lock()
            .get(&self.key)
            .is_some_and(|i| i.state == LinkState::Connected)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.key);
    }
}
