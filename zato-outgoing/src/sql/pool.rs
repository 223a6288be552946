//! The pool of connections behind one outgoing SQL definition, on one server.
//!
//! A call takes a connection (waiting, if all are in use, at most `acquire_timeout_ms`;
//! opening one, if the pool has room, at most `connect_timeout_ms`), runs one statement on it
//! within the statement limits and gives it back. The pool opens connections only when calls
//! need them, so a database that is down when the server starts stops nothing: calls fail
//! until it is back, then succeed.

use super::statement::{Outcome, Want};
use crate::connections::Waiting;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection, Database, MySqlPool, PgPool, Pool};
use tokio::time::error::Elapsed;
use zato_common::Secret;
use zato_common::model::{OutgoingSql, SqlEngine};

use super::error::{ErrorContext, SqlError};
use super::options::{self, Limits};
use super::transaction::{SqlTransaction, TxConnection};
use super::{mysql, postgres};

/// How long, at most, the diagnosis of a connect timeout may try a connection of its own.
const PROBE_LIMIT: Duration = Duration::from_millis(500);

/// A pool of connections to one database. Built once per definition and shared as
/// `Arc<SqlPool>`; every method takes `&self`.
pub struct SqlPool {
    pool: EnginePool,
    shared: Arc<Shared>,
}

enum EnginePool {
    Postgres(PgPool),
    Mysql(MySqlPool),
}

/// What the pool and its transactions share: limits, the password to scrub, the waiters.
pub(crate) struct Shared {
    pub engine: SqlEngine,
    /// `host:port`, for messages about connecting.
    pub endpoint: String,
    pub max: u32,
    pub limits: Limits,
    password: Secret,
    waiting: AtomicU32,
    /// How this pool's PostgreSQL statements declare their parameters.
    pub learnt: postgres::Learnt,
}

impl Shared {
    pub(crate) fn ctx(&self) -> ErrorContext<'_> {
        ErrorContext {
            statement_timeout_ms: millis(self.limits.statement),
            password: self.password.expose(),
        }
    }

    /// The error when the client-side guard gave up on a statement.
    pub(crate) fn guard_timeout(&self) -> SqlError {
        SqlError::statement_timeout(millis(self.limits.statement_guard))
    }

    /// An error met while getting a connection, with where the database was looked for.
    fn connect_error(&self, error: sqlx::Error) -> SqlError {
        match SqlError::from_sqlx(error, self.ctx()) {
            SqlError::Unreachable(m) => SqlError::Unreachable(format!("{}: {m}", self.endpoint)),
            other => other,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Pool figures for health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open or being opened.
    pub size: u32,
    /// Connections a call or a transaction holds, or being opened for one (`size - idle`).
    pub in_use: u32,
    pub idle: u32,
    /// Calls waiting to get a connection (for a free one, or for a new one to open).
    pub waiting: u32,
    /// `pool_size`.
    pub max: u32,
}

impl SqlPool {
    /// Builds the pool without connecting: a database that is down at start-up must not stop
    /// the server, and the first call connects. `password` is the opened (decrypted)
    /// password; the definition's own `password` field is ignored.
    ///
    /// Must be called inside a Tokio runtime (sqlx starts a task that closes idle
    /// connections); outside one it fails with [`SqlError::Config`] rather than panic.
    pub fn new(def: &OutgoingSql, password: &str) -> Result<SqlPool, SqlError> {
        options::check(def)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SqlError::Config(
                "an SQL pool must be made inside a Tokio runtime".to_owned(),
            ));
        }
        let limits = Limits::of(def);
        let pool = match def.engine {
            SqlEngine::Postgresql => EnginePool::Postgres(
                options::pool(def, &limits).connect_lazy_with(options::postgres(def, password)?),
            ),
            SqlEngine::Mysql => EnginePool::Mysql(
                options::mysql_pool(def, &limits).connect_lazy_with(options::mysql(def, password)?),
            ),
        };
        let endpoint = if def.host.contains(':') {
            format!("[{}]:{}", def.host, def.port())
        } else {
            format!("{}:{}", def.host, def.port())
        };
        Ok(SqlPool {
            pool,
            shared: Arc::new(Shared {
                engine: def.engine,
                endpoint,
                max: def.pool_size,
                limits,
                password: Secret::new(password),
                waiting: AtomicU32::new(0),
                learnt: postgres::Learnt::default(),
            }),
        })
    }

    pub fn engine(&self) -> SqlEngine {
        self.shared.engine
    }

    /// Runs a statement and returns its rows as JSON objects, column name to value. The
    /// object's keys are in `serde_json::Map` order (by name, as `preserve_order` is off).
    /// See [`super`] for how each SQL type reads.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Map<String, Value>>, SqlError> {
        self.run(Want::Rows, sql, params)
            .await
            .map(Outcome::into_rows)
    }

    /// Runs a statement and returns how many rows it affected.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.run(Want::Affected, sql, params)
            .await
            .map(Outcome::into_affected)
    }

    /// Runs a statement on a connection of the pool, within the statement guard.
    async fn run(&self, want: Want, sql: &str, params: &[Value]) -> Result<Outcome, SqlError> {
        let shared = &*self.shared;
        let guard = shared.limits.statement_guard;
        match &self.pool {
            EnginePool::Postgres(pool) => {
                let mut conn = acquire(pool, shared).await?;
                let outcome = tokio::time::timeout(
                    guard,
                    postgres::run(&mut conn, want, sql, params, shared, false),
                )
                .await;
                settle(conn, outcome, shared)
            }
            EnginePool::Mysql(pool) => {
                let mut conn = acquire(pool, shared).await?;
                let (max_rows, ctx) = (shared.limits.max_rows, shared.ctx());
                let outcome = tokio::time::timeout(
                    guard,
                    mysql::run(&mut conn, want, sql, params, max_rows, ctx),
                )
                .await;
                settle(conn, outcome, shared)
            }
        }
    }

    /// Starts a transaction on a connection of its own, which it holds until it ends.
    pub async fn begin(&self) -> Result<SqlTransaction, SqlError> {
        let shared = &*self.shared;
        let conn = match &self.pool {
            EnginePool::Postgres(pool) => TxConnection::Postgres(acquire(pool, shared).await?),
            EnginePool::Mysql(pool) => TxConnection::Mysql(acquire(pool, shared).await?),
        };
        SqlTransaction::begin(conn, Arc::clone(&self.shared)).await
    }

    /// Runs `SELECT 1` and returns how long it took, getting a connection included: what a
    /// health check wants to know.
    pub async fn ping(&self) -> Result<Duration, SqlError> {
        let started = Instant::now();
        self.query("SELECT 1", &[]).await?;
        Ok(started.elapsed())
    }

    /// Pool figures for health and metrics.
    pub fn stats(&self) -> PoolStats {
        let (size, idle) = match &self.pool {
            EnginePool::Postgres(pool) => (pool.size(), pool.num_idle()),
            EnginePool::Mysql(pool) => (pool.size(), pool.num_idle()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        PoolStats {
            size,
            in_use: size - idle,
            idle,
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            max: self.shared.max,
        }
    }

    /// Closes the pool: new calls fail at once with [`SqlError::Unreachable`] ("the pool is
    /// closed"); calls and transactions in flight finish, and their connections close as they
    /// come back. Returns when every connection is closed.
    pub async fn close(&self) {
        match &self.pool {
            EnginePool::Postgres(pool) => pool.close().await,
            EnginePool::Mysql(pool) => pool.close().await,
        }
    }
}

impl std::fmt::Debug for SqlPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlPool")
            .field("engine", &self.shared.engine)
            .field("endpoint", &self.shared.endpoint)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// What a statement's run under the guard came to. A statement the guard gave up on leaves
/// its connection in the middle of a reply, so the connection is dropped from the pool
/// (its socket closed, which makes the database stop and roll back) rather than returned.
fn settle<DB: Database, T>(
    conn: PoolConnection<DB>,
    outcome: Result<Result<T, SqlError>, Elapsed>,
    shared: &Shared,
) -> Result<T, SqlError> {
    match outcome {
        Ok(result) => result,
        Err(_) => {
            drop(conn.detach());
            Err(shared.guard_timeout())
        }
    }
}

/// A connection of `pool`, within the connect or the acquire limit.
///
/// Which limit applies depends on the pool when the call arrives: with an idle connection
/// or room for a new one, the wait is for the database (connect); with every connection in
/// use, it is for another call to finish (acquire). sqlx retries a refused connection until
/// its deadline, so a database that is down shows up as a connect timeout; one attempt of
/// our own then finds out why, so that "connection refused" reaches the caller as
/// [`SqlError::Unreachable`].
async fn acquire<DB: Database>(
    pool: &Pool<DB>,
    shared: &Shared,
) -> Result<PoolConnection<DB>, SqlError> {
    let _waiting = Waiting::enter(&shared.waiting);
    let room = pool.num_idle() > 0 || pool.size() < shared.max;
    let (what, limit) = if room {
        ("connect", shared.limits.connect)
    } else {
        ("acquire", shared.limits.acquire)
    };
    let timed_out = SqlError::Timeout {
        what,
        after_ms: millis(limit),
    };
    match tokio::time::timeout(limit, pool.acquire()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) if room => {
            Err(diagnose(pool, shared, timed_out).await)
        }
        Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(timed_out),
        Ok(Err(e)) => Err(shared.connect_error(e)),
    }
}

/// Why connecting timed out, if one quick attempt can tell: its error if it fails at once
/// (refused, no route, TLS refused), else the timeout.
async fn diagnose<DB: Database>(pool: &Pool<DB>, shared: &Shared, timed_out: SqlError) -> SqlError {
    let options = pool.connect_options();
    match tokio::time::timeout(shared.limits.connect.min(PROBE_LIMIT), options.connect()).await {
        Ok(Err(e)) => shared.connect_error(e),
        Ok(Ok(conn)) => {
            // The database is back; this call still ran out of time.
            let _ = conn.close_hard().await;
            timed_out
        }
        Err(_) => timed_out,
    }
}
