//! The live outgoing connections of one kind on one server, by name.
//!
//! Every server keeps its own clients and pools, built from the config store and rebuilt
//! when a definition changes over 1:all. A call takes an `Arc` of the connection it found, so
//! a call in flight finishes on the pool it started on while new calls get the new one; the
//! old pool closes when its last call ends. A deleted connection is gone from the map and
//! fails fast; an inactive one, or one this server cannot open the secrets of, stays in the
//! map with the reason, so a call and the health report say why.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwap;
use zato_common::histogram::Histogram;
use zato_common::model::ConfigObject;
use zato_common::sealed::Keyring;

/// A kind of outgoing connection: how a definition becomes something to call.
pub trait Connection: Sized + Send + Sync + 'static {
    type Definition: ConfigObject + PartialEq;

    /// Whether the definition is switched on.
    fn is_active(definition: &Self::Definition) -> bool;

    /// The connection for `definition`, its secrets opened with `keyring`; the error says,
    /// without any secret, why it cannot be used here.
    fn build(definition: &Self::Definition, keyring: &Keyring) -> Result<Self, String>;

    /// The pool's figures now.
    fn pool(&self) -> PoolFigures;
}

/// How busy a connection's pool is: what health shows and metrics export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolFigures {
    /// The most calls (REST) or connections (SQL) at once.
    pub max: u32,
    pub in_use: u32,
    /// Calls waiting for a free one.
    pub waiting: u32,
}

/// Counts a caller as waiting for a pool slot for as long as it lives, even if its future is
/// dropped (a service's own timeout, a `select!`), so the figure never drifts.
pub struct Waiting<'a>(&'a AtomicU32);

impl<'a> Waiting<'a> {
    pub fn enter(counter: &'a AtomicU32) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a name stands for on this server now.
pub enum State<C> {
    Ready(Arc<C>),
    /// `is_active` is off.
    Inactive,
    /// Defined, but this server cannot use it (no key for its secrets, a CA that does not
    /// parse): the reason.
    Unusable(String),
}

/// One connection with what is counted about it. The counters outlive rebuilds of the
/// connection, so an edit does not reset them.
pub struct Entry<C: Connection> {
    pub state: State<C>,
    pub stats: Arc<CallStats>,
    /// What it was built from: a definition that comes again unchanged (a 1:all snapshot
    /// reloaded after a Redis reconnect, an edit that changes nothing) is not rebuilt, so its
    /// pool keeps its connections and its bound on calls in flight.
    definition: C::Definition,
}

/// What kind of failure an error is, in words that hold no data of the call (no URL, no
/// parameter, no database message quoting a row): what the unauthenticated health report may
/// show.
pub trait ErrorClass {
    fn class(&self) -> String;
}

/// Calls through one connection.
#[derive(Default)]
pub struct CallStats {
    /// Calls and their durations; the errors are the calls that got no answer.
    pub calls: Histogram,
    last_error: Mutex<Option<LastError>>,
}

/// The last failure of a connection: its class, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LastError {
    pub class: String,
    pub at_ms: u64,
}

impl CallStats {
    /// Records a call that started at `started`.
    pub fn record<T, E: ErrorClass>(&self, started: Instant, outcome: &Result<T, E>) {
        self.calls.record(started.elapsed(), outcome.is_err());
        if let Err(e) = outcome {
            let last = LastError {
                class: e.class(),
                at_ms: zato_common::clock::unix_ms(),
            };
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(last);
        }
    }

    /// The last call's failure, if any call failed.
    pub fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Why a connection cannot be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("there is no {kind} '{name}' (deleted, or never created)")]
    Missing { kind: &'static str, name: String },
    #[error("{kind} '{name}' is inactive")]
    Inactive { kind: &'static str, name: String },
    #[error("{kind} '{name}' cannot be used on this server: {reason}")]
    Unusable {
        kind: &'static str,
        name: String,
        reason: String,
    },
}

/// The connections of kind `C`, by name.
pub struct Connections<C: Connection> {
    live: ArcSwap<BTreeMap<String, Arc<Entry<C>>>>,
    keyring: Arc<Keyring>,
}

impl<C: Connection> Connections<C> {
    /// No connections yet; secrets are opened with `keyring`.
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            live: ArcSwap::default(),
            keyring,
        }
    }

    /// The connection called `name`, ready to call, with its counters.
    pub fn get(&self, name: &str) -> Result<(Arc<C>, Arc<CallStats>), LookupError> {
        let kind = C::Definition::KIND.label();
        let live = self.live.load();
        let entry = live.get(name).ok_or_else(|| LookupError::Missing {
            kind,
            name: name.to_owned(),
        })?;
        match &entry.state {
            State::Ready(connection) => Ok((connection.clone(), entry.stats.clone())),
            State::Inactive => Err(LookupError::Inactive {
                kind,
                name: name.to_owned(),
            }),
            State::Unusable(reason) => Err(LookupError::Unusable {
                kind,
                name: name.to_owned(),
                reason: reason.clone(),
            }),
        }
    }

    /// Every connection, by name.
    pub fn entries(&self) -> Arc<BTreeMap<String, Arc<Entry<C>>>> {
        self.live.load_full()
    }

    /// Rebuilds the connections named in `upserted` from their definitions and drops those
    /// in `removed`. Only what changed is rebuilt: the other pools keep their connections.
    pub fn update<'a>(
        &self,
        upserted: impl IntoIterator<Item = &'a C::Definition>,
        removed: &[String],
    ) {
        let upserted: Vec<_> = upserted.into_iter().collect();
        if upserted.is_empty() && removed.is_empty() {
            return;
        }
        let mut next = BTreeMap::clone(&self.live.load());
        for name in removed {
            next.remove(name);
        }
        let mut changed = !removed.is_empty();
        for definition in upserted {
            let name = definition.name().to_owned();
            let previous = next.get(&name);
            if previous.is_some_and(|entry| &entry.definition == definition) {
                continue;
            }
            changed = true;
            let stats = previous
                .map(|entry| entry.stats.clone())
                .unwrap_or_default();
            let state = if !C::is_active(definition) {
                State::Inactive
            } else {
                match C::build(definition, &self.keyring) {
                    Ok(connection) => State::Ready(Arc::new(connection)),
                    Err(reason) => {
                        tracing::warn!(kind = %C::Definition::KIND, %name, %reason, "outgoing connection cannot be used");
                        State::Unusable(reason)
                    }
                }
            };
            next.insert(
                name,
                Arc::new(Entry {
                    state,
                    stats,
                    definition: definition.clone(),
                }),
            );
        }
        if changed {
            self.live.store(Arc::new(next));
        }
    }

    /// Replaces every connection with those of `definitions` (a config snapshot).
    pub fn replace_all<'a>(&self, definitions: impl IntoIterator<Item = &'a C::Definition>) {
        let definitions: Vec<_> = definitions.into_iter().collect();
        let removed: Vec<String> = self
            .live
            .load()
            .keys()
            .filter(|name| !definitions.iter().any(|d| d.name() == name.as_str()))
            .cloned()
            .collect();
        self.update(definitions, &removed);
    }
}

/// Opens every sealed secret of a definition in place (an empty one stays empty).
pub fn open_secrets<'a>(
    secrets: impl IntoIterator<Item = &'a mut zato_common::Secret>,
    keyring: &Keyring,
) -> Result<(), String> {
    for secret in secrets {
        if !secret.is_empty() {
            *secret = keyring.open(secret).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zato_common::Secret;
    use zato_common::model::OutgoingRest;

    /// A connection that records which definition built it.
    struct Fake(String);

    impl Connection for Fake {
        type Definition = OutgoingRest;

        fn is_active(definition: &OutgoingRest) -> bool {
            definition.is_active
        }

        fn build(definition: &OutgoingRest, keyring: &Keyring) -> Result<Self, String> {
            let mut opened = definition.clone();
            open_secrets(opened.secrets_mut(), keyring)?;
            Ok(Fake(opened.address))
        }

        fn pool(&self) -> PoolFigures {
            PoolFigures::default()
        }
    }

    fn definition(name: &str, address: &str) -> OutgoingRest {
        serde_json::from_value(serde_json::json!({"name": name, "address": address}))
            .expect("a definition")
    }

    #[test]
    fn only_what_changed_is_rebuilt_and_calls_keep_the_old_one() {
        let connections = Connections::<Fake>::new(Arc::default());
        connections.replace_all([&definition("a", "http://a"), &definition("b", "http://b")]);
        let (a_before, stats) = connections.get("a").expect("a");
        stats.record(Instant::now(), &Ok::<(), crate::rest::RestError>(()));
        let (b_before, _) = connections.get("b").expect("b");

        connections.update([&definition("a", "http://a2")], &[]);
        let (a_after, stats_after) = connections.get("a").expect("a");
        assert_eq!(a_after.0, "http://a2");
        assert_eq!(
            a_before.0, "http://a",
            "a call in flight keeps its connection"
        );
        assert_eq!(
            stats_after.calls.snapshot().calls,
            1,
            "counters survive a rebuild"
        );
        let (b_after, _) = connections.get("b").expect("b");
        assert!(Arc::ptr_eq(&b_before, &b_after), "b was not rebuilt");

        connections.replace_all([&definition("b", "http://b")]);
        assert!(matches!(
            connections.get("a"),
            Err(LookupError::Missing { .. })
        ));
    }

    #[test]
    fn inactive_and_unusable_connections_say_why() {
        let connections = Connections::<Fake>::new(Arc::default());
        let mut inactive = definition("off", "http://off");
        inactive.is_active = false;
        let mut sealed = definition("sealed", "http://s");
        sealed.security = Some(zato_common::model::RestSecurity::Bearer {
            token: Secret::new("zato-sealed:v1:0000:AAAA"),
        });
        connections.update([&inactive, &sealed], &[]);
        assert_eq!(
            connections.get("off").err().map(|e| e.to_string()),
            Some("outgoing REST connection 'off' is inactive".into())
        );
        let unusable = connections.get("sealed").err().map(|e| e.to_string());
        assert!(
            unusable.as_deref().is_some_and(
                |m| m.contains("cannot be used on this server") && m.contains("no secret key")
            ),
            "{unusable:?}"
        );
    }
}
