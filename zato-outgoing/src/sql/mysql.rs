//! Statements on a MySQL or MariaDB connection, and their rows as JSON.
//!
//! MySQL's binary protocol sends every parameter's type with every execution, so unlike
//! PostgreSQL (see [`super::postgres`]) a cached statement cannot misread a parameter; the
//! statement is still looked up first, for its placeholder count.
//!
//! What reads differently from PostgreSQL, because of what MySQL sends:
//! - `BOOLEAN` is `TINYINT(1)` and reads as the number stored (`1`, `0`);
//! - MariaDB's `JSON` is `LONGTEXT` on the wire (with a `CHECK`), so it reads as a string;
//!   MySQL's own `JSON` type reads as the JSON value;
//! - `VARCHAR`, `TEXT` and friends read as text unless their collation is `binary`
//!   (`VARBINARY`, `BLOB`, ...), which read as base64;
//! - the zero date `0000-00-00` (and zero datetimes), which no calendar has, reads as `null`,
//!   as most MySQL connectors do;
//! - `TIME` is a duration and may be negative or beyond 24 hours (`-838:59:59`).

use serde_json::{Map, Value};
use sqlx::error::{BoxDynError, UnexpectedNullError};
use sqlx::mysql::types::MySqlTime;
use sqlx::mysql::{MySqlConnection, MySqlRow, MySqlTypeInfo, MySqlValueRef};
use sqlx::{
    AssertSqlSafe, Column, Decode, Either, Executor, MySql, Row, SqlSafeStr, Statement, Type,
    TypeInfo, ValueRef,
};
use zato_common::model::SqlEngine;

use super::columns::{self, ColumnKind};
use super::error::{ErrorContext, SqlError};
use super::statement::{Outcome, Want};
use super::{format, params};

/// Runs `sql` for its rows (at most `max_rows`) or its count.
pub(crate) async fn run(
    conn: &mut MySqlConnection,
    want: Want,
    sql: &str,
    params: &[Value],
    max_rows: u32,
    ctx: ErrorContext<'_>,
) -> Result<Outcome, SqlError> {
    let args = params::mysql(params)?;
    check_placeholders(conn, sql, params.len(), ctx).await?;
    let statement = sqlx::query_with(AssertSqlSafe(sql), args);
    match want {
        Want::Rows => {
            let rows = statement.fetch(&mut *conn);
            let rows = super::rows::collect(rows, max_rows, ctx).await?;
            rows_to_json(&rows).map(Outcome::Rows)
        }
        Want::Affected => {
            let done = statement
                .execute(&mut *conn)
                .await
                .map_err(|e| SqlError::from_sqlx(e, ctx))?;
            Ok(Outcome::Affected(done.rows_affected()))
        }
    }
}

/// Fails with [`SqlError::Parameter`] unless `sql` has `given` placeholders. Prepares the
/// statement, which the query then finds in the connection's cache.
async fn check_placeholders(
    conn: &mut MySqlConnection,
    sql: &str,
    given: usize,
    ctx: ErrorContext<'_>,
) -> Result<(), SqlError> {
    let statement = (&mut *conn)
        .prepare_with(AssertSqlSafe(sql).into_sql_str(), &[])
        .await
        .map_err(|e| SqlError::from_sqlx(e, ctx))?;
    let placeholders = match statement.parameters() {
        Some(Either::Right(count)) => count,
        Some(Either::Left(types)) => types.len(),
        None => given,
    };
    if placeholders == given {
        Ok(())
    } else {
        Err(params::count_mismatch(placeholders, given))
    }
}

/// Sets the server-side statement limit of a new connection, so that the database itself
/// stops a statement that runs too long (and the connection stays usable):
/// `max_statement_time` (seconds, any statement) on MariaDB, else `max_execution_time`
/// (milliseconds, `SELECT` only) on MySQL. A server with neither keeps only the client-side
/// guard. Only an error that is not the database's own (the connection broke) fails the
/// connection, which sqlx then replaces.
pub(crate) async fn limit_statement_time(
    conn: &mut MySqlConnection,
    timeout_ms: u64,
) -> Result<(), sqlx::Error> {
    match sqlx::raw_sql(AssertSqlSafe(mariadb_limit(timeout_ms)))
        .execute(&mut *conn)
        .await
    {
        Ok(_) => return Ok(()),
        // MySQL: "Unknown system variable 'max_statement_time'".
        Err(sqlx::Error::Database(_)) => {}
        Err(e) => return Err(e),
    }
    let mysql = format!(
        "SET SESSION max_execution_time = {}",
        timeout_ms.min(u64::from(u32::MAX))
    );
    match sqlx::raw_sql(AssertSqlSafe(mysql))
        .execute(&mut *conn)
        .await
    {
        Ok(_) | Err(sqlx::Error::Database(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// MariaDB's `SET` for a limit of `timeout_ms`: seconds with a fraction, at most a year
/// (MariaDB's maximum).
fn mariadb_limit(timeout_ms: u64) -> String {
    let ms = timeout_ms.min(31_536_000_000);
    format!(
        "SET SESSION max_statement_time = {}.{:03}",
        ms / 1000,
        ms % 1000
    )
}

/// The rows as JSON objects, column name to value (the later of two same-named columns wins).
fn rows_to_json(rows: &[MySqlRow]) -> Result<Vec<Map<String, Value>>, SqlError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Vec<(&str, ColumnKind, &MySqlTypeInfo)> = first
        .columns()
        .iter()
        .map(|c| {
            let info = c.type_info();
            (
                c.name(),
                columns::classify(SqlEngine::Mysql, info.name()),
                info,
            )
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut object = Map::new();
            for (i, (name, kind, info)) in columns.iter().enumerate() {
                let decode_error = |message: String| SqlError::Decode {
                    column: (*name).to_owned(),
                    message: format!("{}: {message}", info.name()),
                };
                let raw = row
                    .try_get_raw(i)
                    .map_err(|e| decode_error(e.to_string()))?;
                let value = decode(raw, *kind, info).map_err(|e| decode_error(e.to_string()))?;
                object.insert((*name).to_owned(), value);
            }
            Ok(object)
        })
        .collect()
}

/// One value as JSON.
fn decode(
    value: MySqlValueRef<'_>,
    kind: ColumnKind,
    info: &MySqlTypeInfo,
) -> Result<Value, BoxDynError> {
    use ColumnKind::*;
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Null => Value::Null,
        Bool | Int => <i64 as Decode<MySql>>::decode(value)?.into(),
        UInt => <u64 as Decode<MySql>>::decode(value)?.into(),
        Float32 => format::float32(<f32 as Decode<MySql>>::decode(value)?),
        Float64 => format::float64(<f64 as Decode<MySql>>::decode(value)?),
        // MySQL sends DECIMAL as the digits it prints, scale included: lossless as is.
        Decimal | Text => string(value)?,
        TextOrBytes => {
            // What sqlx itself checks before decoding a `String`: a string type whose
            // collation is not `binary`.
            if <str as Type<MySql>>::compatible(info) {
                string(value)?
            } else {
                format::base64(<&[u8] as Decode<MySql>>::decode(value)?)
            }
        }
        Bytes => format::base64(<&[u8] as Decode<MySql>>::decode(value)?),
        Json => serde_json::from_str(<&str as Decode<MySql>>::decode(value)?)?,
        Date => match zero_is_null(<time::Date as Decode<MySql>>::decode(value))? {
            Some(d) => Value::String(format::date(d.year(), u8::from(d.month()), d.day())),
            None => Value::Null,
        },
        Time => Value::String(duration(<MySqlTime as Decode<MySql>>::decode(value)?)),
        Timestamp | TimestampTz => {
            match zero_is_null(<time::PrimitiveDateTime as Decode<MySql>>::decode(value))? {
                Some(dt) => Value::String(datetime(dt, kind == TimestampTz)),
                None => Value::Null,
            }
        }
        // Nothing MySQL sends is classified as these; read whatever it is as text.
        Jsonb | Uuid | TimeTz | Interval | Inet | MacAddr | BitString | Array | Other => {
            match <&str as Decode<MySql>>::decode(value) {
                Ok(s) => Value::String(s.to_owned()),
                Err(_) => return Err("no JSON mapping for this type; CAST it in the SQL".into()),
            }
        }
    })
}

fn string(value: MySqlValueRef<'_>) -> Result<Value, BoxDynError> {
    Ok(Value::String(
        <&str as Decode<MySql>>::decode(value)?.to_owned(),
    ))
}

/// sqlx reports MySQL's zero date as an unexpected NULL: that is the `null` we return.
fn zero_is_null<T>(decoded: Result<T, BoxDynError>) -> Result<Option<T>, BoxDynError> {
    match decoded {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.downcast_ref::<UnexpectedNullError>().is_some() => Ok(None),
        Err(e) => Err(e),
    }
}

/// `[-]HH:MM:SS[.ffffff]`, hours as many as there are.
fn duration(t: MySqlTime) -> String {
    // `MySqlTime::is_negative` answers the opposite in sqlx 0.9 (it returns
    // `sign.is_positive()`); the sign's own method is right.
    let sign = if t.sign().is_negative() { "-" } else { "" };
    format!(
        "{sign}{}",
        format::time_of_day(
            t.hours(),
            t.minutes(),
            t.seconds(),
            t.microseconds().saturating_mul(1_000)
        )
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]`, with `Z` for a point in time.
fn datetime(dt: time::PrimitiveDateTime, utc: bool) -> String {
    let (date, time) = (dt.date(), dt.time());
    let mut out = format::date(date.year(), u8::from(date.month()), date.day());
    out.push('T');
    out.push_str(&format::time_of_day(
        time.hour().into(),
        time.minute(),
        time.second(),
        time.nanosecond(),
    ));
    if utc {
        out.push('Z');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_limits_are_seconds() {
        assert_eq!(mariadb_limit(300), "SET SESSION max_statement_time = 0.300");
        assert_eq!(
            mariadb_limit(30_000),
            "SET SESSION max_statement_time = 30.000"
        );
        assert_eq!(
            mariadb_limit(u64::MAX),
            "SET SESSION max_statement_time = 31536000.000"
        );
    }

    #[test]
    fn durations_and_datetimes() {
        let t = MySqlTime::new(sqlx::mysql::types::MySqlTimeSign::Negative, 838, 59, 59, 0)
            .expect("a valid TIME");
        assert_eq!(duration(t), "-838:59:59");
        let dt = time::PrimitiveDateTime::new(
            time::Date::from_calendar_date(2024, time::Month::January, 2).expect("date"),
            time::Time::from_hms_micro(3, 4, 5, 250_000).expect("time"),
        );
        assert_eq!(datetime(dt, false), "2024-01-02T03:04:05.25");
        assert_eq!(datetime(dt, true), "2024-01-02T03:04:05.25Z");
    }

    #[test]
    fn a_zero_date_is_null_other_errors_stay() {
        let zero: Result<i32, BoxDynError> = Err(Box::new(UnexpectedNullError));
        assert!(matches!(zero_is_null(zero), Ok(None)));
        let bad: Result<i32, BoxDynError> = Err("bad".into());
        assert!(zero_is_null(bad).is_err());
    }
}
