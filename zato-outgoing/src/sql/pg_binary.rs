//! PostgreSQL's binary wire formats for the types sqlx would not turn into JSON losslessly.
//!
//! sqlx asks for every result column in binary form. For most types its own decoders do, but
//! a few would lose what a caller sees in `psql`, or panic on values PostgreSQL allows:
//!
//! - `NUMERIC` through `BigDecimal` loses the column's display scale (sqlx rebuilds the scale
//!   from the base-10000 digit count, so `12.50` comes back as `12.5000` and `100.00` as
//!   `100`), and fails on `NaN` and `Infinity`;
//! - `DATE` and `TIMESTAMP[TZ]` through `time` panic on `infinity` (sqlx adds the value to
//!   the epoch with an operator that panics on overflow);
//! - `INTERVAL`, `INET`, `MACADDR`, `BIT` have no decoder that yields text.
//!
//! So these are read here from their documented layouts (PostgreSQL's `*_send` functions),
//! written as PostgreSQL writes them in text, and checked for length so that a short buffer is
//! an error, never a panic.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::format;

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// Julian day number of 2000-01-01, PostgreSQL's epoch for dates and timestamps.
const PG_EPOCH_JULIAN_DAY: i32 = 2_451_545;

fn array<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], String> {
    bytes
        .try_into()
        .map_err(|_| format!("{what}: expected {N} bytes, got {}", bytes.len()))
}

/// A big-endian signed integer of 2, 4 or 8 bytes (`INT2`, `INT4`, `INT8`).
pub(crate) fn int(bytes: &[u8]) -> Result<i64, String> {
    match bytes.len() {
        2 => Ok(i16::from_be_bytes(array(bytes, "integer")?).into()),
        4 => Ok(i32::from_be_bytes(array(bytes, "integer")?).into()),
        8 => Ok(i64::from_be_bytes(array(bytes, "integer")?)),
        n => Err(format!("integer: expected 2, 4 or 8 bytes, got {n}")),
    }
}

/// A big-endian unsigned 4-byte integer (`OID`).
pub(crate) fn uint(bytes: &[u8]) -> Result<u64, String> {
    Ok(u32::from_be_bytes(array(bytes, "oid")?).into())
}

/// `FLOAT4` or `FLOAT8`.
pub(crate) fn float(bytes: &[u8]) -> Result<serde_json::Value, String> {
    match bytes.len() {
        4 => Ok(format::float32(f32::from_be_bytes(array(bytes, "float4")?))),
        8 => Ok(format::float64(f64::from_be_bytes(array(bytes, "float8")?))),
        n => Err(format!("float: expected 4 or 8 bytes, got {n}")),
    }
}

/// `NUMERIC`, as PostgreSQL prints it: every digit, exactly the column's scale, `NaN`,
/// `Infinity`, `-Infinity`.
///
/// Layout: digit count, weight (of the first digit, in powers of 10000), sign, display
/// scale (digits after the point), then the base-10000 digits.
pub(crate) fn numeric(bytes: &[u8]) -> Result<String, String> {
    let header: [u8; 8] = bytes
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| format!("numeric: expected at least 8 bytes, got {}", bytes.len()))?;
    let ndigits = i16::from_be_bytes([header[0], header[1]]);
    let weight = i64::from(i16::from_be_bytes([header[2], header[3]]));
    let sign = u16::from_be_bytes([header[4], header[5]]);
    let dscale = usize::from(u16::from_be_bytes([header[6], header[7]]) & 0x3FFF);
    match sign {
        0xC000 => return Ok("NaN".to_owned()),
        0xD000 => return Ok("Infinity".to_owned()),
        0xF000 => return Ok("-Infinity".to_owned()),
        0x0000 | 0x4000 => {}
        other => return Err(format!("numeric: unknown sign {other:#06x}")),
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| format!("numeric: {ndigits} digits"))?;
    let body = &bytes[8..];
    if body.len() != ndigits * 2 {
        return Err(format!(
            "numeric: {ndigits} digits need {} bytes, got {}",
            ndigits * 2,
            body.len()
        ));
    }
    let digits: Vec<u16> = body
        .chunks_exact(2)
        .map(|d| u16::from_be_bytes([d[0], d[1]]))
        .collect();
    if let Some(bad) = digits.iter().find(|d| **d > 9999) {
        return Err(format!("numeric: digit {bad} is not base 10000"));
    }
    // The digit at base-10000 position `i` (0 = the first one sent), 0 outside those sent.
    let digit_at = |i: i64| -> u16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=weight {
            let d = digit_at(i);
            // Writing to a String cannot fail.
            let _ = if i == 0 {
                write!(out, "{d}")
            } else {
                write!(out, "{d:04}")
            };
        }
    }
    if dscale > 0 {
        let mut fraction = String::with_capacity(dscale + 4);
        let mut i = weight + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit_at(i));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Ok(out)
}

/// The calendar date `days` after 2000-01-01.
fn civil_date(days: i64) -> Result<String, String> {
    let date = i32::try_from(days)
        .ok()
        .and_then(|d| d.checked_add(PG_EPOCH_JULIAN_DAY))
        .and_then(|jd| time::Date::from_julian_day(jd).ok())
        .ok_or_else(|| {
            "date out of the range this server can show (years -9999 to 9999)".to_owned()
        })?;
    Ok(format::date(
        date.year(),
        u8::from(date.month()),
        date.day(),
    ))
}

/// `HH:MM:SS[.ffffff]` for `micros` into a day.
fn clock(micros: i64) -> String {
    let micros = micros.clamp(0, DAY_US);
    let seconds = micros / 1_000_000;
    // The values are bounded by a day, so they fit.
    let hours = u32::try_from(seconds / 3600).unwrap_or(24);
    let minutes = u8::try_from(seconds / 60 % 60).unwrap_or(0);
    let secs = u8::try_from(seconds % 60).unwrap_or(0);
    let nanos = u32::try_from(micros % 1_000_000 * 1_000).unwrap_or(0);
    format::time_of_day(hours, minutes, secs, nanos)
}

/// `DATE`: days since 2000-01-01; `i32::MAX`/`MIN` are `infinity`/`-infinity`.
pub(crate) fn date(bytes: &[u8]) -> Result<String, String> {
    match i32::from_be_bytes(array(bytes, "date")?) {
        i32::MAX => Ok("infinity".to_owned()),
        i32::MIN => Ok("-infinity".to_owned()),
        days => civil_date(days.into()),
    }
}

/// `TIME`: microseconds since midnight.
pub(crate) fn time(bytes: &[u8]) -> Result<String, String> {
    Ok(clock(i64::from_be_bytes(array(bytes, "time")?)))
}

/// `TIMETZ`: microseconds since midnight, then the zone in seconds *west* of UTC.
pub(crate) fn timetz(bytes: &[u8]) -> Result<String, String> {
    let raw: [u8; 12] = array(bytes, "timetz")?;
    let micros = i64::from_be_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    let west = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
    Ok(format!(
        "{}{}",
        clock(micros),
        format::offset(west.saturating_neg())
    ))
}

/// `TIMESTAMP` (`utc` false) or `TIMESTAMPTZ` (`utc` true, always sent in UTC): microseconds
/// since 2000-01-01 00:00; `i64::MAX`/`MIN` are `infinity`/`-infinity`.
pub(crate) fn timestamp(bytes: &[u8], utc: bool) -> Result<String, String> {
    let micros = match i64::from_be_bytes(array(bytes, "timestamp")?) {
        i64::MAX => return Ok("infinity".to_owned()),
        i64::MIN => return Ok("-infinity".to_owned()),
        m => m,
    };
    let mut out = civil_date(micros.div_euclid(DAY_US))?;
    out.push('T');
    out.push_str(&clock(micros.rem_euclid(DAY_US)));
    if utc {
        out.push('Z');
    }
    Ok(out)
}

/// `INTERVAL` as an ISO 8601 duration, exactly as PostgreSQL writes it with
/// `intervalstyle = iso_8601` (`P1Y2M3DT4H5M6.5S`, `PT-1H-30M`, `PT0S`).
///
/// Layout: microseconds, days, months; each part keeps its own sign, because PostgreSQL
/// keeps them apart (a month is not a fixed number of days, nor a day of hours).
pub(crate) fn interval(bytes: &[u8]) -> Result<String, String> {
    let raw: [u8; 16] = array(bytes, "interval")?;
    let micros = i64::from_be_bytes([
        raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
    ]);
    let days = i32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]);
    let months = i32::from_be_bytes([raw[12], raw[13], raw[14], raw[15]]);
    Ok(iso_duration(months, days, micros))
}

fn iso_duration(months: i32, days: i32, micros: i64) -> String {
    if months == 0 && days == 0 && micros == 0 {
        return "PT0S".to_owned();
    }
    let (years, months) = (months / 12, months % 12);
    let hours = micros / 3_600_000_000;
    let rest = micros % 3_600_000_000;
    let minutes = rest / 60_000_000;
    let rest = rest % 60_000_000;
    let mut out = String::from("P");
    for (value, unit) in [
        (i64::from(years), 'Y'),
        (i64::from(months), 'M'),
        (i64::from(days), 'D'),
    ] {
        if value != 0 {
            let _ = write!(out, "{value}{unit}");
        }
    }
    if micros != 0 {
        out.push('T');
        for (value, unit) in [(hours, 'H'), (minutes, 'M')] {
            if value != 0 {
                let _ = write!(out, "{value}{unit}");
            }
        }
        if rest != 0 {
            if rest < 0 {
                out.push('-');
            }
            let rest = rest.unsigned_abs();
            let _ = write!(out, "{}", rest / 1_000_000);
            format::push_fraction(
                &mut out,
                u32::try_from(rest % 1_000_000 * 1_000).unwrap_or(0),
            );
            out.push('S');
        }
    }
    out
}

/// `INET` or `CIDR`: family, prefix bits, whether CIDR, address length, address. Written as
/// PostgreSQL writes it: an `INET` that is a single host without its `/32` or `/128`.
pub(crate) fn inet(bytes: &[u8]) -> Result<String, String> {
    let (&[family, bits, is_cidr, len], address) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| format!("inet: expected at least 4 bytes, got {}", bytes.len()))?;
    if usize::from(len) != address.len() {
        return Err(format!(
            "inet: address of {len} bytes announced, {} sent",
            address.len()
        ));
    }
    let (text, max_bits) = match family {
        2 => (Ipv4Addr::from(array::<4>(address, "inet")?).to_string(), 32),
        3 => (ipv6(Ipv6Addr::from(array::<16>(address, "inet")?)), 128),
        other => return Err(format!("inet: unknown address family {other}")),
    };
    if is_cidr != 0 || bits != max_bits {
        Ok(format!("{text}/{bits}"))
    } else {
        Ok(text)
    }
}

/// An IPv6 address as PostgreSQL writes it; that differs from Rust's only for the deprecated
/// IPv4-compatible form, which PostgreSQL writes `::1.2.3.4`.
fn ipv6(address: Ipv6Addr) -> String {
    let s = address.segments();
    if s[..6].iter().all(|w| *w == 0) && s[6] != 0 {
        let [.., a, b, c, d] = address.octets();
        return format!("::{}", Ipv4Addr::new(a, b, c, d));
    }
    address.to_string()
}

/// `MACADDR` (6 bytes) or `MACADDR8` (8 bytes): lower-case hex pairs joined by `:`.
pub(crate) fn macaddr(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() != 6 && bytes.len() != 8 {
        return Err(format!(
            "macaddr: expected 6 or 8 bytes, got {}",
            bytes.len()
        ));
    }
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(pairs.join(":"))
}

/// `BIT`/`VARBIT`: the bit count, then the bits, most significant first.
pub(crate) fn bits(bytes: &[u8]) -> Result<String, String> {
    let (count, data) = bytes
        .split_first_chunk::<4>()
        .ok_or_else(|| "bit: expected at least 4 bytes".to_owned())?;
    let count = usize::try_from(i32::from_be_bytes(*count))
        .map_err(|_| "bit: negative length".to_owned())?;
    if data.len() * 8 < count {
        return Err(format!(
            "bit: {count} bits need more than {} bytes",
            data.len()
        ));
    }
    Ok((0..count)
        .map(|i| {
            if data[i / 8] & (0x80 >> (i % 8)) == 0 {
                '0'
            } else {
                '1'
            }
        })
        .collect())
}

/// `UUID`: 16 bytes.
pub(crate) fn uuid(bytes: &[u8]) -> Result<String, String> {
    Ok(sqlx::types::Uuid::from_bytes(array(bytes, "uuid")?).to_string())
}

/// `JSONB`: a version byte (1), then the JSON text.
pub(crate) fn jsonb(bytes: &[u8]) -> Result<serde_json::Value, String> {
    match bytes.split_first() {
        Some((1, text)) => json(text),
        Some((version, _)) => Err(format!("jsonb: unknown version {version}")),
        None => Err("jsonb: empty".to_owned()),
    }
}

/// `JSON`: the JSON text.
pub(crate) fn json(bytes: &[u8]) -> Result<serde_json::Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary form of a NUMERIC from its parts.
    fn num(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((digits.len() as i16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend(dscale.to_be_bytes());
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numeric_keeps_the_scale() {
        assert_eq!(numeric(&num(0, 0, 2, &[12, 5000])).unwrap(), "12.50");
        assert_eq!(numeric(&num(0, 0, 2, &[100])).unwrap(), "100.00");
        assert_eq!(numeric(&num(0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(numeric(&num(0, 0, 3, &[])).unwrap(), "0.000");
        assert_eq!(numeric(&num(-2, 0, 5, &[1000])).unwrap(), "0.00001");
        assert_eq!(
            numeric(&num(1, 0x4000, 1, &[12, 3456, 7000])).unwrap(),
            "-123456.7"
        );
        assert_eq!(
            numeric(&num(4, 0, 0, &[1, 2345, 6789, 123, 4567])).unwrap(),
            "12345678901234567"
        );
        // 1e20: one digit of weight 5, the zeros after it not sent.
        assert_eq!(
            numeric(&num(5, 0, 0, &[1])).unwrap(),
            "100000000000000000000"
        );
        assert_eq!(numeric(&num(0, 0xC000, 0, &[])).unwrap(), "NaN");
        assert_eq!(numeric(&num(0, 0xD000, 0, &[])).unwrap(), "Infinity");
        assert_eq!(numeric(&num(0, 0xF000, 0, &[])).unwrap(), "-Infinity");
    }

    #[test]
    fn numeric_refuses_garbage_without_panicking() {
        assert!(numeric(&[]).is_err());
        assert!(numeric(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 1]).is_err()); // 2 digits, 1 sent
        assert!(numeric(&num(0, 0, 0, &[10000])).is_err());
        assert!(numeric(&num(0, 0x1234, 0, &[])).is_err());
    }

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(date(&0i32.to_be_bytes()).unwrap(), "2000-01-01");
        assert_eq!(date(&(-1i32).to_be_bytes()).unwrap(), "1999-12-31");
        assert_eq!(date(&8767i32.to_be_bytes()).unwrap(), "2024-01-02");
        assert_eq!(date(&i32::MAX.to_be_bytes()).unwrap(), "infinity");
        assert_eq!(date(&i32::MIN.to_be_bytes()).unwrap(), "-infinity");
        assert!(date(&(i32::MAX - 1).to_be_bytes()).is_err());
        assert!(date(&[1, 2]).is_err());

        let t = (8767 * DAY_US + ((3 * 60 + 4) * 60 + 5) * 1_000_000 + 500_000).to_be_bytes();
        assert_eq!(timestamp(&t, false).unwrap(), "2024-01-02T03:04:05.5");
        assert_eq!(timestamp(&t, true).unwrap(), "2024-01-02T03:04:05.5Z");
        // Before the epoch: the day rounds down and the time of day stays positive.
        assert_eq!(
            timestamp(&(-1i64).to_be_bytes(), false).unwrap(),
            "1999-12-31T23:59:59.999999"
        );
        assert_eq!(
            timestamp(&i64::MAX.to_be_bytes(), true).unwrap(),
            "infinity"
        );
        assert_eq!(
            timestamp(&i64::MIN.to_be_bytes(), false).unwrap(),
            "-infinity"
        );
        assert!(timestamp(&(i64::MAX - 1).to_be_bytes(), false).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            time(&(3_723_000_001i64).to_be_bytes()).unwrap(),
            "01:02:03.000001"
        );
        assert_eq!(time(&DAY_US.to_be_bytes()).unwrap(), "24:00:00");
        let mut tz = 3_723_000_000i64.to_be_bytes().to_vec();
        tz.extend((-7200i32).to_be_bytes()); // two hours east
        assert_eq!(timetz(&tz).unwrap(), "01:02:03+02:00");
    }

    #[test]
    fn intervals_read_as_postgres_writes_them() {
        assert_eq!(iso_duration(0, 0, 0), "PT0S");
        assert_eq!(
            iso_duration(14, 3, ((4 * 60 + 5) * 60 + 6) * 1_000_000 + 500_000),
            "P1Y2M3DT4H5M6.5S"
        );
        assert_eq!(iso_duration(0, 0, -90 * 60_000_000), "PT-1H-30M");
        assert_eq!(iso_duration(0, 0, -1_500_000), "PT-1.5S");
        assert_eq!(iso_duration(-1, 1, 0), "P-1M1D");
        assert_eq!(iso_duration(0, 7, 0), "P7D");
    }

    #[test]
    fn addresses() {
        assert_eq!(inet(&[2, 32, 0, 4, 192, 168, 0, 1]).unwrap(), "192.168.0.1");
        assert_eq!(
            inet(&[2, 24, 0, 4, 192, 168, 0, 1]).unwrap(),
            "192.168.0.1/24"
        );
        assert_eq!(inet(&[2, 8, 1, 4, 10, 0, 0, 0]).unwrap(), "10.0.0.0/8");
        assert_eq!(inet(&[2, 32, 1, 4, 10, 0, 0, 1]).unwrap(), "10.0.0.1/32");
        let mut v6 = vec![3, 128, 0, 16];
        v6.extend(Ipv6Addr::LOCALHOST.octets());
        assert_eq!(inet(&v6).unwrap(), "::1");
        let mut mapped = vec![3, 128, 0, 16];
        mapped.extend(Ipv4Addr::new(1, 2, 3, 4).to_ipv6_mapped().octets());
        assert_eq!(inet(&mapped).unwrap(), "::ffff:1.2.3.4");
        assert!(inet(&[2, 32, 0, 4, 1]).is_err());
        assert!(inet(&[9, 32, 0, 4, 1, 2, 3, 4]).is_err());
        assert_eq!(
            macaddr(&[8, 0, 0x2b, 1, 2, 3]).unwrap(),
            "08:00:2b:01:02:03"
        );
    }

    #[test]
    fn bit_strings() {
        assert_eq!(bits(&[0, 0, 0, 5, 0b1010_1000]).unwrap(), "10101");
        assert_eq!(bits(&[0, 0, 0, 0]).unwrap(), "");
        assert!(bits(&[0, 0, 0, 9, 0xff]).is_err());
    }

    #[test]
    fn small_things() {
        assert_eq!(int(&[0xff, 0xfe]).unwrap(), -2);
        assert_eq!(int(&7i32.to_be_bytes()).unwrap(), 7);
        assert!(int(&[1, 2, 3]).is_err());
        assert_eq!(uint(&u32::MAX.to_be_bytes()).unwrap(), u64::from(u32::MAX));
        assert_eq!(
            jsonb(b"\x01{\"a\":1}").unwrap(),
            serde_json::json!({"a": 1})
        );
        assert!(jsonb(b"\x02{}").is_err());
        assert_eq!(
            uuid(&[
                0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17,
                0x40, 0x00
            ])
            .unwrap(),
            "123e4567-e89b-12d3-a456-426614174000"
        );
    }
}
