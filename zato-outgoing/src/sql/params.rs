//! JSON parameters, bound to a statement's placeholders (`$1`.. on PostgreSQL, `?` on MySQL).
//!
//! Parameters are always sent apart from the SQL text, in the protocol's bind message, so no
//! value can change what the statement does: `x'; DROP TABLE t; --` is stored as those
//! characters.
//!
//! | JSON | PostgreSQL | MySQL |
//! |---|---|---|
//! | `null` | NULL of the type PostgreSQL infers | NULL |
//! | `true`/`false` | `BOOL` | `TINYINT` 1/0 |
//! | integer | `INT8`; `NUMERIC` above `i64::MAX` | `BIGINT` (`BIGINT UNSIGNED` above `i64::MAX`) |
//! | other number | `NUMERIC` where PostgreSQL infers it (from the number's JSON text, so `0.1` is 0.1 exactly), else `FLOAT8` | `DOUBLE` |
//! | string | the type PostgreSQL infers, parsed (below); `TEXT` where it infers a text type | string |
//! | array, object | `JSONB` | the JSON text |
//!
//! # Strings on PostgreSQL
//!
//! JSON has no dates, decimals, UUIDs or timestamps: callers send them as strings. PostgreSQL
//! does not turn `TEXT` into those types by itself, so a string is declared with no type
//! and PostgreSQL infers one from where the placeholder is (`INSERT INTO t (d) VALUES ($1)`
//! makes `$1` a `DATE` if `d` is one; so does `$1::date`). The string is then parsed and sent as
//! that type, by sqlx's encoders ([`super::pg_parse`] lists the forms taken):
//! `BOOL`, `INT2`/`INT4`/`INT8`, `FLOAT4`/`FLOAT8`, `NUMERIC` (`"12.50"` keeps its scale),
//! `DATE`, `TIME`, `TIMESTAMP`, `TIMESTAMPTZ`, `INTERVAL` (ISO 8601), `UUID`, `JSON`/`JSONB`
//! (the string is the JSON text: `"{\"a\": 1}"`), and domains over them. Text types, enums
//! (a label is text) and `unknown` take the string as it is.
//!
//! Where that does not work, the string is declared `TEXT`, as it always was, so nothing that
//! worked with a `TEXT` parameter stops working:
//! - PostgreSQL infers a type not listed above (`regclass` in `nextval($1)`, `"char"`,
//!   arrays, `INET`, ...);
//! - it cannot infer one (`SELECT $1 IS NULL`, `concat($1)`, `json_build_object('k', $1)`:
//!   SQLSTATE 42P18) or the untyped placeholder makes the statement fail otherwise;
//! - the string does not parse as the inferred type: `TEXT` then lets PostgreSQL's own
//!   parser judge it where the SQL casts it (`$1::date` with `"January 8, 1999"`); where
//!   nothing takes text (a `DATE` column without a cast), the call fails with
//!   [`SqlError::Parameter`] naming the parameter, the type and what is wrong with the value.
//!
//! A float is declared with no type too, so that it goes into a `NUMERIC` as the number the
//! JSON said rather than as the nearest binary float, which PostgreSQL would cast with 15
//! digits; anywhere else it is a `FLOAT8`, as before. Integers need no inference: `INT8` goes
//! into every numeric column exactly.
//!
//! The NULL is untyped on PostgreSQL (type OID 0, as if the statement had a literal `NULL`)
//! because a typed one fails where the column is not of that type. A NULL whose type nothing
//! in the statement implies (`SELECT $1 IS NULL`) is refused with "could not determine data
//! type of parameter $1" (SQLSTATE 42P18) and needs a cast.
//!
//! MySQL converts strings into dates, decimals and the rest itself.

use std::str::FromStr;

use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::MySqlArguments;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgTypeInfo, PgTypeKind, Postgres};
use sqlx::types::{BigDecimal, Json, Uuid};
use sqlx::{Arguments, TypeInfo};

use super::error::SqlError;
use super::pg_parse::{self, MaybeInfinite, Numeric};

/// What SQL value a JSON parameter becomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Param<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX`: MySQL takes it as `BIGINT UNSIGNED`, PostgreSQL, which
    /// has no unsigned type, as `NUMERIC`.
    BigUnsigned(u64),
    Float(f64),
    Text(&'a str),
    Json(&'a Value),
}

/// Sorts a JSON value into the SQL value it binds as.
pub(crate) fn classify(value: &Value) -> Param<'_> {
    match value {
        Value::Null => Param::Null,
        Value::Bool(b) => Param::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Param::Int(i)
            } else if let Some(u) = n.as_u64() {
                Param::BigUnsigned(u)
            } else {
                // Without serde_json's `arbitrary_precision`, a number that is neither i64
                // nor u64 is always an f64.
                Param::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Param::Text(s),
        Value::Array(_) | Value::Object(_) => Param::Json(value),
    }
}

/// The OIDs of the built-in types parameters are declared or inferred as.
pub(crate) mod oid {
    /// "Unspecified": PostgreSQL infers the type.
    pub(crate) const INFER: u32 = 0;
    pub(crate) const BOOL: u32 = 16;
    pub(crate) const NAME: u32 = 19;
    pub(crate) const INT8: u32 = 20;
    pub(crate) const INT2: u32 = 21;
    pub(crate) const INT4: u32 = 23;
    pub(crate) const TEXT: u32 = 25;
    pub(crate) const JSON: u32 = 114;
    pub(crate) const FLOAT4: u32 = 700;
    pub(crate) const FLOAT8: u32 = 701;
    pub(crate) const UNKNOWN: u32 = 705;
    pub(crate) const BPCHAR: u32 = 1042;
    pub(crate) const VARCHAR: u32 = 1043;
    pub(crate) const DATE: u32 = 1082;
    pub(crate) const TIME: u32 = 1083;
    pub(crate) const TIMESTAMP: u32 = 1114;
    pub(crate) const TIMESTAMPTZ: u32 = 1184;
    pub(crate) const INTERVAL: u32 = 1186;
    pub(crate) const NUMERIC: u32 = 1700;
    pub(crate) const UUID: u32 = 2950;
    pub(crate) const JSONB: u32 = 3802;
}

/// The type each parameter declares when its statement is prepared: a fixed type for what
/// JSON says exactly, [`oid::INFER`] for NULLs, floats and strings.
pub(crate) fn declare(params: &[Value]) -> Vec<u32> {
    params
        .iter()
        .map(|value| match classify(value) {
            Param::Null | Param::Float(_) | Param::Text(_) => oid::INFER,
            Param::Bool(_) => oid::BOOL,
            Param::Int(_) => oid::INT8,
            Param::BigUnsigned(_) => oid::NUMERIC,
            Param::Json(_) => oid::JSONB,
        })
        .collect()
}

/// What JSON kind each parameter is, one letter each: what a declaration is learnt for. The
/// declaration alone would not do: NULLs, floats and strings all start undeclared, but fall
/// back to different types.
pub(crate) fn shape(params: &[Value]) -> String {
    params
        .iter()
        .map(|value| match classify(value) {
            Param::Null => 'n',
            Param::Bool(_) => 'b',
            Param::Int(_) => 'i',
            Param::BigUnsigned(_) => 'u',
            Param::Float(_) => 'f',
            Param::Text(_) => 's',
            Param::Json(_) => 'j',
        })
        .collect()
}

/// The type a parameter declared for inference falls back to where inference does not work
/// (see the module docs): `TEXT` for a string, `FLOAT8` for a float. `None` for the others,
/// which are declared with their type from the start (or, NULLs, are never declared).
pub(crate) fn fallback(value: &Value) -> Option<u32> {
    match classify(value) {
        Param::Text(_) => Some(oid::TEXT),
        Param::Float(_) => Some(oid::FLOAT8),
        _ => None,
    }
}

/// Why a value cannot be sent as the type the prepared statement has for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Misfit {
    /// PostgreSQL inferred a type this layer does not encode from this JSON value: the
    /// parameter is to be declared as its [`fallback`] instead.
    Redeclare,
    /// The string does not parse as the inferred type; the message says why (and names the
    /// type and the value).
    Unparsable(String),
    /// The value cannot be sent at all.
    Refused(String),
}

/// Whether PostgreSQL's inferred type `ty` is one `value` (declared for inference) cannot be
/// sent as, whatever its contents: the parameter is to be declared as its [`fallback`].
pub(crate) fn needs_fallback(value: &Value, ty: &PgTypeInfo) -> bool {
    match classify(value) {
        Param::Text(_) => Target::of(ty) == Target::Other,
        Param::Float(_) => !matches!(oid_of(ty), oid::NUMERIC | oid::FLOAT8),
        _ => false,
    }
}

/// The PostgreSQL arguments for `params`, each encoded as the type the prepared statement
/// has for it (`types`, one per parameter). On failure, the index (from 0) of the parameter
/// that does not fit, and why.
pub(crate) fn postgres(
    params: &[Value],
    types: &[PgTypeInfo],
) -> Result<PgArguments, (usize, Misfit)> {
    let mut args = PgArguments::default();
    for (i, (value, ty)) in params.iter().zip(types).enumerate() {
        bind(&mut args, value, ty).map_err(|misfit| (i, misfit))?;
    }
    Ok(args)
}

fn oid_of(ty: &PgTypeInfo) -> u32 {
    ty.oid().map_or(u32::MAX, |o| o.0)
}

fn bind(args: &mut PgArguments, value: &Value, ty: &PgTypeInfo) -> Result<(), Misfit> {
    let refused = |e: BoxDynError| Misfit::Refused(e.to_string());
    let oid = oid_of(ty);
    match classify(value) {
        Param::Null => args.add(UntypedNull).map_err(refused),
        Param::Bool(b) if oid == oid::BOOL => args.add(b).map_err(refused),
        Param::Int(n) if oid == oid::INT8 => args.add(n).map_err(refused),
        Param::BigUnsigned(n) if oid == oid::NUMERIC => {
            args.add(BigDecimal::from(n)).map_err(refused)
        }
        Param::Float(f) => match oid {
            // The number's JSON text: what the caller wrote, as far as an f64 holds it.
            oid::NUMERIC => {
                let decimal = BigDecimal::from_str(&value.to_string())
                    .map_err(|e| Misfit::Refused(format!("{value} as NUMERIC: {e}")))?;
                args.add(decimal).map_err(refused)
            }
            oid::FLOAT8 => args.add(f).map_err(refused),
            _ => Err(Misfit::Redeclare),
        },
        Param::Text(s) => text(args, s, ty),
        Param::Json(v) if oid == oid::JSONB => args.add(Json(v)).map_err(refused),
        // Cannot happen: these are declared with their type, which PostgreSQL keeps.
        _ => Err(Misfit::Refused(format!(
            "the statement was prepared with {} for this parameter",
            ty.name()
        ))),
    }
}

/// What a string is parsed into, by the type PostgreSQL inferred for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Sent as it is: text types, enums, `unknown`.
    Text,
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Interval,
    Uuid,
    Json,
    /// A type this layer does not parse strings into: the string goes as `TEXT`.
    Other,
}

impl Target {
    fn of(ty: &PgTypeInfo) -> Target {
        match oid_of(ty) {
            oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::NAME | oid::UNKNOWN => Target::Text,
            oid::BOOL => Target::Bool,
            oid::INT2 => Target::Int2,
            oid::INT4 => Target::Int4,
            oid::INT8 => Target::Int8,
            oid::FLOAT4 => Target::Float4,
            oid::FLOAT8 => Target::Float8,
            oid::NUMERIC => Target::Numeric,
            oid::DATE => Target::Date,
            oid::TIME => Target::Time,
            oid::TIMESTAMP => Target::Timestamp,
            oid::TIMESTAMPTZ => Target::Timestamptz,
            oid::INTERVAL => Target::Interval,
            oid::UUID => Target::Uuid,
            oid::JSON | oid::JSONB => Target::Json,
            // A type only declared, never resolved, has no kind to ask for (sqlx panics);
            // a prepared statement's types are always resolved.
            _ if ty.name() == "?" => Target::Other,
            _ => match ty.kind() {
                // An enum's binary form is its label.
                PgTypeKind::Enum(_) => Target::Text,
                // A domain takes its base type's binary form, and checks its constraints.
                PgTypeKind::Domain(base) => Target::of(base),
                _ if ty.name().eq_ignore_ascii_case("citext") => Target::Text,
                _ => Target::Other,
            },
        }
    }
}

/// A string as the type `ty` PostgreSQL inferred for it.
fn text(args: &mut PgArguments, s: &str, ty: &PgTypeInfo) -> Result<(), Misfit> {
    let target = Target::of(ty);
    let unparsable = |problem: String| {
        Misfit::Unparsable(format!(
            "{} is not a valid {}: {problem}",
            shown(s),
            ty.name()
        ))
    };
    let special = |bytes: &[u8]| Special {
        bytes: bytes.to_vec(),
        ty: ty.clone(),
    };
    let added = match target {
        Target::Text => args.add(s),
        Target::Bool => args.add(pg_parse::boolean(s).map_err(unparsable)?),
        Target::Int2 => args.add(integer::<i16>(s).map_err(unparsable)?),
        Target::Int4 => args.add(integer::<i32>(s).map_err(unparsable)?),
        Target::Int8 => args.add(integer::<i64>(s).map_err(unparsable)?),
        Target::Float4 => args.add(float::<f32>(s).map_err(unparsable)?),
        Target::Float8 => args.add(float::<f64>(s).map_err(unparsable)?),
        Target::Numeric => match pg_parse::numeric(s).map_err(unparsable)? {
            Numeric::Number(n) => args.add(n),
            // PostgreSQL's numeric_send: no digits, weight 0, the sign word, scale 0.
            Numeric::NaN => args.add(special(&[0, 0, 0, 0, 0xC0, 0, 0, 0])),
            Numeric::Infinity => args.add(special(&[0, 0, 0, 0, 0xD0, 0, 0, 0])),
            Numeric::MinusInfinity => args.add(special(&[0, 0, 0, 0, 0xF0, 0, 0, 0])),
        },
        Target::Date => match pg_parse::date(s).map_err(unparsable)? {
            MaybeInfinite::Finite(date) => args.add(date),
            MaybeInfinite::Infinity => args.add(special(&i32::MAX.to_be_bytes())),
            MaybeInfinite::MinusInfinity => args.add(special(&i32::MIN.to_be_bytes())),
        },
        Target::Time => args.add(pg_parse::time(s).map_err(unparsable)?),
        Target::Timestamp => match pg_parse::timestamp(s).map_err(unparsable)? {
            MaybeInfinite::Finite(t) => args.add(t),
            MaybeInfinite::Infinity => args.add(special(&i64::MAX.to_be_bytes())),
            MaybeInfinite::MinusInfinity => args.add(special(&i64::MIN.to_be_bytes())),
        },
        Target::Timestamptz => match pg_parse::timestamptz(s).map_err(unparsable)? {
            MaybeInfinite::Finite(t) => args.add(t),
            MaybeInfinite::Infinity => args.add(special(&i64::MAX.to_be_bytes())),
            MaybeInfinite::MinusInfinity => args.add(special(&i64::MIN.to_be_bytes())),
        },
        Target::Interval => args.add(pg_parse::interval(s).map_err(unparsable)?),
        Target::Uuid => {
            args.add(Uuid::try_parse(s.trim()).map_err(|e| unparsable(format!("{e}")))?)
        }
        // The text itself (validated), not a re-serialisation: numbers keep every digit and
        // a JSON column keeps the key order.
        Target::Json => args.add(Json(
            serde_json::from_str::<&RawValue>(s)
                .map_err(|e| unparsable(format!("not JSON: {e}")))?,
        )),
        Target::Other => return Err(Misfit::Redeclare),
    };
    // An encoder's refusal (a date beyond what the binary form holds, a numeric beyond
    // NUMERIC's range) is the value's problem too.
    added.map_err(|e| unparsable(e.to_string()))
}

fn integer<T: FromStr<Err = std::num::ParseIntError>>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|e: std::num::ParseIntError| {
        match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "out of range"
            }
            _ => "expected a whole number",
        }
        .to_owned()
    })
}

/// A float, refusing what would round to an infinity (PostgreSQL says "out of range").
fn float<T: FromStr + Into<f64> + Copy>(s: &str) -> Result<T, String> {
    let s = s.trim();
    let f: T = s
        .parse()
        .map_err(|_| "expected a number such as 1.5, 1e-3, NaN or Infinity".to_owned())?;
    if f.into().is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return Err("out of range".to_owned());
    }
    Ok(f)
}

/// A value for an error message: quoted, at most 40 characters of it.
fn shown(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

/// A NULL of no declared type: PostgreSQL infers it from where the placeholder is, as it does
/// for a literal `NULL`.
pub(crate) struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        // OID 0 in the Parse message means "unspecified".
        PgTypeInfo::with_oid(Oid(oid::INFER))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

/// A value sqlx has no encoder for (infinite dates and timestamps, NaN and infinite
/// numerics), in the binary form PostgreSQL's own send function writes.
struct Special {
    bytes: Vec<u8>,
    ty: PgTypeInfo,
}

impl sqlx::Type<Postgres> for Special {
    fn type_info() -> PgTypeInfo {
        // Each value says its own type (`produces`).
        PgTypeInfo::with_oid(Oid(oid::INFER))
    }
}

impl sqlx::Encode<'_, Postgres> for Special {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        buf.extend_from_slice(&self.bytes);
        Ok(IsNull::No)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(self.ty.clone())
    }
}

/// The MySQL arguments for `params`. MySQL sends each parameter's type with every execution,
/// so a statement prepared earlier with other types is no concern here, and it converts
/// strings into dates, decimals and the rest itself.
pub(crate) fn mysql(params: &[Value]) -> Result<MySqlArguments, SqlError> {
    let mut args = MySqlArguments::default();
    for (i, value) in params.iter().enumerate() {
        let added = match classify(value) {
            Param::Null => args.add(Option::<String>::None),
            Param::Bool(b) => args.add(b),
            Param::Int(n) => args.add(n),
            Param::BigUnsigned(n) => args.add(n),
            Param::Float(f) => args.add(f),
            Param::Text(s) => args.add(s),
            Param::Json(v) => args.add(Json(v)),
        };
        added.map_err(|e| SqlError::Parameter {
            index: i + 1,
            message: e.to_string(),
        })?;
    }
    Ok(args)
}

/// The error for a statement with `placeholders` `$n` given `given` parameters.
pub(crate) fn count_mismatch(placeholders: usize, given: usize) -> SqlError {
    SqlError::Parameter {
        index: placeholders.min(given) + 1,
        message: format!(
            "the statement has {placeholders} placeholder(s) but {given} parameter(s) were given"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sqlx::Type;
    use sqlx::postgres::types::PgInterval;

    fn ty<T: Type<Postgres>>() -> PgTypeInfo {
        T::type_info()
    }

    #[test]
    fn json_values_pick_their_sql_type() {
        assert_eq!(classify(&json!(null)), Param::Null);
        assert_eq!(classify(&json!(true)), Param::Bool(true));
        assert_eq!(classify(&json!(-7)), Param::Int(-7));
        assert_eq!(classify(&json!(i64::MAX)), Param::Int(i64::MAX));
        assert_eq!(classify(&json!(u64::MAX)), Param::BigUnsigned(u64::MAX));
        assert_eq!(classify(&json!(1.5)), Param::Float(1.5));
        // A float that happens to be whole stays a float: the JSON said 2.0, not 2.
        assert_eq!(classify(&json!(2.0)), Param::Float(2.0));
        assert_eq!(
            classify(&json!("x'; DROP TABLE t; --")),
            Param::Text("x'; DROP TABLE t; --")
        );
        let object = json!({"a": [1, 2]});
        assert_eq!(classify(&object), Param::Json(&object));
        let array = json!([1, "b"]);
        assert_eq!(classify(&array), Param::Json(&array));
    }

    #[test]
    fn postgres_declares_what_json_says_and_infers_the_rest() {
        let params = [
            json!(null),
            json!(1),
            json!(1.5),
            json!("s"),
            json!({"a": 1}),
            json!(false),
            json!(u64::MAX),
        ];
        // unspecified, int8, unspecified, unspecified, jsonb, bool, numeric
        assert_eq!(declare(&params), [0, 20, 0, 0, 3802, 16, 1700]);
        assert_eq!(shape(&params), "nifsjbu");
        let fallbacks: Vec<_> = params.iter().map(fallback).collect();
        assert_eq!(
            fallbacks,
            [None, None, Some(701), Some(25), None, None, None]
        );
    }

    #[test]
    fn strings_take_the_inferred_type() {
        let cases: [(PgTypeInfo, &str); 17] = [
            (ty::<&str>(), "anything"),
            (ty::<bool>(), "yes"),
            (ty::<i16>(), "-32768"),
            (ty::<i32>(), " 42 "),
            (ty::<i64>(), "9223372036854775807"),
            (ty::<f32>(), "1.5"),
            (ty::<f64>(), "-Infinity"),
            (ty::<BigDecimal>(), "12.50"),
            (ty::<BigDecimal>(), "NaN"),
            (ty::<time::Date>(), "2024-01-02"),
            (ty::<time::Date>(), "infinity"),
            (ty::<time::Time>(), "03:04:05.5"),
            (ty::<time::PrimitiveDateTime>(), "2024-01-02 03:04:05"),
            (ty::<time::OffsetDateTime>(), "2024-01-02T03:04:05+02:00"),
            (ty::<PgInterval>(), "P1DT2H"),
            (ty::<Uuid>(), "123E4567-E89B-12D3-A456-426614174000"),
            (
                ty::<Json<Value>>(),
                r#"{"a": [1, 2.000000000000000000001]}"#,
            ),
        ];
        for (ty, s) in cases {
            let params = [json!(s)];
            let args = postgres(&params, std::slice::from_ref(&ty))
                .unwrap_or_else(|e| panic!("{s} as {}: {e:?}", ty.name()));
            assert_eq!(args.len(), 1);
            assert!(!needs_fallback(&params[0], &ty), "{}", ty.name());
        }
    }

    #[test]
    fn a_string_that_does_not_parse_says_why() {
        let unparsable = |ty: PgTypeInfo, s: &str| match postgres(&[json!(s)], &[ty]) {
            Err((0, Misfit::Unparsable(message))) => message,
            other => panic!("{s}: {other:?}"),
        };
        let m = unparsable(ty::<time::Date>(), "2024-13-01");
        assert!(m.contains("\"2024-13-01\""), "{m}");
        assert!(m.contains("DATE"), "{m}");
        assert!(m.contains("month 13"), "{m}");
        let m = unparsable(ty::<i32>(), "3000000000");
        assert!(m.contains("INT4") && m.contains("out of range"), "{m}");
        let m = unparsable(ty::<f32>(), "1e40");
        assert!(m.contains("out of range"), "{m}");
        let m = unparsable(ty::<Uuid>(), "not-a-uuid");
        assert!(m.contains("UUID"), "{m}");
        let m = unparsable(ty::<Json<Value>>(), "hello");
        assert!(m.contains("not JSON"), "{m}");
        let m = unparsable(ty::<time::OffsetDateTime>(), "2024-01-02T03:04:05");
        assert!(m.contains("UTC offset"), "{m}");
        // A long value is cut short in the message.
        let m = unparsable(ty::<time::Date>(), &"9".repeat(100));
        assert!(m.len() < 150 && m.contains('…'), "{m}");
    }

    #[test]
    fn types_without_a_parser_fall_back() {
        // regclass, as in nextval($1): text, as it always was.
        let regclass = PgTypeInfo::with_oid(Oid(2205));
        assert_eq!(Target::of(&regclass), Target::Other);
        assert!(needs_fallback(&json!("seq"), &regclass));
        assert!(matches!(
            postgres(&[json!("seq")], std::slice::from_ref(&regclass)),
            Err((0, Misfit::Redeclare))
        ));
        // A float goes as NUMERIC or FLOAT8; anywhere else, it is declared FLOAT8.
        assert!(!needs_fallback(&json!(1.5), &ty::<BigDecimal>()));
        assert!(!needs_fallback(&json!(1.5), &ty::<f64>()));
        assert!(needs_fallback(&json!(1.5), &ty::<i32>()));
        assert!(needs_fallback(&json!(1.5), &ty::<&str>()));
        // NULLs fit everything, and what is declared is never redeclared.
        assert!(!needs_fallback(&json!(null), &regclass));
        assert!(!needs_fallback(&json!(1), &ty::<&str>()));
    }

    #[test]
    fn numbers_into_numeric_keep_their_json_text() {
        let numeric = ty::<BigDecimal>();
        for value in [json!(0.1), json!(2.0), json!(1e300), json!(u64::MAX)] {
            assert!(
                postgres(std::slice::from_ref(&value), std::slice::from_ref(&numeric)).is_ok(),
                "{value}"
            );
        }
    }

    #[test]
    fn postgres_refuses_a_value_the_statement_was_not_prepared_for() {
        match postgres(&[json!(true)], &[ty::<i32>()]) {
            Err((0, Misfit::Refused(m))) => assert!(m.contains("INT4"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mysql_binds_everything() {
        let args = mysql(&[json!(null), json!(u64::MAX), json!([1]), json!("s")]).expect("binds");
        assert_eq!(args.len(), 4);
    }

    #[test]
    fn a_wrong_parameter_count_names_the_first_odd_one() {
        match count_mismatch(2, 1) {
            SqlError::Parameter { index, message } => {
                assert_eq!(index, 2);
                assert!(message.contains("2 placeholder"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            count_mismatch(0, 3),
            SqlError::Parameter { index: 1, .. }
        ));
    }
}
