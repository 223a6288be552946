//! A member's live copy of one kind of config object: loaded from every snapshot, then
//! changed by every 1:all change ("load, then follow").
//!
//! Every member keeps its caches this way (the server its channels and security
//! definitions, the scheduler its jobs, the connector its definitions, channels and outgoing
//! connections), so all of them treat a stored object that does not parse the same way: it
//! is skipped, logged once (not again on every reconnection while it stays as it is) and
//! counted, and every other object is kept. An object written by a newer build with a field
//! this one does not know therefore costs that one object, never the member's whole config.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};
use zato_common::model::ConfigObject;
use zato_common::{ConfigChange, ConfigKind};

use crate::config_store::ConfigSnapshot;

/// The stored objects a member skips because they do not parse, with why, across all of
/// its caches: what its health lists and its metrics count. Shared by the caches that report
/// to it (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct SkippedObjects {
    by_object: Arc<Mutex<BTreeMap<(ConfigKind, String), String>>>,
}

/// One skipped object, as health shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedObject {
    pub kind: ConfigKind,
    pub name: String,
    pub error: String,
}

impl SkippedObjects {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(ConfigKind, String), String>> {
        self.by_object
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Every skipped object, by kind and name.
    pub fn list(&self) -> Vec<SkippedObject> {
        self.lock()
            .iter()
            .map(|((kind, name), error)| SkippedObject {
                kind: *kind,
                name: name.clone(),
                error: error.clone(),
            })
            .collect()
    }

    /// How many objects of each kind are skipped (kinds with none left out).
    pub fn counts(&self) -> BTreeMap<ConfigKind, usize> {
        let mut counts = BTreeMap::new();
        for (kind, _) in self.lock().keys() {
            *counts.entry(*kind).or_default() += 1;
        }
        counts
    }

    /// Records `name` as skipped; logs it unless it was skipped already for the same reason.
    fn skip(&self, kind: ConfigKind, name: &str, reason: String) {
        let mut skipped = self.lock();
        let key = (kind, name.to_owned());
        if skipped.get(&key).is_none_or(|before| *before != reason) {
            warn!(%kind, %name, error = %reason, "config object does not parse; skipped, the rest is kept");
        }
        skipped.insert(key, reason);
    }

    /// `name` parses (or is gone); whether it had been skipped.
    fn clear(&self, kind: ConfigKind, name: &str) -> bool {
        self.lock().remove(&(kind, name.to_owned())).is_some()
    }

    /// Forgets every skipped object of `kind` that `keep` does not name.
    fn retain(&self, kind: ConfigKind, keep: &BTreeSet<&str>) {
        self.lock()
            .retain(|(k, name), _| *k != kind || keep.contains(name.as_str()));
    }

    fn names(&self, kind: ConfigKind) -> BTreeSet<String> {
        self.lock()
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, name)| name.clone())
            .collect()
    }
}

/// The objects of one kind, by name.
#[derive(Debug)]
pub struct ConfigCache<T> {
    objects: BTreeMap<String, T>,
    /// Where the objects that do not parse are recorded (the member's, or the cache's own).
    skipped: SkippedObjects,
}

/// What a load or a change did to a cache.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changed {
    /// Objects created or replaced.
    pub upserted: Vec<String>,
    /// Objects gone (deleted, renamed away, or now skipped).
    pub removed: Vec<String>,
}

impl Changed {
    /// Whether anything changed.
    pub fn is_empty(&self) -> bool {
        self.upserted.is_empty() && self.removed.is_empty()
    }
}

impl<T> Default for ConfigCache<T> {
    fn default() -> Self {
        Self {
            objects: BTreeMap::new(),
            skipped: SkippedObjects::default(),
        }
    }
}

impl<T: ConfigObject> ConfigCache<T> {
    /// An empty cache that records what it skips in `skipped` (the member's health).
    pub fn reporting_to(skipped: SkippedObjects) -> Self {
        Self {
            objects: BTreeMap::new(),
            skipped,
        }
    }

    /// Replaces everything with the snapshot's objects of this kind.
    pub fn load(&mut self, snapshot: &ConfigSnapshot) -> Changed {
        let stored = snapshot.objects.get(&T::KIND);
        let mut fresh = BTreeMap::new();
        let mut failed = BTreeSet::new();
        for (name, value) in stored.into_iter().flatten() {
            match parse::<T>(value) {
                Ok(object) => {
                    self.skipped.clear(T::KIND, name);
                    fresh.insert(name.clone(), object);
                }
                Err(reason) => {
                    self.skipped.skip(T::KIND, name, reason);
                    failed.insert(name.as_str());
                }
            }
        }
        self.skipped.retain(T::KIND, &failed);
        let removed = self
            .objects
            .keys()
            .filter(|name| !fresh.contains_key(*name))
            .cloned()
            .collect();
        self.objects = fresh;
        Changed {
            upserted: self.objects.keys().cloned().collect(),
            removed,
        }
    }

    /// Applies one change; changes of other kinds change nothing.
    pub fn apply(&mut self, change: &ConfigChange) -> Changed {
        let mut changed = Changed::default();
        if change.kind != T::KIND {
            return changed;
        }
        if let Some(previous) = &change.previous_name
            && previous != &change.name
        {
            self.skipped.clear(T::KIND, previous);
            if self.objects.remove(previous).is_some() {
                changed.removed.push(previous.clone());
            }
        }
        let parsed = change.value.as_ref().map(parse::<T>);
        match parsed {
            Some(Ok(object)) => {
                if self.skipped.clear(T::KIND, &change.name) {
                    info!(kind = %T::KIND, name = %change.name, "config object parses again");
                }
                self.objects.insert(change.name.clone(), object);
                changed.upserted.push(change.name.clone());
            }
            Some(Err(reason)) => {
                self.skipped.skip(T::KIND, &change.name, reason);
                if self.objects.remove(&change.name).is_some() {
                    changed.removed.push(change.name.clone());
                }
            }
            None => {
                self.skipped.clear(T::KIND, &change.name);
                if self.objects.remove(&change.name).is_some() {
                    changed.removed.push(change.name.clone());
                }
            }
        }
        changed
    }

    /// The object called `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.objects.get(name)
    }

    /// Every object, in name order.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.objects.values()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the cache holds none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The names skipped because their stored object does not parse.
    pub fn skipped(&self) -> BTreeSet<String> {
        self.skipped.names(T::KIND)
    }

    /// The objects as a map (for caches published as one snapshot).
    pub fn objects(&self) -> &BTreeMap<String, T> {
        &self.objects
    }
}

fn parse<T: ConfigObject>(value: &Value) -> Result<T, String> {
    T::deserialize(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use zato_common::model::HttpChannel;

    fn channel(path: &str) -> Value {
        json!({"name": "x", "url_path": path, "service": "zato.ping"})
    }

    fn snapshot(objects: &[(&str, Value)]) -> ConfigSnapshot {
        ConfigSnapshot {
            version: 1,
            position: "0-0".into(),
            objects: BTreeMap::from([(
                ConfigKind::HttpChannel,
                objects
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), v.clone()))
                    .collect(),
            )]),
        }
    }

    fn change(name: &str, previous: Option<&str>, value: Option<Value>) -> ConfigChange {
        ConfigChange {
            kind: ConfigKind::HttpChannel,
            name: name.into(),
            previous_name: previous.map(Into::into),
            value,
        }
    }

    #[test]
    fn a_snapshot_loads_what_parses_and_skips_the_rest() {
        let mut cache = ConfigCache::<HttpChannel>::default();
        let changed = cache.load(&snapshot(&[
            ("a", channel("/a")),
            ("bad", json!({"name": "bad", "url_path": 7})),
            ("c", channel("/c")),
        ]));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.skipped(), BTreeSet::from(["bad".to_owned()]));
        assert_eq!(changed.upserted, vec!["a", "c"]);
        // The next snapshot without "a" says it was removed.
        let changed = cache.load(&snapshot(&[("c", channel("/c"))]));
        assert_eq!(changed.removed, vec!["a"]);
        assert!(cache.skipped().is_empty());
    }

    #[test]
    fn changes_create_rename_skip_and_delete() {
        let mut cache = ConfigCache::<HttpChannel>::default();
        assert_eq!(
            cache
                .apply(&change("a", None, Some(channel("/a"))))
                .upserted,
            vec!["a"]
        );
        let renamed = cache.apply(&change("b", Some("a"), Some(channel("/b"))));
        assert_eq!(renamed.removed, vec!["a"]);
        assert_eq!(renamed.upserted, vec!["b"]);
        // A stored object that no longer parses: that one goes, the rest stays.
        cache.apply(&change("c", None, Some(channel("/c"))));
        let broken = cache.apply(&change("b", None, Some(json!({"url_path": []}))));
        assert_eq!(broken.removed, vec!["b"]);
        assert_eq!(cache.skipped(), BTreeSet::from(["b".to_owned()]));
        assert!(cache.get("c").is_some());
        // Fixed again.
        cache.apply(&change("b", None, Some(channel("/b"))));
        assert!(cache.skipped().is_empty() && cache.get("b").is_some());
        let deleted = cache.apply(&change("b", None, None));
        assert_eq!(deleted.removed, vec!["b"]);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn caches_report_what_they_skip_to_the_members_record() {
        let skipped = SkippedObjects::default();
        let mut channels = ConfigCache::<HttpChannel>::reporting_to(skipped.clone());
        channels.apply(&change("bad", None, Some(json!({"url_path": 1}))));
        channels.apply(&change("good", None, Some(channel("/g"))));
        let listed = skipped.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].kind, listed[0].name.as_str()),
            (ConfigKind::HttpChannel, "bad")
        );
        assert!(!listed[0].error.is_empty());
        assert_eq!(
            skipped.counts(),
            BTreeMap::from([(ConfigKind::HttpChannel, 1)])
        );
        // A snapshot without it forgets it.
        channels.load(&snapshot(&[("good", channel("/g"))]));
        assert!(skipped.list().is_empty());
    }

    #[test]
    fn changes_of_other_kinds_change_nothing() {
        let mut cache = ConfigCache::<HttpChannel>::default();
        let mut other = change("a", None, Some(channel("/a")));
        other.kind = ConfigKind::Job;
        assert!(cache.apply(&other).is_empty());
        assert!(cache.is_empty());
    }
}
