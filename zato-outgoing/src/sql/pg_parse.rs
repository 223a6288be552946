//! Strings as values of the PostgreSQL type a parameter was inferred to have, so that JSON's
//! strings for dates, times, numbers and UUIDs go into typed columns without a cast in the
//! SQL (see [`super::params`]).
//!
//! Each parser takes the unambiguous, ISO form of its type, as this crate reads the type
//! back, and what PostgreSQL's own input function takes in that form:
//!
//! | type | accepted |
//! |---|---|
//! | `BOOL` | `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, and prefixes (`t`, `n`), any case |
//! | `NUMERIC` | `12.50` (its scale kept), `-1e-20`, `NaN`, `Infinity`, `-Infinity` |
//! | `DATE` | `2024-01-02`, `infinity`, `-infinity` |
//! | `TIME` | `03:04`, `03:04:05`, `03:04:05.123456` |
//! | `TIMESTAMP` | a date, or a date, `T` or a space, and a time; a zone is ignored, as PostgreSQL does |
//! | `TIMESTAMPTZ` | a date, `T` or a space, a time, and `Z`, `+02`, `+02:00` or `+0200` |
//! | `INTERVAL` | ISO 8601 durations as PostgreSQL writes them: `P1Y2M3DT4H5M6.5S`, `PT-1H-30M` |
//!
//! Fractions of a second beyond microseconds are rounded, as PostgreSQL rounds them. Every
//! parser trims surrounding whitespace. A string none of them takes is not necessarily wrong:
//! PostgreSQL's own parser, which knows more forms (`January 8, 1999`, `1 day 2 hours`),
//! gets it when the statement allows text there (see [`super::params`]).

use std::str::FromStr;

use sqlx::postgres::types::PgInterval;
use sqlx::types::BigDecimal;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A date or timestamp, which PostgreSQL extends with both infinities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MaybeInfinite<T> {
    Finite(T),
    Infinity,
    MinusInfinity,
}

/// A `NUMERIC`: a number, or one of the values beyond numbers PostgreSQL has.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Numeric {
    Number(BigDecimal),
    NaN,
    Infinity,
    MinusInfinity,
}

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// `BOOL`, as PostgreSQL's `boolin` reads it.
pub(crate) fn boolean(s: &str) -> Result<bool, String> {
    let word = s.trim().to_ascii_lowercase();
    match word.as_str() {
        "" => Err("empty".to_owned()),
        "1" | "on" => Ok(true),
        "0" | "of" | "off" => Ok(false),
        w if "true".starts_with(w) || "yes".starts_with(w) => Ok(true),
        w if "false".starts_with(w) || "no".starts_with(w) => Ok(false),
        _ => Err("expected true/false, yes/no, on/off or 1/0".to_owned()),
    }
}

/// `NUMERIC`: a decimal number, with an exponent or not, or `NaN`/`Infinity`.
pub(crate) fn numeric(s: &str) -> Result<Numeric, String> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => return Ok(Numeric::NaN),
        "infinity" | "+infinity" | "inf" | "+inf" => return Ok(Numeric::Infinity),
        "-infinity" | "-inf" => return Ok(Numeric::MinusInfinity),
        _ => {}
    }
    // BigDecimal takes `1_000` too; PostgreSQL (before 16) does not.
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return Err("expected a decimal number such as 12.50 or -1e-3".to_owned());
    }
    BigDecimal::from_str(s)
        .map(Numeric::Number)
        .map_err(|e| format!("expected a decimal number such as 12.50 ({e})"))
}

/// `DATE`: `YYYY-MM-DD`, or an infinity.
pub(crate) fn date(s: &str) -> Result<MaybeInfinite<Date>, String> {
    let s = s.trim();
    if let Some(infinite) = infinity(s) {
        return Ok(infinite);
    }
    let mut cursor = Cursor(s);
    let date = cursor.date()?;
    cursor.end("YYYY-MM-DD")?;
    Ok(MaybeInfinite::Finite(date))
}

/// `TIME`: `HH:MM`, `HH:MM:SS` or `HH:MM:SS.ffffff`.
pub(crate) fn time(s: &str) -> Result<Time, String> {
    let mut cursor = Cursor(s.trim());
    let micros = cursor.time_of_day()?;
    cursor.end("HH:MM:SS")?;
    if micros >= MICROS_PER_DAY {
        return Err("past 23:59:59.999999".to_owned());
    }
    time_from_micros(micros)
}

/// `TIMESTAMP`: a date, optionally a time after it; a zone after the time is ignored, as
/// PostgreSQL ignores one for a `TIMESTAMP`.
pub(crate) fn timestamp(s: &str) -> Result<MaybeInfinite<PrimitiveDateTime>, String> {
    let s = s.trim();
    if let Some(infinite) = infinity(s) {
        return Ok(infinite);
    }
    let mut cursor = Cursor(s);
    let date = cursor.date()?;
    let micros = if cursor.separator() {
        let micros = cursor.time_of_day()?;
        cursor.offset()?;
        micros
    } else {
        0
    };
    cursor.end("YYYY-MM-DDTHH:MM:SS")?;
    Ok(MaybeInfinite::Finite(at(date, micros)?))
}

/// `TIMESTAMPTZ`: a date, a time and the offset from UTC that says which instant it is.
pub(crate) fn timestamptz(s: &str) -> Result<MaybeInfinite<OffsetDateTime>, String> {
    let s = s.trim();
    if let Some(infinite) = infinity(s) {
        return Ok(infinite);
    }
    let mut cursor = Cursor(s);
    let date = cursor.date()?;
    if !cursor.separator() {
        return Err(NO_OFFSET.to_owned());
    }
    let micros = cursor.time_of_day()?;
    let offset = cursor.offset()?.ok_or(NO_OFFSET)?;
    cursor.end("YYYY-MM-DDTHH:MM:SSZ")?;
    let local = at(date, micros)?;
    Ok(MaybeInfinite::Finite(local.assume_offset(offset)))
}

const NO_OFFSET: &str = "needs a UTC offset (2024-01-02T03:04:05Z, ...+02:00): a local time \
                         would mean the session's time zone, which a cast ($n::timestamptz) \
                         applies";

/// `INTERVAL` in ISO 8601's designator form: `P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, each
/// number signed or not, a fraction only on the seconds.
pub(crate) fn interval(s: &str) -> Result<PgInterval, String> {
    const FORM: &str = "expected an ISO 8601 duration such as P1Y2M3DT4H5M6.5S";
    let s = s.trim();
    let Some(body) = s.strip_prefix(['P', 'p']) else {
        return Err(FORM.to_owned());
    };
    let (date_part, time_part) = match body.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    // Wide enough that no sum of in-range components overflows; the range is checked last.
    let (mut months, mut days, mut micros) = (0_i128, 0_i128, 0_i128);
    let mut any = false;
    for (number, unit) in components(date_part)? {
        let n = whole(&number, unit)?;
        match unit.to_ascii_uppercase() {
            'Y' => months += n * 12,
            'M' => months += n,
            'W' => days += n * 7,
            'D' => days += n,
            other => return Err(format!("{FORM}: no unit {other:?} before T")),
        }
        any = true;
    }
    if let Some(time_part) = time_part {
        let parts = components(time_part)?;
        if parts.is_empty() {
            return Err(format!("{FORM}: nothing after T"));
        }
        for (number, unit) in parts {
            match unit.to_ascii_uppercase() {
                'H' => micros += whole(&number, unit)? * 3_600 * i128::from(MICROS_PER_SECOND),
                'M' => micros += whole(&number, unit)? * 60 * i128::from(MICROS_PER_SECOND),
                'S' => micros += i128::from(seconds(&number)?),
                other => return Err(format!("{FORM}: no unit {other:?} after T")),
            }
            any = true;
        }
    }
    if !any {
        return Err(FORM.to_owned());
    }
    let out_of_range = || "out of range for an INTERVAL".to_owned();
    Ok(PgInterval {
        months: i32::try_from(months).map_err(|_| out_of_range())?,
        days: i32::try_from(days).map_err(|_| out_of_range())?,
        microseconds: i64::try_from(micros).map_err(|_| out_of_range())?,
    })
}

/// The `(number, unit)` pairs of one half of an ISO 8601 duration.
fn components(s: &str) -> Result<Vec<(String, char)>, String> {
    let mut out = Vec::new();
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | ',') {
            number.push(if c == ',' { '.' } else { c });
        } else if c.is_ascii_alphabetic() {
            if number.is_empty() {
                return Err(format!("no number before {c:?}"));
            }
            out.push((std::mem::take(&mut number), c));
        } else {
            return Err(format!("unexpected {c:?} in a duration"));
        }
    }
    if !number.is_empty() {
        return Err(format!("{number:?} has no unit"));
    }
    Ok(out)
}

/// A whole number of some unit of a duration (ranges are checked where they add up).
fn whole(number: &str, unit: char) -> Result<i128, String> {
    number
        .parse::<i128>()
        .ok()
        .filter(|n| n.unsigned_abs() <= i32::MAX.unsigned_abs().into())
        .ok_or_else(|| format!("{number:?}{unit}: expected a whole number"))
}

/// Seconds of a duration, with a fraction or not, in microseconds (rounded).
fn seconds(number: &str) -> Result<i64, String> {
    let bad = || format!("{number:?}S: expected seconds such as 6 or -1.5");
    let (negative, digits) = match number.as_bytes().first() {
        Some(b'-') => (true, &number[1..]),
        Some(b'+') => (false, &number[1..]),
        _ => (false, number),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let micros = whole
        .checked_mul(MICROS_PER_SECOND)
        .and_then(|m| m.checked_add(fraction_micros(fraction)))
        .ok_or_else(bad)?;
    Ok(if negative { -micros } else { micros })
}

/// The microseconds `digits` (after the decimal point) stand for, rounded half up: at most
/// 1_000_000, when they round up to a whole second.
fn fraction_micros(digits: &str) -> i64 {
    let mut micros = 0_i64;
    let mut bytes = digits.bytes();
    for _ in 0..6 {
        micros = micros * 10 + bytes.next().map_or(0, |b| i64::from(b - b'0'));
    }
    if bytes.next().is_some_and(|b| b >= b'5') {
        micros += 1;
    }
    micros
}

fn infinity<T>(s: &str) -> Option<MaybeInfinite<T>> {
    if s.eq_ignore_ascii_case("infinity") || s.eq_ignore_ascii_case("+infinity") {
        Some(MaybeInfinite::Infinity)
    } else if s.eq_ignore_ascii_case("-infinity") {
        Some(MaybeInfinite::MinusInfinity)
    } else {
        None
    }
}

/// `date` plus `micros` microseconds into the day (which may round up into the next day).
fn at(date: Date, micros: i64) -> Result<PrimitiveDateTime, String> {
    PrimitiveDateTime::new(date, Time::MIDNIGHT)
        .checked_add(Duration::microseconds(micros))
        .ok_or_else(|| "out of range".to_owned())
}

fn time_from_micros(micros: i64) -> Result<Time, String> {
    let seconds = micros / MICROS_PER_SECOND;
    let narrow = |n: i64| u8::try_from(n).map_err(|_| "out of range".to_owned());
    Time::from_hms_micro(
        narrow(seconds / 3_600)?,
        narrow(seconds / 60 % 60)?,
        narrow(seconds % 60)?,
        u32::try_from(micros % MICROS_PER_SECOND).map_err(|_| "out of range".to_owned())?,
    )
    .map_err(|e| e.to_string())
}

/// Reads a date, a time and an offset off the front of a string.
struct Cursor<'a>(&'a str);

impl Cursor<'_> {
    /// A number of `min..=max` digits.
    fn number(&mut self, min: usize, max: usize, what: &str) -> Result<u32, String> {
        let len = self
            .0
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if len < min {
            return Err(format!("expected the {what} at {:?}", self.0));
        }
        let (digits, rest) = self.0.split_at(len);
        self.0 = rest;
        digits
            .parse()
            .map_err(|_| format!("expected the {what} at {digits:?}"))
    }

    fn eat(&mut self, c: char) -> bool {
        match self.0.strip_prefix(c) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char, after: &str) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected {c:?} after the {after}"))
        }
    }

    /// `YYYY-MM-DD` (month and day may have one digit).
    fn date(&mut self) -> Result<Date, String> {
        let year = self.number(4, 4, "year (YYYY-MM-DD)")?;
        self.expect('-', "year")?;
        let month = self.number(1, 2, "month")?;
        self.expect('-', "month")?;
        let day = self.number(1, 2, "day")?;
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(|| format!("there is no month {month}"))?;
        let day = u8::try_from(day).map_err(|_| format!("there is no day {day}"))?;
        let year = i32::try_from(year).map_err(|_| "year out of range".to_owned())?;
        Date::from_calendar_date(year, month, day)
            .map_err(|_| format!("{year:04}-{:02} has no day {day}", u8::from(month)))
    }

    /// `T`, `t` or a space between a date and a time; whether there was one.
    fn separator(&mut self) -> bool {
        self.eat('T') || self.eat('t') || self.eat(' ')
    }

    /// `HH:MM[:SS[.f]]` as microseconds since midnight, the fraction rounded (so up to
    /// 24:00:00.000000 for 23:59:59.9999995).
    fn time_of_day(&mut self) -> Result<i64, String> {
        let hour = self.number(1, 2, "hour (HH:MM:SS)")?;
        self.expect(':', "hour")?;
        let minute = self.number(2, 2, "minutes")?;
        let (second, fraction) = if self.eat(':') {
            let second = self.number(2, 2, "seconds")?;
            let fraction = if self.eat('.') {
                let len = self.0.bytes().take_while(u8::is_ascii_digit).count();
                let (digits, rest) = self.0.split_at(len);
                self.0 = rest;
                fraction_micros(digits)
            } else {
                0
            };
            (second, fraction)
        } else {
            (0, 0)
        };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!(
                "{hour:02}:{minute:02}:{second:02} is not a time of day"
            ));
        }
        let seconds = i64::from((hour * 60 + minute) * 60 + second);
        Ok(seconds * MICROS_PER_SECOND + fraction)
    }

    /// An optional offset from UTC: `Z`, `+HH`, `+HH:MM`, `+HHMM` (or `-`), perhaps after a
    /// space.
    fn offset(&mut self) -> Result<Option<UtcOffset>, String> {
        let before = self.0;
        self.eat(' ');
        if self.eat('Z') || self.eat('z') {
            return Ok(Some(UtcOffset::UTC));
        }
        let sign: i8 = if self.eat('+') {
            1
        } else if self.eat('-') {
            -1
        } else {
            self.0 = before;
            return Ok(None);
        };
        let hours = self.number(2, 2, "offset's hours (+HH:MM)")?;
        let colon = self.eat(':');
        let minutes = if colon || self.0.starts_with(|c: char| c.is_ascii_digit()) {
            self.number(2, 2, "offset's minutes")?
        } else {
            0
        };
        let narrow = |n: u32| i8::try_from(n).map_err(|_| "offset out of range".to_owned());
        UtcOffset::from_hms(sign * narrow(hours)?, sign * narrow(minutes)?, 0)
            .map(Some)
            .map_err(|_| "offset out of range".to_owned())
    }

    fn end(&self, form: &str) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected {:?} (expected {form})", self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime, time};

    #[test]
    fn booleans_as_postgres_reads_them() {
        for s in ["true", "TRUE", "t", "tr", "yes", "y", "on", "1", " On "] {
            assert_eq!(boolean(s), Ok(true), "{s}");
        }
        for s in ["false", "f", "no", "N", "off", "of", "0"] {
            assert_eq!(boolean(s), Ok(false), "{s}");
        }
        for s in ["", "o", "2", "truth", "yess", "nope"] {
            assert!(boolean(s).is_err(), "{s}");
        }
    }

    #[test]
    fn numerics_keep_their_scale() {
        let Ok(Numeric::Number(n)) = numeric(" 12.50 ") else {
            panic!("a number")
        };
        assert_eq!(n.as_bigint_and_exponent().1, 2);
        assert_eq!(n.to_string(), "12.50");
        assert!(matches!(numeric("-1e-20"), Ok(Numeric::Number(_))));
        assert_eq!(numeric("NaN"), Ok(Numeric::NaN));
        assert_eq!(numeric("Infinity"), Ok(Numeric::Infinity));
        assert_eq!(numeric("-inf"), Ok(Numeric::MinusInfinity));
        for s in ["", "abc", "1_000", "1,5", "12.5.1", "0x10"] {
            assert!(numeric(s).is_err(), "{s}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            date("2024-01-02"),
            Ok(MaybeInfinite::Finite(date!(2024 - 01 - 02)))
        );
        assert_eq!(
            date("2024-2-9"),
            Ok(MaybeInfinite::Finite(date!(2024 - 02 - 09)))
        );
        assert_eq!(date("infinity"), Ok(MaybeInfinite::Infinity));
        assert_eq!(date("-Infinity"), Ok(MaybeInfinite::MinusInfinity));
        let e = date("2024-13-01").expect_err("no month 13");
        assert!(e.contains("month 13"), "{e}");
        let e = date("2023-02-29").expect_err("not a leap year");
        assert!(e.contains("no day 29"), "{e}");
        for s in [
            "",
            "20240102",
            "2024-01-02T00:00:00",
            "02.01.2024",
            "January 8, 1999",
        ] {
            assert!(date(s).is_err(), "{s}");
        }
    }

    #[test]
    fn times_of_day() {
        assert_eq!(time("03:04"), Ok(time!(03:04)));
        assert_eq!(time("03:04:05"), Ok(time!(03:04:05)));
        assert_eq!(time("13:14:15.5"), Ok(time!(13:14:15.5)));
        // Rounded to microseconds, as PostgreSQL does.
        assert_eq!(time("00:00:00.0000015"), Ok(time!(00:00:00.000002)));
        assert!(time("23:59:59.9999996").is_err());
        for s in ["24:00", "12:60", "1:2", "03:04:05+02", "noon"] {
            assert!(time(s).is_err(), "{s}");
        }
    }

    #[test]
    fn timestamps_ignore_a_zone_as_postgres_does() {
        let t = |s: &str| match timestamp(s) {
            Ok(MaybeInfinite::Finite(t)) => t,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(
            t("2024-01-02 03:04:05.123456"),
            datetime!(2024-01-02 03:04:05.123456)
        );
        assert_eq!(t("2024-01-02T03:04:05"), datetime!(2024-01-02 03:04:05));
        assert_eq!(t("2024-01-02"), datetime!(2024-01-02 00:00));
        assert_eq!(t("2024-01-02T03:04:05Z"), datetime!(2024-01-02 03:04:05));
        assert_eq!(
            t("2024-01-02 03:04:05 +02:00"),
            datetime!(2024-01-02 03:04:05)
        );
        // Rounding may carry into the next day.
        assert_eq!(
            t("2024-01-02T23:59:59.9999999"),
            datetime!(2024-01-03 00:00)
        );
        assert_eq!(timestamp("infinity"), Ok(MaybeInfinite::Infinity));
        assert!(timestamp("2024-01-02T03").is_err());
        assert!(timestamp("2024-01-02X03:04").is_err());
    }

    #[test]
    fn timestamps_with_zones_need_an_offset() {
        let t = |s: &str| match timestamptz(s) {
            Ok(MaybeInfinite::Finite(t)) => t,
            other => panic!("{s}: {other:?}"),
        };
        let utc = datetime!(2024-01-02 03:04:05 UTC);
        assert_eq!(t("2024-01-02T03:04:05Z"), utc);
        assert_eq!(t("2024-01-02t03:04:05z"), utc);
        assert_eq!(t("2024-01-02T05:04:05+02:00"), utc);
        assert_eq!(t("2024-01-02 05:04:05+02"), utc);
        assert_eq!(t("2024-01-02T08:34:05+0530"), utc);
        assert_eq!(t("2024-01-02T00:04:05 -03:00"), utc);
        assert_eq!(t("2024-01-02T03:04:05.25Z").nanosecond(), 250_000_000);
        assert_eq!(timestamptz("-infinity"), Ok(MaybeInfinite::MinusInfinity));
        let e = timestamptz("2024-01-02T03:04:05").expect_err("no offset");
        assert!(e.contains("UTC offset"), "{e}");
        assert!(timestamptz("2024-01-02").is_err());
        assert!(timestamptz("2024-01-02T03:04:05+2").is_err());
        assert!(timestamptz("2024-01-02T03:04:05Z trailing").is_err());
    }

    #[test]
    fn intervals_read_back_as_they_were_written() {
        let i = |months, days, microseconds| PgInterval {
            months,
            days,
            microseconds,
        };
        // What `pg_binary::interval` writes, PostgreSQL's iso_8601 style.
        assert_eq!(
            interval("P1Y2M3DT4H5M6.5S"),
            Ok(i(14, 3, ((4 * 60 + 5) * 60 + 6) * 1_000_000 + 500_000))
        );
        assert_eq!(interval("PT-1H-30M"), Ok(i(0, 0, -90 * 60_000_000)));
        assert_eq!(interval("PT-1.5S"), Ok(i(0, 0, -1_500_000)));
        assert_eq!(interval("P-1M1D"), Ok(i(-1, 1, 0)));
        assert_eq!(interval("P7D"), Ok(i(0, 7, 0)));
        assert_eq!(interval("PT0S"), Ok(i(0, 0, 0)));
        assert_eq!(interval("P2W"), Ok(i(0, 14, 0)));
        assert_eq!(interval("pt0,000001s"), Ok(i(0, 0, 1)));
        for s in [
            "", "P", "PT", "1 day", "P1.5D", "P1H", "PT1D", "P1", "PT1H2",
        ] {
            assert!(interval(s).is_err(), "{s}");
        }
    }
}
