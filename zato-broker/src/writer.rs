//! The batching writer: every write of a process goes through one task that pipelines them.
//!
//! Callers hand over commands through a channel; the task takes everything waiting (up to
//! [`MAX_BATCH`]) and sends it as one pipeline on one connection it keeps. Under load many
//! `XADD`s share a round trip; when idle a single write goes out at once. Throughput comes
//! from batching, not from more connections, and no write pays for a pool check-out.
//!
//! On a Redis Cluster one pipeline may only touch one slot, so a batch is split by the slot
//! of each write's first key and the pipelines go out at once, one per slot (the cluster
//! connection sends each to its node). The writer's cluster connection does not retry by
//! itself (a retried pipeline could run twice, and a retried `WAIT` on a promoted replica
//! would confirm what it never saw): a write the cluster refused whole (`MOVED`) is sent
//! again once by the writer; any other failure goes to its caller. With `broker.min_replicas_ack`, every pipeline ends
//! with the `WAIT` that confirms its writes reached the replicas.

use std::collections::HashMap;

use futures_util::future::join_all;
use redis::cluster_routing::Slot;
use redis::{Cmd, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::connection::{Conn, Redis, ReplicaAck};
use crate::error::{BrokerError, Result};

/// Most commands sent in one pipeline.
pub const MAX_BATCH: usize = 512;

/// How long a write the cluster redirected waits before it is sent again, so that the
/// cluster connection has the new slot map by then.
const REDIRECT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

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
    let mut conn: Option<Conn> = None;
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
        if redis.is_cluster() {
            flush_by_slot(&redis, &mut batch).await;
        } else {
            flush(&redis, &mut conn, &mut batch).await;
        }
    }
}

/// Sends a batch as one pipeline per slot, all at once, each on its own clone of the
/// cluster connection.
async fn flush_by_slot(redis: &Redis, batch: &mut Vec<Write>) {
    let mut by_slot: HashMap<Option<Slot>, Vec<Write>> = HashMap::new();
    for write in batch.drain(..) {
        by_slot.entry(slot_of(&write.cmds)).or_default().push(write);
    }
    join_all(by_slot.into_values().map(|mut writes| async move {
        flush(redis, &mut None, &mut writes).await;
    }))
    .await;
}

/// The slot of the first key these commands name (`None` for keyless ones such as `PING`).
fn slot_of(cmds: &[Cmd]) -> Option<Slot> {
    cmds.iter()
        .find_map(|cmd| first_key(cmd).map(Slot::for_key))
}

/// The first key of a command the writer sends: after the script and the key count for
/// `EVALSHA`/`EVAL`, none for keyless commands, otherwise the first argument.
fn first_key(cmd: &Cmd) -> Option<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|arg| match arg {
        redis::Arg::Simple(bytes) => Some(bytes),
        _ => None,
    });
    let name = args.next()?;
    if name.eq_ignore_ascii_case(b"EVALSHA") || name.eq_ignore_ascii_case(b"EVAL") {
        let _script = args.next()?;
        let keys = args.next()?;
        return (keys != b"0").then(|| args.next()).flatten();
    }
    if [&b"PING"[..], b"WAIT", b"MULTI", b"EXEC"]
        .iter()
        .any(|keyless| name.eq_ignore_ascii_case(keyless))
    {
        return None;
    }
    args.next()
}

/// Sends a batch and answers every caller.
///
/// The connection is kept between batches, so after Redis restarted (or an idle connection
/// was cut) the first batch finds it dead. Such a batch is sent again, once, on a fresh
/// connection before any caller hears of it: the caller of the first write after a restart
/// gets its answer, not the old connection's broken pipe. A failure on a fresh connection
/// fails the whole batch (the callers decide whether to retry: a write that failed may or may
/// not have been applied) and drops the connection so the next batch takes a new one.
async fn flush(redis: &Redis, conn: &mut Option<Conn>, batch: &mut Vec<Write>) {
    let ack = redis.replica_ack();
    let mut pipe = pipeline(batch);
    if let Some(ack) = ack {
        pipe.add_command(ack.cmd());
    }
    // (The pipeline is kept as built, so that the one retry on a fresh connection sends it
    // again without rebuilding it.)
    let mut fresh = conn.is_none();
    let mut redirected = false;
    loop {
        // A connection to a master found gone or demoted since is not written to again.
        if conn.as_ref().is_some_and(Conn::is_stale) {
            *conn = None;
        }
        if conn.is_none() {
            match redis.write_conn().await {
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
            Ok(values) => return answer(batch, values, ack),
            Err(e) => {
                *conn = None;
                if !fresh && is_dead_connection(&e) {
                    debug!(error = %e, "broker writer's connection was dead; sending again on a fresh one");
                    fresh = true;
                    continue;
                }
                if !redirected && redis.is_cluster() && nothing_ran(&e) {
                    // The slot is served elsewhere now (a failover): the cluster connection
                    // is learning the new map; once, a moment later, to the new owner.
                    debug!(error = %e, "broker write redirected; sending again to the slot's new master");
                    redirected = true;
                    tokio::time::sleep(REDIRECT_PAUSE).await;
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

/// Whether a cluster refused a one-slot pipeline as a whole, so that none of it ran: the
/// slot has another master (`MOVED`: every command of the pipeline is for that one slot) or
/// the cluster is down. Not `ASK` or `TRYAGAIN`: during a resharding some keys of the slot
/// may have moved and others not, and what did not move ran.
fn nothing_ran(e: &redis::RedisError) -> bool {
    matches!(e.code(), Some("MOVED" | "CLUSTERDOWN"))
}

/// The replication failure of a pipeline, for each of its writes.
fn again(e: &BrokerError) -> BrokerError {
    match e {
        BrokerError::NotReplicated {
            acked,
            wanted,
            timeout_ms,
        } => BrokerError::NotReplicated {
            acked: *acked,
            wanted: *wanted,
            timeout_ms: *timeout_ms,
        },
        BrokerError::Redis(e) => BrokerError::Redis(e.clone()),
        other => BrokerError::Corrupt {
            key: "WAIT".into(),
            message: other.to_string(),
        },
    }
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

/// Hands each caller its replies: for a transaction, the items of `EXEC`'s reply. With
/// `ack`, the last reply is the `WAIT`'s, and a write that succeeded fails when too few
/// replicas confirmed it.
fn answer(batch: &mut Vec<Write>, mut values: Vec<Value>, ack: Option<ReplicaAck>) {
    let replicated = match ack {
        Some(ack) => values
            .pop()
            .map_or(Err(BrokerError::Closed), |wait| ack.check(&wait)),
        None => Ok(()),
    };
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
        let result = match (&replicated, result) {
            (Err(e), Ok(_)) => Err(again(e)),
            (_, result) => result,
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
        answer(&mut batch, replies, None);
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
        answer(&mut batch, vec![error, ok(7)], None);
        let mut first_answer = first_answer;
        let mut second_answer = second_answer;
        assert!(first_answer.try_recv().expect("answered").is_err());
        assert_eq!(
            second_answer.try_recv().expect("answered").expect("ok"),
            vec![ok(7)]
        );
    }

    #[test]
    fn a_write_too_few_replicas_confirmed_fails_and_a_refused_one_keeps_its_error() {
        let (ok_write, ok_answer) = write(1, false);
        let (refused, refused_answer) = write(1, false);
        let mut batch = vec![ok_write, refused];
        let error = redis::parse_redis_value(b"-ERR wrong\r\n").expect("RESP");
        let settings = zato_common::settings::BrokerSettings {
            min_replicas_ack: 1,
            ..Default::default()
        };
        let ack = ReplicaAck::from_settings(&settings);
        answer(&mut batch, vec![ok(1), error, Value::Int(0)], ack);
        let (mut ok_answer, mut refused_answer) = (ok_answer, refused_answer);
        let not_replicated = ok_answer.try_recv().expect("answered").expect_err("0 < 1");
        assert!(matches!(
            not_replicated,
            BrokerError::NotReplicated {
                acked: 0,
                wanted: 1,
                ..
            }
        ));
        let refused = refused_answer
            .try_recv()
            .expect("answered")
            .expect_err("refused");
        assert!(refused.to_string().contains("wrong"), "{refused}");
    }

    #[test]
    fn writes_are_grouped_by_the_slot_of_their_first_key() {
        let mut xadd = redis::cmd("XADD");
        xadd.arg("zato:{c}:q:server").arg("*").arg("e").arg("1");
        let mut script = redis::cmd("EVALSHA");
        script
            .arg("abc")
            .arg(2)
            .arg("zato:{c}:topic:t")
            .arg("other");
        let mut keyless = redis::cmd("EVALSHA");
        keyless.arg("abc").arg(0).arg("argument");
        assert_eq!(first_key(&xadd), Some(&b"zato:{c}:q:server"[..]));
        assert_eq!(first_key(&script), Some(&b"zato:{c}:topic:t"[..]));
        assert_eq!(first_key(&keyless), None);
        assert_eq!(first_key(&redis::cmd("PING")), None);
        assert_eq!(
            slot_of(&[xadd]),
            slot_of(&[script]),
            "one hash tag, one slot"
        );
    }
}
