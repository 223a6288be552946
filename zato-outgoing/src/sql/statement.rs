//! What a call asks of a statement, and what the statement gave back: one path through the
//! pool, the transaction and each engine for both `query` and `execute`.

use serde_json::{Map, Value};

/// What a call asks of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Its rows, as JSON objects.
    Rows,
    /// How many rows it changed.
    Affected,
}

/// What a statement gave back, as asked.
#[derive(Debug)]
pub(crate) enum Outcome {
    Rows(Vec<Map<String, Value>>),
    Affected(u64),
}

impl Outcome {
    /// The rows (a statement run for its count has none).
    pub(crate) fn into_rows(self) -> Vec<Map<String, Value>> {
        match self {
            Outcome::Rows(rows) => rows,
            Outcome::Affected(_) => Vec::new(),
        }
    }

    /// The rows changed (a statement run for its rows counts those).
    pub(crate) fn into_affected(self) -> u64 {
        match self {
            Outcome::Affected(n) => n,
            Outcome::Rows(rows) => rows.len() as u64,
        }
    }
}
