//! Outgoing SQL connections: a pool per [`OutgoingSql`](zato_common::model::OutgoingSql)
//! definition and server, through which services run statements on PostgreSQL or
//! MySQL/MariaDB with JSON parameters and get JSON rows back.
//!
//! ```text
//! SqlPool::new(def, password)   no connection yet: the first call opens one
//!   .query(sql, params)         -> rows, each a JSON object: column name -> value
//!   .execute(sql, params)       -> rows affected
//!   .begin() -> SqlTransaction  one connection, held until commit / rollback / drop
//!   .ping()  .stats()  .close()
//! ```
//!
//! # Parameters
//!
//! Parameters are always bound, never spliced into the SQL text, so a value cannot change
//! what a statement does. Placeholders are `$1`.. on PostgreSQL, `?` on MySQL.
//!
//! | JSON | PostgreSQL | MySQL |
//! |---|---|---|
//! | `null` | NULL of the type PostgreSQL infers | NULL |
//! | `true`/`false` | `BOOL` | `TINYINT` 1/0 |
//! | integer | `INT8` (`NUMERIC` above `i64::MAX`) | `BIGINT` (`BIGINT UNSIGNED` above `i64::MAX`) |
//! | other number | `NUMERIC` where PostgreSQL infers it (from the JSON text: lossless), else `DOUBLE PRECISION` | `DOUBLE` |
//! | string | the type PostgreSQL infers, parsed from the string (below) | string |
//! | array, object | `JSONB` | the JSON text |
//!
//! JSON has no dates, decimals, UUIDs or timestamps, so callers send them as strings. On
//! PostgreSQL a string is bound as the type PostgreSQL infers for its placeholder, with no
//! cast in the SQL: `INSERT INTO t (d) VALUES ($1)` with `"2024-01-02"` stores a `DATE` if `d`
//! is one. Strings are parsed into `BOOL`, `SMALLINT`/`INTEGER`/`BIGINT`, `REAL`/`DOUBLE
//! PRECISION`, `NUMERIC` (`"12.50"` keeps its scale), `DATE`, `TIME`, `TIMESTAMP`,
//! `TIMESTAMPTZ` (with its offset: `"2024-01-02T03:04:05Z"`, `"...+02:00"`), `INTERVAL` (ISO
//! 8601, `"P1DT2H"`), `UUID` and `JSON`/`JSONB` (the string is the JSON text), and domains over
//! them, in the forms rows read back as; text types and enums take the string as it is.
//! Everywhere else a string is `TEXT`, as it would be without inference: where PostgreSQL infers
//! another type (`nextval($1)`), where it cannot infer one (`concat($1)`), and where the
//! string does not parse, so that PostgreSQL's own parser judges it if the SQL casts it
//! (`$1::date` with `"January 8, 1999"`). A string that does not parse where nothing takes
//! text fails with [`SqlError::Parameter`], naming the parameter, the type and what is wrong.
//! The details are in `params.rs`.
//!
//! A NULL whose type nothing in the statement implies (`SELECT $1 IS NULL`) is refused by
//! PostgreSQL, and needs a cast (`$1::int IS NULL`). MySQL converts strings as it always does. A wrong number of
//! parameters fails with [`SqlError::Parameter`] (PostgreSQL accepts, and ignores,
//! parameters beyond the statement's placeholders).
//!
//! # Rows as JSON
//!
//! Each column reads by its SQL type, the same on both engines where the engines agree:
//!
//! | SQL | JSON |
//! |---|---|
//! | integers of every width, MySQL unsigned ones too | number |
//! | `REAL`/`FLOAT`, `DOUBLE PRECISION`/`DOUBLE` | number; NaN and infinities `null` |
//! | `NUMERIC`/`DECIMAL` | string with the column's scale: `"12.50"` (lossless) |
//! | text types, enums, PostgreSQL `NAME`/`CITEXT` | string |
//! | PostgreSQL `BOOL` | `true`/`false` |
//! | MySQL `BOOLEAN` (`TINYINT(1)`) | number (`1`/`0`: it can hold others) |
//! | `JSON`, `JSONB` | the JSON value (MariaDB's JSON is text on the wire: string) |
//! | `TIMESTAMPTZ`, MySQL `TIMESTAMP` | `"2024-01-02T03:04:05Z"` (UTC) |
//! | `TIMESTAMP` (PostgreSQL), `DATETIME` | `"2024-01-02T03:04:05.25"` (no zone) |
//! | `DATE` | `"2024-01-02"` |
//! | `TIME` | `"03:04:05"`, `"03:04:05.5"` |
//! | `BYTEA`, `BLOB`, `BINARY`, `VARBINARY` | standard base64 |
//! | `UUID` | `"123e4567-e89b-12d3-a456-426614174000"` |
//! | PostgreSQL `INTERVAL`, `INET`/`CIDR`, `MACADDR`, `BIT` | as PostgreSQL writes them (intervals ISO 8601) |
//! | one-dimensional PostgreSQL arrays | arrays of the above |
//! | `NULL` of any type | `null` |
//!
//! PostgreSQL `infinity` dates and timestamps read as `"infinity"`/`"-infinity"`, MySQL's zero
//! date as `null`. A type with no mapping fails the call with [`SqlError::Decode`] naming the
//! column and the type; casting it in the SQL (`col::text`, `to_json(col)`) reads it.
//!
//! # Timeouts and failures
//!
//! Every call is bounded: getting a connection by `connect_timeout_ms` (pool with room) or
//! `acquire_timeout_ms` (all connections in use), a statement by `statement_timeout_ms`, which
//! the database enforces and the client backs up. [`SqlError`] says which, and whether the
//! database could not be reached, refused the statement (with its SQLSTATE), or sent what
//! JSON cannot hold. No error message holds the password.

mod columns;
mod connection;
mod error;
mod format;
mod mysql;
mod options;
mod params;
mod pg_binary;
mod pg_parse;
mod pool;
mod postgres;
mod rows;
mod statement;
mod transaction;

pub use error::SqlError;
pub use pool::{PoolStats, SqlPool};
pub use transaction::SqlTransaction;
