//! The worker store: the server's live configuration caches.
//!
//! Readers (every HTTP request) load an `Arc` snapshot through `arc-swap` and never wait;
//! writers (the 1:all handlers, one at a time) rebuild the affected snapshot and swap it in.

pub mod http_router;
pub mod security;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use tracing::info;
use zato_broker::{ConfigCache, ConfigSnapshot, SkippedObjects};
use zato_common::ConfigChange;
use zato_common::model::{HttpChannel, OutgoingRest, OutgoingSql, SecurityDefinition};
use zato_common::url_path::UrlPath;

use http_router::HttpRouter;

use crate::outgoing::OutgoingConnections;

/// The config objects the server serves from.
#[derive(Default)]
struct Objects {
    channels: ConfigCache<HttpChannel>,
    security: ConfigCache<SecurityDefinition>,
    rest: ConfigCache<OutgoingRest>,
    sql: ConfigCache<OutgoingSql>,
}

/// The live caches.
pub struct WorkerStore {
    router: ArcSwap<HttpRouter>,
    security: ArcSwap<BTreeMap<String, SecurityDefinition>>,
    /// The writers' copy, from which the read snapshots are rebuilt.
    objects: Mutex<Objects>,
    /// The outgoing REST clients and SQL pools, rebuilt one by one as definitions change.
    outgoing: Arc<OutgoingConnections>,
}

impl WorkerStore {
    /// Empty caches that record the objects they skip in `skipped` (the member's health).
    pub fn new(skipped: &SkippedObjects, outgoing: Arc<OutgoingConnections>) -> Arc<Self> {
        Arc::new(Self {
            objects: Mutex::new(Objects {
                channels: ConfigCache::reporting_to(skipped.clone()),
                security: ConfigCache::reporting_to(skipped.clone()),
                rest: ConfigCache::reporting_to(skipped.clone()),
                sql: ConfigCache::reporting_to(skipped.clone()),
            }),
            outgoing,
            router: ArcSwap::default(),
            security: ArcSwap::default(),
        })
    }

    /// The outgoing connections.
    pub fn outgoing(&self) -> &Arc<OutgoingConnections> {
        &self.outgoing
    }

    /// The current channel router. The guard is for the synchronous part of a request only:
    /// it takes no reference count (no write to memory that every worker shares) while a
    /// thread holds few of them at once.
    pub fn router(&self) -> arc_swap::Guard<Arc<HttpRouter>> {
        self.router.load()
    }

    /// A security definition by name (secrets hashed).
    pub fn security(&self, name: &str) -> Option<SecurityDefinition> {
        self.security.load().get(name).cloned()
    }

    /// Whether a security definition of that name exists.
    pub fn has_security(&self, name: &str) -> bool {
        self.security.load().contains_key(name)
    }

    /// The channel whose path would answer the same requests as `candidate` (same shape and
    /// an overlapping method), other than the one called `replacing`.
    pub fn path_conflict(
        &self,
        candidate: &HttpChannel,
        replacing: Option<&str>,
    ) -> Option<String> {
        let shape = UrlPath::parse(&candidate.url_path).ok()?.shape();
        let objects = self.lock();
        objects
            .channels
            .values()
            .filter(|c| c.name != candidate.name && Some(c.name.as_str()) != replacing)
            .find(|c| {
                let overlapping = c.method.is_none()
                    || candidate.method.is_none()
                    || c.method == candidate.method;
                overlapping && UrlPath::parse(&c.url_path).is_ok_and(|p| p.shape() == shape)
            })
            .map(|c| c.name.clone())
    }

    /// Names of the channels that use security definition `name`.
    pub fn channels_using(&self, security: &str) -> Vec<String> {
        self.lock()
            .channels
            .values()
            .filter(|c| c.security.as_deref() == Some(security))
            .map(|c| c.name.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces every cache with a snapshot's contents.
    pub fn apply_snapshot(&self, snapshot: &ConfigSnapshot) {
        let mut objects = self.lock();
        objects.channels.load(snapshot);
        objects.security.load(snapshot);
        objects.rest.load(snapshot);
        objects.sql.load(snapshot);
        self.publish(&objects);
        self.outgoing.rest.replace_all(objects.rest.values());
        self.outgoing.sql.replace_all(objects.sql.values());
        info!(
            channels = objects.channels.len(),
            security = objects.security.len(),
            outgoing_rest = objects.rest.len(),
            outgoing_sql = objects.sql.len(),
            version = snapshot.version,
            "configuration loaded"
        );
    }

    /// Applies one change announced over 1:all.
    pub fn apply_change(&self, change: &ConfigChange) {
        let mut objects = self.lock();
        let changed =
            !objects.channels.apply(change).is_empty() | !objects.security.apply(change).is_empty();
        if changed {
            self.publish(&objects);
        }
        let rest = objects.rest.apply(change);
        self.outgoing.rest.update(
            rest.upserted
                .iter()
                .filter_map(|name| objects.rest.get(name)),
            &rest.removed,
        );
        let sql = objects.sql.apply(change);
        self.outgoing.sql.update(
            sql.upserted.iter().filter_map(|name| objects.sql.get(name)),
            &sql.removed,
        );
    }

    fn publish(&self, objects: &Objects) {
        self.router
            .store(Arc::new(HttpRouter::build(objects.channels.values())));
        self.security
            .store(Arc::new(objects.security.objects().clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use zato_common::ConfigKind;

    fn change(
        name: &str,
        previous: Option<&str>,
        value: Option<serde_json::Value>,
    ) -> ConfigChange {
        ConfigChange {
            kind: ConfigKind::HttpChannel,
            name: name.into(),
            previous_name: previous.map(Into::into),
            value,
        }
    }

    #[test]
    fn changes_update_the_router() {
        let store = WorkerStore::new(
            &SkippedObjects::default(),
            OutgoingConnections::new(zato_common::sealed::Keyring::default()),
        );
        let a = json!({"name": "a", "url_path": "/a", "service": "zato.echo"});
        store.apply_change(&change("a", None, Some(a)));
        assert!(matches!(
            store.router().find("GET", "/a"),
            http_router::Match::Found { .. }
        ));
        let renamed = json!({"name": "b", "url_path": "/b", "service": "zato.echo"});
        store.apply_change(&change("b", Some("a"), Some(renamed)));
        assert!(matches!(
            store.router().find("GET", "/a"),
            http_router::Match::NotFound
        ));
        assert!(matches!(
            store.router().find("GET", "/b"),
            http_router::Match::Found { .. }
        ));
        store.apply_change(&change("b", None, None));
        assert!(matches!(
            store.router().find("GET", "/b"),
            http_router::Match::NotFound
        ));
        // A stored channel that does not parse is skipped; the router keeps the others.
        let c = json!({"name": "c", "url_path": "/c", "service": "zato.echo"});
        store.apply_change(&change("c", None, Some(c)));
        store.apply_change(&change("d", None, Some(json!({"bad": 1}))));
        assert!(matches!(
            store.router().find("GET", "/c"),
            http_router::Match::Found { .. }
        ));
    }

    #[test]
    fn path_conflicts_consider_shape_and_method() {
        let store = WorkerStore::new(
            &SkippedObjects::default(),
            OutgoingConnections::new(zato_common::sealed::Keyring::default()),
        );
        let a = json!({"name": "a", "url_path": "/users/{id}", "service": "s", "method": "GET"});
        store.apply_change(&change("a", None, Some(a)));
        let channel = |path: &str, method: Option<&str>| HttpChannel {
            name: "new".into(),
            url_path: path.into(),
            method: method.map(Into::into),
            service: "s".into(),
            data_format: Default::default(),
            security: None,
            is_active: true,
        };
        assert_eq!(
            store.path_conflict(&channel("/users/{key}", None), None),
            Some("a".into())
        );
        assert_eq!(
            store.path_conflict(&channel("/users/{key}", Some("POST")), None),
            None
        );
        assert_eq!(store.path_conflict(&channel("/users/me", None), None), None);
        assert_eq!(
            store.path_conflict(&channel("/users/{key}", None), Some("a")),
            None
        );
    }
}
