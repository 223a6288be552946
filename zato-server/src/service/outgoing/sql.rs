//! `ctx.outgoing().sql(name)`: queries through an outgoing SQL connection's pool.
//!
//! Parameters are always bound (`$1` on PostgreSQL, `?` on MySQL), never spliced into the
//! SQL text. Rows come back as JSON objects.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use zato_outgoing::connections::CallStats;
use zato_outgoing::sql::{self, SqlError};

use super::{counted, lookup_error};
use crate::outgoing::OutgoingConnections;
use crate::service::ServiceError;

/// One row: column name to value.
pub type Row = Map<String, Value>;

/// An outgoing SQL connection, by name.
pub struct SqlOutgoing<'a> {
    connections: &'a OutgoingConnections,
    name: String,
}

impl<'a> SqlOutgoing<'a> {
    pub(super) fn new(connections: &'a OutgoingConnections, name: &str) -> Self {
        Self {
            connections,
            name: name.to_owned(),
        }
    }

    /// The rows `sql` returns.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, ServiceError> {
        counted(&self.connections.sql, &self.name, |pool| async move {
            pool.query(sql, params).await
        })
        .await?
        .map_err(|e| sql_error(&self.name, e))
    }

    /// How many rows `sql` changed.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, ServiceError> {
        counted(&self.connections.sql, &self.name, |pool| async move {
            pool.execute(sql, params).await
        })
        .await?
        .map_err(|e| sql_error(&self.name, e))
    }

    /// `SELECT 1`: how long the database took to answer.
    pub async fn ping(&self) -> Result<std::time::Duration, ServiceError> {
        counted(&self.connections.sql, &self.name, |pool| async move {
            pool.ping().await
        })
        .await?
        .map_err(|e| sql_error(&self.name, e))
    }

    /// A transaction on one connection of the pool. It is rolled back unless committed: a
    /// service that fails (returns an error, or panics) before `commit` changes nothing.
    pub async fn transaction(&self) -> Result<SqlTransaction, ServiceError> {
        let (pool, stats) = self.connections.sql.get(&self.name).map_err(lookup_error)?;
        let started = Instant::now();
        let outcome = pool.begin().await;
        stats.record(started, &outcome);
        Ok(SqlTransaction {
            inner: outcome.map_err(|e| sql_error(&self.name, e))?,
            name: self.name.clone(),
            stats,
        })
    }
}

/// A transaction in progress.
pub struct SqlTransaction {
    inner: sql::SqlTransaction,
    name: String,
    stats: Arc<CallStats>,
}

impl SqlTransaction {
    /// The rows `sql` returns, inside the transaction.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, ServiceError> {
        let started = Instant::now();
        let outcome = self.inner.query(sql, params).await;
        self.stats.record(started, &outcome);
        outcome.map_err(|e| sql_error(&self.name, e))
    }

    /// How many rows `sql` changed, inside the transaction.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, ServiceError> {
        let started = Instant::now();
        let outcome = self.inner.execute(sql, params).await;
        self.stats.record(started, &outcome);
        outcome.map_err(|e| sql_error(&self.name, e))
    }

    /// Makes the transaction's changes permanent.
    pub async fn commit(self) -> Result<(), ServiceError> {
        let started = Instant::now();
        let outcome = self.inner.commit().await;
        self.stats.record(started, &outcome);
        outcome.map_err(|e| sql_error(&self.name, e))
    }

    /// Undoes the transaction's changes.
    pub async fn rollback(self) -> Result<(), ServiceError> {
        let started = Instant::now();
        let outcome = self.inner.rollback().await;
        self.stats.record(started, &outcome);
        outcome.map_err(|e| sql_error(&self.name, e))
    }
}

/// What a caller is told about a failed statement: the database's own message and SQLSTATE
/// (never the connection's password, which no error holds).
fn sql_error(name: &str, e: SqlError) -> ServiceError {
    let message = format!("outgoing SQL connection '{name}': {e}");
    match &e {
        SqlError::Timeout { .. } => ServiceError::GatewayTimeout(message),
        SqlError::Unreachable(_) | SqlError::Config(_) => ServiceError::Unavailable(message),
        // Class 23: integrity constraint violation (a duplicate key, a foreign key).
        SqlError::Database { sqlstate, .. }
            if sqlstate.as_deref().is_some_and(|s| s.starts_with("23")) =>
        {
            ServiceError::Conflict(message)
        }
        // The database sent what JSON cannot hold: its answer, not the caller, is at fault.
        SqlError::Database { .. } | SqlError::Decode { .. } | SqlError::TooManyRows { .. } => {
            ServiceError::BadGateway(message)
        }
        SqlError::Parameter { .. } => ServiceError::BadRequest(message),
    }
}
