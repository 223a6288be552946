//! The timetable: every job the cluster has, with its schedule, as this scheduler knows it.
//!
//! Active and standby schedulers alike keep it current through 1:all, so a standby that takes
//! over has nothing to load but the run states.

use std::collections::BTreeMap;

use tracing::warn;
use zato_broker::{ConfigCache, ConfigSnapshot, SkippedObjects};
use zato_common::ConfigChange;
use zato_common::model::Job;
use zato_common::schedule::Schedule;

/// One job and its schedule.
#[derive(Debug, Clone)]
pub struct Entry {
    pub job: Job,
    pub schedule: Schedule,
}

/// Jobs by name.
#[derive(Debug, Default)]
pub struct Timetable {
    /// The jobs as stored (what does not parse is skipped by the cache's policy).
    jobs: ConfigCache<Job>,
    /// The jobs with a usable schedule.
    pub entries: BTreeMap<String, Entry>,
    /// Names removed (deleted or renamed away) since the runner last looked.
    pub removed: Vec<String>,
}

fn entry(job: Job) -> Option<Entry> {
    match Schedule::of(&job) {
        Ok(schedule) => Some(Entry { job, schedule }),
        Err(e) => {
            warn!(job = %job.name, error = %e, "job has no usable schedule; not scheduled");
            None
        }
    }
}

impl Timetable {
    /// An empty timetable that records the jobs it skips in `skipped` (the member's health).
    pub fn new(skipped: &SkippedObjects) -> Self {
        Self {
            jobs: ConfigCache::reporting_to(skipped.clone()),
            ..Self::default()
        }
    }

    /// Replaces everything with a snapshot's jobs.
    pub fn replace(&mut self, snapshot: &ConfigSnapshot) {
        let changed = self.jobs.load(snapshot);
        self.entries = self
            .jobs
            .values()
            .cloned()
            .filter_map(entry)
            .map(|e| (e.job.name.clone(), e))
            .collect();
        self.removed.extend(changed.removed);
    }

    /// Applies one change from 1:all.
    pub fn apply(&mut self, change: &ConfigChange) {
        let changed = self.jobs.apply(change);
        for name in changed.removed {
            if self.entries.remove(&name).is_some() {
                self.removed.push(name);
            }
        }
        for name in changed.upserted {
            match self.jobs.get(&name).cloned().and_then(entry) {
                Some(e) => {
                    self.entries.insert(name, e);
                }
                None => {
                    self.entries.remove(&name);
                }
            }
        }
    }
}
