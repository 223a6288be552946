//! Scheduler jobs: what service to run, and when.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validation::{ValidationError, check_name};
use super::{ConfigKind, ConfigObject, default_true};
use crate::cron::{Cron, time_zone};

/// The three kinds of schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Runs once, at `start_at`.
    OneTime,
    /// Runs every `interval`, from `start_at`, at most `repeats` times.
    Interval,
    /// Runs at the instants a cron expression names, in `timezone`.
    Cron,
}

/// What to do about instants missed while no scheduler was active.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MisfirePolicy {
    /// Forget them; carry on with the next instant.
    Skip,
    /// Run once for all of them, then carry on.
    #[default]
    RunOnce,
}

/// The period of an interval job; at least one field is above zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct Interval {
    pub weeks: u32,
    pub days: u32,
    pub hours: u32,
    pub minutes: u32,
    pub seconds: u32,
}

impl Interval {
    /// The whole period in seconds.
    pub fn total_seconds(&self) -> u64 {
        u64::from(self.weeks) * 604_800
            + u64::from(self.days) * 86_400
            + u64::from(self.hours) * 3_600
            + u64::from(self.minutes) * 60
            + u64::from(self.seconds)
    }
}

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub name: String,
    pub service: String,
    pub kind: JobKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub start_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The most runs an interval job makes; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u64>,
    /// Five fields, six with seconds first, or an alias such as `@hourly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone the cron expression is read in.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Handed to the service as its payload on every run.
    #[serde(default)]
    pub payload: Value,
    #[serde(default = "default_true")]
    pub is_active: bool,
    #[serde(default)]
    pub misfire: MisfirePolicy,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

impl ConfigObject for Job {
    const KIND: ConfigKind = ConfigKind::Job;

    fn name(&self) -> &str {
        &self.name
    }

    fn validate(&self) -> Result<(), ValidationError> {
        check_name("name", &self.name)?;
        check_name("service", &self.service)?;
        time_zone(&self.timezone).map_err(|e| ValidationError::new("timezone", e.to_string()))?;
        match self.kind {
            JobKind::OneTime => {
                if self.start_at.is_none() {
                    return Err(ValidationError::new(
                        "start_at",
                        "is required for a one_time job",
                    ));
                }
                if self.interval.is_some() || self.cron.is_some() {
                    return Err(ValidationError::new(
                        "kind",
                        "a one_time job takes neither interval nor cron",
                    ));
                }
            }
            JobKind::Interval => {
                let interval = self.interval.ok_or_else(|| {
                    ValidationError::new("interval", "is required for an interval job")
                })?;
                if interval.total_seconds() == 0 {
                    return Err(ValidationError::new(
                        "interval",
                        "needs at least one of weeks, days, hours, minutes, seconds above zero",
                    ));
                }
                if self.cron.is_some() {
                    return Err(ValidationError::new("cron", "is only for cron jobs"));
                }
                if self.repeats == Some(0) {
                    return Err(ValidationError::new(
                        "repeats",
                        "must be at least 1 when given",
                    ));
                }
            }
            JobKind::Cron => {
                let cron = self
                    .cron
                    .as_deref()
                    .ok_or_else(|| ValidationError::new("cron", "is required for a cron job"))?;
                Cron::parse(cron).map_err(|e| ValidationError::new("cron", e.to_string()))?;
                if self.interval.is_some() {
                    return Err(ValidationError::new(
                        "interval",
                        "is only for interval jobs",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(value: Value) -> Job {
        serde_json::from_value(value).expect("deserializes")
    }

    #[test]
    fn valid_jobs_of_each_kind() {
        let interval = job(
            json!({"name": "j", "service": "s", "kind": "interval", "interval": {"seconds": 1}}),
        );
        assert!(interval.validate().is_ok());
        assert_eq!(interval.misfire, MisfirePolicy::RunOnce);
        assert_eq!(interval.timezone, "UTC");
        let cron = job(json!({"name": "j", "service": "s", "kind": "cron", "cron": "*/5 * * * *"}));
        assert!(cron.validate().is_ok());
        let once = job(
            json!({"name": "j", "service": "s", "kind": "one_time", "start_at": "2030-01-01T00:00:00Z"}),
        );
        assert!(once.validate().is_ok());
    }

    #[test]
    fn refuses_incomplete_jobs() {
        let cases = [
            (
                json!({"name": "j", "service": "s", "kind": "interval"}),
                "interval",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "interval", "interval": {}}),
                "interval",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "cron", "cron": "* * *"}),
                "cron",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "cron", "cron": "@sometimes"}),
                "cron",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "one_time"}),
                "start_at",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "cron", "cron": "61 * * * *"}),
                "cron",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "cron", "cron": "@daily", "timezone": "Nowhere/City"}),
                "timezone",
            ),
            (
                json!({"name": "j", "service": "s", "kind": "interval", "interval": {"seconds": 1}, "repeats": 0}),
                "repeats",
            ),
        ];
        for (value, field) in cases {
            assert_eq!(
                job(value.clone()).validate().unwrap_err().field,
                field,
                "{value}"
            );
        }
    }
}
