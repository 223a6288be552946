//! A transaction: statements on one connection of the pool, kept or undone together.
//!
//! The transaction owns its connection (so it is `'static` and `Send`, and can be held
//! across awaits or moved between tasks) and holds it until it ends; while it lives, the
//! connection counts as in use in [`super::PoolStats`].
//!
//! It ends one of four ways:
//! - [`SqlTransaction::commit`] keeps its changes;
//! - [`SqlTransaction::rollback`] undoes them;
//! - dropped without either (a `?` that returned early, a panic, a cancelled task), it is
//!   rolled back: a task sends `ROLLBACK` before the connection goes back to the pool, and
//!   if that fails the connection is closed instead, which makes the database roll back;
//! - a statement the client-side guard gave up on, or a lost connection, abandons it: its
//!   connection is closed at once (the database rolls back), and every later call fails.
//!
//! `BEGIN`, `COMMIT` and `ROLLBACK` are sent as plain statements rather than through sqlx's
//! `Transaction`, because that type cannot give up its connection: after a guard timeout it
//! would send its rollback down a connection still waiting for a reply, and hold a pool slot
//! for as long as the network takes to fail.
//!
//! A database may end a transaction on its own after an error, and then a `COMMIT` would not
//! mean what the caller thinks:
//! - PostgreSQL aborts it at its first failed statement and answers a later `COMMIT` with a
//!   rollback, not an error;
//! - MySQL rolls it back whole on a deadlock (SQLSTATE `40001`), after which each statement
//!   runs, and commits, on its own.
//!
//! So after such an error `commit` rolls back and fails (SQLSTATE `25P02` on PostgreSQL,
//! `40001` on MySQL), and on MySQL further statements are refused rather than autocommitted.
//! On PostgreSQL a successful `ROLLBACK TO SAVEPOINT` makes the transaction good again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, MySql, Postgres};
use tokio::time::error::Elapsed;
use zato_common::model::SqlEngine;

use super::error::SqlError;
use super::pool::Shared;
use super::statement::{Outcome, Want};
use super::{mysql, postgres};

/// A transaction on a connection of its own. See the module docs for how it ends.
pub struct SqlTransaction {
    /// `None` once the transaction has ended or been abandoned.
    conn: Option<TxConnection>,
    shared: Arc<Shared>,
    /// The database has ended the transaction on its own (see the module docs).
    failed: bool,
}

/// The connection a transaction owns.
pub(crate) enum TxConnection {
    Postgres(PoolConnection<Postgres>),
    Mysql(PoolConnection<MySql>),
}

impl TxConnection {
    /// Closes the socket at once, without a reply to wait for; the pool opens another
    /// connection when it needs one.
    fn abandon(self) {
        match self {
            TxConnection::Postgres(c) => drop(c.detach()),
            TxConnection::Mysql(c) => drop(c.detach()),
        }
    }

    /// Sends `ROLLBACK`, then gives the connection back to the pool; closes it if the
    /// rollback fails or takes longer than `limit`.
    async fn roll_back_and_release(self, limit: Duration) {
        let rolled_back = match self {
            TxConnection::Postgres(mut c) => {
                let ok = simple(&mut c, "ROLLBACK", limit)
                    .await
                    .is_ok_and(|r| r.is_ok());
                if !ok {
                    drop(c.detach());
                }
                ok
            }
            TxConnection::Mysql(mut c) => {
                let ok = simple(&mut c, "ROLLBACK", limit)
                    .await
                    .is_ok_and(|r| r.is_ok());
                if !ok {
                    drop(c.detach());
                }
                ok
            }
        };
        if !rolled_back {
            tracing::debug!("ROLLBACK of a dropped transaction failed; its connection was closed");
        }
    }
}

/// Runs a statement that takes no parameters and returns no rows (`BEGIN`, `COMMIT`, ...),
/// as a simple query (nothing to prepare), within `limit`.
async fn simple<DB: Database>(
    conn: &mut PoolConnection<DB>,
    sql: &'static str,
    limit: Duration,
) -> Result<Result<(), sqlx::Error>, Elapsed>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    tokio::time::timeout(limit, sqlx::raw_sql(sql).execute(&mut **conn))
        .await
        .map(|r| r.map(|_| ()))
}

/// Whether the database ends a transaction in which a statement failed with `error`: any
/// error on PostgreSQL (a cancelled statement too), a deadlock on MySQL.
fn ends_transaction(engine: SqlEngine, error: &SqlError) -> bool {
    match engine {
        SqlEngine::Postgresql => {
            matches!(error, SqlError::Database { .. } | SqlError::Timeout { .. })
        }
        SqlEngine::Mysql => matches!(
            error,
            SqlError::Database { sqlstate: Some(state), .. } if state == "40001"
        ),
    }
}

/// Whether `sql` is a `ROLLBACK TO [SAVEPOINT] ...`, which ends a failed state.
fn is_rollback_to_savepoint(sql: &str) -> bool {
    let mut words = sql.split_whitespace();
    matches!(
        (words.next(), words.next()),
        (Some(a), Some(b)) if a.eq_ignore_ascii_case("rollback") && b.eq_ignore_ascii_case("to")
    )
}

impl SqlTransaction {
    /// Sends `BEGIN` on `conn`.
    pub(crate) async fn begin(
        conn: TxConnection,
        shared: Arc<Shared>,
    ) -> Result<SqlTransaction, SqlError> {
        let mut tx = SqlTransaction {
            conn: Some(conn),
            shared,
            failed: false,
        };
        tx.run_simple("BEGIN").await?;
        Ok(tx)
    }

    /// The error for a call on a transaction that has already ended.
    fn ended() -> SqlError {
        SqlError::Unreachable(
            "the transaction's connection was closed after an earlier error; the database \
             rolled the transaction back"
                .to_owned(),
        )
    }

    /// The SQLSTATE for a transaction the database ended on its own.
    fn ended_by_database_state(&self) -> &'static str {
        match self.shared.engine {
            SqlEngine::Postgresql => "25P02",
            SqlEngine::Mysql => "40001",
        }
    }

    /// Refuses a statement in a MySQL transaction the database rolled back: it would run,
    /// and commit, outside any transaction. (PostgreSQL refuses such statements itself.)
    fn check_still_open(&self) -> Result<(), SqlError> {
        if self.failed && self.shared.engine == SqlEngine::Mysql {
            return Err(SqlError::Database {
                message: "the database rolled this transaction back after a deadlock; start \
                          a new one"
                    .to_owned(),
                sqlstate: Some("40001".to_owned()),
            });
        }
        Ok(())
    }

    /// Closes the connection now (see the module docs).
    fn abandon(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.abandon();
        }
    }

    async fn run_simple(&mut self, sql: &'static str) -> Result<(), SqlError> {
        let limit = self.shared.limits.statement_guard;
        let outcome = match self.conn.as_mut() {
            None => return Err(Self::ended()),
            Some(TxConnection::Postgres(c)) => simple(c, sql, limit).await,
            Some(TxConnection::Mysql(c)) => simple(c, sql, limit).await,
        };
        let shared = Arc::clone(&self.shared);
        self.settle(
            outcome.map(|r| r.map_err(|e| SqlError::from_sqlx(e, shared.ctx()))),
            sql,
        )
    }

    /// Records what a statement's outcome means for the transaction.
    fn settle<T>(
        &mut self,
        outcome: Result<Result<T, SqlError>, Elapsed>,
        sql: &str,
    ) -> Result<T, SqlError> {
        match outcome {
            Err(_) => {
                self.abandon();
                Err(self.shared.guard_timeout())
            }
            Ok(Err(e)) => {
                if matches!(e, SqlError::Unreachable(_)) {
                    self.abandon();
                } else if ends_transaction(self.shared.engine, &e) {
                    self.failed = true;
                }
                Err(e)
            }
            Ok(Ok(value)) => {
                if is_rollback_to_savepoint(sql) {
                    self.failed = false;
                }
                Ok(value)
            }
        }
    }

    /// Runs a statement in the transaction and returns its rows, as
    /// [`super::SqlPool::query`] does.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Map<String, Value>>, SqlError> {
        self.run(Want::Rows, sql, params)
            .await
            .map(Outcome::into_rows)
    }

    /// Runs a statement in the transaction and returns how many rows it affected.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        self.run(Want::Affected, sql, params)
            .await
            .map(Outcome::into_affected)
    }

    /// Runs a statement on the transaction's connection, within the statement guard.
    async fn run(&mut self, want: Want, sql: &str, params: &[Value]) -> Result<Outcome, SqlError> {
        self.check_still_open()?;
        let shared = Arc::clone(&self.shared);
        let limit = shared.limits.statement_guard;
        let outcome = match self.conn.as_mut() {
            None => return Err(Self::ended()),
            Some(TxConnection::Postgres(c)) => {
                tokio::time::timeout(limit, postgres::run(c, want, sql, params, &shared, true))
                    .await
            }
            Some(TxConnection::Mysql(c)) => {
                let (max_rows, ctx) = (shared.limits.max_rows, shared.ctx());
                tokio::time::timeout(limit, mysql::run(c, want, sql, params, max_rows, ctx)).await
            }
        };
        self.settle(outcome, sql)
    }

    /// Commits, and gives the connection back to the pool.
    ///
    /// If the database has ended the transaction after an error, rolls back instead and fails
    /// with SQLSTATE `25P02` (PostgreSQL) or `40001` (MySQL deadlock); see the module docs.
    pub async fn commit(mut self) -> Result<(), SqlError> {
        if self.conn.is_none() {
            return Err(Self::ended());
        }
        if self.failed {
            // Ends the aborted transaction; whatever it answers, the outcome is a rollback.
            let _ = self.run_simple("ROLLBACK").await;
            self.conn.take();
            return Err(SqlError::Database {
                message: "the transaction was rolled back, not committed: a statement in it \
                          failed"
                    .to_owned(),
                sqlstate: Some(self.ended_by_database_state().to_owned()),
            });
        }
        self.run_simple("COMMIT").await?;
        // Dropping the connection gives it back to the pool.
        self.conn.take();
        Ok(())
    }

    /// Rolls back, and gives the connection back to the pool. A transaction that was
    /// abandoned (its connection closed) is rolled back already: `Ok`.
    pub async fn rollback(mut self) -> Result<(), SqlError> {
        if self.conn.is_none() {
            return Ok(());
        }
        match self.run_simple("ROLLBACK").await {
            Ok(()) => {
                self.conn.take();
                Ok(())
            }
            Err(e) => {
                // Not known to be rolled back: close the connection, which makes it so.
                self.abandon();
                Err(e)
            }
        }
    }
}

impl Drop for SqlTransaction {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(conn.roll_back_and_release(self.shared.limits.statement_guard));
            }
            // No runtime to send a ROLLBACK on: closing the socket rolls back as well.
            Err(_) => conn.abandon(),
        }
    }
}

impl std::fmt::Debug for SqlTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTransaction")
            .field("engine", &self.shared.engine)
            .field("open", &self.conn.is_some())
            .field("failed", &self.failed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_can_move_between_tasks() {
        fn sendable<T: Send + 'static>() {}
        sendable::<SqlTransaction>();
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<super::super::SqlPool>();
    }

    #[test]
    fn which_errors_end_a_transaction() {
        let db = |state: &str| SqlError::Database {
            message: String::new(),
            sqlstate: Some(state.to_owned()),
        };
        let pg = SqlEngine::Postgresql;
        let my = SqlEngine::Mysql;
        assert!(ends_transaction(pg, &db("23505")));
        assert!(ends_transaction(pg, &SqlError::statement_timeout(1)));
        assert!(!ends_transaction(
            pg,
            &SqlError::Parameter {
                index: 1,
                message: String::new()
            }
        ));
        assert!(ends_transaction(my, &db("40001")));
        assert!(!ends_transaction(my, &db("23000")));
        assert!(!ends_transaction(my, &SqlError::statement_timeout(1)));
    }

    #[test]
    fn savepoint_rollbacks_are_recognised() {
        assert!(is_rollback_to_savepoint("ROLLBACK TO SAVEPOINT a"));
        assert!(is_rollback_to_savepoint("  rollback\n to a"));
        assert!(!is_rollback_to_savepoint("ROLLBACK"));
        assert!(!is_rollback_to_savepoint("SELECT 'rollback to'"));
    }
}
