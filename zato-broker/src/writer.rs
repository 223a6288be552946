//! The batching writer: every write of a process goes through one task that pipelines them.
//!
//! Callers hand over commands through a channel; the task takes everything waiting (up to
//! [`MAX_BATCH`]) and sends it as one pipeline on one connection it keeps. Under load many
//! `XADD`s share a round trip; when idle a single write goes out at once. Throughput comes
//! from batching, not from more connections, and no write pays for a pool check-out.

use redis::{Cmd, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::connection::Redis;
use crate::error::{BrokerError, Result};

/// Most commands sent in one pipeline.
pub const MAX_BATCH: usize = 512;

/// Commands that must reach Redis together, as one `MULTI`/`EXEC` when `atomic`.
struct Write {
    cmds: Vec<Cmd>,
    /// How many commands it had (they are moved into the pipeline when it is built).
    count: usize,
    atomic: bool,
    done: oneshot::Sender<Result<Vec<Value>>>,
}

/// The sending side of the writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Write>,
}

impl Writer {
    /// Starts the writer task; it ends when `cancel` fires and every queued write is done.
    pub fn spawn(redis: Redis, cancel: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(run(redis, rx, cancel));
        Self { tx }
    }

    /// Sends one command; its reply, or the server error it got.
    pub async fn send(&self, cmd: Cmd) -> Result<Value> {
        let mut values = self.send_group(vec![cmd], false).await?;
        values.pop().ok_or(BrokerError::Closed)
    }

    /// Sends commands in one pipeline (in a transaction when `atomic`); their replies in order.
    pub async fn send_group(&self, cmds: Vec<Cmd>, atomic: bool) -> Result<Vec<Value>> {
        let (done, answer) = oneshot::channel();
        self.tx
            .send(Write {
                count: cmds.len(),
                cmds,
                atomic,
                done,
            })
            .await
            .map_err(|_| BrokerError::Closed)?;
        answer.await.map_err(|_| BrokerError::Closed)?
    }
}

async fn run(redis: Redis, mut rx: mpsc::Receiver<Write>, cancel: CancellationToken) {
    let mut conn: Option<deadpool_redis::Connection> = None;
    let mut batch: Vec<Write> = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            write = rx.recv() => write,
            () = cancel.cancelled() => {
                rx.close();
                rx.recv().await
            }
        };
        let Some(first) = first else { return };
        batch.push(first);
        let mut commands = batch[0].count;
        while commands < MAX_BATCH {
            match rx.try_recv() {
                Ok(write) => {
                    commands += write.count;
                    batch.push(write);
                }
                Err(_) => break,
            }
        }
        flush(&redis, &mut conn, &mut batch).await;
    }
}

/// Sends a batch and answers every caller.
///
/// The connection is kept between batches, so after Redis restarted (or an idle connection
/// was cut) the first batch finds it dead. Such a batch is sent again, once, on a fresh
/// connection before any caller hears of it: the caller of the first write after a restart
/// gets its answer, not the old connection's broken pipe. A failure on a fresh connection
/// fails the whole batch (the callers decide whether to retry: a write that failed may or may
/// not have been applied) and drops the connection so the next batch takes a new one.
async fn flush(
    redis: &Redis,
    conn: &mut Option<deadpool_redis::Connection>,
    batch: &mut Vec<Write>,
) {
    let pipe = pipeline(batch);
    // (The pipeline is kept as built, so that the one retry on a fresh connection sends it
    // again without rebuilding it.)
    let mut fresh = conn.is_none();
    loop {
        if conn.is_none() {
            match redis.conn().await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    warn!(error = %e, "broker writer cannot reach redis");
                    let message = e.to_string();
                    for write in batch.drain(..) {
                        let _ = write.done.send(Err(BrokerError::Pool(message.clone())));
                    }
                    return;
                }
            }
        }
        let Some(connection) = conn.as_mut() else {
            return;
        };
        match pipe.query_async::<Vec<Value>>(connection).await {
            Ok(values) => return answer(batch, values),
            Err(e) => {
                *conn = None;
                if !fresh && is_dead_connection(&e) {
                    debug!(error = %e, "broker writer's connection was dead; sending again on a fresh one");
                    fresh = true;
                    continue;
                }
                warn!(error = %e, "broker write failed");
                for write in batch.drain(..) {
                    let _ = write.done.send(Err(BrokerError::Redis(e.clone())));
                }
                return;
            }
        }
    }
}

/// Whether `e` says the connection was gone (closed by Redis, reset: redis-rs answers a
/// connection whose socket closed with a broken pipe before sending anything) rather than
/// that Redis refused the commands or did not answer them in time, which a second send
/// could apply twice.
fn is_dead_connection(e: &redis::RedisError) -> bool {
    e.is_connection_dropped()
}

/// The batch as one pipeline, each atomic write inside its own `MULTI`/`EXEC`; the commands
/// are moved into it, not copied.
fn pipeline(batch: &mut [Write]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for write in batch {
        if write.atomic {
            pipe.cmd("MULTI");
        }
        for cmd in write.cmds.drain(..) {
            pipe.add_command(cmd);
        }
        if write.atomic {
            pipe.cmd("EXEC");
        }
    }
    pipe
}

/// Hands each caller its replies: for a transaction, the items of `EXEC`'s reply.
fn answer(batch: &mut Vec<Write>, values: Vec<Value>) {
    let mut values = values.into_iter();
    for write in batch.drain(..) {
        let result = if write.atomic {
            // MULTI's OK, one QUEUED per command, then EXEC's array.
            let exec = values.by_ref().nth(write.count + 1);
            match exec {
                Some(Value::Array(items)) => Ok(items),
                Some(Value::ServerError(e)) => Err(BrokerError::Redis(e.into())),
                other => Err(BrokerError::Corrupt {
                    key: "EXEC".into(),
                    message: format!("unexpected transaction reply {other:?}"),
                }),
            }
        } else {
            let items: Vec<Value> = values.by_ref().take(write.count).collect();
            match items.iter().find_map(|v| match v {
                Value::ServerError(e) => Some(e.clone()),
                _ => None,
            }) {
                Some(e) => Err(BrokerError::Redis(e.into())),
                None => Ok(items),
            }
        };
        let _ = write.done.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(cmds: usize, atomic: bool) -> (Write, oneshot::Receiver<Result<Vec<Value>>>) {
        let (done, answer) = oneshot::channel();
        let cmds: Vec<Cmd> = (0..cmds).map(|_| redis::cmd("PING")).collect();
        (
            Write {
                count: cmds.len(),
                cmds,
                atomic,
                done,
            },
            answer,
        )
    }

    fn ok(n: i64) -> Value {
        Value::Int(n)
    }

    #[test]
    fn each_caller_gets_its_own_replies_out_of_one_pipeline() {
        let (plain, plain_answer) = write(2, false);
        let (atomic, atomic_answer) = write(2, true);
        let (last, last_answer) = write(1, false);
        let mut batch = vec![plain, atomic, last];
        let queued = || Value::SimpleString("QUEUED".into());
        let replies = vec![
            ok(1),
            ok(2),
            Value::Okay, // MULTI
            queued(),
            queued(),
            Value::Array(vec![ok(3), ok(4)]), // EXEC
            ok(5),
        ];
        answer(&mut batch, replies);
        assert!(batch.is_empty());
        let got = |mut rx: oneshot::Receiver<Result<Vec<Value>>>| {
            rx.try_recv().expect("answered").expect("ok")
        };
        assert_eq!(got(plain_answer), vec![ok(1), ok(2)]);
        assert_eq!(got(atomic_answer), vec![ok(3), ok(4)]);
        assert_eq!(got(last_answer), vec![ok(5)]);
    }

    #[test]
    fn a_server_error_fails_only_the_write_it_belongs_to() {
        let (first, first_answer) = write(1, false);
        let (second, second_answer) = write(1, false);
        let mut batch = vec![first, second];
        let error = redis::parse_redis_value(b"-OOM command not allowed\r\n").expect("RESP");
        assert!(matches!(error, Value::ServerError(_)));
        answer(&mut batch, vec![error, ok(7)]);
        let mut first_answer = first_answer;
        let mut second_answer = second_answer;
        assert!(first_answer.try_recv().expect("answered").is_err());
        assert_eq!(
            second_answer.try_recv().expect("answered").expect("ok"),
            vec![ok(7)]
        );
    }
}
