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

use serde_json::Value;
use tracing::{info, warn};
use zato_common::ConfigChange;
use zato_common::model::ConfigObject;

use crate::config_store::ConfigSnapshot;

/// The objects of one kind, by name.
#[derive(Debug)]
pub struct ConfigCache<T> {
    objects: BTreeMap<String, T>,
    /// Names whose stored object does not parse, with the reason: skipped, already logged.
    skipped: BTreeMap<String, String>,
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
            skipped: BTreeMap::new(),
        }
    }
}

impl<T: ConfigObject> ConfigCache<T> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything with the snapshot's objects of this kind.
    pub fn load(&mut self, snapshot: &ConfigSnapshot) -> Changed {
        let stored = snapshot.objects.get(&T::KIND);
        let mut fresh = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        for (name, value) in stored.into_iter().flatten() {
            match parse::<T>(value) {
                Ok(object) => {
                    fresh.insert(name.clone(), object);
                }
                Err(reason) => {
                    self.log_skipped(name, &reason);
                    skipped.insert(name.clone(), reason);
                }
            }
        }
        let removed = self
            .objects
            .keys()
            .filter(|name| !fresh.contains_key(*name))
            .cloned()
            .collect();
        self.objects = fresh;
        self.skipped = skipped;
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
            self.skipped.remove(previous);
            if self.objects.remove(previous).is_some() {
                changed.removed.push(previous.clone());
            }
        }
        let parsed = change.value.as_ref().map(parse::<T>);
        match parsed {
            Some(Ok(object)) => {
                if self.skipped.remove(&change.name).is_some() {
                    info!(kind = %T::KIND, name = %change.name, "config object parses again");
                }
                self.objects.insert(change.name.clone(), object);
                changed.upserted.push(change.name.clone());
            }
            Some(Err(reason)) => {
                self.log_skipped(&change.name, &reason);
                self.skipped.insert(change.name.clone(), reason);
                if self.objects.remove(&change.name).is_some() {
                    changed.removed.push(change.name.clone());
                }
            }
            None => {
                self.skipped.remove(&change.name);
                if self.objects.remove(&change.name).is_some() {
                    changed.removed.push(change.name.clone());
                }
            }
        }
        changed
    }

    /// Logs a skipped object unless it was skipped already for the same reason.
    fn log_skipped(&self, name: &str, reason: &str) {
        if self.skipped.get(name).is_none_or(|before| before != reason) {
            warn!(kind = %T::KIND, %name, error = %reason, "config object does not parse; skipped, the rest is kept");
        }
    }

    /// The object called `name`.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.objects.get(name)
    }

    /// Every object, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &T)> {
        self.objects.iter()
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
    pub fn skipped(&self) -> BTreeSet<&str> {
        self.skipped.keys().map(String::as_str).collect()
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
    use zato_common::ConfigKind;
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
        let mut cache = ConfigCache::<HttpChannel>::new();
        let changed = cache.load(&snapshot(&[
            ("a", channel("/a")),
            ("bad", json!({"name": "bad", "url_path": 7})),
            ("c", channel("/c")),
        ]));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.skipped(), BTreeSet::from(["bad"]));
        assert_eq!(changed.upserted, vec!["a", "c"]);
        // The next snapshot without "a" says it was removed.
        let changed = cache.load(&snapshot(&[("c", channel("/c"))]));
        assert_eq!(changed.removed, vec!["a"]);
        assert!(cache.skipped().is_empty());
    }

    #[test]
    fn changes_create_rename_skip_and_delete() {
        let mut cache = ConfigCache::<HttpChannel>::new();
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
        assert_eq!(cache.skipped(), BTreeSet::from(["b"]));
        assert!(cache.get("c").is_some());
        // Fixed again.
        cache.apply(&change("b", None, Some(channel("/b"))));
        assert!(cache.skipped().is_empty() && cache.get("b").is_some());
        let deleted = cache.apply(&change("b", None, None));
        assert_eq!(deleted.removed, vec!["b"]);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn changes_of_other_kinds_change_nothing() {
        let mut cache = ConfigCache::<HttpChannel>::new();
        let mut other = change("a", None, Some(channel("/a")));
        other.kind = ConfigKind::Job;
        assert!(cache.apply(&other).is_empty());
        assert!(cache.is_empty());
    }
}
