//! A query's rows, read as they come and bounded.

use futures_util::{Stream, StreamExt};

use super::error::{ErrorContext, SqlError};

/// Reads at most `max` rows of a result: one more is an error, before it is decoded, so that
/// no query can fill the server's memory. What is left of the result is dropped with the
/// stream; the driver discards it before the connection's next statement.
pub(crate) async fn collect<R>(
    mut rows: impl Stream<Item = Result<R, sqlx::Error>> + Unpin,
    max: u32,
    ctx: ErrorContext<'_>,
) -> Result<Vec<R>, SqlError> {
    let mut collected = Vec::new();
    while let Some(row) = rows.next().await {
        if collected.len() >= max as usize {
            return Err(SqlError::TooManyRows { max });
        }
        collected.push(row.map_err(|e| SqlError::from_sqlx(e, ctx))?);
    }
    Ok(collected)
}
