//! The timetable: every job the cluster has, with its schedule, as this scheduler knows it.
//!
//! Active and standby schedulers alike keep it current through 1:all, so a standby that takes
//! over has nothing to load but the run states.

use std::collections::BTreeMap;

use tracing::warn;
use zato_broker::ConfigSnapshot;
use zato_common::model::Job;
use zato_common::schedule::Schedule;
use zato_common::{ConfigChange, ConfigKind};

/// One job and its schedule.
#[derive(Debug, Clone)]
pub struct Entry {
    pub job: Job,
    pub schedule: Schedule,
}

/// Jobs by name.
#[derive(Debug, Default)]
pub struct Timetable {
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
    /// Replaces everything with a snapshot's jobs.
    pub fn replace(&mut self, snapshot: &ConfigSnapshot) {
        let jobs: Vec<Job> = match snapshot.list::<Job>() {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "stored jobs do not parse; keeping the timetable");
                return;
            }
        };
        let fresh: BTreeMap<String, Entry> = jobs
            .into_iter()
            .filter_map(entry)
            .map(|e| (e.job.name.clone(), e))
            .collect();
        self.removed.extend(
            self.entries
                .keys()
                .filter(|name| !fresh.contains_key(*name))
                .cloned(),
        );
        self.entries = fresh;
    }

    /// Applies one change from 1:all.
    pub fn apply(&mut self, change: ConfigChange) -> Result<(), String> {
        if change.kind != ConfigKind::Job {
            return Ok(());
        }
        if let Some(previous) = change.previous_name
            && self.entries.remove(&previous).is_some()
        {
            self.removed.push(previous);
        }
        match change.value {
            Some(value) => {
                let job: Job = serde_json::from_value(value)
                    .map_err(|e| format!("job '{}': {e}", change.name))?;
                match entry(job) {
                    Some(e) => {
                        self.entries.insert(change.name, e);
                    }
                    None => {
                        self.entries.remove(&change.name);
                    }
                }
            }
            None => {
                if self.entries.remove(&change.name).is_some() {
                    self.removed.push(change.name);
                }
            }
        }
        Ok(())
    }
}
