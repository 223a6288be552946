//! When a job fires: the instants its schedule names, computed from the schedule alone.
//!
//! Every next instant comes from the job's definition (its start, its period, its cron
//! expression), never from when the previous fire happened, so late fires do not push the
//! schedule back: nothing drifts (Zato 2 slept after each run and drifted).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::cron::{Cron, time_zone};
use crate::model::{Job, JobKind, ValidationError};

/// A job's timetable.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Once, at this instant.
    OneTime(Timestamp),
    /// At `start`, then every `period`.
    Interval {
        start: Timestamp,
        period: SignedDuration,
    },
    /// At the instants `cron` names in `tz`, from `not_before` on.
    Cron {
        cron: Cron,
        tz: TimeZone,
        not_before: Option<Timestamp>,
    },
}

impl Schedule {
    /// The schedule of `job`. Interval jobs need `start_at` (the admin API sets it to the
    /// creation time when the user gives none, so every scheduler computes the same instants).
    pub fn of(job: &Job) -> Result<Self, ValidationError> {
        match job.kind {
            JobKind::OneTime => job
                .start_at
                .map(Schedule::OneTime)
                .ok_or_else(|| ValidationError::new("start_at", "is required for a one_time job")),
            JobKind::Interval => {
                let seconds = job.interval.map_or(0, |i| i.total_seconds());
                if seconds == 0 {
                    return Err(ValidationError::new(
                        "interval",
                        "needs a period above zero",
                    ));
                }
                let start = job.start_at.ok_or_else(|| {
                    ValidationError::new("start_at", "is required to compute an interval schedule")
                })?;
                let period = SignedDuration::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX));
                Ok(Schedule::Interval { start, period })
            }
            JobKind::Cron => {
                let expression = job.cron.as_deref().unwrap_or_default();
                let cron = Cron::parse(expression)
                    .map_err(|e| ValidationError::new("cron", e.to_string()))?;
                let tz = time_zone(&job.timezone)
                    .map_err(|e| ValidationError::new("timezone", e.to_string()))?;
                Ok(Schedule::Cron {
                    cron,
                    tz,
                    not_before: job.start_at,
                })
            }
        }
    }

    /// The first instant strictly after `after`; with `None`, the schedule's first instant
    /// at or after `from`.
    pub fn next_after(&self, after: Option<Timestamp>, from: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::OneTime(at) => match after {
                Some(after) if after >= *at => None,
                _ => Some(*at),
            },
            Schedule::Interval { start, period } => {
                let Some(after) = after else {
                    return Some(first_at_or_after(*start, *period, from));
                };
                if after < *start {
                    return Some(*start);
                }
                let elapsed = after.duration_since(*start).as_nanos();
                let steps = elapsed / period.as_nanos() + 1;
                start
                    .checked_add(SignedDuration::from_nanos_i128(steps * period.as_nanos()))
                    .ok()
            }
            Schedule::Cron {
                cron,
                tz,
                not_before,
            } => {
                let floor =
                    not_before.map(|t| t.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(t));
                let after = match after {
                    Some(after) => Some(after),
                    None => from.checked_sub(SignedDuration::from_nanos(1)).ok(),
                }?;
                let after = match floor {
                    Some(floor) if floor > after => floor,
                    _ => after,
                };
                cron.next_after(after, tz)
            }
        }
    }
}

/// The first of `start + k * period` (k >= 0) at or after `from`.
fn first_at_or_after(start: Timestamp, period: SignedDuration, from: Timestamp) -> Timestamp {
    if from <= start {
        return start;
    }
    let elapsed = from.duration_since(start).as_nanos();
    let steps = (elapsed + period.as_nanos() - 1) / period.as_nanos();
    start
        .checked_add(SignedDuration::from_nanos_i128(steps * period.as_nanos()))
        .unwrap_or(Timestamp::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(value: serde_json::Value) -> Job {
        serde_json::from_value(value).expect("job")
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn interval_instants_come_from_the_start_not_the_last_fire() {
        let j = job(
            json!({"name": "j", "service": "s", "kind": "interval", "interval": {"seconds": 10},
                           "start_at": "2030-01-01T00:00:00Z"}),
        );
        let s = Schedule::of(&j).expect("schedule");
        let now = ts("2030-01-01T00:00:25Z");
        assert_eq!(s.next_after(None, now), Some(ts("2030-01-01T00:00:30Z")));
        // A fire that ran 3 s late does not move the next one.
        assert_eq!(
            s.next_after(Some(ts("2030-01-01T00:00:33Z")), now),
            Some(ts("2030-01-01T00:00:40Z"))
        );
        assert_eq!(
            s.next_after(Some(ts("2030-01-01T00:00:40Z")), now),
            Some(ts("2030-01-01T00:00:50Z"))
        );
        assert_eq!(
            s.next_after(None, ts("2029-01-01T00:00:00Z")),
            Some(ts("2030-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn one_time_fires_once() {
        let j = job(
            json!({"name": "j", "service": "s", "kind": "one_time", "start_at": "2030-01-01T00:00:00Z"}),
        );
        let s = Schedule::of(&j).expect("schedule");
        let at = ts("2030-01-01T00:00:00Z");
        assert_eq!(
            s.next_after(None, ts("2031-01-01T00:00:00Z")),
            Some(at),
            "even when late"
        );
        assert_eq!(s.next_after(Some(at), at), None);
    }

    #[test]
    fn cron_respects_start_at() {
        let j = job(
            json!({"name": "j", "service": "s", "kind": "cron", "cron": "0 * * * *",
                           "start_at": "2030-01-01T05:30:00Z"}),
        );
        let s = Schedule::of(&j).expect("schedule");
        assert_eq!(
            s.next_after(None, ts("2030-01-01T00:00:00Z")),
            Some(ts("2030-01-01T06:00:00Z"))
        );
        assert_eq!(
            s.next_after(None, ts("2030-01-01T07:00:00Z")),
            Some(ts("2030-01-01T07:00:00Z"))
        );
        assert_eq!(
            s.next_after(Some(ts("2030-01-01T07:00:00Z")), ts("2030-01-01T07:00:00Z")),
            Some(ts("2030-01-01T08:00:00Z"))
        );
    }
}
