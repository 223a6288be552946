//! The scheduler's settings: `--config scheduler.toml`, then `ZATO_*` variables, then
//! defaults that run on localhost.

use super::{BrokerSettings, SettingsError};
use serde::{Deserialize, Serialize};

/// Everything a scheduler reads at start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerSettings {
    /// `ZATO_CLUSTER`.
    pub cluster: String,
    /// This scheduler's stable name (`ZATO_MEMBER`); empty: `scheduler-` and the host name
    /// and port.
    pub member: String,
    /// `ZATO_REDIS_URL`.
    pub redis_url: String,
    /// Listen address of `/zato/health` and `/metrics` (`ZATO_BIND`).
    pub bind: String,
    /// An instant fired later than this after it was due counts as missed, and the job's
    /// misfire policy decides (`ZATO_MISFIRE_GRACE_MS`).
    pub misfire_grace_ms: u64,
    /// How many fires go to Redis in one script call.
    pub fire_batch: usize,
    /// The shortest time between two fire batches: fires due within it go out together,
    /// which costs each of them at most this much lateness and saves wake-ups and round
    /// trips when many jobs are due close together (`ZATO_FIRE_COALESCE_MS`).
    pub fire_coalesce_ms: u64,
    pub broker: BrokerSettings,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            cluster: "zato".into(),
            member: String::new(),
            redis_url: "redis://127.0.0.1:6379".into(),
            bind: "127.0.0.1:17030".into(),
            misfire_grace_ms: 1_000,
            fire_batch: 200,
            fire_coalesce_ms: 5,
            broker: BrokerSettings::default(),
        }
    }
}

impl SchedulerSettings {
    /// Loads settings from an optional file and the environment, and checks them.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, SettingsError> {
        super::load_checked(path, Self::fill_defaults, Self::validate)
    }

    /// Fills the fields whose default depends on the machine.
    pub fn fill_defaults(&mut self) {
        if self.member.is_empty() {
            self.member = crate::process::default_member("scheduler", &self.bind);
        }
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), SettingsError> {
        super::check_member(&self.cluster, &self.bind)?;
        if self.fire_batch == 0 {
            return Err(SettingsError::Invalid(
                "fire_batch must be at least 1".into(),
            ));
        }
        self.broker.validate()
    }
}
