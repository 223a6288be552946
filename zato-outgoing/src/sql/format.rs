//! How SQL values are written in JSON, the same for both engines.
//!
//! Dates and times are RFC 3339 / ISO 8601 strings, fractions of a second written only as far
//! as they go (`03:04:05`, `03:04:05.5`, `03:04:05.000001`), so a value that has no fraction
//! does not grow one. A zone is written only for values that are points in time, and then as
//! `Z` (both engines hand them over in UTC).

use base64::Engine as _;
use serde_json::{Number, Value};

/// `YYYY-MM-DD`; years outside 0..=9999 with a sign (`-0044-03-15`, `+10000-01-01`), as
/// ISO 8601's expanded form has it.
pub(crate) fn date(year: i32, month: u8, day: u8) -> String {
    if (0..=9999).contains(&year) {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:+05}-{month:02}-{day:02}")
    }
}

/// `HH:MM:SS[.fraction]`, the fraction from `nanos` without trailing zeros. `hours` may be
/// above 23 (MySQL `TIME` is a duration up to 838 hours; PostgreSQL allows `24:00:00`).
pub(crate) fn time_of_day(hours: u32, minutes: u8, seconds: u8, nanos: u32) -> String {
    let mut out = format!("{hours:02}:{minutes:02}:{seconds:02}");
    push_fraction(&mut out, nanos);
    out
}

/// `.f` .. `.fffffffff` for a non-zero `nanos`, nothing for zero.
pub(crate) fn push_fraction(out: &mut String, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let digits = format!("{:09}", nanos.min(999_999_999));
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

/// A UTC offset east of Greenwich: `Z` for zero, else `+HH:MM` (`+HH:MM:SS` when it has seconds,
/// which only historical zones do).
pub(crate) fn offset(seconds_east: i32) -> String {
    if seconds_east == 0 {
        return "Z".to_owned();
    }
    let sign = if seconds_east < 0 { '-' } else { '+' };
    let total = seconds_east.unsigned_abs();
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// A 4-byte float as the shortest decimal that reads back as the same f32 (`0.1`, where the
/// f64 it widens to would print as `0.10000000149011612`); NaN and infinities as `null`.
pub(crate) fn float32(value: f32) -> Value {
    if !value.is_finite() {
        return Value::Null;
    }
    // `Display` for f32 prints the shortest round-tripping digits; read back as f64 they are
    // the number a person would write.
    let shortest: f64 = value.to_string().parse().unwrap_or(f64::from(value));
    float64(shortest)
}

/// An 8-byte float as a JSON number; NaN and infinities, which JSON cannot hold, as `null`.
pub(crate) fn float64(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

/// Bytes as a standard (RFC 4648, padded) base64 string.
pub(crate) fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates() {
        assert_eq!(date(2024, 1, 2), "2024-01-02");
        assert_eq!(date(33, 12, 31), "0033-12-31");
        assert_eq!(date(-43, 3, 15), "-0043-03-15");
        assert_eq!(date(10000, 1, 1), "+10000-01-01");
    }

    #[test]
    fn times_keep_only_the_fraction_they_have() {
        assert_eq!(time_of_day(3, 4, 5, 0), "03:04:05");
        assert_eq!(time_of_day(3, 4, 5, 500_000_000), "03:04:05.5");
        assert_eq!(time_of_day(3, 4, 5, 1_000), "03:04:05.000001");
        assert_eq!(time_of_day(838, 59, 59, 0), "838:59:59");
        assert_eq!(time_of_day(24, 0, 0, 0), "24:00:00");
    }

    #[test]
    fn offsets() {
        assert_eq!(offset(0), "Z");
        assert_eq!(offset(2 * 3600), "+02:00");
        assert_eq!(offset(-(5 * 3600 + 30 * 60)), "-05:30");
        assert_eq!(offset(1237), "+00:20:37");
    }

    #[test]
    fn floats() {
        assert_eq!(float32(0.1), json!(0.1));
        assert_eq!(float32(1.5), json!(1.5));
        assert_eq!(float32(f32::NAN), Value::Null);
        assert_eq!(float64(-2.25), json!(-2.25));
        assert_eq!(float64(f64::INFINITY), Value::Null);
    }

    #[test]
    fn bytes() {
        assert_eq!(base64(b"\x00\xffhi"), json!("AP9oaQ=="));
        assert_eq!(base64(b""), json!(""));
    }
}
