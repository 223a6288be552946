//! Statements on a PostgreSQL connection, and their rows as JSON.
//!
//! # How parameters are declared
//!
//! Every statement is prepared before it runs, with a type declared for each parameter
//! ([`params::declare`]): fixed where JSON says exactly what a value is (`BOOL`, `INT8`,
//! `JSONB`), none where PostgreSQL is to infer it (NULLs, strings, floats). The prepared
//! statement says what PostgreSQL inferred, and [`params::postgres`] encodes each value as
//! that type: a string for a `DATE` column goes as a `DATE` (see [`super::params`]).
//!
//! sqlx caches prepared statements per connection by their SQL text alone, and binds later
//! calls to the cached statement whatever types they bring. With types that depend on the
//! values that is silent data corruption: prepare `INSERT INTO t (n) VALUES ($1)` with an
//! `INT8`, then send a string's bytes to it, and PostgreSQL reads them as a binary integer
//! (seen with sqlx 0.9 against PostgreSQL 15). So the text given to sqlx is the SQL with the
//! declared types appended as a comment (`-- zato parameter types: 0 20`, see [`keyed`]):
//! each declaration has a cached statement of its own, prepared with exactly those types.
//!
//! Where inference does not work for a string or a float, the parameter is declared as it
//! was before inference (`TEXT`, `FLOAT8`) and the statement prepared again:
//! - PostgreSQL cannot infer the type (42P18, `SELECT concat($1)`) or the untyped placeholder
//!   makes the statement fail otherwise;
//! - it infers a type the value cannot be sent as ([`params::needs_fallback`]);
//! - a string does not parse as the inferred type: as `TEXT` it reaches PostgreSQL's own
//!   parser where the SQL casts it; if the statement takes no text there, the call fails with
//!   the parse error ([`SqlError::Parameter`]).
//!
//! The first two depend only on the statement, so each pool remembers ([`Learnt`]) how to
//! declare each statement it has seen and prepares it right the first time on its other
//! connections. In a transaction a statement that fails to prepare aborts the transaction,
//! so a preparation that may fail only because of inference (one not known to succeed) runs
//! under a savepoint, and is rolled back to it if it fails; a preparation with the types the
//! parameters had before inference runs without one, and fails the transaction as the
//! statement would have.
//!
//! The look at the prepared statement also tells how many placeholders it has, so a wrong
//! number of parameters is a [`SqlError::Parameter`] instead of PostgreSQL's protocol error.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Map, Value};
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArguments, PgConnection, PgRow, PgTypeInfo, PgTypeKind, PgValueFormat, PgValueRef,
};
use sqlx::{
    AssertSqlSafe, Column, Either, Executor, Postgres, Row, SqlSafeStr, Statement, TypeInfo,
    ValueRef,
};
use zato_common::model::SqlEngine;

use super::columns::{self, ColumnKind};
use super::error::{ErrorContext, SqlError};
use super::params::{self, Misfit, oid};
use super::pool::Shared;
use super::statement::{Outcome, Want};
use super::{format, pg_binary};

/// Runs `sql` for its rows or its count; `in_transaction` when the connection is in a
/// transaction block (see the module docs).
pub(crate) async fn run(
    conn: &mut PgConnection,
    want: Want,
    sql: &str,
    params: &[Value],
    shared: &Shared,
    in_transaction: bool,
) -> Result<Outcome, SqlError> {
    let call = Call::new(shared, in_transaction);
    let (text, args) = bind(conn, sql, params, call).await?;
    let statement = sqlx::query_with(AssertSqlSafe(text), args);
    match want {
        Want::Rows => {
            let rows = statement.fetch(&mut *conn);
            let rows = super::rows::collect(rows, shared.limits.max_rows, call.ctx).await?;
            rows_to_json(&rows).map(Outcome::Rows)
        }
        Want::Affected => {
            let done = statement
                .execute(&mut *conn)
                .await
                .map_err(|e| SqlError::from_sqlx(e, call.ctx))?;
            Ok(Outcome::Affected(done.rows_affected()))
        }
    }
}

/// What a pool has learnt about its statements (see the module docs): how to declare the
/// parameters of each (by the SQL and the JSON kinds of its values), and which SQL texts, as
/// [`keyed`], are known to prepare. Forgotten all at once when it grows past [`LEARNT_MAX`]
/// entries, and learnt again.
#[derive(Debug, Default)]
pub(crate) struct Learnt {
    inner: Mutex<LearntInner>,
}

#[derive(Debug, Default)]
struct LearntInner {
    declarations: HashMap<String, Arc<[u32]>>,
    prepared: HashSet<String>,
}

const LEARNT_MAX: usize = 1_000;

impl Learnt {
    fn lock(&self) -> std::sync::MutexGuard<'_, LearntInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn declaration(&self, key: &str) -> Option<Arc<[u32]>> {
        self.lock().declarations.get(key).cloned()
    }

    fn learn_declaration(&self, key: String, declared: &[u32]) {
        let mut inner = self.lock();
        if inner.declarations.len() >= LEARNT_MAX {
            inner.declarations.clear();
        }
        inner.declarations.insert(key, declared.into());
    }

    fn forget_declaration(&self, key: &str) {
        self.lock().declarations.remove(key);
    }

    fn prepares(&self, text: &str) -> bool {
        self.lock().prepared.contains(text)
    }

    fn learn_prepares(&self, text: &str) {
        let mut inner = self.lock();
        if inner.prepared.contains(text) {
            return;
        }
        if inner.prepared.len() >= LEARNT_MAX {
            inner.prepared.clear();
        }
        inner.prepared.insert(text.to_owned());
    }
}

/// One call's context: how to report errors, what the pool has learnt, and whether the
/// connection is in a transaction block.
#[derive(Clone, Copy)]
struct Call<'a> {
    ctx: ErrorContext<'a>,
    learnt: &'a Learnt,
    in_transaction: bool,
}

impl<'a> Call<'a> {
    fn new(shared: &'a Shared, in_transaction: bool) -> Self {
        Call {
            ctx: shared.ctx(),
            learnt: &shared.learnt,
            in_transaction,
        }
    }
}

/// The SQL text sqlx is given for `sql` with parameters `declared`: the SQL, and the
/// declaration as a comment after it, so that sqlx's statement cache (keyed by the text)
/// holds one statement per declaration. A statement without parameters is left as it is.
fn keyed(sql: &str, declared: &[u32]) -> String {
    if declared.is_empty() {
        return sql.to_owned();
    }
    // A new line first: the SQL may end in a `--` comment.
    let mut text = String::with_capacity(sql.len() + 26 + declared.len() * 5);
    text.push_str(sql);
    text.push_str("\n-- zato parameter types:");
    for oid in declared {
        let _ = write!(text, " {oid}");
    }
    text
}

/// Prepares the statement for `params` (see the module docs) and encodes them for it: the SQL
/// text to run (as [`keyed`]) and the arguments.
async fn bind(
    conn: &mut PgConnection,
    sql: &str,
    params: &[Value],
    call: Call<'_>,
) -> Result<(String, PgArguments), SqlError> {
    // What is learnt holds for values of the same kinds: a float and a string both start
    // undeclared, but do not fall back to the same type.
    let key = format!("{sql}\n{}", params::shape(params));
    let mut declared = match call.learnt.declaration(&key) {
        Some(declared) => declared.to_vec(),
        None => {
            let declared = learn(conn, sql, params, params::declare(params), call).await?;
            call.learnt.learn_declaration(key.clone(), &declared);
            declared
        }
    };
    // Each round declares one more parameter as its fallback type, which always fits.
    for _ in 0..=params.len() {
        let text = keyed(sql, &declared);
        let risky = !inferred(params, &declared).is_empty();
        let types = prepare(conn, &text, &declared, params.len(), risky, call).await?;
        let (index, misfit) = match params::postgres(params, &types) {
            Ok(args) => return Ok((text, args)),
            Err(misfit) => misfit,
        };
        let fallback = params::fallback(&params[index]).filter(|_| declared[index] == oid::INFER);
        match (misfit, fallback) {
            // What was learnt no longer holds (the schema changed): learn it again next time.
            (Misfit::Redeclare, Some(fallback)) => {
                call.learnt.forget_declaration(&key);
                declared[index] = fallback;
            }
            // PostgreSQL's own parser may take the string where the SQL casts it.
            (Misfit::Unparsable(message), Some(fallback)) => {
                let mut as_text = declared.clone();
                as_text[index] = fallback;
                let text = keyed(sql, &as_text);
                match prepare(conn, &text, &as_text, params.len(), true, call).await {
                    Ok(_) => declared = as_text,
                    Err(SqlError::Database { .. }) => {
                        return Err(SqlError::Parameter {
                            index: index + 1,
                            message,
                        });
                    }
                    Err(other) => return Err(other),
                }
            }
            (Misfit::Unparsable(message) | Misfit::Refused(message), _) => {
                return Err(SqlError::Parameter {
                    index: index + 1,
                    message,
                });
            }
            (Misfit::Redeclare, None) => break,
        }
    }
    Err(SqlError::Parameter {
        index: 0,
        message: "PostgreSQL prepared the statement with parameter types that do not fit"
            .to_owned(),
    })
}

/// How to declare `params` for `sql`, starting from `declared` (see the module docs): the
/// parameters left to inference are those whose inferred type the values can be sent as,
/// in a statement that prepares.
async fn learn(
    conn: &mut PgConnection,
    sql: &str,
    params: &[Value],
    mut declared: Vec<u32>,
    call: Call<'_>,
) -> Result<Vec<u32>, SqlError> {
    loop {
        let inferred = inferred(params, &declared);
        let text = keyed(sql, &declared);
        let risky = !inferred.is_empty();
        match prepare(conn, &text, &declared, params.len(), risky, call).await {
            Ok(types) => {
                let mut fits = true;
                for &(i, fallback) in &inferred {
                    if params::needs_fallback(&params[i], &types[i]) {
                        declared[i] = fallback;
                        fits = false;
                    }
                }
                if fits {
                    return Ok(declared);
                }
            }
            Err(SqlError::Database { message, sqlstate }) if risky => {
                // "could not determine data type of parameter $n": that one; otherwise, as
                // the failure may be any untyped placeholder's, all of them.
                let named = (sqlstate.as_deref() == Some("42P18"))
                    .then(|| named_parameter(&message))
                    .flatten()
                    .and_then(|n| inferred.iter().find(|(i, _)| *i + 1 == n));
                match named {
                    Some(&(i, fallback)) => declared[i] = fallback,
                    None => {
                        for &(i, fallback) in &inferred {
                            declared[i] = fallback;
                        }
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The strings and floats `declared` leaves to inference: their indexes, each with the type
/// it falls back to.
fn inferred(params: &[Value], declared: &[u32]) -> Vec<(usize, u32)> {
    params
        .iter()
        .zip(declared)
        .enumerate()
        .filter(|(_, (_, declared))| **declared == oid::INFER)
        .filter_map(|(i, (value, _))| params::fallback(value).map(|f| (i, f)))
        .collect()
}

/// The `n` of the first `$n` in a message.
fn named_parameter(message: &str) -> Option<usize> {
    let (_, after) = message.split_once('$')?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The parameter types of the statement `text` prepared with `declared` (from sqlx's cache if
/// it is there), checked to be `count`.
///
/// `risky`: the preparation may fail where the types the parameters had before inference
/// would not (inference is left to PostgreSQL, or a string is tried as `TEXT` to see whether
/// the statement takes it). In a transaction such a preparation, unless it is known to
/// succeed, runs under a savepoint, so that its failure leaves the transaction as it was.
async fn prepare(
    conn: &mut PgConnection,
    text: &str,
    declared: &[u32],
    count: usize,
    risky: bool,
    call: Call<'_>,
) -> Result<Vec<PgTypeInfo>, SqlError> {
    let error = |e| SqlError::from_sqlx(e, call.ctx);
    let types: Vec<PgTypeInfo> = declared
        .iter()
        .map(|&oid| PgTypeInfo::with_oid(Oid(oid)))
        .collect();
    let savepoint = risky && call.in_transaction && !call.learnt.prepares(text);
    if savepoint {
        sqlx::raw_sql("SAVEPOINT zato_parameter_types")
            .execute(&mut *conn)
            .await
            .map_err(error)?;
    }
    let prepared = (&mut *conn)
        .prepare_with(AssertSqlSafe(text.to_owned()).into_sql_str(), &types)
        .await
        .map(|statement| match statement.parameters() {
            Some(Either::Left(types)) => types.to_vec(),
            _ => Vec::new(),
        });
    if savepoint {
        let end = if prepared.is_ok() {
            "RELEASE SAVEPOINT zato_parameter_types"
        } else {
            "ROLLBACK TO SAVEPOINT zato_parameter_types; RELEASE SAVEPOINT zato_parameter_types"
        };
        let ended = sqlx::raw_sql(AssertSqlSafe(end)).execute(&mut *conn).await;
        if let (Ok(_), Err(e)) = (&prepared, ended) {
            return Err(error(e));
        }
    }
    let prepared = prepared.map_err(error)?;
    call.learnt.learn_prepares(text);
    // PostgreSQL counts the types declared, even for placeholders the statement does not
    // have, so a statement with fewer placeholders than parameters takes them (and ignores
    // the rest); one with more does not.
    if prepared.len() != count {
        return Err(params::count_mismatch(prepared.len(), count));
    }
    // The text names the declaration, so this holds; checked because a value sent as a type
    // the statement does not have is read as that type's bytes.
    for (i, (&oid, ty)) in declared.iter().zip(&prepared).enumerate() {
        if oid != oid::INFER && ty.oid() != Some(Oid(oid)) {
            return Err(SqlError::Parameter {
                index: i + 1,
                message: format!(
                    "PostgreSQL prepared the statement with {} for this parameter, not \
                     the type declared (OID {oid})",
                    ty.name()
                ),
            });
        }
    }
    Ok(prepared)
}

/// The rows as JSON objects, column name to value. Where two columns share a name, the
/// later one wins, as in a dict built from the row.
fn rows_to_json(rows: &[PgRow]) -> Result<Vec<Map<String, Value>>, SqlError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    // Every row of a result has the same columns: classify them once.
    let columns: Vec<(&str, ColumnKind, &str)> = first
        .columns()
        .iter()
        .map(|c| (c.name(), kind_of(c.type_info()), c.type_info().name()))
        .collect();
    rows.iter()
        .map(|row| {
            let mut object = Map::new();
            for (i, (name, kind, type_name)) in columns.iter().enumerate() {
                let decode_error = |message: String| SqlError::Decode {
                    column: (*name).to_owned(),
                    message: format!("{type_name}: {message}"),
                };
                let raw = row
                    .try_get_raw(i)
                    .map_err(|e| decode_error(e.to_string()))?;
                let value = decode(raw, *kind).map_err(decode_error)?;
                object.insert((*name).to_owned(), value);
            }
            Ok(object)
        })
        .collect()
}

/// The kind of a column, looking through what PostgreSQL layers on top of types: an enum's
/// values are its labels (text), a domain reads as its base type.
fn kind_of(info: &PgTypeInfo) -> ColumnKind {
    match info.kind() {
        PgTypeKind::Enum(_) => ColumnKind::Text,
        PgTypeKind::Domain(base) => kind_of(base),
        PgTypeKind::Array(_) => ColumnKind::Array,
        _ => columns::classify(SqlEngine::Postgresql, info.name()),
    }
}

/// One value as JSON. Binary form, always: sqlx asks for every column in binary.
fn decode(value: PgValueRef<'_>, kind: ColumnKind) -> Result<Value, String> {
    use ColumnKind::*;
    if value.is_null() {
        return Ok(Value::Null);
    }
    if value.format() == PgValueFormat::Text {
        // Only the simple-query protocol answers in text, and nothing here uses it; if it
        // ever happens, the text PostgreSQL wrote is the most faithful answer.
        return value
            .as_str()
            .map(|s| Value::String(s.to_owned()))
            .map_err(|e| e.to_string());
    }
    // The bytes borrow the row, not `value`, which the array arm hands on.
    let bytes = value.as_bytes().map_err(|e| e.to_string())?;
    Ok(match kind {
        Null => Value::Null,
        Bool => match bytes {
            [b] => Value::Bool(*b != 0),
            _ => return Err(format!("bool: expected 1 byte, got {}", bytes.len())),
        },
        Int => pg_binary::int(bytes)?.into(),
        UInt => pg_binary::uint(bytes)?.into(),
        Float32 | Float64 => pg_binary::float(bytes)?,
        Decimal => Value::String(pg_binary::numeric(bytes)?),
        Text | TextOrBytes => Value::String(text(bytes)?),
        Bytes => format::base64(bytes),
        Json => pg_binary::json(bytes)?,
        Jsonb => pg_binary::jsonb(bytes)?,
        Uuid => Value::String(pg_binary::uuid(bytes)?),
        Date => Value::String(pg_binary::date(bytes)?),
        Time => Value::String(pg_binary::time(bytes)?),
        TimeTz => Value::String(pg_binary::timetz(bytes)?),
        Timestamp => Value::String(pg_binary::timestamp(bytes, false)?),
        TimestampTz => Value::String(pg_binary::timestamp(bytes, true)?),
        Interval => Value::String(pg_binary::interval(bytes)?),
        Inet => Value::String(pg_binary::inet(bytes)?),
        MacAddr => Value::String(pg_binary::macaddr(bytes)?),
        BitString => Value::String(pg_binary::bits(bytes)?),
        Array => <Vec<Cell> as sqlx::Decode<Postgres>>::decode(value)
            .map(|cells| Value::Array(cells.into_iter().map(|c| c.0).collect()))
            .map_err(|e| e.to_string())?,
        Other => {
            return Err("no JSON mapping for this type; cast the column in the SQL \
                 (`col::text`, `to_json(col)`)"
                .to_owned());
        }
    })
}

fn text(bytes: &[u8]) -> Result<String, String> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| format!("not UTF-8: {e}"))
}

/// One element of an array, decoded as a column of the element's type would be: sqlx's
/// array decoder hands each element over with its own type, so arrays of anything this
/// module reads (enums included) come out as JSON arrays.
struct Cell(Value);

impl sqlx::Type<Postgres> for Cell {
    fn type_info() -> PgTypeInfo {
        // Only consulted for arrays in text form, which binary results never are.
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl<'r> sqlx::Decode<'r, Postgres> for Cell {
    fn decode(value: PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let kind = kind_of(&value.type_info());
        decode(value, kind).map(Cell).map_err(Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Type;

    #[test]
    fn each_declaration_has_a_text_of_its_own() {
        assert_eq!(keyed("SELECT 1", &[]), "SELECT 1");
        assert_eq!(
            keyed("SELECT $1 -- comment", &[0, 20]),
            "SELECT $1 -- comment\n-- zato parameter types: 0 20"
        );
        assert_ne!(keyed("SELECT $1", &[0]), keyed("SELECT $1", &[25]));
    }

    #[test]
    fn the_parameter_postgres_could_not_type_is_found() {
        assert_eq!(
            named_parameter("could not determine data type of parameter $12"),
            Some(12)
        );
        assert_eq!(named_parameter("no parameter named"), None);
    }

    #[test]
    fn what_a_pool_learns_is_bounded() {
        let learnt = Learnt::default();
        for n in 0..LEARNT_MAX + 5 {
            learnt.learn_prepares(&format!("SELECT {n}"));
            learnt.learn_declaration(format!("SELECT {n}"), &[0]);
        }
        let inner = learnt.lock();
        assert!(inner.prepared.len() <= LEARNT_MAX);
        assert!(inner.declarations.len() <= LEARNT_MAX);
        drop(inner);
        assert!(learnt.prepares(&format!("SELECT {}", LEARNT_MAX + 4)));
        assert_eq!(
            learnt
                .declaration(&format!("SELECT {}", LEARNT_MAX + 4))
                .as_deref(),
            Some(&[0][..])
        );
    }

    #[test]
    fn built_in_arrays_are_arrays() {
        assert_eq!(
            kind_of(&<Vec<i32> as Type<Postgres>>::type_info()),
            ColumnKind::Array
        );
        assert_eq!(
            kind_of(&<String as Type<Postgres>>::type_info()),
            ColumnKind::Text
        );
    }
}
