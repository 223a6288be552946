//! What can go wrong with a call to a database, in the few kinds a caller acts on.
//!
//! sqlx has some twenty error variants; a service needs to know only whether to retry later
//! (the database is down or slow: [`SqlError::Unreachable`], [`SqlError::Timeout`]), whether its
//! SQL or its data were refused ([`SqlError::Database`], with the SQLSTATE so it can tell a
//! duplicate key from a syntax error), or whether it passed something that cannot be sent or
//! read back ([`SqlError::Parameter`], [`SqlError::Decode`]). The mapping lives here, in one
//! place, so both engines classify the same way.

use std::borrow::Cow;

use sqlx::mysql::MySqlDatabaseError;

/// Why a call to an SQL database failed. No message ever holds the connection's password.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The call gave up waiting: `what` is `"connect"` (opening a connection), `"acquire"`
    /// (waiting for a free connection of a busy pool) or `"statement"` (the statement ran too
    /// long and was cancelled, by the database or, as a last resort, by the client).
    #[error("{}", timeout_message(what, *after_ms))]
    Timeout { what: &'static str, after_ms: u64 },

    /// The database cannot be reached: connection refused or reset, no route, TLS refused,
    /// the database shutting down, the pool closed.
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),

    /// The database's own error: its message and SQLSTATE (both engines send one; MySQL's are
    /// coarser, `HY000` for many errors).
    #[error("{message}{}", sqlstate_suffix(sqlstate.as_deref()))]
    Database {
        message: String,
        sqlstate: Option<String>,
    },

    /// A parameter that cannot be bound; `index` counts from 1, as `$1` does.
    #[error("parameter {index}: {message}")]
    Parameter { index: usize, message: String },

    /// A value the database sent that cannot be turned into JSON.
    #[error("column {column:?}: {message}")]
    Decode { column: String, message: String },

    /// A query returned more rows than the connection's `max_rows`.
    #[error("the query returned more than {max} rows (max_rows): page it with LIMIT")]
    TooManyRows { max: u32 },

    /// The definition cannot make a pool (a CA that does not parse, a pool size of 0, ...).
    #[error("the SQL connection cannot be set up: {0}")]
    Config(String),
}

fn timeout_message(what: &str, after_ms: u64) -> String {
    match what {
        "connect" => format!("no connection to the database within {after_ms} ms"),
        "acquire" => {
            format!(
                "no free connection within {after_ms} ms: all of the pool's connections are in use"
            )
        }
        "statement" => format!("the statement did not complete within {after_ms} ms"),
        other => format!("{other} timed out after {after_ms} ms"),
    }
}

fn sqlstate_suffix(sqlstate: Option<&str>) -> String {
    sqlstate
        .map(|s| format!(" (SQLSTATE {s})"))
        .unwrap_or_default()
}

/// What the classification needs to know about the pool the error came from.
#[derive(Clone, Copy)]
pub(crate) struct ErrorContext<'a> {
    /// Reported as `after_ms` when the database cancels a statement for running too long.
    pub statement_timeout_ms: u64,
    /// Scrubbed out of every message, in case a driver ever echoes it.
    pub password: &'a str,
}

impl SqlError {
    /// The error for a statement the database (or our guard) cancelled.
    pub(crate) fn statement_timeout(after_ms: u64) -> SqlError {
        SqlError::Timeout {
            what: "statement",
            after_ms,
        }
    }

    /// Maps a sqlx error. `PoolTimedOut` is mapped by the caller, who knows which wait ran out;
    /// here it becomes an acquire timeout of unknown length.
    pub(crate) fn from_sqlx(error: sqlx::Error, ctx: ErrorContext<'_>) -> SqlError {
        let mapped = match error {
            sqlx::Error::Database(db) => {
                let number = db
                    .try_downcast_ref::<MySqlDatabaseError>()
                    .map(MySqlDatabaseError::number);
                let sqlstate = db.code().map(Cow::into_owned);
                from_database(db.message(), sqlstate, number, ctx.statement_timeout_ms)
            }
            sqlx::Error::Io(e) => SqlError::Unreachable(e.to_string()),
            sqlx::Error::Tls(e) => SqlError::Unreachable(format!("TLS: {e}")),
            sqlx::Error::Protocol(message) => {
                SqlError::Unreachable(format!("unexpected data from the database: {message}"))
            }
            sqlx::Error::PoolClosed => SqlError::Unreachable("the pool is closed".to_owned()),
            sqlx::Error::WorkerCrashed => {
                SqlError::Unreachable("the connection's worker stopped".to_owned())
            }
            sqlx::Error::PoolTimedOut => SqlError::Timeout {
                what: "acquire",
                after_ms: 0,
            },
            sqlx::Error::Configuration(e) => SqlError::Config(e.to_string()),
            sqlx::Error::Encode(e) => SqlError::Parameter {
                index: 0,
                message: e.to_string(),
            },
            sqlx::Error::InvalidArgument(message) => SqlError::Parameter { index: 0, message },
            sqlx::Error::ColumnDecode { index, source } => SqlError::Decode {
                column: index,
                message: source.to_string(),
            },
            sqlx::Error::Decode(e) => SqlError::Decode {
                column: String::new(),
                message: e.to_string(),
            },
            other => SqlError::Database {
                message: other.to_string(),
                sqlstate: None,
            },
        };
        mapped.scrub(ctx.password)
    }

    /// The error with every occurrence of `password` replaced by `***`. Passwords shorter
    /// than 4 characters are not searched for: replacing every "a" in a message would make it
    /// unreadable, and such a password is no secret anyway.
    pub(crate) fn scrub(self, password: &str) -> SqlError {
        if password.chars().count() < 4 {
            return self;
        }
        let clean = |s: String| {
            if s.contains(password) {
                s.replace(password, "***")
            } else {
                s
            }
        };
        match self {
            SqlError::Unreachable(m) => SqlError::Unreachable(clean(m)),
            SqlError::Database { message, sqlstate } => SqlError::Database {
                message: clean(message),
                sqlstate,
            },
            SqlError::Parameter { index, message } => SqlError::Parameter {
                index,
                message: clean(message),
            },
            SqlError::Decode { column, message } => SqlError::Decode {
                column,
                message: clean(message),
            },
            SqlError::Config(m) => SqlError::Config(clean(m)),
            kept @ (SqlError::Timeout { .. } | SqlError::TooManyRows { .. }) => kept,
        }
    }
}

/// Classifies an error the database itself sent, from its SQLSTATE and (MySQL) error number.
///
/// Cancelled statements are timeouts, not database errors, because what a caller does about
/// them (retry later, raise the limit) is what it does about a timeout:
/// - PostgreSQL `57014` (query_canceled: `statement_timeout` fired);
/// - MariaDB `1969` (SQLSTATE `70100`, `max_statement_time` exceeded);
/// - MySQL `3024` (`max_execution_time` exceeded).
///
/// A database that is shutting down or refusing connections (PostgreSQL `57P01`-`57P03`, the
/// `08` connection-exception class except `08P01`, which is a protocol error; MySQL `1053`
/// server shutdown, MariaDB `1927` connection killed) cannot be reached.
pub(crate) fn from_database(
    message: &str,
    sqlstate: Option<String>,
    mysql_number: Option<u16>,
    statement_timeout_ms: u64,
) -> SqlError {
    let state = sqlstate.as_deref().unwrap_or("");
    let unreachable = match mysql_number {
        Some(1969 | 3024) => return SqlError::statement_timeout(statement_timeout_ms),
        Some(number) => matches!(number, 1053 | 1927),
        None => {
            if state == "57014" {
                return SqlError::statement_timeout(statement_timeout_ms);
            }
            matches!(state, "57P01" | "57P02" | "57P03")
                || (state.starts_with("08") && state != "08P01")
        }
    };
    if unreachable {
        SqlError::Unreachable(message.to_owned())
    } else {
        SqlError::Database {
            message: message.to_owned(),
            sqlstate,
        }
    }
}

impl crate::connections::ErrorClass for SqlError {
    fn class(&self) -> String {
        match self {
            SqlError::Timeout { what, .. } => format!("timeout ({what})"),
            SqlError::Unreachable(_) => "unreachable".into(),
            SqlError::Database {
                sqlstate: Some(state),
                ..
            } => format!("database (SQLSTATE {state})"),
            SqlError::Database { .. } => "database".into(),
            SqlError::Parameter { .. } => "parameter".into(),
            SqlError::Decode { .. } => "decode".into(),
            SqlError::TooManyRows { .. } => "too many rows".into(),
            SqlError::Config(_) => "config".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: ErrorContext<'static> = ErrorContext {
        statement_timeout_ms: 300,
        password: "s3cret-pw",
    };

    #[test]
    fn cancelled_statements_are_timeouts() {
        for (state, number) in [
            (Some("57014"), None),
            (Some("70100"), Some(1969)),
            (Some("HY000"), Some(3024)),
        ] {
            let e = from_database("cancelled", state.map(str::to_owned), number, 300);
            assert!(
                matches!(
                    e,
                    SqlError::Timeout {
                        what: "statement",
                        after_ms: 300
                    }
                ),
                "{state:?} {number:?}: {e:?}"
            );
        }
    }

    #[test]
    fn database_errors_keep_message_and_sqlstate() {
        let e = from_database(
            "syntax error at or near \"SELEC\"",
            Some("42601".into()),
            None,
            1,
        );
        match &e {
            SqlError::Database { message, sqlstate } => {
                assert_eq!(message, "syntax error at or near \"SELEC\"");
                assert_eq!(sqlstate.as_deref(), Some("42601"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            e.to_string(),
            "syntax error at or near \"SELEC\" (SQLSTATE 42601)"
        );
        // A MySQL error whose SQLSTATE is in class 08 is still judged by its number.
        let e = from_database("Access denied", Some("28000".into()), Some(1045), 1);
        assert!(matches!(e, SqlError::Database { .. }));
        // 08P01 is PostgreSQL telling us we broke the protocol, not a lost connection.
        let e = from_database(
            "bind message supplies 0 parameters",
            Some("08P01".into()),
            None,
            1,
        );
        assert!(matches!(e, SqlError::Database { .. }));
    }

    #[test]
    fn shutting_down_is_unreachable() {
        for state in ["57P01", "57P03", "08006"] {
            let e = from_database("terminating connection", Some(state.into()), None, 1);
            assert!(matches!(e, SqlError::Unreachable(_)), "{state}: {e:?}");
        }
        let e = from_database(
            "Server shutdown in progress",
            Some("08S01".into()),
            Some(1053),
            1,
        );
        assert!(matches!(e, SqlError::Unreachable(_)));
    }

    #[test]
    fn sqlx_errors_map_to_kinds() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(matches!(
            SqlError::from_sqlx(sqlx::Error::Io(refused), CTX),
            SqlError::Unreachable(m) if m == "refused"
        ));
        assert!(matches!(
            SqlError::from_sqlx(sqlx::Error::PoolClosed, CTX),
            SqlError::Unreachable(_)
        ));
        assert!(matches!(
            SqlError::from_sqlx(sqlx::Error::Tls("bad certificate".into()), CTX),
            SqlError::Unreachable(m) if m.contains("bad certificate")
        ));
        assert!(matches!(
            SqlError::from_sqlx(
                sqlx::Error::ColumnDecode {
                    index: "\"amount\"".into(),
                    source: "nope".into()
                },
                CTX
            ),
            SqlError::Decode { column, .. } if column == "\"amount\""
        ));
        assert!(matches!(
            SqlError::from_sqlx(sqlx::Error::Configuration("bad".into()), CTX),
            SqlError::Config(_)
        ));
    }

    #[test]
    fn the_password_never_reaches_a_message() {
        let leaky = std::io::Error::other("could not log in with s3cret-pw at db:5432");
        let e = SqlError::from_sqlx(sqlx::Error::Io(leaky), CTX);
        assert!(!e.to_string().contains("s3cret-pw"), "{e}");
        assert!(e.to_string().contains("***"), "{e}");
        // Too short to search for: left alone rather than starring every letter.
        let e = SqlError::Unreachable("a b c".into()).scrub("a");
        assert_eq!(e.to_string(), "the database cannot be reached: a b c");
    }

    #[test]
    fn timeouts_read_well() {
        let e = SqlError::Timeout {
            what: "acquire",
            after_ms: 200,
        };
        assert!(e.to_string().contains("200 ms"), "{e}");
        assert!(e.to_string().contains("in use"), "{e}");
    }
}
