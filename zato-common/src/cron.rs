//! Cron expressions, and the next instant one names in a time zone.
//!
//! Five fields (minute hour day-of-month month day-of-week), or six with seconds first, or an
//! alias (`@hourly`, `@daily`/`@midnight`, `@weekly`, `@monthly`, `@yearly`/`@annually`).
//! A field is `*` (or `?` in the day fields), a number, a name (`JAN`-`DEC`, `SUN`-`SAT`), a
//! range `a-b`, any of those with a step `/n`, or a comma-separated list of them. Day of week
//! runs 0-7, where both 0 and 7 are Sunday. As in Vixie cron, when both day fields are
//! restricted a day matches if either does.
//!
//! Time zones and daylight saving time: the expression is matched against the wall clock of
//! the job's time zone, and each matching wall-clock time fires once.
//! - Spring forward: a wall-clock time that does not exist that day (02:30 when clocks jump
//!   from 02:00 to 03:00) fires at the instant it maps to after the jump (03:30), once, and
//!   never twice even if that instant is matched on its own as well.
//! - Fall back: a wall-clock time that happens twice (01:30 when clocks go from 02:00 back to
//!   01:00) fires once, at its first occurrence.

use std::fmt;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether day-of-month / day-of-week were restricted (not `*`).
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why an expression is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The longest expression accepted.
const MAX_LEN: usize = 256;

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
};
const WEEKDAY: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &WEEKDAYS,
};

impl Field {
    fn value(&self, text: &str) -> Result<u32, CronError> {
        let upper = text.to_ascii_uppercase();
        if let Some(index) = self.names.iter().position(|n| *n == upper) {
            // Month names count from 1, weekday names from 0: from the field's minimum.
            return Ok(index as u32 + self.min);
        }
        let value: u32 = text.parse().map_err(|_| {
            CronError(format!(
                "{} field: '{text}' is not a number{}",
                self.name,
                self.name_hint()
            ))
        })?;
        if value < self.min || value > self.max {
            return Err(CronError(format!(
                "{} field: {value} is outside {}-{}",
                self.name, self.min, self.max
            )));
        }
        Ok(value)
    }

    fn name_hint(&self) -> String {
        if self.names.is_empty() {
            String::new()
        } else {
            format!(
                " or a name ({}-{})",
                self.names[0],
                self.names[self.names.len() - 1]
            )
        }
    }

    /// The set of values `text` names, as a bit set; and whether it is `*`.
    fn parse(&self, text: &str) -> Result<(u64, bool), CronError> {
        if text == "*" || text == "?" {
            return Ok((self.range_bits(self.min, self.max, 1), false));
        }
        let mut bits = 0u64;
        for item in text.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        CronError(format!(
                            "{} field: step '{step}' must be a number above 0",
                            self.name
                        ))
                    })?;
                    (range, step)
                }
                None => (item, 1),
            };
            let (low, high) = if range == "*" || range == "?" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (a, b) = (self.value(a)?, self.value(b)?);
                if a > b {
                    return Err(CronError(format!(
                        "{} field: range {a}-{b} runs backwards",
                        self.name
                    )));
                }
                (a, b)
            } else {
                let a = self.value(range)?;
                // `a/n` means from a to the end, every n.
                (a, if step > 1 { self.max } else { a })
            };
            bits |= self.range_bits(low, high, step);
        }
        Ok((bits, true))
    }

    fn range_bits(&self, low: u32, high: u32, step: u32) -> u64 {
        (low..=high)
            .step_by(step as usize)
            .fold(0, |bits, v| bits | (1u64 << v))
    }
}

fn has(bits: u64, value: i8) -> bool {
    value >= 0 && bits & (1u64 << value) != 0
}

impl Cron {
    /// Parses an expression; the error names the field at fault.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let expression = expression.trim();
        if expression.len() > MAX_LEN {
            return Err(CronError(format!(
                "expression is longer than {MAX_LEN} characters"
            )));
        }
        let expanded = match expression.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            alias if alias.starts_with('@') => {
                return Err(CronError(format!(
                    "'{expression}' is not an alias; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
                )));
            }
            _ => expression,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(CronError(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got {n}"
                )));
            }
        };
        let (seconds, _) = SECOND.parse(second)?;
        let (minutes, _) = MINUTE.parse(rest[0])?;
        let (hours, _) = HOUR.parse(rest[1])?;
        let (days, days_restricted) = DAY.parse(rest[2])?;
        let (months, _) = MONTH.parse(rest[3])?;
        let (mut weekdays, weekdays_restricted) = WEEKDAY.parse(rest[4])?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        if days_restricted && !weekdays_restricted && !any_day_exists(days, months) {
            return Err(CronError(format!(
                "day-of-month '{}' never occurs in month '{}', so the expression never matches",
                rest[2], rest[3]
            )));
        }
        Ok(Self {
            seconds,
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = has(self.days, date.day());
        let dow = has(self.weekdays, date.weekday().to_sunday_zero_offset());
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The first wall-clock time strictly after `after` that matches, within eight years.
    fn next_civil(&self, after: DateTime) -> Option<DateTime> {
        let limit = after.date().checked_add(8.years()).ok()?;
        let mut t = after
            .checked_add(1.second())
            .ok()?
            .with()
            .subsec_nanosecond(0)
            .build()
            .ok()?;
        while t.date() < limit {
            if !has(self.months, t.month()) {
                t = first_of_next_month(t.date())?.to_datetime(Time::midnight());
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().tomorrow().ok()?.to_datetime(Time::midnight());
                continue;
            }
            if !has(self.hours, t.hour()) {
                t = t
                    .with()
                    .minute(0)
                    .second(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if !has(self.minutes, t.minute()) {
                t = t
                    .with()
                    .second(0)
                    .build()
                    .ok()?
                    .checked_add(1.minute())
                    .ok()?;
                continue;
            }
            if !has(self.seconds, t.second()) {
                t = t.checked_add(1.second()).ok()?;
                continue;
            }
            return Some(t);
        }
        None
    }

    /// The first instant strictly after `after` that this expression names in `tz`.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let mut civil = tz.to_datetime(after);
        loop {
            civil = self.next_civil(civil)?;
            // `compatible`: a time in a gap moves forward by the gap, a time in an overlap
            // takes its first occurrence.
            let instant = tz.to_ambiguous_timestamp(civil).compatible().ok()?;
            if instant > after {
                return Some(instant);
            }
        }
    }
}

/// Whether some day of `days` exists in some month of `months` (in a leap year, the most
/// any month has). Without it, `0 0 30 2 *` would be accepted and never fire.
fn any_day_exists(days: u64, months: u64) -> bool {
    const LONGEST: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    (1..=12u32).any(|month| {
        has(months, month as i8)
            && (1..=LONGEST[month as usize - 1]).any(|day| has(days, day as i8))
    })
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.first_of_month().checked_add(1.month()).ok()
}

/// The time zone called `name` (IANA, e.g. `Europe/Berlin`), or why not.
pub fn time_zone(name: &str) -> Result<TimeZone, CronError> {
    TimeZone::get(name).map_err(|_| {
        CronError(format!(
            "unknown time zone '{name}'; use an IANA name such as Europe/Berlin"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(expr: &str, after: &str, tz: &str) -> String {
        let tz = time_zone(tz).expect("tz");
        Cron::parse(expr)
            .expect("parses")
            .next_after(ts(after), &tz)
            .expect("a next fire")
            .to_string()
    }

    #[test]
    fn parses_fields_steps_ranges_names_and_aliases() {
        assert_eq!(
            next("*/15 * * * *", "2030-01-01T10:07:00Z", "UTC"),
            "2030-01-01T10:15:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "2030-01-04T17:00:00Z", "UTC"),
            "2030-01-07T09:00:00Z"
        );
        assert_eq!(
            next("30 */10 * * * *", "2030-01-01T00:00:00Z", "UTC"),
            "2030-01-01T00:00:30Z"
        );
        assert_eq!(
            next("@hourly", "2030-01-01T10:00:00Z", "UTC"),
            "2030-01-01T11:00:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2030-03-01T00:00:00Z", "UTC"),
            "2032-02-29T00:00:00Z"
        );
        assert_eq!(
            next("0 12 * JAN,jul 7", "2030-01-01T00:00:00Z", "UTC"),
            "2030-01-06T12:00:00Z"
        );
        // Both day fields restricted: either matches (the 1st, or any Monday).
        assert_eq!(
            next("0 0 1 * 1", "2030-01-01T00:00:00Z", "UTC"),
            "2030-01-07T00:00:00Z"
        );
    }

    #[test]
    fn refuses_bad_expressions_saying_which_field() {
        for (expr, words) in [
            ("* * *", "expected 5 fields"),
            ("60 * * * *", "minute field: 60 is outside 0-59"),
            ("* 24 * * *", "hour field"),
            ("* * 0 * *", "day of month field"),
            ("* * * 13 *", "month field"),
            ("* * * FOO *", "or a name (JAN-DEC)"),
            ("* * * * 8", "day of week field"),
            ("*/0 * * * *", "step '0'"),
            ("5-1 * * * *", "runs backwards"),
            ("@often", "not an alias"),
            ("0 0 30 2 *", "day-of-month '30' never occurs in month '2'"),
            ("0 0 31 4,6,9,11 *", "never matches"),
            ("0 0 30,31 FEB *", "never matches"),
        ] {
            let err = Cron::parse(expr).unwrap_err().to_string();
            assert!(err.contains(words), "{expr}: {err}");
        }
        // Possible somewhere: a leap day, a 31st in a long month, or a weekday that matches.
        for expr in ["0 0 29 2 *", "0 0 31 1-12 *", "0 0 30 2 MON"] {
            assert!(Cron::parse(expr).is_ok(), "{expr}");
        }
        assert!(
            time_zone("Mars/Olympus")
                .unwrap_err()
                .to_string()
                .contains("unknown time zone")
        );
    }

    #[test]
    fn follows_the_jobs_time_zone() {
        // 09:00 in Tokyo is 00:00 UTC.
        assert_eq!(
            next("0 9 * * *", "2030-06-01T12:00:00Z", "Asia/Tokyo"),
            "2030-06-02T00:00:00Z"
        );
    }

    #[test]
    fn spring_forward_fires_a_missing_time_once_after_the_jump() {
        // Europe/Berlin, 2030-03-31: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let at = next("30 2 * * *", "2030-03-30T23:00:00Z", "Europe/Berlin");
        assert_eq!(
            at, "2030-03-31T01:30:00Z",
            "02:30 moves to 03:30 CEST = 01:30 UTC"
        );
        // Every half hour across the gap: 01:30, (02:00 and 02:30 map to 03:00 and 03:30), 03:00 only once.
        let tz = time_zone("Europe/Berlin").expect("tz");
        let cron = Cron::parse("0,30 * * * *").expect("parses");
        let mut t = ts("2030-03-31T00:00:00Z"); // 01:00 CET
        let mut fires = Vec::new();
        for _ in 0..5 {
            t = cron.next_after(t, &tz).expect("next");
            fires.push(t.to_string());
        }
        assert_eq!(
            fires,
            [
                "2030-03-31T00:30:00Z",
                "2030-03-31T01:00:00Z",
                "2030-03-31T01:30:00Z",
                "2030-03-31T02:00:00Z",
                "2030-03-31T02:30:00Z"
            ]
        );
    }

    #[test]
    fn fall_back_fires_a_repeated_time_once() {
        // Europe/Berlin, 2030-10-27: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let tz = time_zone("Europe/Berlin").expect("tz");
        let cron = Cron::parse("30 2 * * *").expect("parses");
        let first = cron
            .next_after(ts("2030-10-26T22:00:00Z"), &tz)
            .expect("next");
        assert_eq!(
            first.to_string(),
            "2030-10-27T00:30:00Z",
            "the first 02:30 (CEST)"
        );
        let then = cron.next_after(first, &tz).expect("next");
        assert_eq!(
            then.to_string(),
            "2030-10-28T01:30:00Z",
            "not again at the second 02:30, but the next day"
        );
        // In America/New_York too (a different rule set).
        assert_eq!(
            next("30 1 * * *", "2030-11-03T04:00:00Z", "America/New_York"),
            "2030-11-03T05:30:00Z"
        );
    }
}
